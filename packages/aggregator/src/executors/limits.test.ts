import assert from 'node:assert/strict';
import { test } from 'node:test';
import { inOrder, MinuteRateLimit, Semaphore } from './limits.js';

test('the rate limit takes a minute of burst, then refills at the steady rate', () => {
  let now = 0;
  const limit = new MinuteRateLimit(3, () => now);
  assert.equal(limit.take().ok, true);
  assert.equal(limit.take().ok, true);
  assert.equal(limit.take().ok, true);
  const denied = limit.take();
  assert.equal(denied.ok, false);
  assert.equal(!denied.ok && denied.retryAfterMs, 20_000);
  now = 20_000;
  assert.equal(limit.take().ok, true);
  assert.equal(limit.take().ok, false);
});

test('the semaphore bounds parallel work and keeps answers in order', async () => {
  const s = new Semaphore(2);
  let running = 0;
  let most = 0;
  const out = await inOrder([30, 10, 20, 5, 1], s, async (ms, i) => {
    running++;
    most = Math.max(most, running);
    await new Promise((r) => setTimeout(r, ms));
    running--;
    return i;
  });
  assert.deepEqual(out, [0, 1, 2, 3, 4]);
  assert.equal(most, 2);
  assert.equal(s.inUse, 0);
});
