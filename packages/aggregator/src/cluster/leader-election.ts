// Leader election on a coordination.k8s.io/v1 Lease, as client-go's leaderelection package does it, so exactly one
// aggregator replica runs the cluster-wide watches:
// - a candidate takes the Lease when it is free or its holder has not renewed for leaseDuration, judged by OUR
//   clock from when we last saw the record change (never by the holder's renewTime: clocks differ, and a holder
//   must not be able to pin the Lease by writing a time in the future);
// - updates carry the resourceVersion we read (optimistic concurrency: two candidates cannot both win);
// - the leader renews every retryPeriod and gives up when it could not renew for renewDeadline, which is shorter
//   than leaseDuration, so the old leader stops (and stops sending) before anyone else can take over.
// Lease times are MicroTime: the API server requires exactly six fraction digits (client-node's V1MicroTime).
import { CoordinationV1Api, V1MicroTime, type KubeConfig, type V1Lease } from '@kubernetes/client-node';
import { sleep, type Logger } from '@kestrel/core';

export interface LeaderElectionConfig {
  namespace: string;
  name: string;
  identity: string;
  leaseDurationMs: number;
  renewDeadlineMs: number;
  retryPeriodMs: number;
  /** Annotations the leader writes on the Lease at every renewal (e.g. its published watermark). */
  annotations?: () => Record<string, string>;
}

export interface LeaderCallbacks {
  /** Called on becoming leader; the signal aborts when leadership is lost or the process stops. */
  startedLeading(signal: AbortSignal): void;
  /** Called (and awaited) when leadership ends, before anyone else can hold the Lease. */
  stoppedLeading(): Promise<void>;
}

interface Observed {
  holder: string;
  resourceVersion: string;
  /** Our clock when the record last changed. */
  observedAt: number;
  durationMs: number;
  transitions: number;
}

export class LeaderElector {
  private observed: Observed | undefined;
  private readonly api: CoordinationV1Api;
  /** Annotations on the Lease as last read: what the previous holder published. */
  observedAnnotations: Record<string, string> = {};
  isLeader = false;
  leaderSince: Date | undefined;
  lastError: string | undefined;
  transitions = 0;

  constructor(
    kc: KubeConfig,
    private readonly config: LeaderElectionConfig,
    private readonly callbacks: LeaderCallbacks,
    private readonly logger: Logger,
    private readonly now: () => number = Date.now,
  ) {
    if (!(config.renewDeadlineMs < config.leaseDurationMs)) throw new Error('renew deadline must be shorter than the lease duration');
    this.api = kc.makeApiClient(CoordinationV1Api);
  }

  get currentHolder(): string | undefined {
    return this.observed?.holder || undefined;
  }

  async run(signal: AbortSignal): Promise<void> {
    while (!signal.aborted) {
      // Candidate: try until we hold the Lease.
      if (!(await this.tryAcquireOrRenew())) {
        await sleep(this.config.retryPeriodMs * (1 + Math.random() * 0.2), signal).catch(() => undefined);
        continue;
      }
      await this.lead(signal);
    }
  }

  private async lead(signal: AbortSignal): Promise<void> {
    this.isLeader = true;
    this.leaderSince = new Date();
    this.transitions++;
    this.logger.info('became leader', { lease: `${this.config.namespace}/${this.config.name}`, identity: this.config.identity });
    const leading = new AbortController();
    const stop = () => leading.abort();
    signal.addEventListener('abort', stop, { once: true });
    this.callbacks.startedLeading(leading.signal);
    let lastRenew = this.now();
    try {
      while (!signal.aborted) {
        await sleep(this.config.retryPeriodMs, signal).catch(() => undefined);
        if (signal.aborted) break;
        if (await this.tryAcquireOrRenew()) {
          lastRenew = this.now();
        } else if (this.observed && this.observed.holder !== this.config.identity) {
          this.logger.warn('lost leadership to another replica', { holder: this.observed.holder });
          break;
        } else if (this.now() - lastRenew >= this.config.renewDeadlineMs) {
          this.logger.warn('could not renew the lease within the renew deadline; stepping down', { error: this.lastError });
          break;
        }
      }
    } finally {
      signal.removeEventListener('abort', stop);
      leading.abort();
      this.isLeader = false;
      this.leaderSince = undefined;
      await this.callbacks.stoppedLeading();
      if (signal.aborted) await this.release();
    }
  }

