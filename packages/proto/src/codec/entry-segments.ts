// Log entries compressed once, by the agent, and passed on to the cloud as they are (docs/transport.md, "Compressed
// entries"). A gzip member is a header, one DEFLATE stream and a trailer (CRC-32 and length of what it holds). A
// DEFLATE stream is a run of blocks; a block never refers to bytes before the stream's start if its compressor never
// saw them, and a sync flush ends a run of blocks on a byte boundary. So runs compressed apart, each ended by a sync
// flush, laid back to back and closed by an empty final block, are one valid stream of their contents in order; the
// trailer's CRC-32 is combined from theirs. The aggregator builds each PodLogs message for the cloud that way: its
// own few header bytes as a stored block, then the agents' segments, without inflating or compressing the lines.
import zlib from 'node:zlib';
import { freeOwned, freeOwnedAllocation } from './owned-memory.js';

const inflateRawInfo = zlib.inflateRawSync as unknown as (buffer: Uint8Array, options: zlib.ZlibOptions & { info: true }) => { buffer: Buffer; engine: { bytesWritten: number } };

/** Raw DEFLATE of non-final blocks that ends on a byte boundary, with the CRC-32 and length of what it inflates to. */
export interface DeflateSegment {
  bytes: Uint8Array;
  crc32: number;
  /** Inflated length in bytes. */
  length: number;
}

/** An empty final block (fixed Huffman codes, only the end-of-block code): closes a stream of segments. */
const FINAL_BLOCK = Buffer.from([0x03, 0x00]);
/** How a sync flush ends: an empty stored block's LEN and NLEN. */
const SYNC_MARK = [0x00, 0x00, 0xff, 0xff] as const;
/** A gzip header: no name, no time, "unknown" OS (RFC 1952). */
const GZIP_HEADER = Buffer.from([0x1f, 0x8b, 0x08, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0xff]);

// zlib's callback API returns its output 16 KiB at a time unless told otherwise: one chunk of the expected size.
const chunkFor = (bytes: number): number => Math.min(4 * 1024 * 1024, Math.max(16 * 1024, bytes + 64));

/**
 * Compresses entries into segments, one after the other, with one zlib state reset between them (on libuv's thread
 * pool). A state costs ~300 KiB; one per segment made an agent that read 2,000 files at start keep ~30 MiB more
 * malloc heap (freed, but not returned to the system), and set-up time for every chunk. The state is closed after
 * `idleMs` without work: an idle agent does not keep it.
 */
export class SegmentDeflater {
  private stream: zlib.DeflateRaw | undefined;
  private out: Buffer[] = [];
  private chain: Promise<unknown> = Promise.resolve();
  private pending = 0;
  private idleTimer: NodeJS.Timeout | undefined;

  constructor(
    private readonly level: number,
    private readonly idleMs = 5_000,
  ) {}

  deflate(plain: Uint8Array): Promise<DeflateSegment> {
    this.pending++;
    clearTimeout(this.idleTimer);
    const next = this.chain.then(() => this.run(plain));
    this.chain = next
      .catch(() => undefined)
      .finally(() => {
        if (--this.pending === 0) this.idleTimer = setTimeout(() => this.closeIdle(), this.idleMs).unref();
      });
    return next;
  }

  private closeIdle(): void {
    if (this.pending > 0) return;
    this.stream?.close();
    this.stream = undefined;
  }

  private run(plain: Uint8Array): Promise<DeflateSegment> {
    const stream = (this.stream ??= this.open());
    return new Promise((resolve, reject) => {
      const failed = (err: Error) => {
        // A state that failed is not used again.
        this.stream = undefined;
        reject(err);
      };
      stream.once('error', failed);
      stream.write(plain);
      // The flush's callback comes after its output was pushed: the segment is complete. The reset makes the next
      // segment independent of this one (no reference back into it), as the receiver's check requires.
      stream.flush(zlib.constants.Z_SYNC_FLUSH, () => {
        stream.off('error', failed);
        const bytes = this.out.length === 1 ? this.out[0]! : Buffer.concat(this.out);
        this.out = [];
        stream.reset();
        resolve({ bytes, crc32: zlib.crc32(plain), length: plain.length });
      });
    });
  }

