import assert from 'node:assert/strict';
import test from 'node:test';
import { OpenGate } from './open-gate.js';

const never = new AbortController().signal;
const ticks = async (n = 5) => {
  for (let i = 0; i < n; i++) await new Promise((r) => setImmediate(r));
};

test('at most `size` turns are held at once; the others are granted in the order they asked', async () => {
  const gate = new OpenGate(2);
  const a = await gate.acquire(never);
  const b = await gate.acquire(never);
  const order: string[] = [];
  const c = gate.acquire(never).then((r) => (order.push('c'), r));
  const d = gate.acquire(never).then((r) => (order.push('d'), r));
  await ticks();
  assert.deepEqual([gate.open, gate.queued, order.length], [2, 2, 0]);
  b();
  b(); // a second call of the same release changes nothing
  await ticks();
  assert.deepEqual(order, ['c']);
  assert.deepEqual([gate.open, gate.queued], [2, 1]);
  a();
  (await c)();
  await ticks();
  assert.deepEqual(order, ['c', 'd']);
  (await d)();
  assert.deepEqual([gate.open, gate.queued], [0, 0]);
});

test('a waiter whose call ends leaves the line and never holds a turn', async () => {
  const gate = new OpenGate(1);
  const held = await gate.acquire(never);
  const gone = new AbortController();
  const waiting = gate.acquire(gone.signal);
  const after = gate.acquire(never);
  gone.abort(new Error('call cancelled'));
  await assert.rejects(waiting, /call cancelled/);
  assert.equal(gate.queued, 1);
  held();
  (await after)();
  assert.deepEqual([gate.open, gate.queued], [0, 0]);
  await assert.rejects(gate.acquire(gone.signal), /call cancelled/);
});

test('a size that is not a positive integer is refused', () => {
  assert.throws(() => new OpenGate(0), /positive integer/);
  assert.throws(() => new OpenGate(1.5), /positive integer/);
});
