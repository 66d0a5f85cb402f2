import assert from 'node:assert/strict';
import { test } from 'node:test';
import zlib from 'node:zlib';
import { PodLogs as PodLogsCodec, type PodLogs } from '@kestrel/proto/cloud/v1';
import { frameEntries, type FramedEntries } from '@kestrel/proto/cloud/v1/log-entries';
import { deflateSegmentSync } from '@kestrel/proto/ingest/v1/segments';
import { Delivery, settle, type OutMessage } from './delivery.js';
import { HARD_LIMIT_BYTES, LogBatcher, type PodLogsHeader } from './log-batcher.js';
import { precompressedLength } from './precompressed.js';
import { unwrapRecord } from './records.js';

function logs(container: string, first: number, count: number, text = 'line'): PodLogs {
  return {
    podName: 'web-1',
    namespace: 'shop',
    podUid: 'uid-1',
    containerName: container,
    logEntries: Array.from({ length: count }, (_, i) => ({ timestamp: { seconds: 1_700_000_000, nanos: first + i }, message: `${text} ${first + i}`, level: '', lineNumber: first + i, errorInfo: undefined })),
    previousContainer: false,
    collectionTimestamp: undefined,
    totalLines: count,
    streamComplete: false,
    streamOffset: first + count - 1,
    ownerReferences: [],
    nodeName: 'node-a',
  };
}

const decode = (m: OutMessage) => PodLogsCodec.decode(m.inner!);

test('PodLogs of one container are merged into one message; another container gets its own', () => {
  const out: OutMessage[] = [];
  const batcher = new LogBatcher({ maxEntries: 100, maxBytes: 1 << 20, lingerMs: 60_000 }, (m) => out.push(m));
  batcher.add(logs('app', 1, 10), new Delivery());
  batcher.add(logs('sidecar', 1, 5), new Delivery());
  batcher.add(logs('app', 11, 10), new Delivery());
  assert.equal(out.length, 0, 'nothing sealed before a limit or the linger time');
  batcher.flushAll();
  const byContainer = new Map(out.map((m) => [decode(m).containerName, decode(m)]));
  const app = byContainer.get('app')!;
  assert.deepEqual(app.logEntries.map((e) => e.lineNumber), Array.from({ length: 20 }, (_, i) => i + 1));
  assert.equal(app.totalLines, 20);
  assert.equal(app.streamOffset, 20, 'stream_offset is the line number of the last entry');
  assert.equal(byContainer.get('sidecar')!.logEntries.length, 5);
});

test('a batch is sealed at the entry limit, the byte limit, and after the linger time', async () => {
  const out: OutMessage[] = [];
  const byCount = new LogBatcher({ maxEntries: 25, maxBytes: 1 << 20, lingerMs: 60_000 }, (m) => out.push(m));
  byCount.add(logs('app', 1, 10), new Delivery());
  byCount.add(logs('app', 11, 10), new Delivery());
  byCount.add(logs('app', 21, 10), new Delivery()); // would make 30 > 25: the first 20 are sealed
  assert.deepEqual(out.map((m) => m.records), [20]);
  out.length = 0;
  const byBytes = new LogBatcher({ maxEntries: 1000, maxBytes: 3000, lingerMs: 60_000 }, (m) => out.push(m));
  for (let i = 0; i < 20; i++) byBytes.add(logs('app', i * 5 + 1, 5, 'x'.repeat(100)), new Delivery()); // ~11.5 kB of entries
  assert.ok(out.length >= 2, 'sealed by bytes');
  assert.ok(out.every((m) => m.inner!.length <= 3000 + 300));
  out.length = 0;
  const byTime = new LogBatcher({ maxEntries: 1000, maxBytes: 1 << 20, lingerMs: 20 }, (m) => out.push(m));
  byTime.add(logs('app', 1, 3), new Delivery());
  await new Promise((r) => setTimeout(r, 100));
  assert.deepEqual(out.map((m) => m.records), [3]);
});

