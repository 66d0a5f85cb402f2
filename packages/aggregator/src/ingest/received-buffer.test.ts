import assert from 'node:assert/strict';
import { test } from 'node:test';
import type { BatchContent } from '@kestrel/proto/ingest/v1';
import { ReceivedBuffer, receivedBufferOf } from './received-buffer.js';

const logsOnly = { logs: [], nodeConditions: [], flows: [] } as unknown as BatchContent;
const isDetached = (b: ArrayBuffer): boolean => b.detached;

test('a received buffer is freed only once the service and every chunk holder let go, each release counted once', () => {
  const whole = new ArrayBuffer(100_000);
  const received = new ReceivedBuffer(whole);
  const first = received.hold()!;
  const second = received.hold()!;
  first();
  first();
  received.release();
  assert.equal(isDetached(whole), false, 'freed while a chunk holder still reads it');
  second();
  assert.equal(isDetached(whole), true);
});

test('without a buffer of its own there is nothing to hold or free', () => {
  const received = new ReceivedBuffer(undefined);
  assert.equal(received.hold(), undefined);
  received.release();
});

test("a batch's buffer is taken as its own only when it is the message alone, uncompressed, and carries only log chunks", () => {
  const own = new ArrayBuffer(100_040);
  const content = new Uint8Array(own, 30, 100_000);
  assert.equal(receivedBufferOf(content, logsOnly, false), own);
  assert.equal(receivedBufferOf(content, logsOnly, true), undefined, 'compressed: the chunks are views of the inflated copy');
  assert.equal(receivedBufferOf(new Uint8Array(new ArrayBuffer(200_000), 0, 100_000), logsOnly, false), undefined, 'other bytes around it');
  const small = new ArrayBuffer(20_000);
  assert.equal(receivedBufferOf(new Uint8Array(small, 10, 19_990), logsOnly, false), undefined, 'small enough to be a slice of the pool');
  assert.equal(receivedBufferOf(content, { ...logsOnly, nodeConditions: [{}] } as unknown as BatchContent, false), undefined);
  assert.equal(receivedBufferOf(content, { ...logsOnly, flows: [{}] } as unknown as BatchContent, false), undefined);
});
