// The check of a batch's log chunks before anything of it is submitted: framed entries are moved as bytes, so their
// framing (and for a compressed chunk its segment: docs/transport.md, "Compressed entries") must hold, or one bad
// chunk would corrupt the PodLogs message it joins. Also the newest line time of the batch (the `lag` of debug
// agents), read from each chunk's last entry while its bytes are at hand.
//
// A segment is inflated here, once. Its inflated bytes are freed at once (checkSegment) unless the uplink cannot send
// segments: kept until the batch is submitted, they outlived young-generation collections while the batch waited for
// uplink room, and the ingest bench's aggregator held ~140 MB of such buffers, dead but not yet collected; dropped,
// they still waited for the next scavenge.
import type { BatchContent, LogChunk } from '@kestrel/proto/ingest/v1';
import { checkFramedEntries, sliceEntries, unframeEntries } from '@kestrel/proto/cloud/v1/log-entries';
import { checkSegment, inflateSegment, SegmentError } from '@kestrel/proto/ingest/v1/segments';

export interface ChunkCheck {
  /** Why the batch cannot be passed on, if so. */
  problem?: string;
  /** Write time of the newest line (ms since the epoch; 0 when none says). */
  newestMs: number;
}

/**
 * Checks every log chunk of a batch; inflates compressed ones and keeps their inflated bytes in `entries` only when
 * `keepInflated` (the uplink sends no segments: it needs the bytes).
 */
export function checkChunks(content: BatchContent, keepInflated: boolean): ChunkCheck {
  let newestMs = 0;
  const newer = (t: { seconds: number; nanos: number } | undefined) => {
    if (t) newestMs = Math.max(newestMs, t.seconds * 1000 + Math.floor(t.nanos / 1e6));
  };
  for (const chunk of content.logs) {
    if (chunk.lines.length > 0) newer(chunk.lines[chunk.lines.length - 1]!.timestamp);
    if (chunk.entrySizes.length === 0 && chunk.entries.length === 0 && chunk.entriesDeflated.length === 0) continue;
    const where = `log chunk of ${chunk.namespace}/${chunk.podName}/${chunk.containerName}`;
    if (chunk.entriesDeflated.length > 0 && chunk.entries.length > 0) return { problem: `${where}: entries both plain and compressed`, newestMs };
    let problem: string | undefined;
    try {
      if (chunk.entriesDeflated.length === 0) problem = readChunk(chunk, chunk.entries, newer);
      else if (keepInflated) {
        const bytes = inflateSegment(chunk.entriesDeflated, sumOf(chunk.entrySizes), chunk.entriesCrc32);
        problem = readChunk(chunk, bytes, newer);
        chunk.entries = bytes;
      } else {
        // Read once and freed at once (checkSegment): ~1 MiB per batch that would otherwise wait for V8.
        problem = checkSegment(chunk.entriesDeflated, sumOf(chunk.entrySizes), chunk.entriesCrc32, (bytes) => readChunk(chunk, bytes, newer));
      }
    } catch (err) {
      if (!(err instanceof SegmentError)) throw err;
      problem = err.message;
    }
    if (problem) return { problem: `${where}: ${problem}`, newestMs };
  }
  return { newestMs };
}

/** Checks a chunk's framing against its entries' bytes and passes on the newest line's time; keeps no view of them. */
function readChunk(chunk: LogChunk, bytes: Uint8Array, newer: (t: { seconds: number; nanos: number } | undefined) => void): string | undefined {
  const problem = framingProblem(chunk, bytes);
  if (problem === undefined) newer(lastTimestamp(bytes, chunk.entrySizes));
  return problem;
}

export const sumOf = (sizes: readonly number[]): number => {
  let n = 0;
  for (const s of sizes) n += s;
  return n;
};

function framingProblem(chunk: LogChunk, bytes: Uint8Array): string | undefined {
  const n = chunk.entrySizes.length;
  return (
    checkFramedEntries({ bytes, sizes: chunk.entrySizes }) ??
    (chunk.entryEndOffsetDeltas.length === n ? undefined : `${n} entries but ${chunk.entryEndOffsetDeltas.length} end offsets`) ??
    (chunk.entryLineNumberDeltas.length === n ? undefined : `${n} entries but ${chunk.entryLineNumberDeltas.length} line numbers`) ??
    (chunk.entryFlags.length === 0 || chunk.entryFlags.length === n ? undefined : `${n} entries but ${chunk.entryFlags.length} flags`)
  );
}

/** The timestamp of the last framed entry (one entry decoded per chunk). */
function lastTimestamp(bytes: Uint8Array, sizes: readonly number[]): { seconds: number; nanos: number } | undefined {
  if (sizes.length === 0) return undefined;
  try {
    return unframeEntries(sliceEntries({ bytes, sizes, lineNumbers: [] }, sizes.length - 1))[0]?.timestamp;
  } catch {
    return undefined; // a frame that is a log_entries frame but not a LogEntry: the cloud's to refuse
  }
}
