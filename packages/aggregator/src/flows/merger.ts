// Merges flow windows from every agent of this replica (and from Hubble Relay in relay mode) into cloud.v1 Flow
// records: endpoints the node could not resolve are resolved from the pod IP index, windows are grouped into
// buckets by time (buckets.ts), the same conversation from several nodes and windows adds up, and the two ends of a
// conversation count once (conversation.ts). A due bucket is sent on StreamFlows through the uplink.
//
// Acknowledgement (docs/transport.md, docs/flows.md): a window's `delivered` settles once every Flow of the bucket it
// was merged into has been taken and written by the uplink. The ingest service acknowledges the agent's batch only
// then, so an agent's resume point (Hubble time, VPC CNI offsets) never passes flows this replica could still lose.
//
// Bounded: at most maxConversations are held; a window that would pass the bound makes the oldest bucket go out
// early and waits for room (backpressure to the agents, whose own buffers count what they drop).
import { sleep, timestampMs, type Logger } from '@kestrel/core';
import type { Flow } from '@kestrel/proto/cloud/v1';
import { FlowSource, type FlowWindow } from '@kestrel/proto/ingest/v1';
import { BucketTable, type Bucket } from './buckets.js';
import type { FlowsConfig } from './config.js';
import type { FlowEvents } from './events.js';
import type { IpResolver } from './pod-ips.js';
import { WindowReplays } from './window-replays.js';
import { isEmptyEndpoint } from './workload.js';

export interface FlowSink {
  /** Accepts a Flow once the uplink has room; `delivered` settles once written to the cloud. */
  submitFlow(flow: Flow, signal: AbortSignal): Promise<{ delivered: Promise<void> }>;
}

/** Sources as metric labels and view names. */
export type SourceName = 'hubble' | 'vpc_cni' | 'relay' | 'unknown';

export function sourceName(s: FlowSource): SourceName {
  if (s === FlowSource.FLOW_SOURCE_HUBBLE) return 'hubble';
  if (s === FlowSource.FLOW_SOURCE_VPC_CNI) return 'vpc_cni';
  return 'unknown';
}

export interface SourceView {
  node: string;
  source: SourceName;
  windows: number;
  rawFlows: number;
  sourceLost: number;
  agentDropped: number;
  lastWindowAt: string | null;
}

export interface TalkerView {
  src: string;
  dst: string;
  port: number;
  protocol: string;
  allowed: boolean;
  direction: string;
  count: number;
}

export interface MergerView {
  hubbleMode: string;
  hubbleCountAt: string;
  bucketMs: number;
  graceMs: number;
  conversationsHeld: number;
  maxConversations: number;
  openBuckets: number;
  rawFlows: number;
  flowsSent: number;
  bothEnds: number;
  lateWindows: number;
  ignoredWindows: number;
  replayedWindows: number;
  /** Egress entries not counted here (hubbleCountAt=destination): their destination's node counts them. */
  leftToDestination: number;
  /** Raw flows per second merged over the last sent bucket's span. */
  lastBucketRawPerSecond: number;
  sources: SourceView[];
  /** The largest conversations of the last bucket sent. */
  topTalkers: TalkerView[];
}

const TOP_TALKERS = 10;
/** Sources (node × source) tracked for the debug view, at most; the oldest is forgotten first. */
const MAX_SOURCES = 10_000;

export class FlowMerger {
  private readonly table: BucketTable;
  private readonly replays: WindowReplays;
  private readonly sources = new Map<string, SourceView>();
  private readonly roomWaiters = new Set<() => void>();
  private wakeFlusher: (() => void) | undefined;
  private flushOldest = false;
  private stopped = false;
  private counters = { rawFlows: 0, flowsSent: 0, bothEnds: 0, lateWindows: 0, ignoredWindows: 0, replayedWindows: 0, leftToDestination: 0 };
  private lastBucketRawPerSecond = 0;
  private topTalkers: TalkerView[] = [];

