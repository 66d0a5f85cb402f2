// The content of a kestrel.ingest.v1 Batch: encoded BatchContent, gzip-compressed by the agent. Compression runs on
// libuv's thread pool (zlib's callback API), so neither process blocks its event loop on it.
import { promisify } from 'node:util';
import zlib from 'node:zlib';
import { BatchContent, Encoding, type Batch } from '../gen/kestrel/ingest/v1/ingest.js';

const gzip = promisify(zlib.gzip);
const gunzip = promisify(zlib.gunzip);

/** Level 1: most of gzip's gain on log text for a fraction of level 6's CPU (the agent pays it per line). */
const GZIP_LEVEL = 1;

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

export async function sealBatch(sequence: number, content: BatchContent, compress: boolean): Promise<Batch> {
  const encoded = Buffer.from(BatchContent.encode(content).finish());
  const records = content.logs.reduce((n, c) => n + c.lines.length + c.entrySizes.length, 0) + content.nodeConditions.length + content.flows.length;
  if (!compress) return { sequence, encoding: Encoding.ENCODING_NONE, content: encoded, records };
  return { sequence, encoding: Encoding.ENCODING_GZIP, content: await gzip(encoded, { level: GZIP_LEVEL, chunkSize: clampChunk(encoded.length / 2) }), records };
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
  try {
    return BatchContent.decode(raw);
  } catch (err) {
    throw new BatchContentError(`batch ${batch.sequence}: content does not decode (${err instanceof Error ? err.message : String(err)})`);
  }
}
