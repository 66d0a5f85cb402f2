// Agent identity by projected ServiceAccount token (agentAuth=token: the chart's mode). The agent sends
// `authorization: Bearer <token>` on its Stream call; the token comes from a projected serviceAccountToken volume,
// so the kubelet binds it to the agent's pod and rotates it. The aggregator asks the API server whose it is (a
// TokenReview for our audience) and accepts the stream only when:
//   - the review authenticates it for the audience (status.audiences names it: an audience-unaware answer, or a
//     token for the API server itself, is not enough);
//   - the user is the agents' ServiceAccount in the aggregator's namespace;
//   - the token is bound to a node: user.extra authentication.kubernetes.io/node-name (Kubernetes 1.30+), or else
//     (older clusters) the pod named by extra pod-name, read in that namespace, has the uid of extra pod-uid and runs
//     on spec.nodeName;
//   - that node is the one the Hello names.
// Verdicts on a token are cached by its SHA-256 for a short while (bounded), so reconnecting agents do not cost a
// review each; failures to reach the API server are not cached and answer UNAVAILABLE, so the agent retries.
// See docs/transport.md.
import { createHash } from 'node:crypto';
import { AuthenticationV1Api, CoreV1Api, type KubeConfig } from '@kubernetes/client-node';
import { Counter, type Registry } from '@kestrel/core';
import { Status } from 'nice-grpc';
import type { AgentCall, AgentIdentityCheck, AgentIdentityVerdict } from './identity.js';

export interface TokenReviewResult {
  authenticated: boolean;
  username?: string | undefined;
  extra?: Record<string, string[]> | undefined;
  audiences?: string[] | undefined;
  error?: string | undefined;
}

/** What the check needs from the Kubernetes API (a fake in unit tests). */
export interface KubeIdentityApi {
  reviewToken(token: string, audiences: string[]): Promise<TokenReviewResult>;
  /** The pod, or undefined when there is none of that name. */
  readPod(namespace: string, name: string): Promise<{ uid: string; nodeName: string | undefined } | undefined>;
}

/** Each API request gives up after this long (an unreachable API server must not hold agents for minutes). */
const API_TIMEOUT_MS = 10_000;

function withTimeout<T>(what: string, promise: Promise<T>): Promise<T> {
  let timer: NodeJS.Timeout | undefined;
  const timeout = new Promise<never>((_, reject) => {
    timer = setTimeout(() => reject(new Error(`${what} timed out after ${API_TIMEOUT_MS} ms`)), API_TIMEOUT_MS);
  });
  return Promise.race([promise, timeout]).finally(() => clearTimeout(timer));
}

export function kubeIdentityApi(kc: KubeConfig): KubeIdentityApi {
  const authentication = kc.makeApiClient(AuthenticationV1Api);
  const core = kc.makeApiClient(CoreV1Api);
  return {
    async reviewToken(token, audiences) {
      const review = await withTimeout(
        'TokenReview',
        authentication.createTokenReview({ body: { apiVersion: 'authentication.k8s.io/v1', kind: 'TokenReview', spec: { token, audiences } } }),
      );
      const status = review.status ?? {};
      return { authenticated: status.authenticated === true, username: status.user?.username, extra: status.user?.extra, audiences: status.audiences, error: status.error };
    },
    async readPod(namespace, name) {
      try {
        const pod = await withTimeout('reading the pod', core.readNamespacedPod({ namespace, name }));
        return { uid: pod.metadata?.uid ?? '', nodeName: pod.spec?.nodeName || undefined };
      } catch (err) {
        if ((err as { code?: unknown }).code === 404) return undefined;
        throw err;
      }
    },
  };
}

export interface TokenIdentitySettings {
  /** The audience agents' tokens are issued for (the projected volume's audience). */
  audience: string;
  /** The aggregator's namespace, where the agents' ServiceAccount and pods are. */
  namespace: string;
  /** The agents' ServiceAccount. */
  serviceAccount: string;
  /** How long a verdict on a token is reused. */
  cacheTtlMs: number;
  /** At most this many tokens' verdicts are kept (the oldest go first). */
  cacheMaxEntries?: number;
}

const EXTRA = 'authentication.kubernetes.io/';

type Refusal = Extract<AgentIdentityVerdict, { accepted: false }>;
/** Who a token proves to be: its node and a description for logs and `debug agents`, or why it proves nothing. */
type TokenIdentity = { node: string; subject: string } | Refusal;

const refuse = (status: Status, reason: string, message: string): Refusal => ({ accepted: false, status, reason, message });

/** The API server could not be asked: UNAVAILABLE (the agent retries), not cached. */
class ApiUnavailable extends Error {
  constructor(
    readonly reason: string,
    message: string,
  ) {
    super(message);
  }
}

export class TokenIdentityCheck implements AgentIdentityCheck {
  private readonly cache = new Map<string, { at: number; identity: TokenIdentity }>();
  private readonly pending = new Map<string, Promise<TokenIdentity>>();
  private readonly username: string;
  private readonly maxEntries: number;
  private readonly reviews: Counter<'result'> | undefined;