  /** One attempt; true when we hold the Lease afterwards. */
  private async tryAcquireOrRenew(): Promise<boolean> {
    const { namespace, name, identity } = this.config;
    const now = this.now();
    let lease: V1Lease;
    try {
      lease = await this.api.readNamespacedLease({ name, namespace });
    } catch (err) {
      if (statusCode(err) !== 404) return this.failed(err);
      try {
        const created = await this.api.createNamespacedLease({ namespace, body: this.leaseBody(undefined, 0, new V1MicroTime(now)) });
        this.observe(created, now);
        return true;
      } catch (createErr) {
        return this.failed(createErr);
      }
    }
    this.observe(lease, now);
    const spec = lease.spec ?? {};
    const holder = spec.holderIdentity ?? '';
    const observed = this.observed!;
    if (holder && holder !== identity && now < observed.observedAt + observed.durationMs) return false;
    const taking = holder !== identity;
    try {
      const updated = await this.api.replaceNamespacedLease({
        name,
        namespace,
        body: this.leaseBody(lease.metadata?.resourceVersion, (spec.leaseTransitions ?? 0) + (taking ? 1 : 0), taking ? new V1MicroTime(now) : spec.acquireTime ? new V1MicroTime(spec.acquireTime) : new V1MicroTime(now)),
      });
      this.observe(updated, now);
      this.lastError = undefined;
      return true;
    } catch (err) {
      return this.failed(err);
    }
  }

  private leaseBody(resourceVersion: string | undefined, transitions: number, acquireTime: V1MicroTime): V1Lease {
    return {
      apiVersion: 'coordination.k8s.io/v1',
      kind: 'Lease',
      metadata: {
        name: this.config.name,
        namespace: this.config.namespace,
        annotations: { ...this.observedAnnotations, ...(this.config.annotations?.() ?? {}) },
        ...(resourceVersion ? { resourceVersion } : {}),
      },
      spec: {
        holderIdentity: this.config.identity,
        leaseDurationSeconds: Math.ceil(this.config.leaseDurationMs / 1000),
        acquireTime,
        renewTime: new V1MicroTime(this.now()),
        leaseTransitions: transitions,
      },
    };
  }

  private observe(lease: V1Lease, now: number): void {
    const rv = lease.metadata?.resourceVersion ?? '';
    this.observedAnnotations = { ...(lease.metadata?.annotations ?? {}) };
    const holder = lease.spec?.holderIdentity ?? '';
    if (!this.observed || this.observed.resourceVersion !== rv) {
      // Our own duration bounds what another holder can claim: a Lease written with a huge duration cannot pin us.
      const claimed = (lease.spec?.leaseDurationSeconds ?? 0) * 1000;
      this.observed = { holder, resourceVersion: rv, observedAt: now, durationMs: Math.min(Math.max(claimed, 1000), this.config.leaseDurationMs), transitions: lease.spec?.leaseTransitions ?? 0 };
    }
  }

  private failed(err: unknown): false {
    this.lastError = err instanceof Error ? err.message : String(err);
    return false;
  }

  /** On a clean shutdown, let the next replica take over at once instead of waiting out the Lease. */
  private async release(): Promise<void> {
    const { namespace, name, identity } = this.config;
    try {
      const lease = await this.api.readNamespacedLease({ name, namespace });
      if (lease.spec?.holderIdentity !== identity) return;
      await this.api.replaceNamespacedLease({
        name,
        namespace,
        body: { ...lease, spec: { ...lease.spec, holderIdentity: '', leaseDurationSeconds: 1, renewTime: new V1MicroTime(this.now()), acquireTime: lease.spec?.acquireTime ? new V1MicroTime(lease.spec.acquireTime) : undefined } },
      });
    } catch (err) {
      this.logger.warn('could not release the lease', { error: err instanceof Error ? err.message : String(err) });
    }
  }
}

function statusCode(err: unknown): number {
  const e = err as { code?: unknown; statusCode?: unknown } | null;
  const code = e?.code ?? e?.statusCode;
  return typeof code === 'number' ? code : 0;
}
