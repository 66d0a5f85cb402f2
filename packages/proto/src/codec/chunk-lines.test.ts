import assert from 'node:assert/strict';
import { test } from 'node:test';
import { LogChunk, type LogLine } from '../gen/kestrel/ingest/v1/ingest.js';
import { chunkLines, entryFlags } from './chunk-lines.js';
import { encodePositions } from './entry-positions.js';
import { frameEntries } from './log-entries.js';

const line = (n: number, extra: Partial<LogLine> = {}): LogLine => ({
  timestamp: { seconds: 1_700_000_000, nanos: n },
  stream: 'stdout',
  message: `line ${n}`,
  offset: n * 10,
  endOffset: n * 10 + 10,
  lineNumber: n,
  parseError: false,
  truncated: false,
  level: '',
  errorInfo: undefined,
  ...extra,
});

test('a framed chunk reads back as the LogLines it was made of, flags included; a chunk of objects as it is', () => {
  const lines = [line(1), line(2, { stream: 'stderr', level: 'ERROR' }), line(3, { parseError: true }), line(4, { truncated: true, stream: 'stderr' })];
  const framed = frameEntries(lines.map((l) => ({ timestamp: l.timestamp, message: l.message, level: l.level, lineNumber: l.lineNumber, errorInfo: l.errorInfo })));
  const chunk = LogChunk.fromPartial({
    entries: Buffer.from(framed.bytes),
    entrySizes: [...framed.sizes],
    ...encodePositions(lines[0]!.offset, lines.map((l) => l.endOffset), framed.lineNumbers),
    entryFlags: lines.map(entryFlags),
  });
  // Start offsets after the first are not sent: each is where the line before ended.
  assert.deepEqual(chunkLines(LogChunk.decode(LogChunk.encode(chunk).finish())), lines);
  const unflagged = LogChunk.fromPartial({ ...chunk, entryFlags: [] });
  assert.deepEqual(chunkLines(unflagged).map((l) => [l.stream, l.parseError, l.truncated]), lines.map(() => ['stdout', false, false]));
  const objects = LogChunk.fromPartial({ lines });
  assert.deepEqual(chunkLines(objects), lines);
});
