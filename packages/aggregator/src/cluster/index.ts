// The cluster watch, run by the leader only: inventory (a snapshot closed by InventoryCommit, then changes, and a
// periodic full resync) and incident signals (events, pod status transitions, rollouts). Messages wait in one
// bounded queue (oldest dropped and counted when the uplink is slower than the cluster) and go to the sink in order.
//
// Exactly once across leader changes: the leader publishes, per resource that yields incident signals, a
// watermark: the resourceVersion through which that resource's watch has been processed and every message derived
// from it taken by the uplink (a watch delivers one resource's changes in resourceVersion order, so this needs no
// bookmarks). A new leader reads them from the Lease and, from its first list, reports incident signals only for
// objects changed after them. The inventory is idempotent and always sent in full.
import { Action, type InventoryCommit, type StreamDataRequest, type StreamEventsRequest } from '@kestrel/proto/cloud/v1';
import { DropOldestQueue, type Logger } from '@kestrel/core';
import type { KubeConfig } from '@kubernetes/client-node';
import { ClusterEvents } from './events.js';
import { metadata, obj, str, type KubeObject } from './k8s-object.js';
import { toAuthorizationPolicy, toNamespace, toNetworkPolicy, toNode, toPod, toService, toWorkload } from './inventory/mappers.js';
import { ForbiddenError, Reflector, objectKey, type ChangeType } from './reflector.js';
import { RESOURCES, type ResourceType } from './resources.js';
import { eventFingerprint, toKubernetesEvent } from './signals/kubernetes-events.js';
import { newSignals, podSignals, toPodStatusChange } from './signals/pod-status.js';
import { rolloutState, toRolloutStatus } from './signals/rollouts.js';

export type DataRequest = NonNullable<StreamDataRequest['request']>;
export type EventRequest = NonNullable<StreamEventsRequest['request']>;

export interface ClusterSink {
  sendData(request: DataRequest, signal: AbortSignal): Promise<void>;
  sendEvent(request: EventRequest, signal: AbortSignal): Promise<void>;
}

export interface ClusterWatchConfig {
  pageSize: number;
  resyncIntervalMs: number;
  pendingTooLongMs: number;
  queueCapacity: number;
}

/** `source` is the resource the message came from and `rv` the resourceVersion of the object it was made from. */
type Outgoing = { stream: 'data'; request: DataRequest; rv: number; source: string } | { stream: 'events'; request: EventRequest; rv: number; source: string };

type InventoryMapper = (o: KubeObject, action: Action) => DataRequest;

const INVENTORY: { resource: ResourceType; map: InventoryMapper }[] = [
  { resource: RESOURCES.namespaces, map: (o, a) => ({ $case: 'namespace', value: toNamespace(o, a) }) },
  ...(['deployments', 'statefulsets', 'daemonsets', 'replicasets', 'jobs', 'cronjobs'] as const).map((r) => ({
    resource: RESOURCES[r],
    map: ((o, a) => ({ $case: 'workload', value: toWorkload(RESOURCES[r].kind, o, a) })) as InventoryMapper,
  })),
  { resource: RESOURCES.pods, map: (o, a) => ({ $case: 'pod', value: toPod(o, a) }) },
  { resource: RESOURCES.services, map: (o, a) => ({ $case: 'service', value: toService(o, a) }) },
  { resource: RESOURCES.nodes, map: (o, a) => ({ $case: 'node', value: toNode(o, a) }) },
  { resource: RESOURCES.networkpolicies, map: (o, a) => ({ $case: 'networkPolicy', value: toNetworkPolicy(o, a) }) },
  { resource: RESOURCES.authorizationpolicies, map: (o, a) => ({ $case: 'authorizationPolicy', value: toAuthorizationPolicy(o, a) }) },
];

const ROLLOUT_KINDS = new Set(['Deployment', 'StatefulSet', 'DaemonSet']);
/** Resources whose changes become incident signals (and so need a watermark across leader changes). */
const SIGNAL_SOURCES = new Set(['pods', 'events', 'deployments', 'statefulsets', 'daemonsets']);

const rvNumber = (o: KubeObject): number => {
  const n = Number(metadata(o).resourceVersion);
  return Number.isFinite(n) ? n : Number.MAX_SAFE_INTEGER;
};

/** Inventory messages per object, kept so a deletion (even one found by a relist) and a resync can be sent. */
class InventoryCache {
  readonly byKey = new Map<string, DataRequest>();
}

export interface ReflectorView {
  resource: string;
  state: string;
  synced: boolean;
  objects: number;
  relists: number;
  resourceVersion: string;
  lastError: string | null;
}

export class ClusterWatch {
  private readonly queue: DropOldestQueue<Outgoing>;
  private reflectors: Reflector[] = [];
  private readonly caches = new Map<string, InventoryCache>();
  private readonly podState = new Map<string, string[]>();
  private readonly pendingPods = new Map<string, KubeObject>();
  private readonly rollouts = new Map<string, string>();
  private running = false;
  /** The message being handed to the uplink now. */
  private inFlight: Outgoing | undefined;
  lastCommitAt: Date | undefined;
  commits = 0;
  /** The InventoryCommit flags: which tools the cluster has (main.ts sets it from remediation/presence.ts). */
  presence: () => InventoryCommit = () => ({ hasDatadog: false, hasArgocd: false, hasRollouts: false, hasFlux: false, hasKarpenter: false });

