// Bearer-token authentication. Static tokens map to users (with groups); service-account tokens are issued through
// the TokenRequest API (serviceaccounts/<name>/token, what `kubectl create token` calls) and stay valid only while
// that ServiceAccount exists with the same uid, like bound tokens. A token bound to a pod (TokenRequest
// spec.boundObjectRef, what the kubelet asks for a projected token volume) also needs that pod, same uid, and carries
// the pod's (and its node's) name and uid in the user's extra. No token at all is the anonymous user, as on a real
// server with anonymous auth on; an unknown token is a 401.
import { randomBytes } from 'node:crypto';
import type { KubeObject } from './objects-meta.js';

export interface UserInfo {
  username: string;
  uid?: string;
  groups: string[];
  extra?: Record<string, string[]>;
}

export interface StaticUser {
  name: string;
  groups?: string[];
  uid?: string;
}

/** The stored objects a token depends on, by resource: to issue bound tokens and to refuse them once those are gone. */
export type ObjectLookup = (resource: 'serviceaccounts' | 'pods' | 'nodes', namespace: string | undefined, name: string) => KubeObject | undefined;

interface ObjectRef {
  namespace: string;
  name: string;
  uid: string;
}

interface TokenRecord {
  user: UserInfo;
  serviceAccount?: ObjectRef;
  pod?: ObjectRef;
  expiresAt?: number;
  audiences?: string[];
}

export const ANONYMOUS: UserInfo = { username: 'system:anonymous', groups: ['system:unauthenticated'] };
export const MASTERS_GROUP = 'system:masters';

export function serviceAccountUsername(namespace: string, name: string): string {
  return `system:serviceaccount:${namespace}:${name}`;
}

export function serviceAccountGroups(namespace: string): string[] {
  return ['system:serviceaccounts', `system:serviceaccounts:${namespace}`, 'system:authenticated'];
}

function newToken(prefix: string): string {
  return `${prefix}.${randomBytes(24).toString('base64url')}`;
}

export type Authentication = { user: UserInfo } | { invalid: true };

export class Authenticator {
  private readonly tokens = new Map<string, TokenRecord>();

  constructor(readonly lookup: ObjectLookup) {}

  addUser(user: StaticUser, token = newToken('kst-user')): string {
    const groups = [...(user.groups ?? [])];
    if (!groups.includes('system:authenticated')) groups.push('system:authenticated');
    const info: UserInfo = { username: user.name, groups };
    if (user.uid) info.uid = user.uid;
    this.tokens.set(token, { user: info });
    return token;
  }

  /**
   * Issues a token for a ServiceAccount. With `pod` (already checked to run as this account, see reviews.ts
   * boundPod) the token is bound to it; `node` is the pod's Node, when it has one that exists.
   */
  issueServiceAccountToken(
    serviceAccount: KubeObject,
    options: { expirationSeconds?: number; audiences?: string[]; pod?: KubeObject; node?: KubeObject } = {},
  ): { token: string; expirationTimestamp: Date } {
    const namespace = serviceAccount.metadata.namespace!;
    const name = serviceAccount.metadata.name!;
    const uid = serviceAccount.metadata.uid!;
    const token = newToken('kst-sa');
    const expiresAt = Date.now() + (options.expirationSeconds ?? 3600) * 1000;
    const extra: Record<string, string[]> = { 'authentication.kubernetes.io/credential-id': [`JTI=${token.slice(-12)}`] };
    const record: TokenRecord = {
      user: { username: serviceAccountUsername(namespace, name), uid, groups: serviceAccountGroups(namespace), extra },
      serviceAccount: { namespace, name, uid },
      expiresAt,
    };
    if (options.pod) {
      record.pod = { namespace, name: options.pod.metadata.name!, uid: options.pod.metadata.uid! };
      extra['authentication.kubernetes.io/pod-name'] = [record.pod.name];
      extra['authentication.kubernetes.io/pod-uid'] = [record.pod.uid];
    }
    // The node is recorded for the token's holder to see (ServiceAccountTokenPodNodeInfo), not checked later:
    // a pod-bound token lives and dies with its pod only.
    if (options.node) {
      extra['authentication.kubernetes.io/node-name'] = [options.node.metadata.name!];
      extra['authentication.kubernetes.io/node-uid'] = [options.node.metadata.uid!];
    }
    if (options.audiences) record.audiences = options.audiences;
    this.tokens.set(token, record);
    return { token, expirationTimestamp: new Date(expiresAt) };
  }

  revoke(token: string): void {
    this.tokens.delete(token);
  }

  /** Resolves a token; undefined when it is unknown, expired, or its ServiceAccount or bound pod is gone or replaced. */
  resolve(token: string): { user: UserInfo; audiences?: string[] } | undefined {
    const record = this.tokens.get(token);
    if (!record) return undefined;
    if (record.expiresAt !== undefined && record.expiresAt < Date.now()) return undefined;
    for (const [resource, ref] of [['serviceaccounts', record.serviceAccount], ['pods', record.pod]] as const) {
      if (!ref) continue;
      // Same name but another uid is a new object (deleted and recreated): the token was for the old one.
      if (this.lookup(resource, ref.namespace, ref.name)?.metadata.uid !== ref.uid) return undefined;
    }
    return record.audiences ? { user: record.user, audiences: record.audiences } : { user: record.user };
  }

  authenticate(authorization: string | undefined): Authentication {
    if (!authorization) return { user: ANONYMOUS };
    const m = /^Bearer\s+(\S+)\s*$/i.exec(authorization);
    if (!m) return { invalid: true };
    const resolved = this.resolve(m[1]!);
    return resolved ? { user: resolved.user } : { invalid: true };
  }
}
