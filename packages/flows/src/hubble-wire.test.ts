import assert from 'node:assert/strict';
import { test } from 'node:test';
import { Flow, LostEventSource, TrafficDirection, Verdict } from '@kestrel/proto/hubble/flow';
import { GetFlowsResponse } from '@kestrel/proto/hubble/observer';
import { hubbleToRaw } from './hubble-convert.js';
import { RAW_FLOW_FIELDS } from './hubble-client.js';
import { readGetFlowsResponse } from './hubble-wire.js';

const base = Flow.fromJSON({
  time: '2024-05-01T12:00:00.123456789Z',
  uuid: '3f1c4d9e-1d7b-4c1e-9e0a-6f0b8c3a2f11',
  verdict: 'FORWARDED',
  ethernet: { source: '0a:58:0a:00:01:05', destination: '0a:58:0a:00:02:07' },
  IP: { source: '10.0.1.5', destination: '10.0.2.7', ipVersion: 'IPv4' },
  l4: { TCP: { source_port: 51234, destination_port: 8080, flags: { SYN: true } } },
  source: { ID: 101, identity: 5001, cluster_name: 'default', namespace: 'shop', labels: ['k8s:app=web', 'k8s:io.kubernetes.pod.namespace=shop'], pod_name: 'web-7d4b9c-x2x9z', workloads: [{ name: 'web', kind: 'Deployment' }, { name: 'ignored', kind: 'ReplicaSet' }] },
  destination: { ID: 202, identity: 5002, namespace: 'shop', labels: ['k8s:app=api'], pod_name: 'api-0' },
  Type: 'L3_L4',
  node_name: 'node-a',
  event_type: { type: 4 },
  traffic_direction: 'EGRESS',
  trace_observation_point: 'TO_ENDPOINT',
  is_reply: false,
  egress_allowed_by: [{ name: 'web-egress', namespace: 'shop', labels: ['k8s:io.cilium.k8s.policy.name=web-egress'], kind: 'CiliumNetworkPolicy', revision: 4 }],
  Summary: 'TCP Flags: SYN',
});

const variants: [string, Flow][] = [
  ['a request with workloads, labels and a policy', base],
  ['a reply (is_reply)', Flow.fromPartial({ ...base, isReply: true, trafficDirection: TrafficDirection.INGRESS })],
  ['a reply by the deprecated reply field', Flow.fromPartial({ ...base, isReply: undefined, reply: true })],
  ['a dropped UDP flow with ingress policies', Flow.fromPartial({ ...base, verdict: Verdict.DROPPED, l4: { protocol: { $case: 'UDP', value: { sourcePort: 5353, destinationPort: 53 } } }, ingressAllowedBy: [{ name: 'dns', namespace: 'kube-system', labels: [], revision: 1, kind: 'NetworkPolicy' }] })],
  ['ICMPv4 to the world', Flow.fromPartial({ ...base, l4: { protocol: { $case: 'ICMPv4', value: { type: 8, code: 0 } } }, destination: { labels: ['reserved:world'], identity: 2 } })],
  ['SCTP without endpoints', Flow.fromPartial({ ...base, l4: { protocol: { $case: 'SCTP', value: { sourcePort: 1, destinationPort: 2 } } }, source: undefined, destination: undefined })],
  ['no IP layer', Flow.fromPartial({ ...base, IP: undefined })],
  ['no L4 layer', Flow.fromPartial({ ...base, l4: undefined })],
  ['nothing but a time', Flow.fromPartial({ time: { seconds: 5, nanos: 6 } })],
];

for (const [name, flow] of variants) {
  test(`the wire reader gives what the generated decoder + hubbleToRaw give: ${name}`, () => {
    const bytes = Buffer.from(GetFlowsResponse.encode({ responseTypes: { $case: 'flow', value: flow }, nodeName: 'node-a', time: flow.time }).finish());
    const event = readGetFlowsResponse(bytes);
    const decoded = GetFlowsResponse.decode(bytes);
    assert.equal(event.kind, 'flow');
    if (event.kind !== 'flow' || decoded.responseTypes?.$case !== 'flow') return;
    assert.deepEqual(event.flow, hubbleToRaw(decoded.responseTypes.value));
    assert.deepEqual([event.uuid, event.seconds, event.nanos, event.nodeName], [flow.uuid, flow.time?.seconds ?? 0, flow.time?.nanos ?? 0, 'node-a']);
  });
}

test('lost events are read with their source and count; truncated bytes are an error, not a guess', () => {
  const bytes = Buffer.from(GetFlowsResponse.encode({ responseTypes: { $case: 'lostEvents', value: { source: LostEventSource.HUBBLE_RING_BUFFER, numEventsLost: 123456789012, cpu: 3 } }, nodeName: 'node-b' }).finish());
  assert.deepEqual(readGetFlowsResponse(bytes), { kind: 'lost', source: LostEventSource.HUBBLE_RING_BUFFER, count: 123456789012, nodeName: 'node-b' });
  const flowBytes = Buffer.from(GetFlowsResponse.encode({ responseTypes: { $case: 'flow', value: base }, nodeName: 'node-a' }).finish());
  assert.throws(() => readGetFlowsResponse(flowBytes.subarray(0, flowBytes.length - 7)), RangeError);
});

/** `flow` holding only the fields `paths` names, as Hubble sends it for a field_mask (proto names, dot-separated). */
function masked(flow: Flow, paths: readonly string[]): Flow {
  const out: Record<string, unknown> = {};
  for (const p of paths) {
    const keys = p.split('.').map((k) => k.replace(/_([a-z])/g, (_, c: string) => c.toUpperCase()));
    let from: unknown = flow;
    let to = out;
    keys.forEach((k, i) => {
      from = (from as Record<string, unknown> | undefined)?.[k];
      if (from === undefined) return;
      if (i === keys.length - 1) to[k] = from;
      else to = (to[k] ??= {}) as Record<string, unknown>;
    });
  }
  return Flow.fromPartial(out as Partial<Flow>);
}

for (const [name, flow] of variants) {
  test(`a flow reduced to RAW_FLOW_FIELDS (the agent's field_mask) reads as the whole flow does, in fewer bytes: ${name}`, () => {
    const encode = (f: Flow) => Buffer.from(GetFlowsResponse.encode({ responseTypes: { $case: 'flow', value: f }, nodeName: 'node-a', time: f.time }).finish());
    const whole = encode(flow);
    const reduced = encode(masked(flow, RAW_FLOW_FIELDS));
    assert.deepEqual(readGetFlowsResponse(reduced), readGetFlowsResponse(whole));
    if (flow === base) assert.ok(reduced.length < whole.length, `${reduced.length} bytes of ${whole.length}`);
  });
}