  constructor(
    private readonly kc: KubeConfig,
    private readonly config: ClusterWatchConfig,
    private readonly sink: ClusterSink,
    private readonly events: ClusterEvents,
    private readonly logger: Logger,
  ) {
    this.queue = new DropOldestQueue<Outgoing>(config.queueCapacity, () => this.events.drop(this.running ? 'queue_full' : 'leadership_lost'));
  }

  /** Per signal resource, the resourceVersion through which everything was processed and taken by the uplink. */
  watermark(): Record<string, string> {
    const out: Record<string, string> = {};
    if (!this.running) return out;
    for (const r of this.reflectors) {
      if (!SIGNAL_SOURCES.has(r.resource.plural) || !r.synced || r.state === 'absent' || r.state === 'forbidden') continue;
      let low = Number(r.currentResourceVersion) || 0;
      for (const item of this.queue.peekAll()) if (item.source === r.resource.plural) low = Math.min(low, item.rv - 1);
      if (this.inFlight?.source === r.resource.plural) low = Math.min(low, this.inFlight.rv - 1);
      if (low > 0) out[r.resource.plural] = String(low);
    }
    return out;
  }

  get informersSynced(): number {
    return this.reflectors.filter((r) => r.synced).length;
  }

  get informersTotal(): number {
    return this.reflectors.length;
  }

  reflectorViews(): ReflectorView[] {
    return this.reflectors.map((r) => ({
      resource: r.resource.plural,
      state: r.state,
      synced: r.synced,
      objects: r.size,
      relists: r.relists,
      resourceVersion: r.currentResourceVersion,
      lastError: r.lastError ?? null,
    }));
  }

  /** Runs while leading. `previousWatermarks` is what the last leader published. */
  async run(signal: AbortSignal, previousWatermarks: Record<string, string>): Promise<void> {
    this.running = true;
    const sinceOf = (plural: string) => Number(previousWatermarks[plural]) || 0;
    const runs: Promise<void>[] = [];
    let pendingSync = INVENTORY.length;
    const onInventorySynced = () => {
      if (--pendingSync === 0) this.commit(0);
    };

    for (const { resource, map } of INVENTORY) {
      const cache = new InventoryCache();
      this.caches.set(resource.plural, cache);
      let first = true;
      const reflector = new Reflector(resource, this.kc, {
        change: (type, o, initial) => {
          this.inventoryChange(resource.plural, cache, map, type, o);
          if (resource === RESOURCES.pods) this.podChange(type, o, initial, sinceOf('pods'));
          if (ROLLOUT_KINDS.has(resource.kind)) this.rolloutChange(resource.plural, resource.kind, type, o, initial, sinceOf(resource.plural));
        },
        synced: () => {
          if (first) {
            first = false;
            onInventorySynced();
          }
        },
      }, { pageSize: this.config.pageSize, fingerprint: (o) => JSON.stringify(map(o, Action.ACTION_UNSPECIFIED)) + (resource === RESOURCES.pods || ROLLOUT_KINDS.has(resource.kind) ? JSON.stringify(obj(o['status'])) : '') });
      this.reflectors.push(reflector);
    }
    const eventsReflector = new Reflector(RESOURCES.events, this.kc, {
      change: (type, o, initial) => {
        if (type === 'deleted') return;
        if (initial && rvNumber(o) <= sinceOf('events')) return;
        this.enqueue({ stream: 'events', request: { $case: 'kubernetesEvent', value: toKubernetesEvent(o, type === 'added' ? Action.ACTION_CREATE : Action.ACTION_UPDATE) }, rv: rvNumber(o), source: 'events' });
      },
    }, { pageSize: this.config.pageSize, fingerprint: eventFingerprint });
    this.reflectors.push(eventsReflector);

    for (const r of this.reflectors) {
      runs.push(
        r.run(signal).catch((err: unknown) => {
          if (err instanceof ForbiddenError) {
            this.events.disabled.set({ resource: r.resource.plural }, 1);
            this.logger.error('RBAC denies watching this resource; it is left out and the rest goes on', { resource: r.resource.plural, error: err.message });
            if (!r.synced) onInventorySynced();
          } else {
            this.logger.error('reflector failed', { resource: r.resource.plural, error: String(err) });
          }
        }),
      );
    }
    const resync = setInterval(() => this.resync(), this.config.resyncIntervalMs);
    const pending = setInterval(() => this.checkPendingPods(), Math.min(30_000, this.config.pendingTooLongMs));
    try {
      await this.pump(signal);
    } finally {
      clearInterval(resync);
      clearInterval(pending);
      await Promise.all(runs);
      this.running = false;
      this.queue.clear();
      this.reflectors = [];
      this.caches.clear();
      this.podState.clear();
      this.pendingPods.clear();
      this.rollouts.clear();
    }
  }

