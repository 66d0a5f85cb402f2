// The kestrel.ingest.v1 server: one stream per agent. The first message must be Hello; each Batch is filtered
// for replays, turned into cloud.v1 PodLogs and submitted to the uplink.
//
// When the Ack goes back (what the agent's checkpoints wait for): only once the uplink says every PodLogs of the
// batch was delivered — written to the cloud and past the replay window — so losing this aggregator can no longer
// lose those lines. Submitting waits while the uplink is full (backpressure: the agent's in-flight window fills and
// it stops reading). Batches of one stream are submitted in order; each is acknowledged once its own records are
// delivered (node conditions do not wait behind log lines); the next batch is submitted while earlier ones wait for
// delivery, so acknowledgement latency does not limit throughput beyond the agent's in-flight bound.
//
// A batch whose lines were all forwarded before (an agent resending after a reconnect) is acknowledged only once
// what was forwarded for those files is delivered too.
//
// Who may speak: after the Hello, the identity check must confirm that the peer runs on the node it names (an agent
// cannot speak for another node); node condition changes must name that node too.
import { AsyncQueue, type Logger } from '@kestrel/core';
import { Encoding, type AggregatorMessage, type AgentMessage, type BatchContent, type FlowWindow, type IngestServiceImplementation, type LogChunk } from '@kestrel/proto/ingest/v1';
import { BatchContentError, openBatch } from '@kestrel/proto/ingest/v1/codec';
import type { NodeConditionChange, PodLogs } from '@kestrel/proto/cloud/v1';
import { sliceEntries, type FramedEntries } from '@kestrel/proto/cloud/v1/log-entries';
import { inflateSegmentSync } from '@kestrel/proto/ingest/v1/segments';
import { checkChunks, sumOf } from './chunk-check.js';
import { endOffsetsOf, lineNumbersOf } from '@kestrel/proto/ingest/v1/positions';
import { OpenGate } from './open-gate.js';
import { ReceivedBuffer, receivedBufferOf } from './received-buffer.js';
import { ServerError, Status, type CallContext } from 'nice-grpc';
import { ReplayFilter } from '../pipeline/replay-filter.js';
import { podLogsHeader, toPodLogs, type PodLogsLimits } from '../pipeline/pod-logs.js';
import type { PodLogsHeader } from '../uplink/log-batcher.js';
import type { IngestEvents } from './events.js';
import type { AgentIdentityCheck } from './identity.js';

export interface IngestSink {
  /** Accepts a PodLogs once there is room; `delivered` settles when it is safe to acknowledge. */
  submitLogs(logs: PodLogs, signal: AbortSignal): Promise<{ delivered: Promise<void> }>;
  /**
   * The same for entries the agent sent framed for PodLogs: passed on as bytes. `copied`, when given, is called once
   * the sink holds no view of the entries' bytes any more (it copied them into a message): received-buffer.ts.
   */
  submitFramedLogs(header: PodLogsHeader, entries: FramedEntries, signal: AbortSignal, copied?: () => void): Promise<{ delivered: Promise<void> }>;
  /**
   * Whether submitFramedLogs takes an agent's compressed segment as it is (the uplink compresses PodLogs itself):
   * then the inflated bytes of a segment are not kept (entries.bytes may be empty when entries.segment is set).
   */
  takesSegments?(): boolean;
  /** Accepts a node condition change (StreamEvents) once there is room. */
  submitNodeCondition(change: NodeConditionChange, signal: AbortSignal): Promise<{ delivered: Promise<void> }>;
  /**
   * Merges a flow window of this node (flows/merger.ts) once there is room; `delivered` settles once the Flow
   * records it went into are written by the uplink. Unset: flows are not handled (counted and acknowledged).
   */
  submitFlowWindow?(node: string, window: FlowWindow, signal: AbortSignal): Promise<{ delivered: Promise<void> }>;
}

export interface IngestLimits extends PodLogsLimits {
  /** A batch's content may inflate to at most this many bytes (a zip bomb is refused, not inflated). */
  maxBatchContentBytes: number;
  /** Batches open (inflated and being submitted) at once over all agents (open-gate.ts); 8 when not given. */
  maxOpenBatches?: number;
}

/** Batches of one agent stream submitted and not yet acknowledged, at most (the agent's own bound is smaller). */
const MAX_PENDING_ACKS = 4096;

