// The forwarder: takes file chunks (backpressure through push) and node condition changes, batches them, sends the
// batches to one aggregator replica, and advances file checkpoints only when a batch is acknowledged.
//
// In flight: every batch sealed and not yet acknowledged stays in the window as the compressed bytes that went on
// the wire (acknowledgements wait for the uplink's delivery to the cloud, about 30 s, so the window must hold that
// long of the node's logs cheaply). The window is bounded in batches and bytes; when it is full, push() waits and
// the log source stops reading: the kubelet's files are the buffer. Checkpoints advance in sequence order, through
// the oldest batches that are all acknowledged.
//
// Replicas: the endpoints are resolved periodically and ranked for this node by rendezvous hashing. The first
// reachable one is used; when it fails, the node fails over to its next choice at once (the failed replica backs
// off with jitter) and everything unacknowledged is sent again there. When a better-ranked replica appears (scale-up,
// or the first choice is back), a link to it is opened, and once it is welcomed the old link is drained: it sends
// nothing more and its outstanding acknowledgements still arrive, so moving replicas duplicates nothing; new batches
// wait for those acknowledgements, so lines of a container never reach the cloud through two replicas out of order.
import { Backoff, DropOldestQueue, type Logger } from '@kestrel/core';
import type { NodeConditionChange, OwnerReference } from '@kestrel/proto/cloud/v1';
import type { AgentMessage, BatchContent, LogChunk } from '@kestrel/proto/ingest/v1';
import { sealBatch } from '@kestrel/proto/ingest/v1/codec';
import { frameEntries } from '@kestrel/proto/cloud/v1/log-entries';
import { entryFlags } from '@kestrel/proto/ingest/v1/lines';
import { encodePositions, type ChunkPositions } from '@kestrel/proto/ingest/v1/positions';
import type { ChunkOwner, FileChunk, LogSink } from '../sources/cri-logs/types.js';
import type { PendingFlowWindow } from '../sources/flows/types.js';
import { Batcher, type BatchLimits, type OpenBatch } from './batcher.js';
import { resolveEndpoints, type Endpoint, type EndpointSource } from './endpoints.js';
import type { ForwarderEvents } from './events.js';
import { Link, type LinkCredentials } from './link.js';
import { rank } from './rendezvous.js';

export interface ForwarderConfig extends BatchLimits {
  nodeName: string;
  agentVersion: string;
  instanceId: string;
  endpoints: EndpointSource;
  resolveIntervalMs: number;
  maxInFlightBatches: number;
  maxInFlightBytes: number;
  compression: boolean;
  /** zlib level of log entries' segments (sealBatch); zlib's default when not given. */
  compressionLevel?: number;
  /** Node condition changes waiting for a batch, at most (the oldest is dropped and counted beyond). */
  maxPendingNodeConditions?: number;
  /** Flow windows waiting for a batch, at most (the oldest is dropped, and its source told, beyond). */
  maxPendingFlowWindows?: number;
  /** How long a replaced link may take to receive its outstanding acknowledgements. */
  drainTimeoutMs?: number;
  /** The owners of a pod on this node (from the agent's pod watch); none when unknown. */
  ownersOf?: (podUid: string) => OwnerReference[];
}

interface Commit {
  owner: ChunkOwner;
  resumeOffset: number;
  resumeLine: number;
  streamComplete: boolean;
}

interface InFlight {
  sequence: number;
  /** Undefined while being compressed. */
  message: AgentMessage | undefined;
  bytes: number;
  lines: number;
  commits: Commit[];
  acked: boolean;
  /** The link it was last written to; undefined: to be sent on the current link. */
  link: Link | undefined;
  sends: number;
}

export type ConnectionState = 'connecting' | 'connected' | 'backoff' | 'stopped';

export interface ReplicaView {
  address: string;
  rank: number;
  state: 'in use' | 'connecting' | 'draining' | 'down' | 'standby';
  downForMs: number | null;
}

