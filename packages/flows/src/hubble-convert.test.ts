import assert from 'node:assert/strict';
import { test } from 'node:test';
import { Flow, TrafficDirection, Verdict } from '@kestrel/proto/hubble/flow';
import { hubbleToRaw } from './hubble-convert.js';

// A flow as `hubble observe -o json` prints it (trimmed to the fields Kestrel reads), in proto3 JSON.
const request = Flow.fromJSON({
  time: '2024-05-01T12:00:00.123456789Z',
  uuid: '3f1c4d9e-1d7b-4c1e-9e0a-6f0b8c3a2f11',
  verdict: 'FORWARDED',
  IP: { source: '10.0.1.5', destination: '10.0.2.7', ipVersion: 'IPv4' },
  l4: { TCP: { source_port: 51234, destination_port: 8080, flags: { SYN: true } } },
  source: { ID: 101, identity: 5001, namespace: 'shop', labels: ['k8s:app=web', 'k8s:io.kubernetes.pod.namespace=shop', 'k8s:io.cilium.k8s.policy.cluster=default'], pod_name: 'web-7d4b9c-x2x9z', workloads: [{ name: 'web', kind: 'Deployment' }] },
  destination: { ID: 202, identity: 5002, namespace: 'shop', labels: ['k8s:app=api'], pod_name: 'api-0' },
  Type: 'L3_L4',
  node_name: 'node-a',
  traffic_direction: 'EGRESS',
  egress_allowed_by: [{ name: 'web-egress', namespace: 'shop', kind: 'CiliumNetworkPolicy', revision: 4 }],
});

test('a Hubble flow becomes a raw flow with its workloads, server port, verdict, direction and policies', () => {
  const r = hubbleToRaw(request);
  assert.notEqual(typeof r, 'string');
  assert.deepEqual(r, {
    seconds: Date.parse('2024-05-01T12:00:00Z') / 1000,
    nanos: 123456789,
    srcIp: '10.0.1.5',
    dstIp: '10.0.2.7',
    src: { ns: 'shop', kind: 'Deployment', name: 'web', labels: ['app=web'] },
    dst: { ns: 'shop', kind: 'Pod', name: 'api-0', labels: ['app=api'] },
    port: 8080,
    protocol: 'TCP',
    verdict: 'FORWARDED',
    allowed: true,
    direction: 'egress',
    egressAllowedBy: [{ name: 'web-egress', namespace: 'shop', labels: [], revision: 4, kind: 'CiliumNetworkPolicy' }],
  });
});

test('a reply is turned around so it counts for the conversation it answers', () => {
  const reply = Flow.fromPartial({ ...request, isReply: true, IP: { source: '10.0.2.7', destination: '10.0.1.5' }, l4: { protocol: { $case: 'TCP', value: { sourcePort: 8080, destinationPort: 51234 } } }, source: request.destination, destination: request.source, trafficDirection: TrafficDirection.INGRESS });
  const r = hubbleToRaw(reply);
  if (typeof r === 'string') assert.fail(r);
  assert.deepEqual([r.srcIp, r.dstIp, r.port, r.src?.name, r.dst?.name], ['10.0.1.5', '10.0.2.7', 8080, 'web', 'api-0']);
});

test('a dropped flow is not allowed; a flow without IP or L4 is skipped with a reason', () => {
  const dropped = hubbleToRaw(Flow.fromPartial({ ...request, verdict: Verdict.DROPPED }));
  if (typeof dropped === 'string') assert.fail(dropped);
  assert.deepEqual([dropped.verdict, dropped.allowed], ['DROPPED', false]);
  assert.equal(hubbleToRaw(Flow.fromPartial({ ...request, IP: undefined })), 'no_ip');
  assert.equal(hubbleToRaw(Flow.fromPartial({ ...request, l4: undefined })), 'not_l3_l4');
  const world = hubbleToRaw(Flow.fromPartial({ ...request, destination: { labels: ['reserved:world'], identity: 2 } }));
  if (typeof world === 'string') assert.fail(world);
  assert.equal(world.dst, undefined);
});