export interface AgentView {
  node: string;
  peer: string;
  subject: string;
  instanceId: string;
  version: string;
  connectedAt: string;
  batches: number;
  lines: number;
  nodeConditions: number;
  flowWindows: number;
  /** Batches received and not yet acknowledged (waiting for the uplink's delivery). */
  unacknowledged: number;
  lastBatchAt: string | null;
  /** Age of the newest line of the last batch when it arrived (write time to arrival), in ms. */
  lagMs: number | null;
}

export class IngestService implements IngestServiceImplementation {
  private readonly agents = new Map<number, AgentView>();
  /** Per file (node + identity): the delivery of the latest lines forwarded and not yet delivered. */
  private readonly undelivered = new Map<string, Promise<void>>();
  /** Per file: the submission in progress (submissions of one file are serialized across streams). */
  private readonly submitting = new Map<string, Promise<void>>();
  private nextId = 1;

  constructor(
    private readonly aggregatorId: string,
    private readonly sink: IngestSink,
    private readonly replays: ReplayFilter,
    private readonly limits: IngestLimits,
    private readonly identity: AgentIdentityCheck,
    private readonly events: IngestEvents,
    private readonly logger: Logger,
  ) {
    this.gate = new OpenGate(limits.maxOpenBatches ?? 8);
  }

  private readonly gate: OpenGate;

  /** Batches open now and batches waiting (compressed) for their turn, over all agents. */
  get openBatches(): { open: number; waiting: number } {
    return { open: this.gate.open, waiting: this.gate.queued };
  }

  private gateChanged(): void {
    this.events.batchesOpen.set(this.gate.open);
    this.events.batchesWaiting.set(this.gate.queued);
  }

  connectedAgents(): AgentView[] {
    return [...this.agents.values()];
  }

  async *stream(requests: AsyncIterable<AgentMessage>, context: CallContext): AsyncIterable<AggregatorMessage> {
    const peer = context.peer;
    const iterator = requests[Symbol.asyncIterator]();
    const first = await iterator.next();
    const hello = first.done ? undefined : first.value.message;
    if (hello?.$case !== 'hello' || !hello.value.nodeName) {
      // A call that ended before any message (cancelled, or refused by grpc-js for an oversized or undecodable
      // message, which the transport counts) is not a protocol error of its own.
      if (!context.signal.aborted) this.events.protocolError('no_hello', peer, 'first message was not a Hello with a node name');
      throw new ServerError(Status.INVALID_ARGUMENT, 'the first message must be Hello with node_name');
    }
    const node = hello.value.nodeName;
    const verdict = await this.identity.verify({ peer, metadata: context.metadata }, node);
    if (!verdict.accepted) {
      this.events.refused(verdict.reason, peer, node, verdict.message);
      throw new ServerError(verdict.status, verdict.message);
    }
    const id = this.nextId++;
    const view: AgentView = {
      node,
      peer,
      subject: verdict.subject,
      instanceId: hello.value.instanceId,
      version: hello.value.agentVersion,
      connectedAt: new Date().toISOString(),
      batches: 0,
      lines: 0,
      nodeConditions: 0,
      flowWindows: 0,
      unacknowledged: 0,
      lastBatchAt: null,
      lagMs: null,
    };
    this.agents.set(id, view);
    this.events.agentsConnected.inc();
    this.logger.info('agent connected', { node, peer, instance: view.instanceId });
    // Sequences ready to acknowledge. Each batch is acknowledged as soon as its own records are delivered, not in
    // sequence order: a batch of node conditions (written at once) must not wait behind a log batch (delivered once
    // past the replay window), or an aggregator lost meanwhile would make the agent resend it, and the cloud cannot
    // tell a resent condition change from a new one. The agent advances checkpoints in order whatever the Ack order.
    const acks = new AsyncQueue<number>(MAX_PENDING_ACKS + 1);
    let outstanding = 0;
    let readingDone = false;
    let room: (() => void) | undefined;
    const settle = () => {
      outstanding--;
      room?.();
      if (readingDone && outstanding === 0) acks.close();
    };
    const reading = (async () => {
      try {
        for (let next = await iterator.next(); !next.done; next = await iterator.next()) {
          const m = next.value.message;
          if (m?.$case !== 'batch') {
            this.events.protocolError('unexpected_message', peer, `unexpected ${m?.$case ?? 'empty'} message after Hello`);
            throw new ServerError(Status.INVALID_ARGUMENT, 'only Batch messages may follow Hello');
          }
          while (outstanding >= MAX_PENDING_ACKS) await new Promise<void>((resolve) => (room = resolve));
          // A batch is opened in its turn (open-gate.ts): until then it waits as it came, compressed. It keeps the
          // turn while it waits for uplink room (its node conditions and flows go first, they do not wait for log
          // room); submitted, its lines are the uplink's, and the turn passes on.
          const turn = this.gate.acquire(context.signal);
          this.gateChanged();
          const endTurn = await turn.finally(() => this.gateChanged());
          let waits: Promise<void>[];
          try {
            let content: BatchContent;
            try {
              content = await openBatch(m.value, this.limits.maxBatchContentBytes);
            } catch (err) {
              if (!(err instanceof BatchContentError)) throw err;
              this.events.protocolError('undecodable_batch', peer, err.message);
              throw new ServerError(Status.INVALID_ARGUMENT, err.message);
            }
            // Framed lines are moved as bytes: their framing is checked before anything of the batch is submitted.
            const check = checkChunks(content, !(this.sink.takesSegments?.() ?? false));
            if (check.problem) {
              this.events.protocolError('undecodable_batch', peer, check.problem);
              throw new ServerError(Status.INVALID_ARGUMENT, check.problem);
            }
            outstanding++;
            view.unacknowledged++;
            // Freed once submitted and copied by the uplink (not if submitting fails: then V8 frees it).
            const received = new ReceivedBuffer(receivedBufferOf(m.value.content, content, m.value.encoding !== Encoding.ENCODING_NONE));
            // An array, not a promise: an async function cannot resolve to a pending promise.
            waits = await this.handleBatch(view, content, check.newestMs, context.signal, received);
            received.release();
          } finally {
            endTurn();
            this.gateChanged();
          }
          const sequence = m.value.sequence;
          Promise.all(waits).then(
            () => {
              view.unacknowledged--;
              view.batches++;
              view.lastBatchAt = new Date().toISOString();
              this.events.batchesAcked.inc();
              acks.tryPush(sequence);
              settle();
            },
            (err: unknown) => acks.fail(err),
          );
        }
        // The agent half-closed (a planned move): the acknowledgements still owed go out, then the call ends.
        readingDone = true;
        if (outstanding === 0) acks.close();
      } catch (err) {
        // The agent's side failed: oversized (RESOURCE_EXHAUSTED from grpc-js) or undecodable messages end here.
        if (!(err instanceof ServerError) && !context.signal.aborted) this.events.protocolError(streamErrorReason(err), peer, err instanceof Error ? err.message : String(err));
        acks.fail(err);
      }
    })();
    try {
      yield { message: { $case: 'welcome', value: { aggregatorId: this.aggregatorId } } };
      for await (const sequence of acks) yield { message: { $case: 'ack', value: { sequence } } };
    } finally {
      // The reader stops when the call's signal aborts or the agent closes its side; it never throws.
      acks.close();
      void reading;
      this.agents.delete(id);
      this.events.agentsConnected.dec();
      this.logger.info('agent disconnected', { node, peer });
    }
  }

