import assert from 'node:assert/strict';
import { test } from 'node:test';
import { DropOldestQueue } from './drop-oldest-queue.js';

test('a full queue drops its oldest item and reports it', async () => {
  const dropped: number[] = [];
  const q = new DropOldestQueue<number>(3, (n) => dropped.push(n));
  for (let i = 1; i <= 5; i++) q.push(i);
  assert.deepEqual(dropped, [1, 2]);
  assert.deepEqual(q.peekAll(), [3, 4, 5]);
  assert.equal(await q.take(), 3);
  assert.equal(q.size, 2);
});

test('take waits for an item and returns undefined once closed and empty', async () => {
  const q = new DropOldestQueue<string>(2, () => undefined);
  const waiting = q.take();
  q.push('a');
  assert.equal(await waiting, 'a');
  const ending = q.take();
  q.close();
  assert.equal(await ending, undefined);
});

test('clear reports every queued item as dropped', () => {
  const dropped: string[] = [];
  const q = new DropOldestQueue<string>(10, (s) => dropped.push(s));
  q.push('a');
  q.push('b');
  q.clear();
  assert.deepEqual(dropped, ['a', 'b']);
  assert.equal(q.size, 0);
});
