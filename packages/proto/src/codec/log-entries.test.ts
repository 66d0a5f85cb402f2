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

/** What frameEntries must equal: each entry encoded by the generated code inside a PodLogs log_entries frame. */
function framedByGeneratedCode(entries: readonly LogEntry[]): Buffer {
  return Buffer.from(PodLogs.encode(PodLogs.fromPartial({ logEntries: [...entries] })).finish());
}

test('framed entries are byte for byte what the generated encoder writes, whatever the fields hold', () => {
  const cases: LogEntry[] = [
    entry(1),
    entry(3), // error_info: encoded by the generated code, copied in
    { timestamp: undefined, message: '', level: '', lineNumber: 0, errorInfo: undefined },
    { timestamp: { seconds: 0, nanos: 0 }, message: 'x', level: '', lineNumber: 1, errorInfo: undefined },
    { timestamp: { seconds: 1_764_000_000, nanos: 999_999_999 }, message: 'ünïcødé ✓ 日本語 🚀', level: 'WARN', lineNumber: 2 ** 40, errorInfo: undefined },
    { timestamp: { seconds: -5, nanos: 10 }, message: 'before 1970', level: '', lineNumber: 7, errorInfo: undefined },
    { timestamp: { seconds: 1, nanos: 0 }, message: 'lone \ud800 surrogate and \udfff', level: 'e\u0301', lineNumber: 127, errorInfo: undefined },
    { timestamp: { seconds: 2 ** 33, nanos: 128 }, message: 'z'.repeat(16_384), level: 'INFO', lineNumber: 16_384, errorInfo: undefined },
    { timestamp: { seconds: 1, nanos: 1 }, message: 'm'.repeat(127), level: '', lineNumber: 128, errorInfo: undefined },
  ];
  for (const [i, e] of cases.entries()) assert.deepEqual(Buffer.from(frameEntries([e]).bytes), framedByGeneratedCode([e]), `case ${i}`);
  const all = frameEntries(cases);
  assert.deepEqual(Buffer.from(all.bytes), framedByGeneratedCode(cases));
  assert.deepEqual(all.sizes, cases.map((e) => framedByGeneratedCode([e]).length));
  assert.deepEqual(all.lineNumbers, cases.map((e) => e.lineNumber));
  // Random lines of every size class, the way an agent sees them.
  let seed = 7;
  const random = () => ((seed = (seed * 1_103_515_245 + 12_345) % 2 ** 31) / 2 ** 31);
  const many: LogEntry[] = Array.from({ length: 500 }, (_, n) => ({
    timestamp: { seconds: 1_700_000_000 + Math.floor(random() * 1e8), nanos: Math.floor(random() * 1e9) },
    message: Array.from({ length: Math.floor(random() ** 3 * 3000) }, () => String.fromCharCode(32 + Math.floor(random() * 400))).join(''),
    level: ['', 'INFO', 'ERROR', 'DEBUG'][Math.floor(random() * 4)]!,
    lineNumber: n + 1,
    errorInfo: undefined,
  }));
  assert.deepEqual(Buffer.from(frameEntries(many).bytes), framedByGeneratedCode(many));
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
