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
});

const chunk: LogChunk = { namespace: 'shop', podName: 'cart-1', podUid: 'uid-1', containerName: 'app', restartCount: 0, file: { device: 1, inode: 2, fingerprint: 3 }, lines: [] };

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