  constructor(
    private readonly config: FlowsConfig,
    private readonly sink: FlowSink,
    private readonly resolver: IpResolver,
    private readonly events: FlowEvents,
    private readonly logger: Logger,
    private readonly now: () => number = Date.now,
  ) {
    this.table = new BucketTable(config.bucketMs, config.graceMs);
    this.replays = new WindowReplays(config.maxRememberedWindows);
  }

  /**
   * Takes one window from an agent's batch; resolves, once merged (after waiting for room), to the promise of its
   * delivery. Wrapped: an async function cannot resolve to a pending promise.
   */
  async submitWindow(node: string, window: FlowWindow, signal: AbortSignal): Promise<{ delivered: Promise<void> }> {
    const source = sourceName(window.source);
    this.track(node, source, window);
    this.events.rawFlows.inc({ source }, window.rawFlows);
    this.events.upstreamLost.inc({ source, where: 'source' }, window.sourceLost);
    this.events.upstreamLost.inc({ source, where: 'agent' }, window.agentDropped);
    if (window.source === FlowSource.FLOW_SOURCE_HUBBLE && this.config.hubbleMode === 'relay') {
      // Relay mode: Relay already gives this replica every node's Hubble flows; merging the agents' too would count
      // each flow twice. Acknowledged at once (nothing to lose), counted.
      this.events.windows.inc({ source, outcome: 'ignored_relay_mode' });
      this.counters.ignoredWindows++;
      return { delivered: Promise.resolve() };
    }
    if (source === 'unknown' || !window.windowStart) {
      this.events.invalidWindow(source, node, source === 'unknown' ? `unknown flow source ${window.source}` : 'window without window_start');
      this.events.drop('invalid_window', window.flows.length, 'window refused', { node });
      return { delivered: Promise.resolve() };
    }
    const key = WindowReplays.key(node, window);
    const earlier = this.replays.earlier(key);
    if (earlier) {
      this.events.windows.inc({ source, outcome: 'replay' });
      this.counters.replayedWindows++;
      return { delivered: earlier };
    }
    // Remembered before merging: a resend arriving while this one waits for room must not be merged as well.
    let settle!: { resolve: () => void; reject: (err: unknown) => void };
    const delivered = new Promise<void>((resolve, reject) => (settle = { resolve, reject }));
    delivered.catch(() => undefined);
    this.replays.remember(key, delivered);
    try {
      const merged = await this.merge(source, timestampMs(window.windowStart), window.flows, window.rawFlows, signal);
      merged.delivered.then(settle.resolve, settle.reject);
    } catch (err) {
      settle.reject(err);
      throw err;
    }
    this.events.windows.inc({ source, outcome: 'merged' });
    return { delivered };
  }

  /** Merges flows of one source observed from startMs (agents' windows, Relay's windows); resolves to their delivery. */
  async merge(source: SourceName, startMs: number, flows: readonly Flow[], rawFlows: number, signal: AbortSignal): Promise<{ delivered: Promise<void> }> {
    const prepared = flows.filter((f) => this.prepare(f));
    if (prepared.length < flows.length) this.events.drop('invalid_entry', flows.length - prepared.length, 'flow entries without a count or without any endpoint');
    const usable = this.countsHere(source) ? prepared : prepared.filter((f) => !this.leftToDestination(f));
    if (usable.length < prepared.length) {
      this.events.leftToDestination.inc(prepared.length - usable.length);
      this.counters.leftToDestination += prepared.length - usable.length;
    }
    // Room for the whole window (its entries are merged at once); an empty table takes any window.
    while (this.table.size > 0 && this.table.size + usable.length > this.config.maxConversations) {
      if (this.stopped) throw new Error('flow merger stopped');
      this.flushOldest = true;
      this.wakeFlusher?.();
      await this.waitForRoom(signal);
    }
    // Each entry goes into the bucket of its first_seen (the window start when it has none): the two ends of a
    // conversation observe the same packets at the same instants, whatever their agents' window boundaries.
    const now = this.now();
    const groups = new Map<Bucket, Flow[]>();
    let late = false;
    for (const f of usable) {
      const at = f.firstSeen ? timestampMs(f.firstSeen) : startMs;
      const placed = this.table.bucketFor(at > 0 ? at : startMs, now);
      late ||= placed.late;
      const group = groups.get(placed.bucket);
      if (group) group.push(f);
      else groups.set(placed.bucket, [f]);
    }
    if (groups.size === 0) groups.set(this.table.bucketFor(startMs, now).bucket, []);
    if (late) {
      this.events.lateWindows.inc({ source });
      this.counters.lateWindows++;
    }
    let first = true;
    for (const [bucket, flows] of groups) {
      this.table.add(bucket, flows);
      bucket.windows++;
      // The window's raw count is reported once, with its first bucket (for the rate in the debug view).
      if (first) bucket.rawFlows += rawFlows;
      first = false;
    }
    this.counters.rawFlows += rawFlows;
    this.events.entriesMerged.inc({ source }, usable.length);
    const buckets = [...groups.keys()];
    const delivered = buckets.length === 1 ? buckets[0]!.delivered : Promise.all(buckets.map((b) => b.delivered)).then(() => undefined);
    delivered.catch(() => undefined);
    return { delivered };
  }

