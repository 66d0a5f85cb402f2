import assert from 'node:assert/strict';
import { test } from 'node:test';
import { ResumeTracker } from './resume-point.js';

test('after a reconnect, flows at the resume instant already taken are skipped by UUID and new ones pass', () => {
  const r = new ResumeTracker();
  assert.equal(r.take(10, 0, 'a'), true);
  assert.equal(r.take(10, 5, 'b'), true);
  assert.equal(r.take(10, 5, 'c'), true);
  r.reconnected();
  // Hubble resends from `since` (inclusive).
  assert.equal(r.take(10, 5, 'b'), false);
  assert.equal(r.take(10, 5, 'c'), false);
  assert.equal(r.take(10, 5, 'd'), true);
  assert.equal(r.take(11, 0, 'e'), true);
  assert.equal(r.take(10, 9, 'f'), true); // a little older than the newest (flow times are not strictly ordered): new
  assert.equal(r.current!.seconds, 11);
});

test('a resume point from a restart skips what was acknowledged, including flows without a UUID by their number', () => {
  const first = new ResumeTracker();
  first.take(20, 1, '');
  first.take(20, 1, '');
  const saved = first.current!;
  assert.deepEqual(saved, { seconds: 20, nanos: 1, uuids: [], anonymous: 2 });
  const after = new ResumeTracker(saved);
  assert.equal(after.take(20, 1, ''), false);
  assert.equal(after.take(20, 1, ''), false);
  assert.equal(after.take(20, 1, ''), true);
  assert.equal(after.take(20, 2, ''), true);
});