export class Forwarder implements LogSink {
  private nextSequence = 1;
  private readonly window = new Map<number, InFlight>();
  private windowBytes = 0;
  private readonly batcher: Batcher;
  private readonly spaceWaiters: (() => void)[] = [];
  private readonly conditions: DropOldestQueue<NodeConditionChange>;
  private conditionTimer: NodeJS.Timeout | undefined;
  private readonly flowWindows: DropOldestQueue<PendingFlowWindow>;
  private flowTimer: NodeJS.Timeout | undefined;
  private sealing: Promise<void> = Promise.resolve();
  private ranked: Endpoint[] = [];
  private readonly down = new Map<string, { until: number; backoff: Backoff }>();
  private current: Link | undefined;
  private pending: Link | undefined;
  private readonly draining = new Set<Link>();
  private retryTimer: NodeJS.Timeout | undefined;
  private stopped = false;
  lastAckAt: Date | undefined;
  lastError: string | undefined;
  connectedSince: Date | undefined;
  reconnects = 0;
  failovers = 0;
  rebalances = 0;
  resentBatches = 0;
  lastResolveErrors: string[] = [];

  constructor(
    private readonly config: ForwarderConfig,
    private readonly credentials: () => LinkCredentials,
    private readonly events: ForwarderEvents,
    private readonly logger: Logger,
  ) {
    this.batcher = new Batcher(config, (batch) => this.sealed(batch));
    this.conditions = new DropOldestQueue(config.maxPendingNodeConditions ?? 256, () => this.events.nodeConditionDropped('buffer_full'));
    this.flowWindows = new DropOldestQueue(config.maxPendingFlowWindows ?? 8, (w) => w.dropped('buffer_full'));
  }

  get state(): ConnectionState {
    if (this.stopped) return 'stopped';
    if (this.current) return 'connected';
    return this.pending ? 'connecting' : 'backoff';
  }

  /** The replica in use (its address), if any. */
  get replica(): string | undefined {
    return this.current?.endpoint.address;
  }

  async push(chunk: FileChunk, signal: AbortSignal): Promise<void> {
    while (this.window.size >= this.config.maxInFlightBatches || this.windowBytes >= this.config.maxInFlightBytes) {
      signal.throwIfAborted();
      await new Promise<void>((resolve) => this.spaceWaiters.push(resolve));
    }
    this.batcher.add(chunk);
  }

  /** A node condition change for the next batch (sent within the flush interval even without log lines). */
  nodeCondition(change: NodeConditionChange): void {
    this.conditions.push(change);
    this.conditionTimer ??= setTimeout(() => {
      this.conditionTimer = undefined;
      if (this.conditions.size > 0) this.sealed({ chunks: [], lines: 0, bytes: 0 });
    }, this.config.flushIntervalMs);
  }

  /**
   * A closed flow window for the next batch. It waits in a bounded drop-oldest buffer (not in the window of batches:
   * while the aggregator is away the window stays for the logs, whose files are their own buffer) and goes out
   * within the flush interval, once the window of batches has room. Its source is told when it is acknowledged
   * (its resume point may then be saved) or dropped (counted into the source's next window).
   */
  flowWindow(item: PendingFlowWindow): void {
    this.flowWindows.push(item);
    this.flowTimer ??= setTimeout(() => this.sealFlows(), this.config.flushIntervalMs);
  }

  /** Flow windows waiting for a batch (for the debug view). */
  get pendingFlowWindows(): number {
    return this.flowWindows.size;
  }

  private sealFlows(): void {
    this.flowTimer = undefined;
    if (this.flowWindows.size === 0 || this.stopped) return;
    if (this.window.size >= this.config.maxInFlightBatches || this.windowBytes >= this.config.maxInFlightBytes) {
      this.flowTimer = setTimeout(() => this.sealFlows(), this.config.flushIntervalMs);
      return;
    }
    this.sealed({ chunks: [], lines: 0, bytes: 0 });
  }

