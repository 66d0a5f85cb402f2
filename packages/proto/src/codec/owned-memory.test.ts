import assert from 'node:assert/strict';
import { Buffer } from 'node:buffer';
import { test } from 'node:test';
import { freeOwned, freeOwnedAllocation } from './owned-memory.js';

/** Whether a view's memory was freed (its ArrayBuffer detached). */
const isDetached = (view: Uint8Array): boolean => (view.buffer as ArrayBuffer).detached;

test('freeOwned frees a buffer that is the whole of its ArrayBuffer: its memory leaves external memory at once', () => {
  const before = process.memoryUsage().external;
  const big = Buffer.allocUnsafeSlow(64 * 1024 * 1024).fill(1);
  assert.ok(process.memoryUsage().external - before >= 60 * 1024 * 1024);
  assert.equal(freeOwned(big), true);
  assert.equal(big.length, 0);
  assert.ok(process.memoryUsage().external - before < 8 * 1024 * 1024, 'still counted after freeing');
  assert.equal(freeOwned(big), false, 'freed twice');
});

test("freeOwned leaves slices alone: of Buffer's shared pool, or of a larger buffer", () => {
  const pooled = Buffer.allocUnsafe(100);
  assert.ok(pooled.buffer.byteLength > pooled.length, 'expected a slice of the pool');
  assert.equal(freeOwned(pooled), false);
  assert.equal(isDetached(pooled), false);
  const whole = Buffer.allocUnsafeSlow(100_000);
  assert.equal(freeOwned(whole.subarray(0, 50_000)), false);
  assert.equal(freeOwned(whole.subarray(1)), false);
  assert.equal(isDetached(whole), false);
});

test('freeOwnedAllocation frees only an allocation of its own size, and never one small enough to be pooled', () => {
  const big = Buffer.allocUnsafeSlow(100_000);
  assert.equal(freeOwnedAllocation(big.subarray(0, 10), 90_000), false, 'not the stated size');
  assert.equal(freeOwnedAllocation(big.subarray(0, 10), 100_000), true);
  assert.equal(isDetached(big), true);
  const small = Buffer.allocUnsafe(Buffer.poolSize >>> 2);
  assert.equal(freeOwnedAllocation(small, small.buffer.byteLength), false, 'a pool slab');
  assert.equal(isDetached(small), false);
});

test('a buffer whose memory cannot be detached is left to the garbage collector, without an error', () => {
  // WebAssembly memory is never detachable; Node makes some ArrayBuffers so as well.
  const wasm = (globalThis as unknown as { WebAssembly: { Memory: new (d: { initial: number }) => { buffer: ArrayBuffer } } }).WebAssembly;
  const memory = new wasm.Memory({ initial: 1 });
  const view = new Uint8Array(memory.buffer).fill(7);
  assert.equal(freeOwned(view), false);
  assert.equal(freeOwnedAllocation(view, view.length), false);
  assert.equal(view[view.length - 1], 7);
});
