import assert from 'node:assert/strict';
import { test } from 'node:test';
import { LogEntry, PodLogs } from '../gen/cloud/v1/cloud.js';
import { checkFramedEntries, frameEntries, sliceEntries, unframeEntries } from './log-entries.js';

const entry = (n: number, message = `line ${n}`): LogEntry => ({
  timestamp: { seconds: 1_700_000_000 + n, nanos: n },
  message,
  level: n % 2 ? 'ERROR' : '',
  lineNumber: n,
  errorInfo: n === 3 ? { errorType: 'java.lang.IllegalStateException', stackTrace: '\tat a.b(C.java:1)', errorMessage: 'boom', exitCode: 0 } : undefined,
});

test('a PodLogs made of its other fields followed by framed entries decodes to the same message as one encoded whole', () => {
  // Sizes chosen to cross the 1- and 2-byte length prefixes (127 and 16383 bytes).
  const entries = [entry(1), entry(2, 'x'.repeat(200)), entry(3), entry(4, 'y'.repeat(20_000)), entry(5, 'ünïcødé ✓')];
  const header = { podName: 'web-1', namespace: 'shop', podUid: 'u', containerName: 'app', previousContainer: false, collectionTimestamp: undefined, totalLines: 5, streamComplete: false, streamOffset: 5, ownerReferences: [], nodeName: 'node-a' };
  const framed = frameEntries(entries);
  assert.equal(framed.sizes.reduce((a, b) => a + b, 0), framed.bytes.length);
  const spliced = Buffer.concat([PodLogs.encode({ ...header, logEntries: [] }).finish(), framed.bytes]);
  assert.deepEqual(PodLogs.decode(spliced), PodLogs.decode(PodLogs.encode({ ...header, logEntries: entries }).finish()));
  assert.deepEqual(unframeEntries(framed), PodLogs.decode(spliced).logEntries);
});

test('a slice keeps whole entries with their line numbers, and slices of a run concatenate back to it', () => {
  const framed = frameEntries([1, 2, 3, 4, 5, 6].map((n) => entry(n)));
  const head = sliceEntries(framed, 0, 2);
  const tail = sliceEntries(framed, 2);
  assert.deepEqual(head.lineNumbers, [1, 2]);
  assert.deepEqual(unframeEntries(tail).map((e) => e.lineNumber), [3, 4, 5, 6]);
  assert.deepEqual(Buffer.concat([head.bytes, tail.bytes]), Buffer.from(framed.bytes));
  assert.equal(sliceEntries(framed, 0), framed);
  assert.deepEqual(sliceEntries(framed, 6).sizes, []);
});

test('framing from a peer is checked: sizes that do not add up, a foreign tag, a length that disagrees, missing line numbers', () => {
  const framed = frameEntries([entry(1), entry(2)]);
  assert.equal(checkFramedEntries(framed), undefined);
  assert.match(checkFramedEntries({ ...framed, sizes: [framed.sizes[0]!], lineNumbers: [1] })!, /add up/);
  assert.match(checkFramedEntries({ ...framed, sizes: [framed.sizes[0]! + framed.sizes[1]! + 1, 0] })!, /runs past/);
  assert.match(checkFramedEntries({ ...framed, lineNumbers: [1] })!, /line numbers/);
  const foreign = Buffer.from(framed.bytes);
  foreign[0] = (4 << 3) | 2;
  assert.match(checkFramedEntries({ ...framed, bytes: foreign })!, /not a log_entries frame/);
  const shifted = [framed.sizes[0]! - 1, framed.sizes[1]! + 1];
  assert.match(checkFramedEntries({ ...framed, sizes: shifted })!, /does not match/);
  assert.equal(checkFramedEntries({ bytes: new Uint8Array(0), sizes: [], lineNumbers: [] }), undefined);
});
