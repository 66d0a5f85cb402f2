import assert from 'node:assert/strict';
import { test } from 'node:test';
import type { Endpoint } from '@kestrel/proto/cloud/v1';
import { FlowSource } from '@kestrel/proto/ingest/v1';
import type { RawFlow } from './raw-flow.js';
import { FlowWindowTable } from './window-table.js';

const web: Endpoint = { ns: 'shop', kind: 'Deployment', name: 'web', labels: ['app=web'] };
const db: Endpoint = { ns: 'shop', kind: 'StatefulSet', name: 'db', labels: ['app=db'] };

function raw(over: Partial<RawFlow>): RawFlow {
  return { seconds: 100, nanos: 0, srcIp: '10.0.0.1', dstIp: '10.0.0.2', src: web, dst: db, port: 5432, protocol: 'TCP', verdict: 'FORWARDED', allowed: true, direction: 'egress', ...over };
}

test('flows of one conversation are one entry with their count and first and last seen, whichever pod of the workload sent them', () => {
  let now = 1_000_000;
  const table = new FlowWindowTable({ source: FlowSource.FLOW_SOURCE_HUBBLE, maxEntries: 10, now: () => now });
  table.add(raw({ seconds: 101, nanos: 5 }));
  table.add(raw({ seconds: 100, nanos: 7, srcIp: '10.0.0.9' }));
  table.add(raw({ seconds: 103, nanos: 1 }));
  now += 5000;
  const w = table.drain();
  assert.equal(w.flows.length, 1);
  assert.deepEqual(w.flows[0], {
    srcIp: '10.0.0.1',
    dstIp: '10.0.0.2',
    src: web,
    dst: db,
    direction: 'egress',
    port: 5432,
    protocol: 'TCP',
    allowed: true,
    count: 3,
    firstSeen: { seconds: 100, nanos: 7 },
    lastSeen: { seconds: 103, nanos: 1 },
    ingressAllowedBy: [],
    egressAllowedBy: [],
  });
  assert.deepEqual([w.rawFlows, w.agentDropped, w.sourceLost], [3, 0, 0]);
  assert.deepEqual([w.windowStart, w.windowEnd], [{ seconds: 1000, nanos: 0 }, { seconds: 1005, nanos: 0 }]);
});

test('port, protocol, verdict and direction each make a different conversation; unresolved endpoints are keyed by IP', () => {
  const table = new FlowWindowTable({ source: FlowSource.FLOW_SOURCE_VPC_CNI, maxEntries: 100 });
  table.add(raw({}));
  table.add(raw({ port: 5433 }));
  table.add(raw({ protocol: 'UDP' }));
  table.add(raw({ verdict: 'DROPPED', allowed: false }));
  table.add(raw({ direction: 'ingress' }));
  table.add(raw({ src: undefined, srcIp: '192.168.1.1' }));
  table.add(raw({ src: undefined, srcIp: '192.168.1.2' }));
  table.add(raw({ src: undefined, srcIp: '192.168.1.2' }));
  const w = table.drain();
  assert.equal(w.flows.length, 7);
  assert.equal(w.rawFlows, 8);
  const unresolved = w.flows.find((f) => f.srcIp === '192.168.1.2')!;
  assert.deepEqual([unresolved.count, unresolved.src], [2, { ns: '', kind: '', name: '', labels: [] }]);
  assert.equal(w.source, FlowSource.FLOW_SOURCE_VPC_CNI);
});

test('a full table counts the flows it cannot hold as dropped, and the next window starts empty', () => {
  const table = new FlowWindowTable({ source: FlowSource.FLOW_SOURCE_HUBBLE, maxEntries: 2 });
  assert.equal(table.add(raw({ port: 1 })), true);
  assert.equal(table.add(raw({ port: 2 })), true);
  assert.equal(table.add(raw({ port: 3 })), false);
  assert.equal(table.add(raw({ port: 1 })), true); // an existing conversation still counts
  table.addSourceLost(7);
  const w = table.drain();
  assert.deepEqual([w.flows.length, w.rawFlows, w.agentDropped, w.sourceLost], [2, 3, 1, 7]);
  assert.equal(table.empty, true);
  const next = table.drain();
  assert.deepEqual([next.flows.length, next.rawFlows, next.agentDropped, next.sourceLost], [0, 0, 0, 0]);
});

test('policies that allowed a conversation are listed once each', () => {
  const table = new FlowWindowTable({ source: FlowSource.FLOW_SOURCE_HUBBLE, maxEntries: 10 });
  const allow = { name: 'allow-web', namespace: 'shop', labels: [], revision: 3, kind: 'CiliumNetworkPolicy' };
  table.add(raw({ ingressAllowedBy: [allow] }));
  table.add(raw({ ingressAllowedBy: [allow, { ...allow, name: 'allow-all' }] }));
  const w = table.drain();
  assert.deepEqual(w.flows[0]!.ingressAllowedBy.map((p) => p.name), ['allow-web', 'allow-all']);
});