  get inFlight(): { batches: number; lines: number; bytes: number } {
    let lines = 0;
    for (const b of this.window.values()) lines += b.lines;
    return { batches: this.window.size, lines, bytes: this.windowBytes };
  }

  replicas(): ReplicaView[] {
    const now = Date.now();
    return this.ranked.map((e, i) => {
      const down = this.down.get(e.key);
      const state: ReplicaView['state'] =
        this.current?.endpoint.key === e.key ? 'in use' : this.pending?.endpoint.key === e.key ? 'connecting' : [...this.draining].some((l) => l.endpoint.key === e.key) ? 'draining' : down && down.until > now ? 'down' : 'standby';
      return { address: e.address, rank: i + 1, state, downForMs: down && down.until > now ? down.until - now : null };
    });
  }

  private sealed(batch: OpenBatch): void {
    const sequence = this.nextSequence++;
    const nodeConditions = this.conditions.takeAll();
    const flowWindows = this.flowWindows.takeAll();
    const entry: InFlight = {
      sequence,
      message: undefined,
      bytes: 0,
      lines: batch.lines,
      commits: [
        ...batch.chunks.map((c) => ({ owner: c.owner, resumeOffset: c.resumeOffset, resumeLine: c.resumeLine, streamComplete: c.streamComplete })),
        // Only the callback is kept until the Ack: the window's flows are in the compressed batch already.
        ...flowWindows.map(({ committed }) => ({ owner: { commit: () => committed() }, resumeOffset: 0, resumeLine: 0, streamComplete: false })),
      ],
      acked: false,
      link: undefined,
      sends: 0,
    };
    this.window.set(sequence, entry);
    this.events.batchSealed(batch.lines);
    const content = toContent(batch, nodeConditions, this.config.ownersOf ?? noOwners);
    content.flows = flowWindows.map((w) => w.window);
    // Compression runs off the event loop, one batch at a time (each holds zlib states while it runs); batches go out
    // in sequence order.
    this.sealing = this.sealing.then(async () => {
      const sealedBatch = await sealBatch(sequence, content, this.config.compression, this.config.compressionLevel);
      entry.message = { message: { $case: 'batch', value: sealedBatch } };
      entry.bytes = sealedBatch.content.length;
      this.windowBytes += entry.bytes;
      this.sendPending();
    });
    // A batch that cannot be encoded is a bug; it must not stop the batches after it (the chain would stay rejected).
    this.sealing = this.sealing.catch((err: unknown) => void this.logger.error('cannot encode a batch; it is not sent and its files do not advance', { sequence, error: err instanceof Error ? err.stack : String(err) }));
  }

  /** Writes every batch not yet on the current link, in order. */
  private sendPending(): void {
    const link = this.current;
    if (!link || link.state !== 'open') return;
    for (const entry of this.window.values()) {
      if (!entry.message) break;
      if (entry.acked || entry.link === link) continue;
      // Written to a link being drained: its acknowledgement is still coming. Nothing newer goes out before it, so
      // two replicas never forward lines of one container out of order (a receiver dropping replays by line number
      // would drop the older ones).
      if (entry.link && entry.link.state === 'draining') break;
      if (!link.send(entry.message)) {
        link.close(); // cannot happen while the window bounds the queue; a fresh link resends everything
        return;
      }
      if (entry.sends > 0) {
        this.resentBatches++;
        this.events.batchResent();
      }
      entry.sends++;
      entry.link = link;
    }
  }

  /** Resolves, connects and fails over until the signal aborts; returns once stopped. */
  async run(signal: AbortSignal): Promise<void> {
    await this.resolve();
    this.connectNext();
    const resolving = setInterval(() => void this.resolve().then(() => this.rebalance()), this.config.resolveIntervalMs);
    await new Promise<void>((resolve) => (signal.aborted ? resolve() : signal.addEventListener('abort', () => resolve(), { once: true })));
    clearInterval(resolving);
    clearTimeout(this.retryTimer);
    clearTimeout(this.conditionTimer);
    clearTimeout(this.flowTimer);
    this.stopped = true;
    this.batcher.close();
    const links = [this.current, this.pending, ...this.draining].filter((l): l is Link => l !== undefined);
    for (const l of links) l.close();
    await Promise.all(links.map((l) => new Promise<void>((resolve) => (l.state === 'ended' ? resolve() : l.onEnded(resolve)))));
    for (const wake of this.spaceWaiters.splice(0)) wake();
  }

