// The node source: what only the node sees, for the agent to send.
//
// In:  this node's Node object (list/watch, field selector metadata.name=<node>), the pods on this node (list/watch,
//      spec.nodeName=<node>), <procRoot>/pressure/{cpu,memory,io}, statfs of the log root and of the container
//      runtime's filesystem.
// Out: cloud.v1 NodeConditionChange messages to a sink (one in full when the node is first known, then one per
//      condition transition), and ownersOf(podUid) for the log records of the pods on this node.
//
// Nothing here throws at the caller once started: an unreachable API server means backoff, a 403 turns that watch
// off with one log line and a metric, unreadable samples keep the last state and are counted.
import type { KubeConfig } from '@kubernetes/client-node';
import type { Logger, Registry } from '@kestrel/core';
import type { NodeCondition, NodeConditionChange, OwnerReference } from '@kestrel/proto/cloud/v1';
import { Action } from '@kestrel/proto/cloud/v1';
import { NodeSourceEvents } from './events.js';
import { realStatfs, type StatfsFn } from './filesystems.js';
import { ForbiddenError, KubeWatch, NODES, PODS, type WatchState } from './kube-watch.js';
import { ConditionReporter, cutNode, type NodeFacts, type NodeState } from './node-report.js';
import { OwnConditions, type PsiState } from './own-conditions.js';
import { cutPod, PodOwners, type PodRef } from './pod-owners.js';
import type { PressureThresholds } from './pressure.js';

export { OWN_CONDITION_TYPES } from './own-conditions.js';
export { NodeSourceEvents } from './events.js';
export { DEFAULT_PRESSURE_THRESHOLDS, type PressureThresholds } from './pressure.js';
export type { StatfsFn, StatfsResult } from './filesystems.js';
export type { PodRef } from './pod-owners.js';
export { nodeSourceSettings, nodeSourceOptionsFrom, type NodeSourceSettings } from './config.js';

/** Where NodeConditionChange messages go (the forwarder's bounded buffer). Must not block. */
export interface NodeConditionSink {
  nodeCondition(change: NodeConditionChange): void;
}

export interface NodeSourceOptions {
  nodeName: string;
  /** Kubernetes access; undefined: no Node or pod watch (only the agent's own conditions are reported). */
  kubeConfig: KubeConfig | undefined;
  /** Where the host's /proc is (/proc, or /host/proc when the chart mounts it there). */
  procRoot: string;
  /** The pod log root; its filesystem is the log filesystem. */
  logRoot: string;
  /** A path on the container runtime's filesystem; undefined: not watched. Missing at run time: skipped. */
  containerFilesystem: string | undefined;
  pressureThresholds: PressureThresholds;
  pressureHysteresis: number;
  fsFullPercent: number;
  fsFullHysteresis: number;
  sampleIntervalMs: number;
  /** How long the first message waits for the Node to be listed before the own conditions go alone (30 s). */
  firstReportTimeoutMs?: number;
  listPageSize?: number;
  watchBackoffInitialMs?: number;
  watchBackoffMaxMs?: number;
  /** statfs(2); injectable for tests. */
  statfs?: StatfsFn;
  now?: () => number;
}

export interface NodeSourceDeps {
  registry: Registry;
  logger: Logger;
}

export interface WatchView {
  enabled: boolean;
  state: WatchState | 'off';
  synced: boolean;
  resourceVersion: string;
  relists: number;
  lastError: string | null;
}

export interface NodeSourceView {
  nodeName: string;
  node: NodeState;
  nodeWatch: WatchView;
  podWatch: WatchView;
  podsTracked: number;
  psi: PsiState;
  lastSampleAt: string | null;
  ownConditions: NodeCondition[];
  lastSent: { action: string; uid: string; at: string | null; conditions: { type: string; status: string }[] } | null;
  sent: number;
}

export class NodeSource {
  readonly events: NodeSourceEvents;
  private readonly owners = new PodOwners();
  private readonly reporter: ConditionReporter;
  private readonly own: OwnConditions;
  private readonly nodeWatch: KubeWatch<NodeFacts> | undefined;
  private readonly podWatch: KubeWatch<PodRef> | undefined;
  private readonly controller = new AbortController();
  private readonly timers: NodeJS.Timeout[] = [];
  private runs: Promise<void>[] = [];
  private sampling: Promise<void> | undefined;
  private started = false;
  private readonly logger: Logger;

