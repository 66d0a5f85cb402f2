// Log lines in the form the cloud receives them, prepared by the agent: each cloud.v1.LogEntry framed exactly as it
// sits inside a cloud.v1.PodLogs message (the log_entries tag, a length, the entry's bytes). Protobuf lets a repeated
// field's items sit anywhere in a message, so a PodLogs for the cloud is its other fields encoded once followed by
// any run of framed entries: the aggregator slices and concatenates bytes instead of decoding every line into an
// object and encoding it again (that was a quarter of its CPU, plus the garbage).
import { BinaryReader } from '@bufbuild/protobuf/wire';
import { LogEntry } from '../gen/cloud/v1/cloud.js';
import type { DeflateSegment } from './entry-segments.js';

/** PodLogs.log_entries: field 5, length-delimited. */
export const POD_LOGS_ENTRY_TAG = (5 << 3) | 2;

export interface FramedEntries {
  /** The framed entries, back to back (empty when `segment` holds them and they were not kept inflated). */
  bytes: Uint8Array;
  /** Framed size of each entry, in order (sums to bytes.length). */
  sizes: readonly number[];
  /** Line number of each entry, in order (PodLogs.stream_offset is the last one of a message). */
  lineNumbers: readonly number[];
  /**
   * The same entries compressed by the agent (entry-segments.ts), checked on arrival: passed on to the cloud as it
   * is. Only a run of all of a chunk's entries has one; a slice does not.
   */
  segment?: DeflateSegment;
}

/**
 * Frames entries for a PodLogs message: the bytes are those of ts-proto's LogEntry.encode inside a PodLogs (tests
 * compare them), written straight into one buffer of the exact size. The agent frames every line it reads, and the
 * generic writer's fork/join per entry (a length known only afterwards, so a copy per entry) and its doubling buffer
 * were a fifth of the agent's CPU. An entry with error_info (a grouped stack trace: rare) or a timestamp before 1970
 * is encoded by the generated code and copied in.
 */
export function frameEntries(entries: readonly LogEntry[]): FramedEntries {
  const n = entries.length;
  const sizes = new Array<number>(n);
  const bodies = new Array<number>(n);
  const special: (Uint8Array | undefined)[] = new Array(n);
  // UTF-8 lengths of message and level, measured once.
  const messageBytes = new Array<number>(n);
  const levelBytes = new Array<number>(n);
  let total = 0;
  for (let i = 0; i < n; i++) {
    const e = entries[i]!;
    let body: number;
    if (e.errorInfo !== undefined || (e.timestamp !== undefined && (e.timestamp.seconds < 0 || e.timestamp.nanos < 0)) || e.lineNumber < 0) {
      const bytes = LogEntry.encode(e).finish();
      special[i] = bytes;
      body = bytes.length;
    } else {
      body = 0;
      if (e.timestamp !== undefined) {
        const t = timestampSize(e.timestamp.seconds, e.timestamp.nanos);
        body += 1 + varintSize(t) + t;
      }
      if (e.message !== '') {
        const m = (messageBytes[i] = Buffer.byteLength(e.message, 'utf8'));
        body += 1 + varintSize(m) + m;
      }
      if (e.level !== '') {
        const l = (levelBytes[i] = Buffer.byteLength(e.level, 'utf8'));
        body += 1 + varintSize(l) + l;
      }
      if (e.lineNumber !== 0) body += 1 + varintSize(e.lineNumber);
    }
    bodies[i] = body;
    sizes[i] = 1 + varintSize(body) + body;
    total += sizes[i]!;
  }
  const out = Buffer.allocUnsafe(total);
  let at = 0;
  for (let i = 0; i < n; i++) {
    const e = entries[i]!;
    out[at++] = POD_LOGS_ENTRY_TAG;
    at = writeVarint(out, at, bodies[i]!);
    const bytes = special[i];
    if (bytes) {
      out.set(bytes, at);
      at += bytes.length;
      continue;
    }
    if (e.timestamp !== undefined) {
      const { seconds, nanos } = e.timestamp;
      out[at++] = (1 << 3) | 2;
      at = writeVarint(out, at, timestampSize(seconds, nanos));
      if (seconds !== 0) {
        out[at++] = 1 << 3;
        at = writeVarint(out, at, seconds);
      }
      if (nanos !== 0) {
        out[at++] = 2 << 3;
        at = writeVarint(out, at, nanos);
      }
    }
    if (e.message !== '') at = writeString(out, at, (2 << 3) | 2, e.message, messageBytes[i]!);
    if (e.level !== '') at = writeString(out, at, (3 << 3) | 2, e.level, levelBytes[i]!);
    if (e.lineNumber !== 0) {
      out[at++] = 4 << 3;
      at = writeVarint(out, at, e.lineNumber);
    }
  }
  return { bytes: out, sizes, lineNumbers: entries.map((e) => e.lineNumber) };
}

/** Encoded size of a Timestamp with non-negative fields (a field at its default is not written). */
function timestampSize(seconds: number, nanos: number): number {
  return (seconds !== 0 ? 1 + varintSize(seconds) : 0) + (nanos !== 0 ? 1 + varintSize(nanos) : 0);
}

/** Bytes of a varint for a non-negative integer up to 2^53. */
function varintSize(value: number): number {
  let size = 1;
  while (value >= 128) {
    value = Math.floor(value / 128);
    size++;
  }
  return size;
}

function writeVarint(out: Buffer, at: number, value: number): number {
  while (value >= 128) {
    out[at++] = (value % 128) | 0x80;
    value = Math.floor(value / 128);
  }
  out[at++] = value;
  return at;
}

/** A string field: tag, UTF-8 length, bytes (lone surrogates become U+FFFD, as the generated writer does). */
function writeString(out: Buffer, at: number, tag: number, value: string, bytes: number): number {
  out[at++] = tag;
  at = writeVarint(out, at, bytes);
  return at + out.write(value, at, bytes, 'utf8');
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