  private async resolve(): Promise<void> {
    const { endpoints, errors } = await resolveEndpoints(this.config.endpoints);
    this.lastResolveErrors = errors;
    for (const e of errors) this.events.resolveError(e);
    if (endpoints.length === 0 && this.ranked.length > 0) return; // keep the last known replicas rather than none
    this.ranked = rank(this.config.nodeName, endpoints, (e) => e.key);
  }

  /** The best-ranked replica not backing off (or, all backing off, the one back soonest). */
  private choose(): { endpoint: Endpoint; waitMs: number } | undefined {
    const now = Date.now();
    let soonest: { endpoint: Endpoint; waitMs: number } | undefined;
    for (const endpoint of this.ranked) {
      const down = this.down.get(endpoint.key);
      if (!down || down.until <= now) return { endpoint, waitMs: 0 };
      if (!soonest || down.until - now < soonest.waitMs) soonest = { endpoint, waitMs: down.until - now };
    }
    return soonest;
  }

  private connectNext(): void {
    if (this.stopped || this.pending || this.current) return;
    clearTimeout(this.retryTimer);
    const choice = this.choose();
    if (!choice) {
      this.retryTimer = setTimeout(() => void this.resolve().then(() => this.connectNext()), 1000);
      return;
    }
    if (choice.waitMs > 0) {
      this.retryTimer = setTimeout(() => this.connectNext(), choice.waitMs);
      return;
    }
    this.open(choice.endpoint);
  }

  /** After a resolve: move to a better-ranked replica when one is available (scale-up, or a replica back). */
  private rebalance(): void {
    if (this.stopped) return;
    if (!this.current) return this.connectNext();
    const best = this.choose();
    if (!best || best.waitMs > 0 || best.endpoint.key === this.current.endpoint.key || this.pending) return;
    const stillListed = this.ranked.some((e) => e.key === this.current!.endpoint.key);
    this.logger.info(stillListed ? 'a better-ranked aggregator replica is available: moving to it' : 'the aggregator replica in use is no longer listed: moving', {
      from: this.current.endpoint.address,
      to: best.endpoint.address,
    });
    this.open(best.endpoint);
  }

  private open(endpoint: Endpoint): void {
    const hello = { nodeName: this.config.nodeName, agentVersion: this.config.agentVersion, instanceId: this.config.instanceId };
    this.pending = new Link(endpoint, hello, this.credentials(), this.config.maxInFlightBatches + 16, {
      welcomed: (link, aggregatorId) => this.welcomed(link, aggregatorId),
      acknowledged: (_link, sequence) => this.acknowledged(sequence),
      ended: (link, error) => this.ended(link, error),
    });
  }

  private welcomed(link: Link, aggregatorId: string): void {
    if (link !== this.pending) return;
    this.pending = undefined;
    this.down.delete(link.endpoint.key);
    const previous = this.current;
    this.current = link;
    this.connectedSince = new Date();
    this.lastError = undefined;
    if (previous) {
      // A planned move: the old link sends nothing more and still receives what it is owed.
      this.rebalances++;
      this.events.rebalanced();
      this.draining.add(previous);
      previous.drain(this.config.drainTimeoutMs ?? 120_000);
    }
    this.logger.info('connected to aggregator', { address: link.endpoint.address, aggregator: aggregatorId });
    this.sendPending();
  }