  /** Whether every observation of this source is counted here (else, hubbleCountAt=destination, see leftToDestination). */
  private countsHere(source: SourceName): boolean {
    return this.config.hubbleCountAt === 'either' || (source !== 'hubble' && source !== 'relay');
  }

  /**
   * hubbleCountAt=destination: an allowed flow leaving a pod towards a known pod is also observed entering it, on the
   * destination's node, and counted there (whichever replica that node's agent talks to). Denied flows never get
   * there, and destinations outside the cluster have no other end: those are counted as observed.
   */
  private leftToDestination(f: Flow): boolean {
    return f.direction.toLowerCase() === 'egress' && f.allowed && !isEmptyEndpoint(f.dst);
  }

  /** Resolves what the node could not; false for an entry that cannot be used. */
  private prepare(f: Flow): boolean {
    if (!(f.count > 0)) return false;
    if (isEmptyEndpoint(f.src)) {
      const e = f.srcIp ? this.resolver.resolve(f.srcIp) : undefined;
      if (e) {
        f.src = e;
        this.events.resolved.inc({ side: 'source' });
      }
    }
    if (isEmptyEndpoint(f.dst)) {
      const e = f.dstIp ? this.resolver.resolve(f.dstIp) : undefined;
      if (e) {
        f.dst = e;
        this.events.resolved.inc({ side: 'destination' });
      }
    }
    return !((isEmptyEndpoint(f.src) && !f.srcIp) || (isEmptyEndpoint(f.dst) && !f.dstIp));
  }

  /** Sends due buckets until the signal aborts; then fails what is still held (agents resend it elsewhere). */
  async run(signal: AbortSignal): Promise<void> {
    const tick = Math.max(50, Math.min(1000, Math.floor(this.config.bucketMs / 4)));
    try {
      while (!signal.aborted) {
        const oldest = this.flushOldest;
        this.flushOldest = false;
        const due = this.table.takeDue(this.now(), oldest);
        if (oldest && due.length > 0) this.events.earlyFlushes.inc({ reason: 'table_full' });
        this.wakeRoom();
        for (const bucket of due) await this.send(bucket, signal);
        if (due.length === 0) {
          await new Promise<void>((resolve) => {
            const timer = setTimeout(resolve, tick);
            this.wakeFlusher = () => {
              clearTimeout(timer);
              resolve();
            };
            signal.addEventListener('abort', () => this.wakeFlusher?.(), { once: true });
          });
          this.wakeFlusher = undefined;
        }
      }
    } finally {
      this.stopped = true;
      const held = this.table.takeAll();
      const err = new Error('aggregator stopping: flows not sent');
      for (const b of held) b.reject(err);
      this.wakeRoom();
    }
  }

