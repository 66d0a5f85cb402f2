// Batching for StreamLogs: PodLogs of one container (pod uid, container, previous-container flag, node) that arrive
// close together are merged into one PodLogs message, up to a number of entries, a number of bytes, or a linger
// time since the first one waited. One larger message per container compresses far better than many small ones
// (gzip sees the container's repetitive lines together) and costs fewer frames.
//
// No message may exceed the cloud's 10 MiB limit: a record larger than the batch limits is split into several
// messages by entries, and a sealed message that still encodes above the hard limit is split in halves until
// every part fits. A single entry that cannot fit even alone is the only thing that cannot be split; it is cut
// (the message text shortened, marked in LogEntry.error_info) rather than dropped.
//
// Entries the agent compressed (a DeflateSegment per chunk, @kestrel/proto/ingest/v1/segments) stay compressed: a
// message holding any is sent as one gzip member stitched from its header bytes, the segments and the other runs
// compressed here, so the lines are never inflated or compressed again on their way to the cloud. A run with a
// segment is not split by the entry limit (only the cloud's byte limit would split it, after inflating it).
//
// Merged messages keep the protocol's meaning: total_lines is the number of entries, stream_offset the line
// number of the last one, so the receiver's replay filter works per message.
import type { LogEntry, PodLogs } from '@kestrel/proto/cloud/v1';
import { frameEntries, sliceEntries, unframeEntries, type FramedEntries } from '@kestrel/proto/cloud/v1/log-entries';
import { deflateSegmentSync, gzipFromSegments, inflateSegmentSync, storedSegment, type DeflateSegment } from '@kestrel/proto/ingest/v1/segments';
import { Delivery, outMessage, type OutMessage } from './delivery.js';
import { markPrecompressed } from './precompressed.js';
import { encodeRecord, fieldOn, WRAP_OVERHEAD, wrapParts, wrapperOf } from './records.js';

const LOGS_FIELD = fieldOn('logs', 'podLogs')!;

export interface LogBatchLimits {
  maxEntries: number;
  maxBytes: number;
  lingerMs: number;
  /**
   * Open batches of all containers together hold at most this many bytes: beyond it the oldest are sealed early
   * (memory stays bounded however many containers log at once; the uplink counts these bytes in its queue bound).
   */
  maxPendingBytes?: number;
}

/** The cloud's limit is 10 MiB a message; keep room for the stream wrapper and gRPC's 5-byte frame header. */
export const MAX_MESSAGE_BYTES = 10 * 1024 * 1024;
export const HARD_LIMIT_BYTES = MAX_MESSAGE_BYTES - 1024;

/** A PodLogs without its entries: the fields that say whose lines they are. */
export type PodLogsHeader = Omit<PodLogs, 'logEntries'>;

/** Entries as they arrived: framed bytes, or (once checked) the agent's segment alone, without the plain bytes. */
interface Run {
  /** Called once the run's bytes were copied into messages: whoever gave them may then free them. */
  copied?: () => void;
  sizes: readonly number[];
  lineNumbers: readonly number[];
  /** Framed bytes: what the run holds once inflated. */
  length: number;
  plain?: Uint8Array;
  segment?: DeflateSegment;
}

const runOf = (f: FramedEntries): Run => (f.segment ? { sizes: f.sizes, lineNumbers: f.lineNumbers, length: f.segment.length, segment: f.segment } : { sizes: f.sizes, lineNumbers: f.lineNumbers, length: f.bytes.length, plain: f.bytes });

/** A run's framed bytes (inflating a segment: only where a message must be split or cut). */
const framedOf = (r: Run): FramedEntries => ({ bytes: r.plain ?? inflateSegmentSync(r.segment!), sizes: r.sizes, lineNumbers: r.lineNumbers });

interface Pending {
  header: PodLogsHeader;
  /** Entries as they arrived (concatenated only when the message is sealed). */
  runs: Run[];
  entries: number;
  bytes: number;
  deliveries: Delivery[];
  timer: NodeJS.Timeout;
}

const HEADER_BYTES = 256;
const EMPTY = new Uint8Array(0);

export const containerKey = (l: PodLogsHeader): string => `${l.podUid}|${l.namespace}/${l.podName}|${l.containerName}|${l.previousContainer ? 1 : 0}|${l.nodeName}`;

const headerOf = (logs: PodLogs): PodLogsHeader => {
  const { logEntries: _entries, ...header } = logs;
  return header;
};