  /** Submits a batch's new lines and node conditions; resolves (once submitted) to the promises of their delivery. */
  private async handleBatch(agent: AgentView, batch: BatchContent, newest: number, signal: AbortSignal, received: ReceivedBuffer): Promise<Promise<void>[]> {
    const node = agent.node;
    const now = new Date();
    const waits: Promise<void>[] = [];
    for (const change of batch.nodeConditions) {
      if (change.name !== node) {
        this.events.protocolError('foreign_node_condition', agent.peer, `node condition change for ${change.name} from the agent of ${node}: dropped`);
        continue;
      }
      agent.nodeConditions++;
      waits.push((await this.sink.submitNodeCondition(change, signal)).delivered);
    }
    // Flow windows: acknowledged with the batch once the merged Flow records carrying them are written (docs/flows.md).
    for (const window of batch.flows) {
      agent.flowWindows++;
      if (this.sink.submitFlowWindow) waits.push((await this.sink.submitFlowWindow(node, window, signal)).delivered);
      else this.events.protocolError('flows_not_handled', agent.peer, `flow window from ${node} dropped: this aggregator does not merge flows`);
    }
    for (const chunk of batch.logs) {
      const key = ReplayFilter.key(node, chunk.file);
      // One file's lines are submitted by one stream at a time: an agent that reconnects while its old stream is
      // still being served must neither forward a line twice nor forward newer lines before older ones.
      const before = this.submitting.get(key);
      let release!: () => void;
      const mine = new Promise<void>((resolve) => (release = resolve));
      this.submitting.set(key, mine);
      try {
        if (before) await before;
        const submitted = await this.submitChunk(agent, key, chunk, now, signal, waits, received);
        if (submitted) waits.push(submitted.delivered);
      } finally {
        release();
        if (this.submitting.get(key) === mine) this.submitting.delete(key);
      }
    }
    if (newest > 0) agent.lagMs = Math.max(0, now.getTime() - newest);
    return waits;
  }

