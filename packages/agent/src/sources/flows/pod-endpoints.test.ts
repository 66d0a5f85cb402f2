import assert from 'node:assert/strict';
import { test } from 'node:test';
import { cutPodEndpoint, PodEndpoints } from './pod-endpoints.js';

const pod = (name: string, uid: string, ip: string, owner?: { kind: string; name: string }, extra: Record<string, unknown> = {}) => ({
  metadata: { name, namespace: 'shop', uid, labels: { app: name.split('-')[0]!, 'pod-template-hash': '7d4b9c' }, ownerReferences: owner ? [{ ...owner, controller: true, uid: 'o' }] : [] },
  spec: { nodeName: 'node-a', ...extra },
  status: { podIP: ip, podIPs: [{ ip }, { ip: `fd00::${uid}` }] },
});

test('a pod\'s IPs resolve to its workload: the Deployment behind a ReplicaSet, a StatefulSet as itself, a bare pod as the Pod', () => {
  const p = new PodEndpoints();
  p.listed([
    cutPodEndpoint(pod('web-7d4b9c-x2x9z', '1', '10.0.0.5', { kind: 'ReplicaSet', name: 'web-7d4b9c' })),
    cutPodEndpoint(pod('db-0', '2', '10.0.0.6', { kind: 'StatefulSet', name: 'db' })),
    cutPodEndpoint(pod('debug', '3', '10.0.0.7')),
  ]);
  assert.deepEqual(p.resolve('10.0.0.5'), { ns: 'shop', kind: 'Deployment', name: 'web', labels: ['app=web'] });
  assert.deepEqual(p.resolve('fd00::1'), p.resolve('10.0.0.5'));
  assert.equal(p.resolve('10.0.0.6')!.kind, 'StatefulSet');
  assert.deepEqual([p.resolve('10.0.0.7')!.kind, p.resolve('10.0.0.7')!.name], ['Pod', 'debug']);
  assert.equal(p.resolve('10.9.9.9'), undefined);
});

test('host-network pods name no IP; a deleted pod\'s IP taken by a newer pod keeps pointing at the newer one', () => {
  const p = new PodEndpoints();
  p.upsert(cutPodEndpoint(pod('agent', '9', '192.168.0.10', { kind: 'DaemonSet', name: 'agent' }, { hostNetwork: true })));
  assert.equal(p.resolve('192.168.0.10'), undefined);
  const old = cutPodEndpoint(pod('web-old', '1', '10.0.0.5'));
  p.upsert(old);
  p.upsert(cutPodEndpoint(pod('api-new', '2', '10.0.0.5')));
  p.deleted(old);
  assert.equal(p.resolve('10.0.0.5')!.name, 'api-new');
});