export class LogBatcher {
  private readonly pending = new Map<string, Pending>();
  private pendingBytesTotal = 0;

  /**
   * `plainRunLevel`: the zlib level at which runs without a segment are compressed into a message that holds
   * segments (the uplink's compression level).
   */
  constructor(
    private readonly limits: LogBatchLimits,
    private readonly sealed: (message: OutMessage) => void,
    private readonly plainRunLevel = 6,
  ) {}

  /** Bytes waiting in open batches (part of the uplink's queue bound). */
  get pendingBytes(): number {
    return this.pendingBytesTotal;
  }

  /** A PodLogs given as objects (agents of an older version, tests): framed, then batched as framed entries are. */
  add(logs: PodLogs, delivery: Delivery): void {
    this.addFramed(headerOf(logs), frameEntries(logs.logEntries), delivery);
  }

  /**
   * Entries already framed for PodLogs (what agents send): moved as bytes, never decoded; with a segment, moved
   * compressed and never inflated.
   */
  addFramed(header: PodLogsHeader, framed: FramedEntries, delivery: Delivery, copied?: () => void): void {
    const count = framed.sizes.length;
    const key = containerKey(header);
    const run: Run = { ...runOf(framed), copied };
    if (count === 0) {
      // Nothing to carry (e.g. a stream_complete marker): its own message, after the container's waiting lines.
      this.seal(key);
      delivery.expect(1);
      this.emitRuns(header, [run], [delivery]);
      return;
    }
    const size = run.length;
    let open = this.pending.get(key);
    if (open && (open.entries + count > this.limits.maxEntries || open.bytes + size > this.limits.maxBytes)) {
      this.seal(key);
      open = undefined;
    }
    if ((count > this.limits.maxEntries && !run.segment) || size > this.limits.maxBytes) {
      const parts = splitByLimits(framedOf(run), this.limits.maxEntries, this.limits.maxBytes);
      delivery.expect(parts.length);
      // Only the last part may say that the container's stream is complete.
      parts.forEach((part, i) => this.emit(i === parts.length - 1 ? header : { ...header, streamComplete: false }, [runOf(part)], [delivery]));
      copied?.();
      return;
    }
    delivery.expect(1);
    if (!open) {
      open = { header: { ...header }, runs: [run], entries: count, bytes: size, deliveries: [delivery], timer: setTimeout(() => this.seal(key), this.limits.lingerMs) };
      this.pending.set(key, open);
    } else {
      const merged = open.header;
      open.runs.push(run);
      merged.collectionTimestamp = header.collectionTimestamp ?? merged.collectionTimestamp;
      merged.streamComplete = header.streamComplete;
      if (merged.ownerReferences.length === 0) merged.ownerReferences = header.ownerReferences;
      open.entries += count;
      open.bytes += size;
      open.deliveries.push(delivery);
    }
    this.pendingBytesTotal += size;
    if (open.entries >= this.limits.maxEntries || open.bytes >= this.limits.maxBytes || header.streamComplete) this.seal(key);
    const cap = this.limits.maxPendingBytes;
    if (cap !== undefined) {
      // Map order is insertion order: the batches that have waited longest go first.
      for (const oldest of this.pending.keys()) {
        if (this.pendingBytesTotal <= cap) break;
        this.seal(oldest);
      }
    }
  }

  /** Seals every open batch now (shutdown, tests). */
  flushAll(): void {
    for (const key of [...this.pending.keys()]) this.seal(key);
  }

  private seal(key: string): void {
    const open = this.pending.get(key);
    if (!open) return;
    this.pending.delete(key);
    clearTimeout(open.timer);
    this.pendingBytesTotal -= open.bytes;
    this.emitRuns(open.header, open.runs, open.deliveries);
  }

  /** emit, then tells each run's giver that its bytes were copied (emit keeps no view of them once it returns). */
  private emitRuns(header: PodLogsHeader, runs: Run[], deliveries: Delivery[]): void {
    this.emit(header, runs, deliveries);
    for (const r of runs) r.copied?.();
  }