  /**
   * Submits a chunk's new lines; resolves once submitted to the promise of their delivery (undefined when nothing
   * was submitted), wrapped: an async function cannot resolve to a pending promise, it would wait for it.
   */
  private async submitChunk(agent: AgentView, key: string, chunk: LogChunk, now: Date, signal: AbortSignal, waits: Promise<void>[], received: ReceivedBuffer): Promise<{ delivered: Promise<void> } | undefined> {
    if (chunk.entrySizes.length > 0) return this.submitFramedChunk(agent, key, chunk, now, signal, waits, received);
    const fresh = chunk.lines.filter((l) => this.replays.isNew(key, l.endOffset));
    this.events.linesReceived.inc(chunk.lines.length);
    if (fresh.length < chunk.lines.length) {
      this.events.linesReplayed.inc(chunk.lines.length - fresh.length);
      // Lines sent before: acknowledge them only once what was forwarded for this file is delivered.
      const earlier = this.undelivered.get(key);
      if (earlier) waits.push(earlier);
    }
    // A chunk without new lines still matters when it says the stream ended (a finished container whose last
    // lines were sent before): the cloud gets an empty PodLogs with stream_complete.
    if (fresh.length === 0 && !chunk.streamComplete) return undefined;
    agent.lines += fresh.length;
    const chunkDeliveries: Promise<void>[] = [];
    for (const message of toPodLogs(agent.node, chunk, fresh, this.limits, now)) {
      const accepted = await this.sink.submitLogs(message, signal);
      chunkDeliveries.push(accepted.delivered);
    }
    if (fresh.length > 0) this.replays.advance(key, fresh[fresh.length - 1]!.endOffset);
    const delivered = Promise.all(chunkDeliveries).then(() => undefined);
    this.trackUndelivered(key, delivered);
    return { delivered };
  }

  /**
   * submitChunk for lines the agent framed for PodLogs: the replay filter reads their end offsets, the bytes move as
   * they are, and compressed as the agent sent them when the whole chunk is new (openBatch checked the segment).
   */
  private async submitFramedChunk(agent: AgentView, key: string, chunk: LogChunk, now: Date, signal: AbortSignal, waits: Promise<void>[], received: ReceivedBuffer): Promise<{ delivered: Promise<void> } | undefined> {
    let framed: FramedEntries = { bytes: chunk.entries, sizes: chunk.entrySizes, lineNumbers: lineNumbersOf(chunk) };
    const count = framed.sizes.length;
    const ends = endOffsetsOf(chunk);
    // Lines of a chunk are in file order: the new ones are a suffix.
    let first = 0;
    while (first < count && !this.replays.isNew(key, ends[first]!)) first++;
    if (chunk.entriesDeflated.length > 0) {
      // checkChunks checked the segment, and dropped its inflated bytes when the uplink takes it as it is.
      const segment = { bytes: chunk.entriesDeflated, crc32: chunk.entriesCrc32, length: sumOf(chunk.entrySizes) };
      if (first === 0) framed.segment = segment;
      else if (framed.bytes.length === 0 && first < count) framed = { ...framed, bytes: inflateSegmentSync(segment) };
    }
    this.events.linesReceived.inc(count);
    if (first > 0) {
      this.events.linesReplayed.inc(first);
      const earlier = this.undelivered.get(key);
      if (earlier) waits.push(earlier);
    }
    if (first === count && !chunk.streamComplete) return undefined;
    agent.lines += count - first;
    const accepted = await this.sink.submitFramedLogs(podLogsHeader(agent.node, chunk, now), sliceEntries(framed, first), signal, received.hold());
    if (first < count) this.replays.advance(key, ends[count - 1]!);
    this.trackUndelivered(key, accepted.delivered);
    return { delivered: accepted.delivered };
  }

  private trackUndelivered(key: string, delivered: Promise<void>): void {
    this.undelivered.set(key, delivered);
    const forget = () => {
      if (this.undelivered.get(key) === delivered) this.undelivered.delete(key);
    };
    delivered.then(forget, forget);
  }
}

/** A metric label for a failed agent stream (gRPC status names where grpc-js gives one). */
function streamErrorReason(err: unknown): string {
  const code = (err as { code?: unknown })?.code;
  if (code === Status.RESOURCE_EXHAUSTED) return 'message_too_large';
  if (code === Status.INTERNAL) return 'undecodable_message';
  if (code === Status.CANCELLED) return 'cancelled';
  return 'stream_error';
}