test('a record larger than the limits is split, and its delivery settles only when every part is delivered', async () => {
  const out: OutMessage[] = [];
  const batcher = new LogBatcher({ maxEntries: 10, maxBytes: 1 << 20, lingerMs: 60_000 }, (m) => out.push(m));
  const delivery = new Delivery();
  let delivered = false;
  void delivery.promise.then(() => (delivered = true));
  batcher.add(logs('app', 1, 35), delivery);
  assert.deepEqual(out.map((m) => m.records), [10, 10, 10, 5]);
  assert.deepEqual(out.flatMap((m) => decode(m).logEntries.map((e) => e.lineNumber)), Array.from({ length: 35 }, (_, i) => i + 1));
  for (const m of out.slice(0, 3)) settle(m);
  await new Promise((r) => setImmediate(r));
  assert.equal(delivered, false, 'one part is still out');
  settle(out[3]!);
  await delivery.promise;
});

test('no message exceeds the 10 MiB limit: large batches are halved until they fit, nothing is dropped', () => {
  const out: OutMessage[] = [];
  // Limits far above the hard limit, to reach the last line of defence.
  const batcher = new LogBatcher({ maxEntries: 100_000, maxBytes: 64 << 20, lingerMs: 60_000 }, (m) => out.push(m));
  const delivery = new Delivery();
  batcher.add(logs('app', 1, 24, 'y'.repeat(1 << 20)), delivery); // 24 MiB in one record
  batcher.flushAll();
  assert.ok(out.length >= 3);
  assert.ok(out.every((m) => m.inner!.length <= HARD_LIMIT_BYTES), `sizes ${out.map((m) => m.inner!.length).join(', ')}`);
  assert.deepEqual(out.flatMap((m) => decode(m).logEntries.map((e) => e.lineNumber)), Array.from({ length: 24 }, (_, i) => i + 1));
  for (const m of out) settle(m);
  return delivery.promise;
});

test('a single entry larger than 10 MiB is cut to fit and says so, rather than being dropped', () => {
  const out: OutMessage[] = [];
  const batcher = new LogBatcher({ maxEntries: 1000, maxBytes: 64 << 20, lingerMs: 60_000 }, (m) => out.push(m));
  batcher.add(logs('app', 1, 1, 'z'.repeat(11 << 20)), new Delivery());
  batcher.flushAll();
  assert.equal(out.length, 1);
  assert.ok(out[0]!.inner!.length <= HARD_LIMIT_BYTES);
  const entry = decode(out[0]!).logEntries[0]!;
  assert.equal(entry.lineNumber, 1);
  assert.match(entry.errorInfo?.errorMessage ?? '', /message cut from \d+ to \d+ bytes/);
});

test("the end of a container's stream comes after its waiting lines, and only the last part of a split record says it", () => {
  const out: OutMessage[] = [];
  const batcher = new LogBatcher({ maxEntries: 10, maxBytes: 1 << 20, lingerMs: 60_000 }, (m) => out.push(m));
  batcher.add(logs('app', 1, 3), new Delivery());
  batcher.add({ ...logs('app', 4, 0), streamComplete: true, streamOffset: 3 }, new Delivery());
  assert.deepEqual(out.map((m) => [decode(m).logEntries.length, decode(m).streamComplete]), [[3, false], [0, true]]);
  out.length = 0;
  batcher.add({ ...logs('sidecar', 1, 25), streamComplete: true }, new Delivery());
  assert.deepEqual(out.map((m) => [decode(m).logEntries.length, decode(m).streamComplete, decode(m).streamOffset]), [[10, false, 10], [10, false, 20], [5, true, 25]]);
});

/** A chunk's entries as the ingest service hands them on: framed, and with the agent's segment when it sent one. */
function framedRun(container: string, first: number, count: number, compressed: boolean, text = 'line'): { header: PodLogsHeader; framed: FramedEntries } {
  const { logEntries, ...header } = logs(container, first, count, text);
  const framed = frameEntries(logEntries);
  if (compressed) framed.segment = deflateSegmentSync(framed.bytes, 6);
  return { header, framed };
}

/** What the cloud reads from a message: inflated by gRPC when the uplink compressed it, then unwrapped. */
const cloudReads = (m: OutMessage): PodLogs => (m.wire?.gzip ? PodLogsCodec.decode(unwrapRecord(zlib.gunzipSync(m.wire.bytes))) : decode(m));

