import assert from 'node:assert/strict';
import { test } from 'node:test';
import { peerAddress, resolveContext } from './kubernetes-context.js';
import { PodIndex, workloadOf } from './pod-index.js';

const pod = (namespace: string, name: string, ip: string, owner?: { kind: string; name: string }, hash?: string) => ({
  metadata: { namespace, name, labels: hash ? { 'pod-template-hash': hash } : {}, ownerReferences: owner ? [{ ...owner, controller: true }] : [] },
  spec: { nodeName: 'node-1' },
  status: { podIP: ip },
});

test('the context comes from semantic-convention resource attributes first', () => {
  const r = resolveContext(
    [
      ['k8s.namespace.name', 'shop'],
      ['k8s.pod.name', 'cart-7d9f-abcde'],
      ['k8s.replicaset.name', 'cart-7d9f'],
      ['k8s.deployment.name', 'cart'],
      ['k8s.node.name', 'n1'],
      ['k8s.container.name', 'app'],
      ['service.name', 'cart'],
      ['telemetry.sdk.language', 'nodejs'],
    ],
    undefined,
    undefined,
  );
  assert.deepEqual(r.context, { namespace: 'shop', podName: 'cart-7d9f-abcde', workloadName: 'cart', workloadKind: 'Deployment', nodeName: 'n1', containerName: 'app' });
  assert.deepEqual(r.resourceLabels, { 'service.name': 'cart' });
  assert.equal(r.source, 'attributes');
});

test('a ReplicaSet named <deployment>-<pod-template-hash> resolves to its Deployment; others to their own kind', () => {
  assert.deepEqual(workloadOf(pod('shop', 'cart-5c6f-x1', '10.0.0.1', { kind: 'ReplicaSet', name: 'cart-5c6f' }, '5c6f')), { workloadName: 'cart', workloadKind: 'Deployment' });
  assert.deepEqual(workloadOf(pod('db', 'pg-0', '10.0.0.2', { kind: 'StatefulSet', name: 'pg' })), { workloadName: 'pg', workloadKind: 'StatefulSet' });
  assert.deepEqual(workloadOf(pod('db', 'bare', '10.0.0.3')), { workloadName: '', workloadKind: '' });
});

test('missing context is resolved from the pod index by pod name, pod IP, and (when allowed) the sender address', () => {
  const index = new PodIndex();
  index.upsert(pod('shop', 'cart-5c6f-x1', '10.0.0.1', { kind: 'ReplicaSet', name: 'cart-5c6f' }, '5c6f'));
  index.upsert(pod('db', 'pg-0', '10.0.0.2', { kind: 'StatefulSet', name: 'pg' }));
  const byName = resolveContext([['k8s.pod.name', 'pg-0']], undefined, index);
  assert.deepEqual([byName.source, byName.context.namespace, byName.context.workloadName, byName.context.nodeName], ['attributes', 'db', 'pg', 'node-1']);
  const byIp = resolveContext([['k8s.pod.ip', '10.0.0.1']], undefined, index);
  assert.deepEqual([byIp.source, byIp.context.podName, byIp.context.workloadKind], ['pod_ip', 'cart-5c6f-x1', 'Deployment']);
  const byPeer = resolveContext([['service.name', 'x']], '10.0.0.2', index);
  assert.deepEqual([byPeer.source, byPeer.context.podName], ['peer_ip', 'pg-0']);
  assert.equal(resolveContext([], '10.9.9.9', index).source, 'none');
  index.remove(pod('db', 'pg-0', '10.0.0.2'));
  assert.equal(index.byIp('10.0.0.2'), undefined);
  assert.equal(index.byUniqueName('pg-0'), undefined);
});

test('gRPC peer strings give the sender IP', () => {
  assert.equal(peerAddress('ipv4:10.1.2.3:4567'), '10.1.2.3');
  assert.equal(peerAddress('ipv6:[::1]:4567'), '::1');
  assert.equal(peerAddress('ipv6:[::ffff:10.1.2.3]:80'), '10.1.2.3');
  assert.equal(peerAddress('127.0.0.1:4317'), '127.0.0.1');
  assert.equal(peerAddress('unix:/tmp/x'), undefined);
});
