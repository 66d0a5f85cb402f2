// Parses one record of Docker's json-file log driver (what /var/log/pods files are, through symlinks, on nodes
// that ran dockershim): `{"log":"text\n","stream":"stdout","time":"2024-05-01T12:00:00.123456789Z"}`, optionally
// with an "attrs" object. A `log` value without its trailing newline is a partial line: Docker splits lines at
// 16 KiB and the message continues in the next record of the same stream.
import { parseTimestampBytes, type Stream } from './cri-parser.js';

export interface DockerFields {
  seconds: number;
  nanos: number;
  stream: Stream;
  partial: boolean;
  /** The message without its trailing newline. */
  message: string;
}

export const newDockerFields = (): DockerFields => ({ seconds: 0, nanos: 0, stream: 'stdout', partial: false, message: '' });

/** Parses the json-file record in b[start..end) into `out`; false when it is not one. Invalid JSON never throws. */
export function parseDockerRecord(b: Buffer, start: number, end: number, out: DockerFields): boolean {
  if (end - start < 2 || b[start] !== 123 /* { */) return false;
  let doc: unknown;
  try {
    doc = JSON.parse(b.toString('utf8', start, end));
  } catch {
    return false;
  }
  if (doc === null || typeof doc !== 'object' || Array.isArray(doc)) return false;
  const { log, stream, time } = doc as { log?: unknown; stream?: unknown; time?: unknown };
  if (typeof log !== 'string' || (stream !== 'stdout' && stream !== 'stderr') || typeof time !== 'string') return false;
  const t = Buffer.from(time, 'latin1');
  if (parseTimestampBytes(t, 0, t.length, out) !== t.length) return false;
  out.stream = stream;
  out.partial = !log.endsWith('\n');
  out.message = out.partial ? log : log.slice(0, -1);
  return true;
}