  private ended(link: Link, error: string | undefined): void {
    this.draining.delete(link);
    // Whatever this link was owed goes out again on the current one (or the next).
    for (const entry of this.window.values()) if (entry.link === link && !entry.acked) entry.link = undefined;
    if (link === this.current || link === this.pending) {
      const wasCurrent = link === this.current;
      if (wasCurrent) this.current = undefined;
      else this.pending = undefined;
      this.connectedSince = this.current ? this.connectedSince : undefined;
      if (!this.stopped) {
        this.lastError = error ?? 'stream ended';
        this.events.connectionError(link.endpoint.address, this.lastError);
        this.markDown(link.endpoint);
        this.reconnects++;
        if (wasCurrent) {
          this.failovers++;
          this.events.failedOver();
        }
      }
      // The pending link of a planned move failed: keep using the current one.
      if (!this.current) this.connectNext();
    }
    this.sendPending();
  }

  private markDown(endpoint: Endpoint): void {
    const entry = this.down.get(endpoint.key) ?? { until: 0, backoff: new Backoff({ initialMs: 500, maxMs: 30_000 }) };
    entry.until = Date.now() + entry.backoff.next();
    this.down.set(endpoint.key, entry);
  }

  private acknowledged(sequence: number): void {
    const entry = this.window.get(sequence);
    if (!entry) return; // an ack for a batch already settled (after a resend): nothing to do
    entry.acked = true;
    this.lastAckAt = new Date();
    for (const [seq, b] of this.window) {
      if (!b.acked) break;
      for (const c of b.commits) c.owner.commit(c.resumeOffset, c.resumeLine, c.streamComplete);
      this.events.batchAcked(b.lines);
      this.windowBytes -= b.bytes;
      this.window.delete(seq);
    }
    for (const wake of this.spaceWaiters.splice(0)) wake();
    if (this.draining.size > 0) this.sendPending();
  }

  /** Seals what is open so it gets sent (used at shutdown and by tests). */
  flush(): void {
    this.batcher.seal();
  }
}

const noOwners = (): OwnerReference[] => [];

function framedLines(lines: OpenBatch['chunks'][number]['lines']): Pick<LogChunk, 'lines' | 'entries' | 'entrySizes' | 'entryFlags' | 'entriesDeflated' | 'entriesCrc32' | keyof ChunkPositions> {
  const framed = frameEntries(
    lines.map((l) => ({ timestamp: { seconds: l.seconds, nanos: l.nanos }, message: l.message, level: l.level, lineNumber: l.lineNumber, errorInfo: l.errorInfo })),
  );
  const flags = lines.map(entryFlags);
  return {
    lines: [],
    entries: Buffer.from(framed.bytes.buffer, framed.bytes.byteOffset, framed.bytes.byteLength),
    entrySizes: [...framed.sizes],
    ...encodePositions(lines[0]?.offset ?? 0, lines.map((l) => l.endOffset), framed.lineNumbers),
    // Most lines have no flag: then none is sent.
    entryFlags: flags.some((f) => f !== 0) ? flags : [],
    // Compressed when the batch is sealed (sealBatch).
    entriesDeflated: new Uint8Array(0),
    entriesCrc32: 0,
  };
}

function toContent(batch: OpenBatch, nodeConditions: NodeConditionChange[], ownersOf: (podUid: string) => OwnerReference[]): BatchContent {
  return {
    nodeConditions,
    flows: [],
    logs: batch.chunks.map((c) => ({
      namespace: c.container.namespace,
      podName: c.container.podName,
      podUid: c.container.podUid,
      containerName: c.container.containerName,
      restartCount: c.container.restartCount,
      file: { device: c.file.device, inode: c.file.inode, fingerprint: c.file.fingerprint },
      // The lines as the cloud receives them, framed for PodLogs: the aggregator moves these bytes without decoding them.
      ...framedLines(c.lines),
      previousContainer: c.previousContainer,
      streamComplete: c.streamComplete,
      lastLineNumber: c.lines.length > 0 ? c.lines[c.lines.length - 1]!.lineNumber : c.resumeLine,
      ownerReferences: ownersOf(c.container.podUid),
    })),
  };
}
