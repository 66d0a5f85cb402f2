// PATCH bodies: JSON merge patch, JSON patch and the strategic merge patch's keyed lists.
import assert from 'node:assert/strict';
import { test } from 'node:test';
import { jsonPatch, mergePatch, strategicMergePatch } from './patch.js';
import { ApiError } from './status.js';

test('JSON merge patch (RFC 7386): objects merge, null deletes, lists and scalars replace', () => {
  const target = { a: 1, b: { c: 2, d: 3 }, list: [1, 2] };
  assert.deepEqual(mergePatch(target, { b: { c: null, e: 4 }, list: [3], f: 'x' }), { a: 1, b: { d: 3, e: 4 }, list: [3], f: 'x' });
  assert.deepEqual(target, { a: 1, b: { c: 2, d: 3 }, list: [1, 2] }, 'the target is not changed');
});

test('JSON patch (RFC 6902): add, remove, replace, move, copy, test; a failed test is 422', () => {
  const doc = { metadata: { labels: { a: '1' } }, spec: { list: ['x', 'y'] } };
  const out = jsonPatch(doc, [
    { op: 'add', path: '/metadata/labels/b', value: '2' },
    { op: 'replace', path: '/metadata/labels/a', value: 'one' },
    { op: 'add', path: '/spec/list/-', value: 'z' },
    { op: 'add', path: '/spec/list/0', value: 'w' },
    { op: 'remove', path: '/spec/list/1' },
    { op: 'copy', from: '/metadata/labels/a', path: '/spec/copied' },
    { op: 'move', from: '/spec/copied', path: '/spec/moved' },
    { op: 'test', path: '/spec/moved', value: 'one' },
    { op: 'add', path: '/metadata/labels/with~1slash', value: 's' },
  ]);
  assert.deepEqual(out, { metadata: { labels: { a: 'one', b: '2', 'with/slash': 's' } }, spec: { list: ['w', 'y', 'z'], moved: 'one' } });
  assert.throws(() => jsonPatch(doc, [{ op: 'test', path: '/metadata/labels/a', value: 'other' }]), (err: unknown) => err instanceof ApiError && err.code === 422);
  assert.throws(() => jsonPatch(doc, [{ op: 'replace', path: '/nope/x', value: 1 }]), (err: unknown) => err instanceof ApiError && err.code === 422);
  assert.throws(() => jsonPatch(doc, [{ op: 'remove', path: '/metadata/annotations' }]), (err: unknown) => err instanceof ApiError && err.code === 422);
});

test('strategic merge patch merges containers by name and conditions by type, and honours $patch: delete', () => {
  const pod = {
    spec: { containers: [{ name: 'a', image: 'a:1' }, { name: 'b', image: 'b:1' }], tolerations: [{ key: 't' }] },
    status: { conditions: [{ type: 'Ready', status: 'False' }, { type: 'Initialized', status: 'True' }] },
    metadata: { finalizers: ['x'] },
  };
  const out = strategicMergePatch(pod, {
    $setElementOrder: 'ignored',
    spec: { containers: [{ name: 'b', image: 'b:2' }, { name: 'c', image: 'c:1' }, { name: 'a', $patch: 'delete' }], tolerations: [{ key: 'u' }] },
    status: { conditions: [{ type: 'Ready', status: 'True' }] },
    metadata: { finalizers: ['y'] },
  });
  assert.deepEqual(out, {
    spec: { containers: [{ name: 'b', image: 'b:2' }, { name: 'c', image: 'c:1' }], tolerations: [{ key: 'u' }] },
    status: { conditions: [{ type: 'Ready', status: 'True' }, { type: 'Initialized', status: 'True' }] },
    metadata: { finalizers: ['x', 'y'] },
  });
});