  constructor(
    private readonly settings: TokenIdentitySettings,
    private readonly api: KubeIdentityApi,
    registry?: Registry,
    private readonly now: () => number = Date.now,
  ) {
    this.username = `system:serviceaccount:${settings.namespace}:${settings.serviceAccount}`;
    this.maxEntries = settings.cacheMaxEntries ?? 10_000;
    if (registry) {
      this.reviews = new Counter({
        name: 'kestrel_aggregator_ingest_token_reviews_total',
        help: 'Agent tokens checked: TokenReviews asked (authenticated, unauthenticated, error) and verdicts reused from the cache (cached)',
        labelNames: ['result'],
        registers: [registry],
      });
    }
  }

  async verify(call: AgentCall, claimedNode: string): Promise<AgentIdentityVerdict> {
    const authorization = call.metadata.get('authorization');
    if (!authorization) {
      return refuse(Status.UNAUTHENTICATED, 'no_token', 'authorization metadata required: "Bearer <projected ServiceAccount token>"');
    }
    const match = /^Bearer\s+(\S+)\s*$/i.exec(authorization);
    if (!match) return refuse(Status.UNAUTHENTICATED, 'invalid_token', 'authorization metadata is not "Bearer <token>"');
    let identity: TokenIdentity;
    try {
      identity = await this.identityOf(match[1]!);
    } catch (err) {
      const reason = err instanceof ApiUnavailable ? err.reason : 'token_review_failed';
      return refuse(Status.UNAVAILABLE, reason, `cannot check the token now: ${err instanceof Error ? err.message : String(err)}`);
    }
    if ('accepted' in identity) return identity;
    if (identity.node !== claimedNode) {
      return refuse(Status.PERMISSION_DENIED, 'wrong_node', `the token is bound to node "${identity.node}", not "${claimedNode}"`);
    }
    return { accepted: true, node: identity.node, subject: identity.subject };
  }

  private identityOf(token: string): Promise<TokenIdentity> {
    const key = createHash('sha256').update(token).digest('hex');
    const cached = this.cache.get(key);
    if (cached && this.now() - cached.at < this.settings.cacheTtlMs) {
      this.reviews?.inc({ result: 'cached' });
      return Promise.resolve(cached.identity);
    }
    if (cached) this.cache.delete(key);
    // Agents reconnecting together with one token (or one agent's retries) share one review.
    let pending = this.pending.get(key);
    if (!pending) {
      pending = this.review(token).then((identity) => {
        this.remember(key, identity);
        return identity;
      });
      const forget = () => this.pending.delete(key);
      pending.then(forget, forget);
      this.pending.set(key, pending);
    }
    return pending;
  }

  private remember(key: string, identity: TokenIdentity): void {
    while (this.cache.size >= this.maxEntries) {
      const oldest = this.cache.keys().next().value;
      if (oldest === undefined) break;
      this.cache.delete(oldest);
    }
    this.cache.set(key, { at: this.now(), identity });
  }

  private async review(token: string): Promise<TokenIdentity> {
    const { audience, namespace } = this.settings;
    let review: TokenReviewResult;
    try {
      review = await this.api.reviewToken(token, [audience]);
    } catch (err) {
      this.reviews?.inc({ result: 'error' });
      throw new ApiUnavailable('token_review_failed', `TokenReview failed: ${err instanceof Error ? err.message.split('\n')[0] : String(err)}`);
    }
    this.reviews?.inc({ result: review.authenticated ? 'authenticated' : 'unauthenticated' });
    if (!review.authenticated) {
      return refuse(Status.UNAUTHENTICATED, 'invalid_token', `the token is not valid for audience "${audience}"${review.error ? ` (${review.error})` : ''}`);
    }
    // A review answered without our audience comes from an audience-unaware authenticator, or the token is for the
    // API server itself: neither proves the token was meant for us.
    if (!(review.audiences ?? []).includes(audience)) {
      return refuse(Status.UNAUTHENTICATED, 'invalid_token', `the token is not valid for audience "${audience}" (the review names ${JSON.stringify(review.audiences ?? [])})`);
    }
    if (review.username !== this.username) {
      return refuse(Status.PERMISSION_DENIED, 'wrong_service_account', `the token is for "${review.username ?? ''}", not the agents' ServiceAccount "${this.username}"`);
    }
    const extra = review.extra ?? {};
    const podName = extra[`${EXTRA}pod-name`]?.[0];
    const podUid = extra[`${EXTRA}pod-uid`]?.[0];
    const subject = podName ? `${review.username} pod ${podName}` : review.username;
    const node = extra[`${EXTRA}node-name`]?.[0];
    if (node) return { node, subject };
    // Older clusters name only the pod: its node is where that pod (same uid) runs.
    if (!podName || !podUid) {
      return refuse(Status.PERMISSION_DENIED, 'unbound_token', 'the token is not bound to a pod: mount it from a projected serviceAccountToken volume');
    }
    let pod: { uid: string; nodeName: string | undefined } | undefined;
    try {
      pod = await this.api.readPod(namespace, podName);
    } catch (err) {
      throw new ApiUnavailable('pod_lookup_failed', `reading pod ${namespace}/${podName} failed: ${err instanceof Error ? err.message.split('\n')[0] : String(err)}`);
    }
    if (!pod || pod.uid !== podUid) {
      return refuse(Status.UNAUTHENTICATED, 'unbound_token', `the pod the token is bound to (${namespace}/${podName}, uid ${podUid}) does not exist`);
    }
    if (!pod.nodeName) return refuse(Status.PERMISSION_DENIED, 'unbound_token', `the pod the token is bound to (${namespace}/${podName}) is not on a node`);
    return { node: pod.nodeName, subject };
  }
}
