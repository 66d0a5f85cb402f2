// Log lines in the form the cloud receives them, prepared by the agent: each cloud.v1.LogEntry framed exactly as it
// sits inside a cloud.v1.PodLogs message (the log_entries tag, a length, the entry's bytes). Protobuf lets a repeated
// field's items sit anywhere in a message, so a PodLogs for the cloud is its other fields encoded once followed by
// any run of framed entries: the aggregator slices and concatenates bytes instead of decoding every line into an
// object and encoding it again (that was a quarter of its CPU, plus the garbage).
import { BinaryReader, BinaryWriter } from '@bufbuild/protobuf/wire';
import { LogEntry } from '../gen/cloud/v1/cloud.js';

/** PodLogs.log_entries: field 5, length-delimited. */
export const POD_LOGS_ENTRY_TAG = (5 << 3) | 2;

export interface FramedEntries {
  /** The framed entries, back to back. */
  bytes: Uint8Array;
  /** Framed size of each entry, in order (sums to bytes.length). */
  sizes: readonly number[];
  /** Line number of each entry, in order (PodLogs.stream_offset is the last one of a message). */
  lineNumbers: readonly number[];
}

/** Frames entries for a PodLogs message (one writer for all; the sizes are read back from the frames). */
export function frameEntries(entries: readonly LogEntry[]): FramedEntries {
  const writer = new BinaryWriter();
  for (const e of entries) LogEntry.encode(e, writer.uint32(POD_LOGS_ENTRY_TAG).fork()).join();
  const bytes = writer.finish();
  const sizes: number[] = new Array(entries.length);
  let at = 0;
  for (let i = 0; i < entries.length; i++) {
    let p = at + 1;
    let length = 0;
    for (let shift = 0; ; shift += 7) {
      const b = bytes[p++]!;
      length += (b & 0x7f) * 2 ** shift;
      if (b < 0x80) break;
    }
    sizes[i] = p - at + length;
    at = p + length;
  }
  return { bytes, sizes, lineNumbers: entries.map((e) => e.lineNumber) };
}

/** Entries [from, to) of a framed run, without copying the bytes. */
export function sliceEntries(framed: FramedEntries, from: number, to = framed.sizes.length): FramedEntries {
  if (from === 0 && to === framed.sizes.length) return framed;
  let start = 0;
  for (let i = 0; i < from; i++) start += framed.sizes[i]!;
  let end = start;
  for (let i = from; i < to; i++) end += framed.sizes[i]!;
  return { bytes: framed.bytes.subarray(start, end), sizes: framed.sizes.slice(from, to), lineNumbers: framed.lineNumbers.slice(from, to) };
}

/** Decodes the entries of a framed run (the rare paths that need objects: cutting an oversized entry, tests). */
export function unframeEntries(framed: FramedEntries): LogEntry[] {
  const reader = new BinaryReader(framed.bytes);
  const out: LogEntry[] = [];
  while (reader.pos < reader.len) {
    const tag = reader.uint32();
    if (tag !== POD_LOGS_ENTRY_TAG) throw new Error(`framed log entries: unexpected tag ${tag} at byte ${reader.pos}`);
    out.push(LogEntry.decode(reader.bytes()));
  }
  return out;
}

/**
 * Checks that a run received from a peer is what it claims: sizes that add up, each frame a log_entries tag with a
 * length that matches its size, as many line numbers as entries. The entries themselves are not decoded: a bad one
 * is the cloud's to refuse, it cannot hurt the aggregator, which only moves the bytes.
 */
export function checkFramedEntries(framed: Pick<FramedEntries, 'bytes' | 'sizes'> & { lineNumbers?: readonly number[] }): string | undefined {
  if (framed.lineNumbers && framed.lineNumbers.length !== framed.sizes.length) return `${framed.sizes.length} entry sizes but ${framed.lineNumbers.length} line numbers`;
  let at = 0;
  for (let i = 0; i < framed.sizes.length; i++) {
    const size = framed.sizes[i]!;
    if (size < 2 || at + size > framed.bytes.length) return `entry ${i}: size ${size} runs past the ${framed.bytes.length} bytes given`;
    if (framed.bytes[at] !== POD_LOGS_ENTRY_TAG) return `entry ${i}: not a log_entries frame`;
    let length = 0;
    let shift = 0;
    let p = at + 1;
    for (; p < at + size && shift < 35; shift += 7) {
      const b = framed.bytes[p++]!;
      length += (b & 0x7f) * 2 ** shift;
      if (b < 0x80) break;
    }
    if (p - at + length !== size) return `entry ${i}: frame length ${length} does not match its size ${size}`;
    at += size;
  }
  if (at !== framed.bytes.length) return `entry sizes add up to ${at} bytes, ${framed.bytes.length} given`;
  return undefined;
}
