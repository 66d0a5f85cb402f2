import assert from 'node:assert/strict';
import { test } from 'node:test';
import { gcFlags, GC_FLAGS, tuneGarbageCollection } from './gc-tuning.js';

test('the GC flags are the percentage triggers, plus the heap growing percentage when one is chosen', () => {
  assert.deepEqual(gcFlags(), [...GC_FLAGS]);
  assert.deepEqual(gcFlags({ heapGrowingPercent: 20 }), [...GC_FLAGS, '--heap-growing-percent=20']);
});

test('a heap growing percentage that V8 would misread is refused, not set', () => {
  for (const bad of [0, -5, 2.5, 1000, Number.NaN]) assert.throws(() => gcFlags({ heapGrowingPercent: bad }), RangeError);
});

test('KESTREL_GC_TUNING=off leaves V8 as it is', () => {
  assert.equal(tuneGarbageCollection({ KESTREL_GC_TUNING: 'off' }, { heapGrowingPercent: 20 }), false);
});
