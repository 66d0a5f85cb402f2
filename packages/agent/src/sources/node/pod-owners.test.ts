import assert from 'node:assert/strict';
import { test } from 'node:test';
import { cutPod, PodOwners } from './pod-owners.js';

const pod = (uid: string, name: string, owners: unknown[] = []) => ({
  apiVersion: 'v1',
  kind: 'Pod',
  metadata: { uid, name, namespace: 'shop', labels: { app: 'api' }, annotations: { secret: 'x' }, resourceVersion: '7', ownerReferences: owners },
  spec: { nodeName: 'node-a', containers: [{ name: 'app', env: [{ name: 'PASSWORD', value: 'hunter2' }] }] },
  status: { phase: 'Running', podIP: '10.0.0.1' },
});

const rs = { apiVersion: 'apps/v1', kind: 'ReplicaSet', name: 'api-7d9', uid: 'rs-1', controller: true, blockOwnerDeletion: true, extra: 'dropped' };

test('a pod is cut down to uid, namespace, name and owner references, nothing else', () => {
  assert.deepEqual(cutPod(pod('p1', 'api-1', [rs])), {
    uid: 'p1',
    namespace: 'shop',
    name: 'api-1',
    ownerReferences: [{ apiVersion: 'apps/v1', kind: 'ReplicaSet', name: 'api-7d9', uid: 'rs-1', controller: true, blockOwnerDeletion: true }],
  });
  assert.doesNotMatch(JSON.stringify(cutPod(pod('p1', 'api-1', [rs]))), /hunter2|10\.0\.0\.1|secret|Running/);
});

test('owner references with missing fields become empty strings and false, never undefined', () => {
  assert.deepEqual(cutPod(pod('p1', 'a', [{ kind: 'Job', name: 'j' }, 'junk'])).ownerReferences, [
    { apiVersion: '', kind: 'Job', name: 'j', uid: '', controller: false, blockOwnerDeletion: false },
    { apiVersion: '', kind: '', name: '', uid: '', controller: false, blockOwnerDeletion: false },
  ]);
});

test('ownersOf: known pods give their owners, unknown and deleted pods an empty array', () => {
  const owners = new PodOwners();
  owners.listed([cutPod(pod('p1', 'api-1', [rs])), cutPod(pod('p2', 'solo'))]);
  assert.equal(owners.ownersOf('p1')[0]?.name, 'api-7d9');
  assert.deepEqual(owners.ownersOf('p2'), []);
  assert.deepEqual(owners.ownersOf('nope'), []);
  owners.deleted(cutPod(pod('p1', 'api-1')));
  assert.deepEqual(owners.ownersOf('p1'), []);
  assert.equal(owners.size, 1);
});

test('a relist replaces what was known: pods missing from it are forgotten', () => {
  const owners = new PodOwners();
  owners.listed([cutPod(pod('p1', 'a', [rs])), cutPod(pod('p2', 'b', [rs]))]);
  owners.upsert(cutPod(pod('p3', 'c', [rs])));
  owners.listed([cutPod(pod('p2', 'b', [rs]))]);
  assert.deepEqual([owners.ownersOf('p1'), owners.ownersOf('p3')], [[], []]);
  assert.equal(owners.pod('p2')?.name, 'b');
  assert.equal(owners.size, 1);
});

test('what ownersOf returns is a copy: changing it does not change what is kept', () => {
  const owners = new PodOwners();
  owners.upsert(cutPod(pod('p1', 'a', [rs])));
  owners.ownersOf('p1')[0]!.name = 'changed';
  assert.equal(owners.ownersOf('p1')[0]!.name, 'api-7d9');
});
