// The content of a kestrel.ingest.v1 Batch: encoded BatchContent, compressed by the agent. A log chunk's framed entries
// are compressed on their own, as a DEFLATE segment that the aggregator passes on to the cloud as it is
// (entry-segments.ts); the rest of the batch is small then and travels as it is, unless it carries flows (then the
// whole content is gzip-compressed, as every batch was before segments). Compression runs on libuv's thread pool
// (zlib's callback API), so the agent does not block its event loop on it; the aggregator inflates segments itself,
// once (its ingest's chunk-check.ts).
import { promisify } from 'node:util';
import zlib from 'node:zlib';
import { BatchContent, Encoding, type Batch, type LogChunk } from '../gen/kestrel/ingest/v1/ingest.js';
import { deflateSegment } from './entry-segments.js';

const gzip = promisify(zlib.gzip);
const gunzip = promisify(zlib.gunzip);

/** Level 1 for the whole content: most of gzip's gain for a fraction of level 6's CPU (the agent pays it per line). */
const GZIP_LEVEL = 1;

/**
 * Level 6 for log entries (zlib's default): these bytes go on to the cloud as they are, so they get the ratio the
 * aggregator used to compress them at (docs/BENCHMARKS.md: ~3.7 us of agent CPU per 280-byte line, against ~2 at
 * level 1, for ~15 % fewer bytes on the uplink; inflating them to check them is faster too).
 */
export const DEFAULT_ENTRIES_LEVEL = 6;

// zlib's callback API hands its output back to the event loop one chunk at a time (16 KiB by default): a 1 MiB batch
// was 64 round trips between the thread pool and the main thread, each a callback, a Buffer and a stream push, and
// they cost more main-thread time than the decoding (ingest bench profile). Chunks sized to the expected output make
// it one or two; the bounds keep a lying or huge size from allocating much.
const MIN_CHUNK = 64 * 1024;
const MAX_CHUNK = 4 * 1024 * 1024;
const clampChunk = (bytes: number): number => Math.min(MAX_CHUNK, Math.max(MIN_CHUNK, Math.ceil(bytes)));

/** gzip's trailer ends with the input's size modulo 2^32 (RFC 1952 ISIZE): the size to expect when inflating. */
export function gzipOutputChunk(content: Uint8Array, maxBytes: number): number {
  if (content.length < 18) return MIN_CHUNK;
  const size = Buffer.from(content.buffer, content.byteOffset, content.byteLength).readUInt32LE(content.length - 4);
  // One byte more than the output, so zlib sees the end of the stream within the first chunk.
  return Math.min(clampChunk(size + 1), clampChunk(maxBytes + 1));
}

/**
 * Encodes and compresses a batch. `entriesLevel`: the zlib level of the log entries' segments (1-9); without
 * `compress` nothing is compressed (entries travel plain, as agents of an older version sent them).
 */
export async function sealBatch(sequence: number, content: BatchContent, compress: boolean, entriesLevel = DEFAULT_ENTRIES_LEVEL): Promise<Batch> {
  const records = content.logs.reduce((n, c) => n + c.lines.length + c.entrySizes.length, 0) + content.nodeConditions.length + content.flows.length;
  if (!compress) return { sequence, encoding: Encoding.ENCODING_NONE, content: Buffer.from(BatchContent.encode(content).finish()), records };
  // The process's deflater takes one chunk after the other (entry-segments.ts).
  const logs = await Promise.all(content.logs.map((chunk) => withSegment(chunk, entriesLevel)));
  const encoded = Buffer.from(BatchContent.encode({ ...content, logs }).finish());
  // What is left besides segments is a few bytes a line (sizes, offsets) unless flows came along.
  if (content.flows.length === 0 && logs.some((c) => c.entriesDeflated.length > 0)) return { sequence, encoding: Encoding.ENCODING_NONE, content: encoded, records };
  return { sequence, encoding: Encoding.ENCODING_GZIP, content: await gzip(encoded, { level: GZIP_LEVEL, chunkSize: clampChunk(encoded.length / 2) }), records };
}

async function withSegment(chunk: LogChunk, level: number): Promise<LogChunk> {
  if (chunk.entries.length === 0) return chunk;
  const segment = await deflateSegment(chunk.entries, level);
  return { ...chunk, entries: new Uint8Array(0), entriesDeflated: segment.bytes, entriesCrc32: segment.crc32 };
}

export class BatchContentError extends Error {}

/**
 * Decodes a batch's content; a batch whose content does not decode (or inflates beyond maxBytes: a zip bomb) is
 * refused with a BatchContentError.
 */
export async function openBatch(batch: Batch, maxBytes: number): Promise<BatchContent> {
  let raw: Uint8Array;
  if (batch.encoding === Encoding.ENCODING_GZIP) {
    try {
      raw = await gunzip(batch.content, { maxOutputLength: maxBytes, chunkSize: gzipOutputChunk(batch.content, maxBytes) });
    } catch (err) {
      throw new BatchContentError(`batch ${batch.sequence}: content does not inflate within ${maxBytes} bytes (${err instanceof Error ? err.message : String(err)})`);
    }
  } else if (batch.encoding === Encoding.ENCODING_NONE) {
    raw = batch.content;
  } else {
    throw new BatchContentError(`batch ${batch.sequence}: unknown encoding ${batch.encoding}`);
  }
  let content: BatchContent;
  try {
    content = BatchContent.decode(raw);
  } catch (err) {
    throw new BatchContentError(`batch ${batch.sequence}: content does not decode (${err instanceof Error ? err.message : String(err)})`);
  }
  checkSegmentBudget(batch.sequence, content, maxBytes - raw.length);
  return content;
}

/**
 * Bounds what chunks' compressed entries may inflate to, all together (their entry sizes say it): `budget` bytes. The
 * segments themselves are inflated and checked by the aggregator's ingest (chunk-check.ts), once, before it submits
 * anything of the batch.
 */
function checkSegmentBudget(sequence: number, content: BatchContent, budget: number): void {
  let left = budget;
  for (const chunk of content.logs) {
    if (chunk.entriesDeflated.length === 0) continue;
    for (const size of chunk.entrySizes) left -= size;
    if (left < 0) throw new BatchContentError(`batch ${sequence}: compressed entries inflate beyond ${budget} bytes`);
  }
}
