import assert from 'node:assert/strict';
import { test } from 'node:test';
import type { FileChunk, LogLine } from '../sources/cri-logs/types.js';
import { Batcher, type OpenBatch } from './batcher.js';

const line = (n: number): LogLine => ({ seconds: 0, nanos: 0, stream: 'stdout', message: 'x'.repeat(36), offset: n * 100, endOffset: n * 100 + 100, lineNumber: n, resumeOffset: n * 100 + 100, resumeLine: n, parseError: false, truncated: false, level: '', errorInfo: undefined });
const chunk = (lines: LogLine[], extra: Partial<FileChunk> = {}): FileChunk => ({
  owner: { commit: () => undefined },
  path: '/p/0.log',
  container: { namespace: 'ns', podName: 'p', podUid: 'u', containerName: 'c', restartCount: 0 },
  file: { device: 1, inode: 2, fingerprint: 3, fingerprintLength: 256 },
  lines,
  bytes: lines.length * 100,
  previousContainer: false,
  streamComplete: false,
  resumeOffset: lines.at(-1)?.resumeOffset ?? 0,
  resumeLine: lines.at(-1)?.resumeLine ?? 0,
  ...extra,
});

test('a chunk split over batches: each piece resumes after its last line; only the last completes the stream', () => {
  const sealed: OpenBatch[] = [];
  const b = new Batcher({ maxLines: 4, maxBytes: 1 << 20, flushIntervalMs: 1000 }, (x) => sealed.push(x));
  b.add(chunk(Array.from({ length: 10 }, (_, i) => line(i + 1)), { streamComplete: true, resumeOffset: 1100, resumeLine: 10 }));
  b.seal();
  b.close();
  const pieces = sealed.flatMap((s) => s.chunks);
  assert.deepEqual(pieces.map((p) => [p.lines.length, p.resumeOffset, p.resumeLine, p.streamComplete]), [[4, 500, 4, false], [4, 900, 8, false], [2, 1100, 10, true]]);
});

test('a chunk without lines (stream_complete alone, or lines dropped) goes into the batch as it is', () => {
  const sealed: OpenBatch[] = [];
  const b = new Batcher({ maxLines: 4, maxBytes: 1 << 20, flushIntervalMs: 1000 }, (x) => sealed.push(x));
  b.add(chunk([], { streamComplete: true, resumeOffset: 300, resumeLine: 3 }));
  b.seal();
  b.close();
  assert.equal(sealed.length, 1);
  assert.deepEqual(sealed[0]!.chunks.map((c) => [c.lines.length, c.streamComplete, c.resumeOffset]), [[0, true, 300]]);
});
