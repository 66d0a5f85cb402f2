// A record's way through the uplink, and the messages that carry records.
//
// `Delivery` settles once every message carrying a part of the record was delivered: for PodLogs, written and past
// the replay window; for everything else, written. A record can be merged with others into one message (PodLogs of
// one container) or split over several (a PodLogs too large for one message), so deliveries and messages are
// many-to-many.
import type { RecordKind, StreamName } from './records.js';

export class Delivery {
  private parts = 0;
  private delivered = 0;
  private settled = false;
  private resolveFn!: () => void;
  private rejectFn!: (err: Error) => void;
  readonly promise: Promise<void>;

  constructor() {
    this.promise = new Promise<void>((resolve, reject) => {
      this.resolveFn = resolve;
      this.rejectFn = reject;
    });
    // A caller that stops waiting (its agent went away) must not leave an unhandled rejection behind.
    this.promise.catch(() => undefined);
  }

  /** Announces n more messages carrying a part of this record (before any of them can be delivered). */
  expect(n = 1): void {
    this.parts += n;
  }

  partDelivered(): void {
    if (this.settled) return;
    this.delivered++;
    if (this.delivered >= this.parts) {
      this.settled = true;
      this.resolveFn();
    }
  }

  fail(err: Error): void {
    if (this.settled) return;
    this.settled = true;
    this.rejectFn(err);
  }
}

/** What a producer gets back once the uplink accepted a record: wait on `delivered` to know it is safe. */
export interface Accepted {
  delivered: Promise<void>;
}

/** One message for the cloud: the encoded inner message of one kind, and the deliveries it carries. */
export interface OutMessage {
  kind: RecordKind;
  /**
   * The inner message bytes (records.ts: wrapped with a stream's field number when written); undefined once only
   * the compressed wire bytes are kept (`wire.gzip`, precompressed.ts).
   */
  inner: Uint8Array | undefined;
  /** The inner message's size: what the queue's byte bound counts (compressed or not). */
  plainBytes: number;
  /** Records inside (log entries for PodLogs, else 1). */
  records: number;
  replayable: boolean;
  deliveries: Delivery[];
  /** Times written (more than 1 after a replay). */
  sends: number;
  /** When the last write completed (ms since the epoch). */
  writtenAt: number;
  /**
   * The wrapped bytes for the stream writing it. Dropped once written (a replay wraps again), unless `inner` is a
   * view into them (`shared`, made by wrapParts) or they are the only copy (`gzip`: compressed by the uplink, marked
   * for the patched grpc-js; then they are what the replay window holds).
   */
  wire?: { stream: StreamName; bytes: Buffer; shared?: boolean; gzip?: boolean };
  /** Set while the uplink compresses the message: it is not written before that is done. */
  compressing?: Promise<void> | undefined;
}

export function outMessage(kind: RecordKind, inner: Uint8Array, records: number, replayable: boolean, deliveries: Delivery[]): OutMessage {
  return { kind, inner, plainBytes: inner.length, records, replayable, deliveries, sends: 0, writtenAt: 0 };
}

export function settle(message: OutMessage): void {
  for (const d of message.deliveries) d.partDelivered();
}

export function failMessage(message: OutMessage, err: Error): void {
  for (const d of message.deliveries) d.fail(err);
}
