// Bearer-token authentication. Static tokens map to users (with groups); service-account tokens are issued through
// the TokenRequest API (serviceaccounts/<name>/token, what `kubectl create token` calls) and stay valid only while
// that ServiceAccount exists with the same uid, like bound tokens. No token at all is the anonymous user, as on a
// real server with anonymous auth on; an unknown token is a 401.
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

interface TokenRecord {
  user: UserInfo;
  serviceAccount?: { namespace: string; name: string; uid: string };
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

  /** Looks up the ServiceAccount a token was issued for, to refuse tokens of deleted accounts. */
  constructor(private readonly findServiceAccount: (namespace: string, name: string) => KubeObject | undefined) {}

  addUser(user: StaticUser, token = newToken('kst-user')): string {
    const groups = [...(user.groups ?? [])];
    if (!groups.includes('system:authenticated')) groups.push('system:authenticated');
    const info: UserInfo = { username: user.name, groups };
    if (user.uid) info.uid = user.uid;
    this.tokens.set(token, { user: info });
    return token;
  }

  issueServiceAccountToken(serviceAccount: KubeObject, options: { expirationSeconds?: number; audiences?: string[] } = {}): { token: string; expirationTimestamp: Date } {
    const namespace = serviceAccount.metadata.namespace!;
    const name = serviceAccount.metadata.name!;
    const uid = serviceAccount.metadata.uid!;
    const token = newToken('kst-sa');
    const expiresAt = Date.now() + (options.expirationSeconds ?? 3600) * 1000;
    const record: TokenRecord = {
      user: { username: serviceAccountUsername(namespace, name), uid, groups: serviceAccountGroups(namespace), extra: { 'authentication.kubernetes.io/credential-id': [`JTI=${token.slice(-12)}`] } },
      serviceAccount: { namespace, name, uid },
      expiresAt,
    };
    if (options.audiences) record.audiences = options.audiences;
    this.tokens.set(token, record);
    return { token, expirationTimestamp: new Date(expiresAt) };
  }

  revoke(token: string): void {
    this.tokens.delete(token);
  }

  /** Resolves a token; undefined when it is unknown, expired or its ServiceAccount is gone. */
  resolve(token: string): { user: UserInfo; audiences?: string[] } | undefined {
    const record = this.tokens.get(token);
    if (!record) return undefined;
    if (record.expiresAt !== undefined && record.expiresAt < Date.now()) return undefined;
    if (record.serviceAccount) {
      const sa = this.findServiceAccount(record.serviceAccount.namespace, record.serviceAccount.name);
      if (!sa || sa.metadata.uid !== record.serviceAccount.uid) return undefined;
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