  /**
   * Encodes one PodLogs (its fields once, then the framed entries as they are; the fields that describe the
   * entries set from them) and hands it on, split when too large.
   */
  private emit(header: PodLogsHeader, runs: Run[], deliveries: Delivery[]): void {
    let entries = 0;
    let lastLine = header.streamOffset;
    for (const run of runs) {
      entries += run.sizes.length;
      if (run.lineNumbers.length > 0) lastLine = run.lineNumbers[run.lineNumbers.length - 1]!;
    }
    const head = encodeRecord({ $case: 'podLogs', value: { ...header, logEntries: [], totalLines: entries, streamOffset: lastLine } });
    let length = head.length;
    for (const r of runs) length += r.length;
    if (length + WRAP_OVERHEAD <= HARD_LIMIT_BYTES) {
      if (runs.some((r) => r.segment)) {
        this.sealed(this.stitched(head, runs, length, entries, deliveries));
        return;
      }
      // Made as the logs stream writes it, in one allocation: no copy for the concatenation, another for the wrap.
      const { wire, inner } = wrapParts(LOGS_FIELD, [head, ...runs.map((r) => r.plain!)]);
      const message = outMessage('podLogs', inner, entries, true, deliveries);
      message.wire = { stream: 'logs', bytes: wire, shared: true };
      this.sealed(message);
      return;
    }
    const framed = runs.map(framedOf);
    const all = framed.length === 1 ? framed[0]! : joinRuns(framed);
    if (entries <= 1) {
      const cut = cutEntry(unframeEntries(all)[0]!, length - HARD_LIMIT_BYTES + WRAP_OVERHEAD + 1024);
      this.emit(header, [runOf(frameEntries([cut]))], deliveries);
      return;
    }
    // One more message for every delivery carried: announce it before either half can be delivered.
    for (const d of deliveries) d.expect(1);
    const half = Math.ceil(entries / 2);
    this.emit({ ...header, streamComplete: false }, [runOf(sliceEntries(all, 0, half))], deliveries);
    this.emit(header, [runOf(sliceEntries(all, half))], deliveries);
  }

  /**
   * A PodLogs for the logs stream as one gzip member: the stream's wrapper and the PodLogs fields as a stored
   * block, then each run's segment (plain runs compressed here), marked for the patched grpc-js to send as it is.
   */
  private stitched(head: Uint8Array, runs: Run[], length: number, entries: number, deliveries: Delivery[]): OutMessage {
    const wrapper = wrapperOf(LOGS_FIELD, length);
    const opening = Buffer.concat([wrapper, head]);
    const segments = [storedSegment(opening), ...runs.map((r) => r.segment ?? deflateSegmentSync(r.plain!, this.plainRunLevel))];
    const gzip = markPrecompressed(gzipFromSegments(segments), wrapper.length + length);
    const message = outMessage('podLogs', EMPTY, entries, true, deliveries);
    message.inner = undefined;
    message.plainBytes = length;
    message.wire = { stream: 'logs', bytes: gzip, shared: true, gzip: true };
    return message;
  }
}

/** One run from several (only for the rare split of a sealed message). */
function joinRuns(runs: readonly FramedEntries[]): FramedEntries {
  return { bytes: Buffer.concat(runs.map((r) => r.bytes)), sizes: runs.flatMap((r) => r.sizes), lineNumbers: runs.flatMap((r) => r.lineNumbers) };
}

/** Splits framed entries into parts within the batch limits (by entries, then by bytes). */
export function splitByLimits(framed: FramedEntries, maxEntries: number, maxBytes: number): FramedEntries[] {
  const parts: FramedEntries[] = [];
  let from = 0;
  let bytes = 0;
  for (let i = 0; i < framed.sizes.length; i++) {
    const size = framed.sizes[i]!;
    if (i > from && (i - from >= maxEntries || bytes + size > maxBytes)) {
      parts.push(sliceEntries(framed, from, i));
      from = i;
      bytes = 0;
    }
    bytes += size;
  }
  if (from < framed.sizes.length) parts.push(sliceEntries(framed, from));
  return parts;
}

/** Shortens an entry's message by about `excess` bytes, saying so in its error_info. */
function cutEntry(entry: LogEntry, excess: number): LogEntry {
  const text = Buffer.from(entry.message, 'utf8');
  const keep = Math.max(0, text.length - excess - HEADER_BYTES);
  const note = `message cut from ${text.length} to ${keep} bytes by kestrel-aggregator: larger than the cloud's 10 MiB message limit`;
  return {
    ...entry,
    message: text.subarray(0, keep).toString('utf8'),
    errorInfo: { errorType: entry.errorInfo?.errorType || 'truncated', stackTrace: '', errorMessage: note, exitCode: entry.errorInfo?.exitCode ?? 0 },
  };
}