  constructor(
    private readonly options: NodeSourceOptions,
    private readonly sink: NodeConditionSink,
    deps: NodeSourceDeps,
  ) {
    this.logger = deps.logger;
    this.events = new NodeSourceEvents(deps.registry, deps.logger, () => this.owners.size);
    const now = options.now ?? Date.now;
    this.reporter = new ConditionReporter(options.nodeName, (change) => this.deliver(change), now);
    this.own = new OwnConditions(
      {
        procRoot: options.procRoot,
        logRoot: options.logRoot,
        containerFilesystem: options.containerFilesystem,
        pressureThresholds: options.pressureThresholds,
        pressureHysteresis: options.pressureHysteresis,
        fsFullPercent: options.fsFullPercent,
        fsFullHysteresis: options.fsFullHysteresis,
        statfs: options.statfs ?? realStatfs,
        now,
      },
      this.events,
    );
    const kc = options.kubeConfig;
    if (kc) {
      const common = { pageSize: options.listPageSize, backoffInitialMs: options.watchBackoffInitialMs, backoffMaxMs: options.watchBackoffMaxMs };
      this.nodeWatch = new KubeWatch(kc, { ...common, name: 'node', resource: NODES, fieldSelector: `metadata.name=${options.nodeName}`, cut: cutNode }, this.reporter, this.events);
      this.podWatch = new KubeWatch(kc, { ...common, name: 'pods', resource: PODS, fieldSelector: `spec.nodeName=${options.nodeName}`, cut: cutPod }, this.owners, this.events);
    }
  }

  /** Takes the first sample, then starts the sampling timer and the watches; resolves once they run. */
  async start(signal?: AbortSignal): Promise<void> {
    if (this.started) throw new Error('NodeSource already started');
    this.started = true;
    if (signal?.aborted) this.controller.abort(signal.reason);
    else signal?.addEventListener('abort', () => this.controller.abort(signal.reason), { once: true });
    const stop = this.controller.signal;
    // The first sample comes before the watches, so the first message already carries the own conditions.
    await this.sample();
    if (stop.aborted) return;
    this.timers.push(setInterval(() => void this.sample(), this.options.sampleIntervalMs).unref());
    if (!this.nodeWatch || !this.podWatch) {
      this.logger.info('node watch off: no Kubernetes access or nodeWatch=off; only the agent\'s own node conditions are reported', { node: this.options.nodeName });
      this.reporter.release();
      return;
    }
    this.timers.push(setTimeout(() => this.reporter.release(), this.options.firstReportTimeoutMs ?? 30_000).unref());
    this.runs.push(
      this.nodeWatch.run(stop).catch((err: unknown) => {
        // Denied (already logged and counted): the own conditions go on alone.
        if (!(err instanceof ForbiddenError)) this.logger.error('node watch failed', { error: String(err) });
        this.reporter.release();
      }),
      this.podWatch.run(stop).catch((err: unknown) => {
        if (!(err instanceof ForbiddenError)) this.logger.error('pod watch failed', { error: String(err) });
        this.owners.clear();
      }),
    );
  }

  async stop(): Promise<void> {
    this.controller.abort(new Error('stopping'));
    for (const t of this.timers) clearTimeout(t);
    this.timers.length = 0;
    await Promise.all(this.runs);
    this.runs = [];
    await this.sampling;
  }

  /** Owner references of a pod on this node (cloud.v1 form); empty when the pod is unknown. */
  ownersOf(podUid: string): OwnerReference[] {
    return this.owners.ownersOf(podUid);
  }

  /** Namespace, name and owners of a pod on this node, when known. */
  pod(podUid: string): PodRef | undefined {
    return this.owners.pod(podUid);
  }

  /** For `kestrel-agent debug conditions` and tests. */
  view(): NodeSourceView {
    const watchView = (w: KubeWatch<unknown> | undefined): WatchView =>
      w
        ? { enabled: true, state: w.state, synced: w.synced, resourceVersion: w.resourceVersion, relists: w.relists, lastError: w.lastError ?? null }
        : { enabled: false, state: 'off', synced: false, resourceVersion: '', relists: 0, lastError: null };
    const last = this.reporter.lastChange;
    return {
      nodeName: this.options.nodeName,
      node: this.reporter.nodeState,
      nodeWatch: watchView(this.nodeWatch as KubeWatch<unknown> | undefined),
      podWatch: watchView(this.podWatch as KubeWatch<unknown> | undefined),
      podsTracked: this.owners.size,
      psi: this.own.psi,
      lastSampleAt: this.own.lastSampleAt === undefined ? null : new Date(this.own.lastSampleAt).toISOString(),
      ownConditions: this.own.current(),
      lastSent: last
        ? {
            action: Action[last.action] ?? String(last.action),
            uid: last.uid,
            at: last.conditionTimestamp ? new Date(last.conditionTimestamp.seconds * 1000 + Math.floor(last.conditionTimestamp.nanos / 1e6)).toISOString() : null,
            conditions: last.conditions.map((c) => ({ type: c.type, status: c.status })),
          }
        : null,
      sent: this.events.totals.sent,
    };
  }

  /** One sample at a time: a slow statfs (a hung NFS mount) skips ticks instead of piling them up. */
  private sample(): Promise<void> {
    if (this.sampling) return this.sampling;
    this.sampling = (async () => {
      try {
        const conditions = await this.own.sample();
        if (!this.controller.signal.aborted) this.reporter.ownConditions(conditions);
      } catch (err) {
        this.events.sampleError('sampler', err);
      } finally {
        this.sampling = undefined;
      }
    })();
    return this.sampling;
  }

  private deliver(change: NodeConditionChange): void {
    this.events.conditionSent(change.action);
    try {
      this.sink.nodeCondition(change);
    } catch (err) {
      this.events.sinkFailed(err);
    }
  }
}
