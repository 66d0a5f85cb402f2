import assert from 'node:assert/strict';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { test } from 'node:test';
import type { PodLogs } from '@kestrel/proto/cloud/v1';
import { LogReplayFilter, parseTimestamp, rememberStored } from './log-replays.js';

const logs = (uid: string, lines: [number, number][]): PodLogs => ({
  podName: 'web-1',
  namespace: 'shop',
  podUid: uid,
  containerName: 'app',
  logEntries: lines.map(([lineNumber, seconds]) => ({ lineNumber, message: `line ${lineNumber}`, level: '', timestamp: { seconds, nanos: 5 }, errorInfo: undefined })),
  previousContainer: false,
  collectionTimestamp: undefined,
  totalLines: lines.length,
  streamComplete: false,
  streamOffset: lines.at(-1)?.[0] ?? 0,
  ownerReferences: [],
  nodeName: 'node-a',
});

const lineNumbers = (m: PodLogs | undefined) => m?.logEntries.map((e) => e.lineNumber);

test('a message whose entries are all stored already is dropped whole and counted', () => {
  const f = new LogReplayFilter();
  assert.deepEqual(lineNumbers(f.admit(logs('u', [[1, 100], [2, 101]])).keep), [1, 2]);
  const again = f.admit(logs('u', [[1, 100], [2, 101]]));
  assert.equal(again.keep, undefined);
  assert.equal(again.replayed, 2);
  assert.deepEqual(f.counts, { messages: 1, entries: 2 });
});

test('a message that overlaps what is stored keeps only its new entries', () => {
  const f = new LogReplayFilter();
  f.admit(logs('u', [[1, 100], [2, 101], [3, 102]]));
  const overlap = f.admit(logs('u', [[2, 101], [3, 102], [4, 103], [5, 104]]));
  assert.deepEqual(lineNumbers(overlap.keep), [4, 5]);
  assert.deepEqual(f.counts, { messages: 0, entries: 2 });
});

test('line numbers starting again with later timestamps (a restarted container) are new lines', () => {
  const f = new LogReplayFilter();
  f.admit(logs('u', [[1, 100], [2, 101], [3, 102]]));
  assert.deepEqual(lineNumbers(f.admit(logs('u', [[1, 200], [2, 201]])).keep), [1, 2]);
  // …and after the restart, a replay of the new instance's lines is recognised.
  assert.equal(f.admit(logs('u', [[1, 200], [2, 201]])).keep, undefined);
});

test('each pod uid and container has its own line numbering', () => {
  const f = new LogReplayFilter();
  f.admit(logs('u1', [[1, 100]]));
  assert.deepEqual(lineNumbers(f.admit(logs('u2', [[1, 100]])).keep), [1]);
  assert.deepEqual(f.counts, { messages: 0, entries: 0 });
});

test('parses proto3 JSON timestamps with 0 to 9 fraction digits', () => {
  assert.deepEqual(parseTimestamp('2024-05-01T12:00:00Z'), { seconds: 1714564800, nanos: 0 });
  assert.deepEqual(parseTimestamp('2024-05-01T12:00:00.123Z'), { seconds: 1714564800, nanos: 123_000_000 });
  assert.deepEqual(parseTimestamp('2024-05-01T12:00:00.000000007Z'), { seconds: 1714564800, nanos: 7 });
  assert.equal(parseTimestamp('yesterday'), undefined);
});

test('marks are rebuilt from stored lines, so a restarted store recognises replays (a line cut by a crash is skipped)', async () => {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'log-replays-'));
  try {
    const stored = (n: number) =>
      JSON.stringify({ stream: 'logs', message: { podLogs: { podUid: 'u', containerName: 'app', podName: 'web-1', namespace: 'shop', logEntries: [{ lineNumber: n, timestamp: '1970-01-01T00:01:40.000000005Z' }] } } });
    fs.writeFileSync(path.join(dir, 'logs.jsonl'), `${stored(1)}\n${stored(2)}\n{"stream":"logs","mess\n`);
    const f = new LogReplayFilter();
    await rememberStored(f, [path.join(dir, 'logs.jsonl'), path.join(dir, 'missing.jsonl')]);
    assert.equal(f.admit(logs('u', [[2, 100]])).keep, undefined, 'line 2 at 100 s was stored by the earlier run');
    assert.deepEqual(lineNumbers(f.admit(logs('u', [[3, 100]])).keep), [3]);
  } finally {
    fs.rmSync(dir, { recursive: true, force: true });
  }
});
