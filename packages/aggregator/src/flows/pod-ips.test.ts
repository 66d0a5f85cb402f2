// The pod IP index every replica keeps to resolve flow endpoints: pods to their workload, IPs reused after a pod
// ends, host-network pods left out, bounded.
import assert from 'node:assert/strict';
import { test } from 'node:test';
import { createLogger, createRegistry } from '@kestrel/core';
import { FlowEvents } from './events.js';
import { PodIpIndex } from './pod-ips.js';
import { workloadOf } from './workload.js';

const logger = createLogger('test', 'error');
logger.silent = true;

function pod(uid: string, name: string, ip: string, over: { owner?: { kind: string; name: string }; labels?: Record<string, string>; phase?: string; hostNetwork?: boolean } = {}) {
  return {
    metadata: { uid, name, namespace: 'shop', labels: over.labels ?? {}, ownerReferences: over.owner ? [{ ...over.owner, controller: true, apiVersion: 'apps/v1', uid: 'o' }] : [] },
    spec: { hostNetwork: over.hostNetwork ?? false },
    status: { phase: over.phase ?? 'Running', podIP: ip, podIPs: [{ ip }] },
  };
}

test('a pod of a Deployment resolves to the Deployment, with its labels sorted as k=v', () => {
  const index = new PodIpIndex(10, new FlowEvents(createRegistry('t', false), logger));
  index.change('added', pod('u1', 'cart-7d9f8-abcde', '10.0.2.7', { owner: { kind: 'ReplicaSet', name: 'cart-7d9f8' }, labels: { 'pod-template-hash': '7d9f8', app: 'cart' } }));
  assert.deepEqual(index.resolve('10.0.2.7'), { ns: 'shop', kind: 'Deployment', name: 'cart', labels: ['app=cart', 'pod-template-hash=7d9f8'] });
});

test('an IP is forgotten when its pod ends or is deleted, and then names the next pod that gets it', () => {
  const index = new PodIpIndex(10, new FlowEvents(createRegistry('t', false), logger));
  index.change('added', pod('u1', 'job-a', '10.0.2.8', { owner: { kind: 'Job', name: 'report-29012345' } }));
  assert.equal(index.resolve('10.0.2.8')?.kind, 'CronJob');
  index.change('modified', pod('u1', 'job-a', '10.0.2.8', { phase: 'Succeeded' }));
  assert.equal(index.resolve('10.0.2.8'), undefined);
  index.change('added', pod('u2', 'solo', '10.0.2.8'));
  assert.deepEqual(index.resolve('10.0.2.8'), { ns: 'shop', kind: 'Pod', name: 'solo', labels: [] });
  index.change('deleted', pod('u2', 'solo', '10.0.2.8'));
  assert.equal(index.resolve('10.0.2.8'), undefined);
  assert.equal(index.pods, 0);
});

test('host-network pods are not indexed (their IP is the node\'s), and the index stops at its bound', () => {
  const registry = createRegistry('t', false);
  const index = new PodIpIndex(2, new FlowEvents(registry, logger));
  index.change('added', pod('h', 'cilium-x', '192.168.0.10', { hostNetwork: true }));
  assert.equal(index.resolve('192.168.0.10'), undefined);
  index.change('added', pod('a', 'a', '10.0.0.1'));
  index.change('added', pod('b', 'b', '10.0.0.2'));
  index.change('added', pod('c', 'c', '10.0.0.3'));
  assert.equal(index.pods, 2);
  assert.equal(index.resolve('10.0.0.3'), undefined);
});

test('a StatefulSet pod keeps its StatefulSet; a ReplicaSet without the hash label stays a ReplicaSet', () => {
  assert.deepEqual(workloadOf('db-0', {}, [{ kind: 'StatefulSet', name: 'db', controller: true }]), { kind: 'StatefulSet', name: 'db' });
  assert.deepEqual(workloadOf('x-1', {}, [{ kind: 'ReplicaSet', name: 'x', controller: true }]), { kind: 'ReplicaSet', name: 'x' });
});