  private async send(bucket: Bucket, signal: AbortSignal): Promise<void> {
    const deliveries: Promise<void>[] = [];
    const talkers: TalkerView[] = [];
    try {
      for (const c of bucket.conversations.values()) {
        const flow = c.toFlow();
        if (c.seenOnBothEnds) {
          this.events.bothEnds.inc();
          this.counters.bothEnds++;
        }
        deliveries.push((await this.sink.submitFlow(flow, signal)).delivered);
        this.events.flowsSent.inc();
        this.counters.flowsSent++;
        talkers.push(talker(flow));
        if (talkers.length > TOP_TALKERS * 4) trim(talkers);
      }
    } catch (err) {
      bucket.reject(err instanceof Error ? err : new Error(String(err)));
      if (!signal.aborted) this.logger.warn('flow bucket not sent', { error: err instanceof Error ? err.message : String(err) });
      return;
    }
    trim(talkers);
    this.topTalkers = talkers;
    this.lastBucketRawPerSecond = Math.round(bucket.rawFlows / (this.config.bucketMs / 1000));
    Promise.all(deliveries).then(
      () => bucket.resolve(),
      (err: unknown) => bucket.reject(err instanceof Error ? err : new Error(String(err))),
    );
    // Let the caller's loop go on at once: delivery is awaited by the acknowledgements, not by the flusher.
    await sleep(0);
  }

  private waitForRoom(signal: AbortSignal): Promise<void> {
    return new Promise<void>((resolve, reject) => {
      if (signal.aborted) return reject(signal.reason);
      const wake = () => {
        this.roomWaiters.delete(wake);
        signal.removeEventListener('abort', onAbort);
        resolve();
      };
      const onAbort = () => {
        this.roomWaiters.delete(wake);
        reject(signal.reason);
      };
      this.roomWaiters.add(wake);
      signal.addEventListener('abort', onAbort, { once: true });
    });
  }

  private wakeRoom(): void {
    for (const wake of [...this.roomWaiters]) wake();
  }

  private track(node: string, source: SourceName, w: FlowWindow): void {
    const key = `${node}|${source}`;
    let v = this.sources.get(key);
    if (!v) {
      if (this.sources.size >= MAX_SOURCES) this.sources.delete(this.sources.keys().next().value!);
      v = { node, source, windows: 0, rawFlows: 0, sourceLost: 0, agentDropped: 0, lastWindowAt: null };
      this.sources.set(key, v);
    }
    v.windows++;
    v.rawFlows += w.rawFlows;
    v.sourceLost += w.sourceLost;
    v.agentDropped += w.agentDropped;
    v.lastWindowAt = new Date(this.now()).toISOString();
  }

  /** Counts a relay window for the debug view (relay.ts). */
  trackRelay(node: string, w: Pick<FlowWindow, 'rawFlows' | 'sourceLost' | 'agentDropped'>): void {
    this.track(node, 'relay', { source: FlowSource.FLOW_SOURCE_HUBBLE, flows: [], ...w });
  }

  view(): MergerView {
    return {
      hubbleMode: this.config.hubbleMode,
      hubbleCountAt: this.config.hubbleCountAt,
      bucketMs: this.config.bucketMs,
      graceMs: this.config.graceMs,
      conversationsHeld: this.table.size,
      maxConversations: this.config.maxConversations,
      openBuckets: this.table.buckets,
      ...this.counters,
      lastBucketRawPerSecond: this.lastBucketRawPerSecond,
      sources: [...this.sources.values()].map((s) => ({ ...s })),
      topTalkers: this.topTalkers,
    };
  }
}

function talker(f: Flow): TalkerView {
  const name = (e: Flow['src'], ip: string) => (isEmptyEndpoint(e) ? ip : `${e!.ns}/${e!.kind}/${e!.name}`);
  return { src: name(f.src, f.srcIp), dst: name(f.dst, f.dstIp), port: f.port, protocol: f.protocol, allowed: f.allowed, direction: f.direction, count: f.count };
}

function trim(talkers: TalkerView[]): void {
  talkers.sort((a, b) => b.count - a.count);
  talkers.length = Math.min(talkers.length, TOP_TALKERS);
}
