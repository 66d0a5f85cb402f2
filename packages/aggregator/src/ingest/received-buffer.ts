// A received batch's memory, freed as soon as nothing holds a view of it (owned-memory in @kestrel/proto).
//
// grpc-js assembles every message it receives into a buffer of its own (stream-decoder.js: Buffer.concat of the
// 5-byte frame header and the message's pieces, exactly that long), and the decoded batch's byte fields (its content,
// and in it each chunk's entries and segment) are views into it. A batch waits there, compressed, for its turn and
// for uplink room, often for seconds: it dies old, and V8 frees such buffers only at a full collection, which it
// starts for them only after ~64 MB of them (docs/BENCHMARKS.md, "Aggregator ingest", session 9). The ingest
// service instead counts who holds views of it — itself while it submits the batch, and the uplink's log batcher for
// every chunk until it copied the chunk's bytes into a message — and frees it when the count falls to zero.
import { freeOwned } from '@kestrel/proto/buffers';
import type { BatchContent } from '@kestrel/proto/ingest/v1';

/** What grpc-js's frame header and the AgentMessage and Batch fields around the content take, at most. */
const FRAME_AND_FIELDS = 64;
/** Node's Buffer.concat takes a buffer under half the pool size from the shared pool: never ours alone. */
const OWN_BUFFER_FROM = 32 * 1024;

/**
 * The buffer behind a batch's content when it is that message's alone and every view of it stays with log chunks:
 * the content was not compressed (else the chunks are views into the inflated copy, and this buffer dies young), the
 * buffer is only the frame and the fields around the content longer than it, and the batch has nothing but log chunks
 * (node conditions and flow windows go elsewhere, and may be kept). Undefined otherwise: then V8 frees it.
 */
export function receivedBufferOf(content: Uint8Array, decoded: BatchContent, compressed: boolean): ArrayBuffer | undefined {
  const whole = content.buffer;
  if (compressed || !(whole instanceof ArrayBuffer) || whole.byteLength < OWN_BUFFER_FROM) return undefined;
  if (whole.byteLength - content.byteLength > FRAME_AND_FIELDS) return undefined;
  if (decoded.nodeConditions.length > 0 || decoded.flows.length > 0) return undefined;
  return whole;
}

/** Counts holders of a received buffer and frees it when the last one lets go (never, if one never does). */
export class ReceivedBuffer {
  private holders = 1;

  /** The service holds it from the start; `release()` ends that hold. */
  constructor(private readonly buffer: ArrayBuffer | undefined) {}

  /** One more holder (a chunk handed to the uplink); call the returned function, once, when it let go. */
  hold(): (() => void) | undefined {
    if (!this.buffer) return undefined;
    this.holders++;
    let released = false;
    return () => {
      if (released) return;
      released = true;
      this.release();
    };
  }

  /** Ends one hold; the last one frees the buffer. */
  release(): void {
    if (!this.buffer || --this.holders > 0) return;
    freeOwned(new Uint8Array(this.buffer));
  }
}
