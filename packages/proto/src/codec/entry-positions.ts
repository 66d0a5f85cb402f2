// Where the framed lines of a LogChunk sit in their file and which line numbers they have, as the wire carries them:
// a base and one small delta per line (ingest.proto, LogChunk fields 17-20). A uint64 per line would cost a BigInt
// and a string per value to decode in JavaScript (ts-proto's longToNumber): 8 % of the aggregator's busy time.
import type { LogChunk } from '../gen/kestrel/ingest/v1/ingest.js';

export type ChunkPositions = Pick<LogChunk, 'entriesStartOffset' | 'entryEndOffsetDeltas' | 'entriesLineBase' | 'entryLineNumberDeltas'>;

const MAX_DELTA = 0xffff_ffff;

/**
 * The wire form of lines' positions: `startOffset` is where the first line starts, `endOffsets` and `lineNumbers`
 * are per line, each at least the one before it. Throws when a line spans 4 GiB or more, or positions go backwards
 * (neither happens: lines are cut at the maximum message size and read in file order).
 */
export function encodePositions(startOffset: number, endOffsets: readonly number[], lineNumbers: readonly number[]): ChunkPositions {
  if (endOffsets.length !== lineNumbers.length) throw new Error(`${endOffsets.length} end offsets but ${lineNumbers.length} line numbers`);
  const n = endOffsets.length;
  const lineBase = n > 0 ? Math.max(0, lineNumbers[0]! - 1) : 0;
  const offsetDeltas = new Array<number>(n);
  const lineDeltas = new Array<number>(n);
  let offset = startOffset;
  let line = lineBase;
  for (let i = 0; i < n; i++) {
    const d = endOffsets[i]! - offset;
    const l = lineNumbers[i]! - line;
    if (!(d >= 0 && d <= MAX_DELTA)) throw new Error(`line ${i}: end offset ${endOffsets[i]} after ${offset} cannot be sent as a delta`);
    if (!(l >= 0 && l <= MAX_DELTA)) throw new Error(`line ${i}: line number ${lineNumbers[i]} after ${line} cannot be sent as a delta`);
    offsetDeltas[i] = d;
    lineDeltas[i] = l;
    offset = endOffsets[i]!;
    line = lineNumbers[i]!;
  }
  return { entriesStartOffset: startOffset, entryEndOffsetDeltas: offsetDeltas, entriesLineBase: lineBase, entryLineNumberDeltas: lineDeltas };
}

/** Per line: where it ends in the file. */
export function endOffsetsOf(chunk: ChunkPositions): number[] {
  return runningSums(chunk.entriesStartOffset, chunk.entryEndOffsetDeltas);
}

/** Per line: its line number. */
export function lineNumbersOf(chunk: ChunkPositions): number[] {
  return runningSums(chunk.entriesLineBase, chunk.entryLineNumberDeltas);
}

function runningSums(base: number, deltas: readonly number[]): number[] {
  const out = new Array<number>(deltas.length);
  let at = base;
  for (let i = 0; i < deltas.length; i++) out[i] = at += deltas[i]!;
  return out;
}
