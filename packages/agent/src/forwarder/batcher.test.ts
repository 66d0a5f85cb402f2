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

test('chunks that go on where the same file left off join its chunk in the batch, another file in between or not', () => {
  const sealed: OpenBatch[] = [];
  const b = new Batcher({ maxLines: 100, maxBytes: 1 << 20, flushIntervalMs: 1000 }, (x) => sealed.push(x));
  const a = { commit: () => undefined };
  const other = { commit: () => undefined };
  const otherFile = { path: '/p/other.log', file: { device: 1, inode: 9, fingerprint: 4, fingerprintLength: 256 }, owner: other };
  const first = [line(1), line(2)];
  b.add(chunk(first, { owner: a }));
  b.add(chunk([line(1)], otherFile));
  b.add(chunk([line(3)], { owner: a }));
  b.add(chunk([line(2)], otherFile));
  b.add(chunk([line(4), line(5)], { owner: a }));
  b.seal();
  b.close();
  assert.equal(sealed.length, 1);
  const [joined, second] = sealed[0]!.chunks;
  assert.equal(sealed[0]!.chunks.length, 2, 'one chunk per file');
  assert.deepEqual(joined!.lines.map((l) => l.lineNumber), [1, 2, 3, 4, 5]);
  assert.deepEqual([joined!.resumeOffset, joined!.resumeLine, joined!.bytes], [600, 5, 500], 'it commits where the last piece resumes');
  assert.deepEqual(second!.lines.map((l) => l.lineNumber), [1, 2]);
  assert.deepEqual(first.map((l) => l.lineNumber), [1, 2], "the source's lines array is not changed");
  assert.equal(sealed[0]!.lines, 7);
});

test('a chunk does not join one it does not continue: a gap, another identity, after the end of the stream or an empty chunk, in the next batch', () => {
  const sealed: OpenBatch[] = [];
  const b = new Batcher({ maxLines: 100, maxBytes: 1 << 20, flushIntervalMs: 1000 }, (x) => sealed.push(x));
  const a = { commit: () => undefined };
  b.add(chunk([line(1)], { owner: a }));
  b.add(chunk([line(3)], { owner: a })); // line 2 dropped: a gap
  b.add(chunk([line(4)], { owner: a, file: { device: 1, inode: 2, fingerprint: 99, fingerprintLength: 256 } })); // identity fixed from more bytes
  b.add(chunk([], { owner: a, resumeOffset: 600, resumeLine: 5 })); // a resume point alone
  b.add(chunk([line(6)], { owner: a, streamComplete: true }));
  b.add(chunk([line(7)], { owner: a }));
  b.seal();
  b.add(chunk([line(8)], { owner: a }));
  b.seal();
  b.close();
  assert.deepEqual(
    sealed.map((s) => s.chunks.map((c) => c.lines.map((l) => l.lineNumber))),
    [[[1], [3], [4], [], [6], [7]], [[8]]],
  );
});

test('a chunk split over batches joins the file chunk already in the open batch with its first piece', () => {
  const sealed: OpenBatch[] = [];
  const b = new Batcher({ maxLines: 4, maxBytes: 1 << 20, flushIntervalMs: 1000 }, (x) => sealed.push(x));
  const a = { commit: () => undefined };
  b.add(chunk([line(1)], { owner: a }));
  b.add(chunk([line(2), line(3), line(4), line(5), line(6)], { owner: a, resumeOffset: 700, resumeLine: 6 }));
  b.seal();
  b.close();
  assert.deepEqual(
    sealed.map((s) => s.chunks.map((c) => [c.lines.map((l) => l.lineNumber), c.resumeOffset])),
    [[[[1, 2, 3, 4], 500]], [[[5, 6], 700]]],
  );
});
