// The versioned store on its own: one global resourceVersion, per-kind history for watch replay and consistent
// snapshots, and compaction making older versions answer 410.
import assert from 'node:assert/strict';
import { test } from 'node:test';
import { ApiError } from './status.js';
import { VersionedStore } from './store.js';
import type { KubeObject } from './objects-meta.js';

const obj = (name: string, value = 0): KubeObject => ({ metadata: { name }, value });

test('every write gets the next global resourceVersion, whatever the kind', () => {
  const store = new VersionedStore({ historyLimit: 100 });
  assert.equal(store.put('a', 'x', obj('x')).rv, 1);
  assert.equal(store.put('b', 'y', obj('y')).rv, 2);
  assert.equal(store.put('a', 'x', obj('x', 1)).type, 'MODIFIED');
  const deleted = store.remove('a', 'x')!;
  assert.equal(deleted.type, 'DELETED');
  assert.equal(deleted.rv, 4);
  assert.equal(deleted.object.metadata.resourceVersion, '4', 'the deleted object carries the deletion resourceVersion');
  assert.equal(deleted.previous!.metadata.resourceVersion, '3');
  assert.equal(store.currentRV(), 4);
});

test('following from a resourceVersion replays exactly the later changes of that kind, then the live ones', () => {
  const store = new VersionedStore({ historyLimit: 100 });
  store.put('pods', 'a', obj('a'));
  const from = store.currentRV();
  store.put('pods', 'b', obj('b'));
  store.put('nodes', 'n', obj('n'));
  store.put('pods', 'a', obj('a', 2));
  const live: number[] = [];
  const { replay, stop } = store.follow('pods', from, (c) => live.push(c.rv));
  assert.deepEqual(replay.map((c) => [c.type, c.key, c.rv]), [['ADDED', 'b', 2], ['MODIFIED', 'a', 4]]);
  store.put('pods', 'c', obj('c'));
  store.put('nodes', 'm', obj('m'));
  stop();
  store.put('pods', 'd', obj('d'));
  assert.deepEqual(live, [5]);
});

test('a snapshot at a past resourceVersion is rebuilt from history; once compacted it is 410 Expired', () => {
  const store = new VersionedStore({ historyLimit: 100 });
  store.put('cm', 'ns/a', obj('a', 1));
  store.put('cm', 'ns/b', obj('b', 1));
  const at = store.currentRV();
  store.put('cm', 'ns/a', obj('a', 2));
  store.remove('cm', 'ns/b');
  store.put('cm', 'ns/c', obj('c', 1));
  assert.deepEqual(store.listAt('cm', at).map((o) => [o.metadata.name, o['value']]), [['a', 1], ['b', 1]]);
  assert.deepEqual(store.list('cm').map((o) => [o.metadata.name, o['value']]), [['a', 2], ['c', 1]]);
  store.compact('cm');
  assert.throws(() => store.listAt('cm', at), (err: unknown) => err instanceof ApiError && err.code === 410 && err.reason === 'Expired');
  assert.throws(() => store.follow('cm', at, () => {}), (err: unknown) => err instanceof ApiError && err.code === 410 && /too old resource version/.test(err.message));
  assert.doesNotThrow(() => store.follow('cm', store.currentRV(), () => {}).stop());
});

test('history is bounded per kind: a busy kind does not expire a quiet kind\'s watchers', () => {
  const store = new VersionedStore({ historyLimit: 10 });
  store.put('quiet', 'q', obj('q'));
  const quietFrom = store.currentRV();
  const busyFrom = store.currentRV();
  for (let i = 0; i < 100; i++) store.put('busy', `k${i}`, obj(`k${i}`));
  assert.throws(() => store.follow('busy', busyFrom, () => {}), (err: unknown) => err instanceof ApiError && err.code === 410);
  assert.equal(store.follow('quiet', quietFrom, () => {}).replay.length, 0);
  const recent = store.currentRV() - 5;
  assert.equal(store.follow('busy', recent, () => {}).replay.length, 5);
});
