import assert from 'node:assert/strict';
import { test } from 'node:test';
import { PodLogs as PodLogsMessage } from '@kestrel/proto/cloud/v1';
import type { LogChunk, LogLine } from '@kestrel/proto/ingest/v1';
import { toPodLogs } from './pod-logs.js';

const line = (n: number, message = `line ${n}`): LogLine => ({
  timestamp: { seconds: 1714564800, nanos: n },
  stream: 'stdout',
  message,
  offset: n * 100,
  endOffset: n * 100 + 100,
  lineNumber: n,
  parseError: false,
  truncated: false,
  level: '',
  errorInfo: undefined,
});

const chunk: LogChunk = {
  namespace: 'shop',
  podName: 'cart-1',
  podUid: 'uid-1',
  containerName: 'app',
  restartCount: 0,
  file: { device: 1, inode: 2, fingerprint: 3 },
  lines: [],
  previousContainer: false,
  streamComplete: false,
  lastLineNumber: 0,
  ownerReferences: [],
  entries: Buffer.alloc(0),
  entrySizes: [],
  entryFlags: [],
  entriesStartOffset: 0,
  entryEndOffsetDeltas: [],
  entriesLineBase: 0,
  entryLineNumberDeltas: [],
  entriesDeflated: new Uint8Array(0),
  entriesCrc32: 0,
};

test('PodLogs carries pod identity, node, entries, and stream_offset = line number of the last entry', () => {
  const [msg, ...rest] = toPodLogs('node-a', chunk, [line(7), line(8)], { maxEntries: 100, maxBytes: 1 << 20 }, new Date(1714564800123));
  assert.equal(rest.length, 0);
  assert.equal(msg!.namespace, 'shop');
  assert.equal(msg!.podName, 'cart-1');
  assert.equal(msg!.podUid, 'uid-1');
  assert.equal(msg!.containerName, 'app');
  assert.equal(msg!.nodeName, 'node-a');
  assert.equal(msg!.totalLines, 2);
  assert.equal(msg!.streamOffset, 8);
  assert.deepEqual(msg!.logEntries.map((e) => [e.lineNumber, e.message, e.timestamp?.nanos]), [[7, 'line 7', 7], [8, 'line 8', 8]]);
  assert.deepEqual(msg!.collectionTimestamp, { seconds: 1714564800, nanos: 123_000_000 });
});

test('splits by entry count and by bytes so no message exceeds the limits', () => {
  const lines = Array.from({ length: 25 }, (_, i) => line(i + 1, 'x'.repeat(1000)));
  const byCount = toPodLogs('n', chunk, lines, { maxEntries: 10, maxBytes: 1 << 20 }, new Date());
  assert.deepEqual(byCount.map((m) => m.logEntries.length), [10, 10, 5]);
  const byBytes = toPodLogs('n', chunk, lines, { maxEntries: 1000, maxBytes: 5000 }, new Date());
  assert.ok(byBytes.every((m) => PodLogsMessage.encode(m).finish().length <= 5000 + 200));
  assert.deepEqual(byBytes.flatMap((m) => m.logEntries.map((e) => e.lineNumber)), lines.map((l) => l.lineNumber));
});

test('carries the level and the error info of each entry', () => {
  const trace = { ...line(3, 'java.lang.IllegalStateException: boom\n\tat a.B.c(B.java:1)'), level: 'ERROR', errorInfo: { errorType: 'java.lang.IllegalStateException', stackTrace: '\tat a.B.c(B.java:1)', errorMessage: 'boom', exitCode: 0 } };
  const [msg] = toPodLogs('n', chunk, [{ ...line(2), level: 'INFO' }, trace], { maxEntries: 100, maxBytes: 1 << 20 }, new Date());
  assert.deepEqual(msg!.logEntries.map((e) => e.level), ['INFO', 'ERROR']);
  assert.equal(msg!.logEntries[0]!.errorInfo, undefined);
  assert.deepEqual(msg!.logEntries[1]!.errorInfo, { errorType: 'java.lang.IllegalStateException', stackTrace: '\tat a.B.c(B.java:1)', errorMessage: 'boom', exitCode: 0 });
  assert.deepEqual(msg!.ownerReferences, []);
});

test('previous_container on every message of an ended instance; stream_complete only on the last one', () => {
  const ended = { ...chunk, previousContainer: true, streamComplete: true, lastLineNumber: 25 };
  const msgs = toPodLogs('n', ended, Array.from({ length: 25 }, (_, i) => line(i + 1)), { maxEntries: 10, maxBytes: 1 << 20 }, new Date());
  assert.deepEqual(msgs.map((m) => [m.previousContainer, m.streamComplete, m.streamOffset]), [[true, false, 10], [true, false, 20], [true, true, 25]]);
});

test('a chunk that only completes its stream becomes one message without entries, at the last line number', () => {
  const msgs = toPodLogs('n', { ...chunk, previousContainer: true, streamComplete: true, lastLineNumber: 42 }, [], { maxEntries: 10, maxBytes: 1 << 20 }, new Date());
  assert.equal(msgs.length, 1);
  assert.deepEqual([msgs[0]!.logEntries.length, msgs[0]!.totalLines, msgs[0]!.streamComplete, msgs[0]!.streamOffset, msgs[0]!.previousContainer], [0, 0, true, 42, true]);
  assert.deepEqual(toPodLogs('n', chunk, [], { maxEntries: 10, maxBytes: 1 << 20 }, new Date()), [], 'a chunk without lines and without completion sends nothing');
});