  private open(): zlib.DeflateRaw {
    const stream = zlib.createDeflateRaw({ level: this.level, chunkSize: 64 * 1024 });
    stream.on('data', (b: Buffer) => this.out.push(b));
    return stream;
  }
}

const deflaters = new Map<number, SegmentDeflater>();

/** Compresses entries into a segment with the process's deflater for that level (on libuv's thread pool). */
export function deflateSegment(plain: Uint8Array, level: number): Promise<DeflateSegment> {
  let d = deflaters.get(level);
  if (!d) deflaters.set(level, (d = new SegmentDeflater(level)));
  return d.deflate(plain);
}

/** Compresses synchronously (the aggregator's rare plain runs next to agents' segments). */
export function deflateSegmentSync(plain: Uint8Array, level: number): DeflateSegment {
  const bytes = zlib.deflateRawSync(plain, { level, finishFlush: zlib.constants.Z_SYNC_FLUSH });
  return { bytes, crc32: zlib.crc32(plain), length: plain.length };
}

/** Bytes as stored (uncompressed) blocks: a few header bytes are not worth a compressor's setup. */
export function storedSegment(plain: Uint8Array): DeflateSegment {
  const blocks = Math.max(1, Math.ceil(plain.length / 0xffff));
  const out = Buffer.allocUnsafe(plain.length + 5 * blocks);
  let at = 0;
  for (let b = 0; b < blocks; b++) {
    const part = plain.subarray(b * 0xffff, Math.min(plain.length, (b + 1) * 0xffff));
    // BFINAL 0, BTYPE 00, padded to the byte; then LEN and its complement, little-endian.
    out[at++] = 0;
    out.writeUInt16LE(part.length, at);
    out.writeUInt16LE(~part.length & 0xffff, at + 2);
    at += 4;
    out.set(part, at);
    at += part.length;
  }
  return { bytes: out, crc32: zlib.crc32(plain), length: plain.length };
}

export class SegmentError extends Error {}

/**
 * Inflates a segment from a peer and checks everything the stitched stream relies on: it inflates to exactly
 * `length` bytes with this CRC-32, it ends as a sync flush does, and a final block placed right after it ends the
 * stream exactly there (a segment holding a final block of its own, or ending inside a block, would cut or garble
 * the message it is put into). Returns the inflated bytes; throws a SegmentError.
 *
 * Synchronous, on the event loop: a segment of 250 lines (~70 KB inflated) takes ~0.15 ms. The thread pool's callback
 * API cost ~25 % more CPU in all for segments of this size (a hand-over to the pool and back, a stream per call;
 * docs/BENCHMARKS.md, "Aggregator ingest").
 */
export function inflateSegment(segment: Uint8Array, length: number, crc32: number): Buffer {
  return inflateChecked(segment, length, crc32).bytes;
}

/**
 * inflateSegment for a caller that only reads the inflated bytes, in `read`: they are freed as soon as it returns
 * (owned-memory.ts), not left for V8 to find dead. `read` must keep no view of them.
 */
export function checkSegment<T>(segment: Uint8Array, length: number, crc32: number, read: (bytes: Buffer) => T): T {
  const inflated = inflateChecked(segment, length, crc32);
  try {
    return read(inflated.bytes);
  } finally {
    freeOwnedAllocation(inflated.bytes, inflated.chunk);
  }
}

