import assert from 'node:assert/strict';
import { test } from 'node:test';
import { StreamDataRequest, StreamEventsRequest, StreamFlowsRequest, StreamLogsRequest, StreamControlRequest } from '@kestrel/proto/cloud/v1';
import { encodeRecord, fieldOn, homeStream, isReplayable, wrapParts, wrapRecord, type UplinkRecord } from './records.js';

const podLogs: UplinkRecord = {
  $case: 'podLogs',
  value: StreamLogsRequest.fromPartial({ request: { $case: 'podLogs', value: { podName: 'web-1', podUid: 'u', logEntries: [{ message: 'hello', lineNumber: 7 }], streamOffset: 7, totalLines: 1 } } }).request!.value,
};

test('a record encoded once decodes as the same message on its dedicated stream and on StreamData', () => {
  const inner = encodeRecord(podLogs);
  const onLogs = StreamLogsRequest.decode(wrapRecord(fieldOn('logs', 'podLogs')!, inner));
  const onData = StreamDataRequest.decode(wrapRecord(fieldOn('data', 'podLogs')!, inner));
  assert.deepEqual(onLogs.request, podLogs);
  assert.deepEqual(onData.request, podLogs);
});

test('every StreamData field number matches the generated encoding, and dedicated streams carry their kinds', () => {
  const kinds = Object.keys(StreamDataRequest.fromJSON({})).length; // sanity: the message has a oneof
  assert.equal(kinds, 1);
  const samples: UplinkRecord[] = [
    { $case: 'kubernetesEvent', value: StreamEventsRequest.fromPartial({ request: { $case: 'kubernetesEvent', value: { name: 'e', count: 2 } } }).request!.value as never },
    { $case: 'flow', value: StreamFlowsRequest.fromPartial({ request: { $case: 'flow', value: { srcIp: '10.0.0.1', count: 3 } } }).request!.value as never },
    { $case: 'certificateRenewalResponse', value: { requestId: 'r', success: true, errorMessage: '', appliedAt: undefined } },
    { $case: 'operatorStats', value: StreamDataRequest.fromPartial({ request: { $case: 'operatorStats', value: { memorySysBytes: 5 } } }).request!.value as never },
  ];
  for (const record of samples) {
    const inner = encodeRecord(record);
    assert.deepEqual(Buffer.from(wrapRecord(fieldOn('data', record.$case)!, inner)), Buffer.from(StreamDataRequest.encode({ request: record }).finish()), record.$case);
  }
  assert.deepEqual(StreamEventsRequest.decode(wrapRecord(fieldOn('events', 'kubernetesEvent')!, encodeRecord(samples[0]!))).request, samples[0]);
  assert.deepEqual(StreamFlowsRequest.decode(wrapRecord(fieldOn('flows', 'flow')!, encodeRecord(samples[1]!))).request, samples[1]);
  assert.deepEqual(StreamControlRequest.decode(wrapRecord(fieldOn('control', 'certificateRenewalResponse')!, encodeRecord(samples[2]!))).request, samples[2]);
  assert.equal(fieldOn('logs', 'flow'), undefined);
  assert.equal(fieldOn('events', 'operatorStats'), undefined);
});

test('kinds go to their dedicated stream by default; only PodLogs are replayed', () => {
  assert.equal(homeStream('podLogs'), 'logs');
  assert.equal(homeStream('podStatusChange'), 'events');
  assert.equal(homeStream('l7AccessLog'), 'flows');
  assert.equal(homeStream('operatorStats'), 'data');
  assert.equal(homeStream('workload'), 'data');
  assert.equal(isReplayable('podLogs'), true);
  assert.equal(isReplayable('flow'), false);
  assert.equal(isReplayable('kubernetesEvent'), false);
});

test('wraps messages larger than 2 MiB (multi-byte length varint) correctly', () => {
  const big: UplinkRecord = { ...podLogs, value: { ...(podLogs.value as object), logEntries: [{ message: 'x'.repeat(3 * 1024 * 1024), lineNumber: 1, level: '', timestamp: undefined, errorInfo: undefined }] } as never };
  const decoded = StreamLogsRequest.decode(wrapRecord(1, encodeRecord(big)));
  assert.equal((decoded.request?.value.logEntries[0]?.message ?? '').length, 3 * 1024 * 1024);
});

test('a message wrapped from parts is byte for byte the wrap of its concatenation, and its inner bytes are a view into it', () => {
  const field = fieldOn('logs', 'podLogs')!;
  const parts = [Buffer.from([1, 2, 3]), new Uint8Array(300).fill(7), Buffer.alloc(0), Buffer.from('tail')];
  const { wire, inner } = wrapParts(field, parts);
  assert.deepEqual(wire, wrapRecord(field, Buffer.concat(parts)));
  assert.deepEqual(inner, Buffer.concat(parts));
  assert.equal(inner.buffer, wire.buffer, 'no second copy of the bytes');
  assert.equal(wire.length - inner.length, 3, 'tag (1 byte) and a two-byte length for 307 bytes');
});

test('a wrapped message owns its memory: a small one is not a slice of a Buffer pool slab that it would keep alive in the window', () => {
  const { wire } = wrapParts(1, [Buffer.from('head'), Buffer.from('entries')]);
  assert.equal(wire.buffer.byteLength, wire.length);
});
