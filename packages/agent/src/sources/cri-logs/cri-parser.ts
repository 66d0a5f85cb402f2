// Parses one CRI log record: `<RFC 3339 timestamp> <stdout|stderr> <tag> <message>` (see
// ../shared/protocols/node-files.md). containerd writes UTC with `Z`, CRI-O's conmon a numeric offset.
//
// This is the per-line hot path of the agent, so it works on the bytes of the read buffer: no string is made for
// the prefix, the timestamp is computed from its digits (no Date.parse), and only the message is decoded, once, by
// the caller. A record that does not have this shape returns false; the caller forwards it raw and counts it.

export interface Timestamp {
  seconds: number;
  nanos: number;
}

export type Stream = 'stdout' | 'stderr';

/** Where the fields of one record are, filled in place by parseCriRecord (one object reused for every record). */
export interface CriFields {
  seconds: number;
  nanos: number;
  stream: Stream;
  /** true for `P`: the runtime split a long line and the message continues in the next record of the stream. */
  partial: boolean;
  /** Byte index in the buffer where the message starts (the record's end when the message is empty). */
  messageStart: number;
}

export const newCriFields = (): CriFields => ({ seconds: 0, nanos: 0, stream: 'stdout', partial: false, messageStart: 0 });

const ZERO = 48;
const POW10 = [1, 10, 100, 1000, 10_000, 100_000, 1_000_000, 10_000_000, 100_000_000, 1_000_000_000];

/** Two ASCII digits at i as a number, or -1. */
function d2(b: Uint8Array, i: number): number {
  const a = b[i]! - ZERO;
  const c = b[i + 1]! - ZERO;
  return a >= 0 && a <= 9 && c >= 0 && c <= 9 ? a * 10 + c : -1;
}

/** Days since 1970-01-01 of a proleptic Gregorian date (H. Hinnant's days_from_civil). */
export function daysFromCivil(year: number, month: number, day: number): number {
  const y = month <= 2 ? year - 1 : year;
  const era = Math.floor(y / 400);
  const yoe = y - era * 400;
  const doy = Math.floor((153 * (month + (month > 2 ? -3 : 9)) + 2) / 5) + day - 1;
  const doe = yoe * 365 + Math.floor(yoe / 4) - Math.floor(yoe / 100) + doy;
  return era * 146_097 + doe - 719_468;
}

const DAYS_IN_MONTH = [0, 31, 29, 31, 30, 31, 30, 31, 31, 30, 31, 30, 31];

/**
 * Reads an RFC 3339 timestamp at b[start..end): `YYYY-MM-DDTHH:MM:SS[.fraction](Z|±HH:MM)`. Fills seconds and nanos
 * of `out` and returns the index just after the timestamp, or -1 when it is not one.
 */
export function parseTimestampBytes(b: Uint8Array, start: number, end: number, out: { seconds: number; nanos: number }): number {
  if (end - start < 20) return -1;
  const p = start;
  const y1 = d2(b, p);
  const y2 = d2(b, p + 2);
  const month = d2(b, p + 5);
  const day = d2(b, p + 8);
  const hour = d2(b, p + 11);
  const minute = d2(b, p + 14);
  const second = d2(b, p + 17);
  if (y1 < 0 || y2 < 0 || month < 1 || month > 12 || day < 1 || day > DAYS_IN_MONTH[month]! || hour < 0 || hour > 23 || minute < 0 || minute > 59 || second < 0 || second > 59) return -1;
  if (b[p + 4] !== 45 || b[p + 7] !== 45 || (b[p + 10] !== 84 && b[p + 10] !== 116) || b[p + 13] !== 58 || b[p + 16] !== 58) return -1; // - - T : :
  let i = p + 19;
  let nanos = 0;
  if (b[i] === 46) {
    // fraction: up to 9 digits count, more are read and ignored
    i++;
    let digits = 0;
    while (i < end) {
      const c = b[i]! - ZERO;
      if (c < 0 || c > 9) break;
      if (digits < 9) nanos = nanos * 10 + c;
      digits++;
      i++;
    }
    if (digits === 0) return -1;
    if (digits < 9) nanos *= POW10[9 - digits]!;
  }
  let offsetSeconds = 0;
  const z = b[i];
  if (z === 90 || z === 122) i++; // Z
  else if (z === 43 || z === 45) {
    if (i + 6 > end || b[i + 3] !== 58) return -1;
    const oh = d2(b, i + 1);
    const om = d2(b, i + 4);
    if (oh < 0 || oh > 23 || om < 0 || om > 59) return -1;
    offsetSeconds = (oh * 3600 + om * 60) * (z === 43 ? 1 : -1);
    i += 6;
  } else return -1;
  const year = y1 * 100 + y2;
  out.seconds = daysFromCivil(year, month, day) * 86_400 + hour * 3600 + minute * 60 + second - offsetSeconds;
  out.nanos = nanos;
  return i;
}

/** Parses the CRI record in b[start..end) (without its newline) into `out`; false when it is not a CRI record. */
export function parseCriRecord(b: Uint8Array, start: number, end: number, out: CriFields): boolean {
  let i = parseTimestampBytes(b, start, end, out);
  if (i < 0 || b[i] !== 32) return false;
  i++;
  // stream: "stdout" or "stderr", then a space
  if (i + 7 > end || b[i] !== 115 || b[i + 1] !== 116 || b[i + 2] !== 100 || b[i + 6] !== 32) return false;
  const c3 = b[i + 3];
  const c4 = b[i + 4];
  const c5 = b[i + 5];
  if (c3 === 111 && c4 === 117 && c5 === 116) out.stream = 'stdout';
  else if (c3 === 101 && c4 === 114 && c5 === 114) out.stream = 'stderr';
  else return false;
  i += 7;
  // tag: F or P, optionally followed by `:`-separated fields that are not defined yet
  const flag = b[i];
  if (i >= end || (flag !== 70 && flag !== 80)) return false;
  i++;
  if (i < end && b[i] === 58) {
    while (i < end && b[i] !== 32) i++;
  } else if (i < end && b[i] !== 32) return false;
  out.partial = flag === 80;
  // The message may be empty (no space after the tag).
  out.messageStart = i < end ? i + 1 : end;
  return true;
}

// ---- String conveniences (tests, tools): the agent itself uses the byte functions above. ----

export interface CriRecord {
  timestamp: Timestamp;
  stream: Stream;
  partial: boolean;
  message: string;
}

export function parseTimestamp(text: string): Timestamp | null {
  const bytes = Buffer.from(text, 'latin1');
  const out = { seconds: 0, nanos: 0 };
  return parseTimestampBytes(bytes, 0, bytes.length, out) === bytes.length ? out : null;
}

export function parseCriLine(line: string): CriRecord | null {
  const bytes = Buffer.from(line, 'utf8');
  const f = newCriFields();
  if (!parseCriRecord(bytes, 0, bytes.length, f)) return null;
  return { timestamp: { seconds: f.seconds, nanos: f.nanos }, stream: f.stream, partial: f.partial, message: bytes.toString('utf8', f.messageStart) };
}
