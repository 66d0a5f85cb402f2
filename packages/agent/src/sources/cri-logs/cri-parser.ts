// Parses one CRI log record: `<RFC 3339 timestamp> <stdout|stderr> <tag> <message>` (see
// ../shared/protocols/node-files.md). containerd writes UTC with `Z`, CRI-O's conmon a numeric offset.
// A record that does not have this shape is returned as null; the caller forwards it raw and counts it.

export interface Timestamp {
  seconds: number;
  nanos: number;
}

export interface CriRecord {
  timestamp: Timestamp;
  stream: 'stdout' | 'stderr';
  /** true for `P`: the runtime split a long line and the message continues in the next record. */
  partial: boolean;
  message: string;
}

// The seconds part of consecutive timestamps is usually the same; parsing it once per distinct prefix keeps
// Date.parse off the per-line path.
let cachedPrefix = '';
let cachedSeconds = 0;

const TIMESTAMP = /^(\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2})(?:\.(\d{1,9}))?(Z|[+-]\d{2}:\d{2})$/;

export function parseTimestamp(text: string): Timestamp | null {
  const m = TIMESTAMP.exec(text);
  if (!m) return null;
  const prefix = m[1]! + m[3]!;
  let seconds: number;
  if (prefix === cachedPrefix) seconds = cachedSeconds;
  else {
    const ms = Date.parse(prefix);
    if (Number.isNaN(ms)) return null;
    seconds = ms / 1000;
    cachedPrefix = prefix;
    cachedSeconds = seconds;
  }
  const fraction = m[2] ?? '';
  const nanos = fraction ? Number(fraction.padEnd(9, '0')) : 0;
  return { seconds, nanos };
}

export function parseCriLine(line: string): CriRecord | null {
  const s1 = line.indexOf(' ');
  if (s1 <= 0) return null;
  const s2 = line.indexOf(' ', s1 + 1);
  if (s2 < 0) return null;
  const stream = line.slice(s1 + 1, s2);
  if (stream !== 'stdout' && stream !== 'stderr') return null;
  // The tag may grow `:`-separated fields; only the first is defined. The message may be empty (no space after).
  let s3 = line.indexOf(' ', s2 + 1);
  if (s3 < 0) s3 = line.length;
  const tag = line.slice(s2 + 1, s3);
  const flag = tag.split(':', 1)[0];
  if (flag !== 'F' && flag !== 'P') return null;
  const timestamp = parseTimestamp(line.slice(0, s1));
  if (!timestamp) return null;
  return { timestamp, stream, partial: flag === 'P', message: s3 < line.length ? line.slice(s3 + 1) : '' };
}