test("agents' compressed entries are sent compressed as they came, stitched with plain runs into one gzip message the cloud reads whole", () => {
  const out: OutMessage[] = [];
  const batcher = new LogBatcher({ maxEntries: 1000, maxBytes: 1 << 20, lingerMs: 60_000 }, (m) => out.push(m), 1);
  const runs = [framedRun('app', 1, 200, true, 'GET /items 200'), framedRun('app', 201, 3, false), framedRun('app', 204, 50, true, 'POST /cart 201')];
  for (const r of runs) batcher.addFramed(r.header, r.framed, new Delivery());
  batcher.flushAll();
  assert.equal(out.length, 1);
  const m = out[0]!;
  assert.equal(m.wire?.gzip, true, 'kept compressed only');
  assert.equal(m.inner, undefined);
  assert.equal(m.records, 253);
  const read = cloudReads(m);
  assert.deepEqual(read.logEntries.map((e) => e.lineNumber), Array.from({ length: 253 }, (_, i) => i + 1));
  assert.deepEqual(read.logEntries.map((e) => e.message).slice(199, 205), ['GET /items 200 200', 'line 201', 'line 202', 'line 203', 'POST /cart 201 204', 'POST /cart 201 205']);
  assert.equal(read.totalLines, 253);
  assert.equal(read.streamOffset, 253);
  assert.equal(read.nodeName, 'node-a');
  // The mark grpc-js reads is the length of what it holds inflated; the queue counts the PodLogs' own bytes.
  const inflated = zlib.gunzipSync(m.wire!.bytes);
  assert.equal(precompressedLength(m.wire!.bytes), inflated.length);
  assert.equal(m.plainBytes, unwrapRecord(inflated).length);
  // The agents' segments are in the message byte for byte: nothing was inflated and compressed again.
  for (const r of [runs[0]!, runs[2]!]) assert.ok(m.wire!.bytes.includes(Buffer.from(r.framed.segment!.bytes)));
});

test('a compressed run is not split by the entry limit, but is inflated and split when a message would pass the byte limit', () => {
  const out: OutMessage[] = [];
  const batcher = new LogBatcher({ maxEntries: 100, maxBytes: 1 << 20, lingerMs: 60_000 }, (m) => out.push(m));
  const big = framedRun('app', 1, 250, true);
  batcher.addFramed(big.header, big.framed, new Delivery());
  assert.deepEqual(out.map((m) => m.records), [250]);
  assert.equal(cloudReads(out[0]!).logEntries.length, 250);
  out.length = 0;
  const small = new LogBatcher({ maxEntries: 1000, maxBytes: 2000, lingerMs: 60_000 }, (m) => out.push(m));
  const d = new Delivery();
  const wide = framedRun('app', 1, 100, true, 'x'.repeat(50));
  small.addFramed(wide.header, wide.framed, d);
  assert.ok(out.length >= 3, `${out.length} parts`);
  assert.ok(out.every((m) => m.wire?.gzip !== true && m.inner!.length <= 2000 + 300), 'the parts are plain again');
  assert.deepEqual(out.flatMap((m) => cloudReads(m).logEntries.map((e) => e.lineNumber)), Array.from({ length: 100 }, (_, i) => i + 1));
});

test("a run's giver is told once its bytes were copied into a message: when the batch is sealed, when split, when empty", () => {
  const out: OutMessage[] = [];
  const batcher = new LogBatcher({ maxEntries: 1000, maxBytes: 1 << 20, lingerMs: 60_000 }, (m) => out.push(m), 1);
  const copied: string[] = [];
  const a = framedRun('app', 1, 20, true);
  const b = framedRun('app', 21, 5, false);
  batcher.addFramed(a.header, a.framed, new Delivery(), () => copied.push('a'));
  batcher.addFramed(b.header, b.framed, new Delivery(), () => copied.push('b'));
  assert.equal(copied.length, 0, 'told while the batch still holds the views');
  // The views may be freed now: the sealed message must hold copies.
  batcher.flushAll();
  assert.deepEqual(copied, ['a', 'b']);
  const before = cloudReads(out[0]!);
  a.framed.segment!.bytes.fill(0);
  b.framed.bytes.fill(0);
  assert.deepEqual(cloudReads(out[0]!), before);
  assert.equal(before.logEntries.length, 25);

  const small = new LogBatcher({ maxEntries: 10, maxBytes: 1 << 20, lingerMs: 60_000 }, (m) => out.push(m));
  const wide = framedRun('app', 100, 35, false);
  small.addFramed(wide.header, wide.framed, new Delivery(), () => copied.push('split'));
  const done = framedRun('app', 200, 0, false);
  small.addFramed({ ...done.header, streamComplete: true }, done.framed, new Delivery(), () => copied.push('empty'));
  assert.deepEqual(copied, ['a', 'b', 'split', 'empty']);
});