/** Inflates and checks a segment; `chunk` is the size of zlib's output buffer, which `bytes` is a view into. */
function inflateChecked(segment: Uint8Array, length: number, crc32: number): { bytes: Buffer; chunk: number } {
  const n = segment.length;
  if (n < 4 || SYNC_MARK.some((b, i) => segment[n - 4 + i] !== b)) throw new SegmentError('compressed entries do not end with a sync flush');
  // A buffer of its own (not a slice of Buffer's pool), so that it can be freed at once.
  const closed = Buffer.allocUnsafeSlow(n + FINAL_BLOCK.length);
  closed.set(segment, 0);
  closed.set(FINAL_BLOCK, n);
  const chunk = chunkFor(length);
  const closedLength = closed.length;
  let out: { buffer: Buffer; engine: { bytesWritten: number } };
  try {
    out = inflateRawInfo(closed, { info: true, maxOutputLength: Math.max(1, length), chunkSize: chunk });
  } catch (err) {
    throw new SegmentError(`compressed entries do not inflate to ${length} bytes (${err instanceof Error ? err.message : String(err)})`);
  } finally {
    freeOwned(closed);
  }
  const bytes = out.buffer;
  let problem: string | undefined;
  if (out.engine.bytesWritten !== closedLength) problem = `compressed entries end ${closedLength - out.engine.bytesWritten} bytes before their segment does`;
  else if (bytes.length !== length) problem = `compressed entries inflate to ${bytes.length} bytes, not ${length}`;
  else {
    const actual = zlib.crc32(bytes);
    if (actual !== crc32) problem = `compressed entries have CRC-32 ${actual.toString(16)}, not ${crc32.toString(16)}`;
  }
  if (problem !== undefined) {
    freeOwnedAllocation(bytes, chunk);
    throw new SegmentError(problem);
  }
  return { bytes, chunk };
}

/** Inflates a segment that was checked before (the aggregator's rare paths: a split, a stream without compression). */
export function inflateSegmentSync(segment: DeflateSegment): Buffer {
  return zlib.inflateRawSync(Buffer.concat([segment.bytes, FINAL_BLOCK]), { maxOutputLength: Math.max(1, segment.length) });
}

/** One gzip member holding the segments' contents in order (each segment checked or made here). */
export function gzipFromSegments(segments: readonly DeflateSegment[]): Buffer {
  let size = GZIP_HEADER.length + FINAL_BLOCK.length + 8;
  for (const s of segments) size += s.bytes.length;
  // Not from Buffer's shared pool (64 KiB slabs in Node 24): the message waits in the uplink's queue and replay
  // window for seconds, and a slice kept that long holds its whole slab (measured: 45 MiB of messages held 56 MiB).
  const out = Buffer.allocUnsafeSlow(size);
  out.set(GZIP_HEADER, 0);
  let at = GZIP_HEADER.length;
  let crc = 0;
  let length = 0;
  for (const s of segments) {
    out.set(s.bytes, at);
    at += s.bytes.length;
    crc = crc32Combine(crc, s.crc32, s.length);
    length += s.length;
  }
  out.set(FINAL_BLOCK, at);
  at += FINAL_BLOCK.length;
  out.writeUInt32LE(crc, at);
  // ISIZE is the length modulo 2^32 (the cloud's messages are far below it).
  out.writeUInt32LE(length % 0x100000000, at + 4);
  return out;
}

// CRC-32 of A followed by B from the CRCs of A and B and B's length: A's CRC times x^(8 * length of B), modulo the
// CRC polynomial, plus B's (zlib's crc32_combine, which Node does not expose). Polynomials are 32-bit words in the
// CRC's reflected bit order: the top bit is x^0.
const POLY = 0xedb88320;

/** a(x) * b(x) mod p(x). */
function multModP(a: number, b: number): number {
  if (a === 0) return 0;
  let m = 0x80000000;
  let p = 0;
  for (;;) {
    if ((a & m) !== 0) {
      p ^= b;
      if ((a & (m - 1)) === 0) break;
    }
    m >>>= 1;
    b = b & 1 ? (b >>> 1) ^ POLY : b >>> 1;
  }
  return p >>> 0;
}

/** x^(2^k) mod p(x) for k = 0..31. */
const X2N: number[] = (() => {
  const table = [0x40000000]; // x^1
  for (let k = 1; k < 32; k++) table.push(multModP(table[k - 1]!, table[k - 1]!));
  return table;
})();

/** x^(n * 2^k) mod p(x). */
function x2nModP(n: number, k: number): number {
  let p = 0x80000000; // x^0
  while (n > 0) {
    if (n % 2 === 1) p = multModP(X2N[k & 31]!, p);
    n = Math.floor(n / 2);
    k++;
  }
  return p;
}

/** The CRC-32 of A followed by B, from crc(A), crc(B) and B's length. */
export function crc32Combine(crcA: number, crcB: number, lengthB: number): number {
  return (multModP(x2nModP(lengthB, 3), crcA) ^ crcB) >>> 0;
}
