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
// Merged messages keep the protocol's meaning: total_lines is the number of entries, stream_offset the line
// number of the last one, so the receiver's replay filter works per message.
import type { LogEntry, PodLogs } from '@kestrel/proto/cloud/v1';
import { Delivery, outMessage, type OutMessage } from './delivery.js';
import { encodeRecord, WRAP_OVERHEAD } from './records.js';

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

interface Pending {
  logs: PodLogs;
  bytes: number;
  deliveries: Delivery[];
  timer: NodeJS.Timeout;
}

/** A cheap upper estimate of an entry's encoded size (the exact size is checked when sealing). */
export function entryBytes(e: LogEntry): number {
  let n = Buffer.byteLength(e.message) + e.level.length + 40;
  if (e.errorInfo) n += Buffer.byteLength(e.errorInfo.stackTrace) + Buffer.byteLength(e.errorInfo.errorMessage) + e.errorInfo.errorType.length + 24;
  return n;
}

const HEADER_BYTES = 256;

export const containerKey = (l: PodLogs): string => `${l.podUid}|${l.namespace}/${l.podName}|${l.containerName}|${l.previousContainer ? 1 : 0}|${l.nodeName}`;

export class LogBatcher {
  private readonly pending = new Map<string, Pending>();
  private pendingBytesTotal = 0;

  constructor(
    private readonly limits: LogBatchLimits,
    private readonly sealed: (message: OutMessage) => void,
  ) {}

  /** Bytes waiting in open batches (part of the uplink's queue bound). */
  get pendingBytes(): number {
    return this.pendingBytesTotal;
  }

  add(logs: PodLogs, delivery: Delivery): void {
    if (logs.logEntries.length === 0) {
      // Nothing to carry (e.g. a stream_complete marker): its own message.
      delivery.expect(1);
      this.emit({ ...logs }, [delivery]);
      return;
    }
    const key = containerKey(logs);
    const size = logs.logEntries.reduce((n, e) => n + entryBytes(e), 0);
    let open = this.pending.get(key);
    if (open && (open.logs.logEntries.length + logs.logEntries.length > this.limits.maxEntries || open.bytes + size > this.limits.maxBytes)) {
      this.seal(key);
      open = undefined;
    }
    if (logs.logEntries.length > this.limits.maxEntries || size > this.limits.maxBytes) {
      const parts = splitByLimits(logs, this.limits.maxEntries, this.limits.maxBytes);
      delivery.expect(parts.length);
      for (const part of parts) this.emit(part, [delivery]);
      return;
    }
    delivery.expect(1);
    if (!open) {
      open = {
        logs: { ...logs, logEntries: [...logs.logEntries] },
        bytes: size,
        deliveries: [delivery],
        timer: setTimeout(() => this.seal(key), this.limits.lingerMs),
      };
      this.pending.set(key, open);
    } else {
      const merged = open.logs;
      merged.logEntries.push(...logs.logEntries);
      merged.collectionTimestamp = logs.collectionTimestamp ?? merged.collectionTimestamp;
      merged.streamComplete = logs.streamComplete;
      if (merged.ownerReferences.length === 0) merged.ownerReferences = logs.ownerReferences;
      open.bytes += size;
      open.deliveries.push(delivery);
    }
    this.pendingBytesTotal += size;
    if (open.logs.logEntries.length >= this.limits.maxEntries || open.bytes >= this.limits.maxBytes || logs.streamComplete) this.seal(key);
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
    this.emit(open.logs, open.deliveries);
  }

  /** Encodes one PodLogs (fields that describe the entries set from them) and hands it on, split when too large. */
  private emit(logs: PodLogs, deliveries: Delivery[]): void {
    const entries = logs.logEntries;
    const message: PodLogs = { ...logs, totalLines: entries.length, streamOffset: entries.length > 0 ? entries[entries.length - 1]!.lineNumber : logs.streamOffset };
    const inner = encodeRecord({ $case: 'podLogs', value: message });
    if (inner.length + WRAP_OVERHEAD <= HARD_LIMIT_BYTES) {
      this.sealed(outMessage('podLogs', inner, entries.length, true, deliveries));
      return;
    }
    if (entries.length <= 1) {
      this.emit(cutEntry(message, inner.length - HARD_LIMIT_BYTES + WRAP_OVERHEAD + 1024), deliveries);
      return;
    }
    // One more message for every delivery carried: announce it before either half can be delivered.
    for (const d of deliveries) d.expect(1);
    const half = Math.ceil(entries.length / 2);
    this.emit({ ...logs, logEntries: entries.slice(0, half) }, deliveries);
    this.emit({ ...logs, logEntries: entries.slice(half) }, deliveries);
  }
}

/** Splits one PodLogs into parts within the batch limits (by entries, then by estimated bytes). */
export function splitByLimits(logs: PodLogs, maxEntries: number, maxBytes: number): PodLogs[] {
  const parts: PodLogs[] = [];
  let current: LogEntry[] = [];
  let bytes = 0;
  for (const entry of logs.logEntries) {
    const size = entryBytes(entry);
    if (current.length > 0 && (current.length >= maxEntries || bytes + size > maxBytes)) {
      parts.push({ ...logs, logEntries: current });
      current = [];
      bytes = 0;
    }
    current.push(entry);
    bytes += size;
  }
  if (current.length > 0) parts.push({ ...logs, logEntries: current });
  return parts;
}

/** Shortens the only entry's message by about `excess` bytes, saying so in its error_info. */
function cutEntry(logs: PodLogs, excess: number): PodLogs {
  const entry = logs.logEntries[0]!;
  const text = Buffer.from(entry.message, 'utf8');
  const keep = Math.max(0, text.length - excess - HEADER_BYTES);
  const note = `message cut from ${text.length} to ${keep} bytes by kestrel-aggregator: larger than the cloud's 10 MiB message limit`;
  return {
    ...logs,
    logEntries: [
      {
        ...entry,
        message: text.subarray(0, keep).toString('utf8'),
        errorInfo: { errorType: entry.errorInfo?.errorType || 'truncated', stackTrace: '', errorMessage: note, exitCode: entry.errorInfo?.exitCode ?? 0 },
      },
    ],
  };
}