  private enqueue(item: Outgoing): void {
    this.queue.push(item);
  }

  private async pump(signal: AbortSignal): Promise<void> {
    for (;;) {
      const item = await this.queue.take(signal);
      if (!item) return;
      this.inFlight = item;
      try {
        if (item.stream === 'data') await this.sink.sendData(item.request, signal);
        else await this.sink.sendEvent(item.request, signal);
        this.events.messages.inc({ stream: item.stream, kind: item.request.$case });
      } catch (err) {
        if (signal.aborted) return;
        this.events.drop('send_failed');
        this.logger.warn('cluster message could not be handed to the uplink', { error: String(err) });
      } finally {
        this.inFlight = undefined;
      }
    }
  }

  private inventoryChange(source: string, cache: InventoryCache, map: InventoryMapper, type: ChangeType, o: KubeObject): void {
    const key = objectKey(o);
    if (type === 'deleted') {
      const last = cache.byKey.get(key);
      cache.byKey.delete(key);
      // A deletion found by a relist has only the key: send the last message we had, marked deleted.
      const request = last ? withAction(last, Action.ACTION_DELETE) : map(o, Action.ACTION_DELETE);
      this.enqueue({ stream: 'data', request, rv: rvNumber(o), source });
      return;
    }
    const request = map(o, type === 'added' ? Action.ACTION_CREATE : Action.ACTION_UPDATE);
    cache.byKey.set(key, request);
    this.enqueue({ stream: 'data', request, rv: rvNumber(o), source });
  }

  private podChange(type: ChangeType, o: KubeObject, initial: boolean, since: number): void {
    const key = objectKey(o);
    if (type === 'deleted') {
      this.podState.delete(key);
      this.pendingPods.delete(key);
      return;
    }
    const now = Date.now();
    const signals = podSignals(o, now, this.config.pendingTooLongMs);
    const before = this.podState.get(key);
    this.podState.set(key, signals);
    if (str(obj(o['status'])['phase']) === 'Pending') this.pendingPods.set(key, o);
    else this.pendingPods.delete(key);
    // From the first list, only what changed after the previous leader's watermark is news.
    if (initial && rvNumber(o) <= since) return;
    if (newSignals(before, signals).length > 0) {
      this.enqueue({ stream: 'events', request: { $case: 'podStatusChange', value: toPodStatusChange(o, Action.ACTION_UPDATE, new Date(now)) }, rv: rvNumber(o), source: 'pods' });
    }
  }

  private checkPendingPods(): void {
    const now = Date.now();
    for (const [key, o] of this.pendingPods) {
      const signals = podSignals(o, now, this.config.pendingTooLongMs);
      const before = this.podState.get(key);
      if (newSignals(before, signals).length > 0) {
        this.podState.set(key, signals);
        this.enqueue({ stream: 'events', request: { $case: 'podStatusChange', value: toPodStatusChange(o, Action.ACTION_UPDATE, new Date(now)) }, rv: Number.MAX_SAFE_INTEGER, source: 'timer' });
      }
    }
  }

  private rolloutChange(source: string, kind: string, type: ChangeType, o: KubeObject, initial: boolean, since: number): void {
    const key = objectKey(o);
    if (type === 'deleted') {
      this.rollouts.delete(key);
      return;
    }
    const state = rolloutState(kind, o);
    const before = this.rollouts.get(key);
    this.rollouts.set(key, state.status);
    if (before === state.status) return;
    if (initial && (rvNumber(o) <= since || state.status === 'complete')) return;
    if (before === undefined && state.status === 'complete') return;
    this.enqueue({ stream: 'events', request: { $case: 'workloadRolloutStatus', value: toRolloutStatus(kind, o, state, new Date()) }, rv: rvNumber(o), source });
  }

  private commit(rv: number): void {
    this.commits++;
    this.lastCommitAt = new Date();
    this.enqueue({ stream: 'data', request: { $case: 'inventoryCommit', value: this.presence() }, rv: rv || Number.MAX_SAFE_INTEGER, source: 'commit' });
  }

  /**
   * The tools present changed: a full resync, so a commit with the new flags goes out without the cloud reading the
   * inventory as emptied (a commit ends a full snapshot). Before the first commit nothing is needed: it reads them.
   */
  presenceChanged(): void {
    if (this.running) this.resync();
  }

  /** Periodic full resync: every cached inventory message again, then a commit. */
  private resync(): void {
    if (this.reflectors.some((r) => !r.synced)) return;
    for (const cache of this.caches.values()) {
      for (const request of cache.byKey.values()) this.enqueue({ stream: 'data', request: withAction(request, Action.ACTION_CREATE), rv: Number.MAX_SAFE_INTEGER, source: 'resync' });
    }
    this.commit(0);
  }
}

function withAction(request: DataRequest, action: Action): DataRequest {
  return { ...request, value: { ...request.value, action } } as DataRequest;
}

export { ClusterEvents };
