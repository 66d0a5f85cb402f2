import assert from 'node:assert/strict';
import { test } from 'node:test';
import { ReplayFilter } from './replay-filter.js';

test('a line ending at or before what was forwarded for the same node and file is a replay', () => {
  const f = new ReplayFilter(1000);
  const key = ReplayFilter.key('node-a', { device: 1, inode: 2, fingerprint: 3 });
  assert.equal(f.isNew(key, 100), true);
  f.advance(key, 100);
  assert.equal(f.isNew(key, 100), false);
  assert.equal(f.isNew(key, 50), false);
  assert.equal(f.isNew(key, 101), true);
  assert.equal(f.isNew(ReplayFilter.key('node-b', { device: 1, inode: 2, fingerprint: 3 }), 100), true, 'another node');
  assert.equal(f.isNew(ReplayFilter.key('node-a', { device: 1, inode: 2, fingerprint: 4 }), 100), true, 'a reused inode');
});

test('memory is bounded: the least recently advanced files are forgotten first', () => {
  const f = new ReplayFilter(2);
  f.advance('a', 1);
  f.advance('b', 1);
  f.advance('a', 2);
  f.advance('c', 1);
  assert.equal(f.size, 2);
  assert.equal(f.isNew('b', 1), true, 'b was forgotten');
  assert.equal(f.isNew('a', 2), false);
});
