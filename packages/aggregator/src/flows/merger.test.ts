// How the aggregator merges the agents' flow windows into cloud.v1 Flow records: across nodes and windows, once per
// conversation even when both ends saw it, resolving what nodes could not, and acknowledging only after delivery.
import assert from 'node:assert/strict';
import { test } from 'node:test';
import { createLogger, createRegistry, timestampOf } from '@kestrel/core';
import type { Endpoint, Flow } from '@kestrel/proto/cloud/v1';
import { FlowSource, type FlowWindow } from '@kestrel/proto/ingest/v1';
import type { FlowsConfig } from './config.js';
import { FlowEvents } from './events.js';
import { FlowMerger, type FlowSink } from './merger.js';
import type { IpResolver } from './pod-ips.js';

const T0 = 1_700_000_000_000; // a multiple of 10 s

const config = (over: Partial<FlowsConfig> = {}): FlowsConfig => ({
  hubbleMode: 'agents',
  hubbleCountAt: 'either',
  bucketMs: 10_000,
  graceMs: 5_000,
  maxConversations: 1000,
  maxRememberedWindows: 1000,
  maxIndexedPods: 1000,
  relay: { address: 'relay:443', caFile: undefined, certFile: undefined, keyFile: undefined, serverName: undefined },
  ...over,
});

const ep = (ns: string, name: string, kind = 'Deployment'): Endpoint => ({ ns, kind, name, labels: [`app=${name}`] });
const none: Endpoint = { ns: '', kind: '', name: '', labels: [] };

function flow(over: Partial<Flow>): Flow {
  return {
    srcIp: '10.0.1.5',
    dstIp: '10.0.2.7',
    src: ep('shop', 'web'),
    dst: ep('shop', 'cart'),
    direction: 'egress',
    port: 8080,
    protocol: 'TCP',
    allowed: true,
    count: 1,
    firstSeen: timestampOf(T0 + 10),
    lastSeen: timestampOf(T0 + 20),
    ingressAllowedBy: [],
    egressAllowedBy: [],
    ...over,
  };
}

function window(source: FlowSource, startMs: number, flows: Flow[]): FlowWindow {
  return { source, windowStart: timestampOf(startMs), windowEnd: timestampOf(startMs + 5000), flows, sourceLost: 0, agentDropped: 0, rawFlows: flows.reduce((n, f) => n + f.count, 0) };
}

function harness(over: Partial<FlowsConfig> = {}, resolve: Record<string, Endpoint> = {}) {
  let now = T0;
  const sent: Flow[] = [];
  const deliver: (() => void)[] = [];
  const sink: FlowSink = {
    async submitFlow(f) {
      sent.push(f);
      return { delivered: new Promise<void>((r) => deliver.push(r)) };
    },
  };
  const resolver: IpResolver = { resolve: (ip) => resolve[ip] };
  const logger = createLogger('test', 'error');
  logger.silent = true;
  const merger = new FlowMerger(config(over), sink, resolver, new FlowEvents(createRegistry('t', false), logger), logger, () => now);
  const stop = new AbortController();
  const running = merger.run(stop.signal);
  return {
    merger,
    sent,
    deliverAll: () => deliver.splice(0).forEach((d) => d()),
    setNow: (ms: number) => (now = ms),
    /** Lets the flusher take what is due (it ticks every bucketMs/4, at most 1 s). */
    async flush() {
      const before = sent.length;
      for (let i = 0; i < 200 && sent.length === before; i++) await new Promise((r) => setTimeout(r, 10));
    },
    async close() {
      stop.abort();
      await running;
    },
  };
}

const signal = new AbortController().signal;

test('windows of several nodes for the same conversation add up into one Flow per bucket', async () => {
  const h = harness({ bucketMs: 200, graceMs: 0 });
  h.setNow(T0);
  await h.merger.submitWindow('node-a', window(FlowSource.FLOW_SOURCE_HUBBLE, T0, [flow({ count: 3 })]), signal);
  await h.merger.submitWindow('node-b', window(FlowSource.FLOW_SOURCE_HUBBLE, T0 + 50, [flow({ count: 4, srcIp: '10.0.3.9' })]), signal);
  h.setNow(T0 + 1000);
  await h.flush();
  assert.equal(h.sent.length, 1);
  assert.equal(h.sent[0]!.count, 7);
  assert.deepEqual(h.sent[0]!.src, ep('shop', 'web'));
  await h.close();
});

test('a conversation seen leaving the source and entering the destination counts once, as ingress, with both policies', async () => {
  const h = harness({ bucketMs: 200, graceMs: 0 });
  const policy = (kind: string, name: string) => ({ name, namespace: 'shop', labels: [], revision: 1, kind });
  await h.merger.submitWindow('node-a', window(FlowSource.FLOW_SOURCE_HUBBLE, T0, [flow({ count: 5, direction: 'egress', egressAllowedBy: [policy('CiliumNetworkPolicy', 'web-out')] })]), signal);
  await h.merger.submitWindow('node-b', window(FlowSource.FLOW_SOURCE_HUBBLE, T0, [flow({ count: 5, direction: 'ingress', ingressAllowedBy: [policy('NetworkPolicy', 'cart-in')] })]), signal);
  h.setNow(T0 + 1000);
  await h.flush();
  assert.equal(h.sent.length, 1);
  const f = h.sent[0]!;
  assert.equal(f.count, 5);
  assert.equal(f.direction, 'ingress');
  assert.deepEqual(f.egressAllowedBy.map((p) => p.name), ['web-out']);
  assert.deepEqual(f.ingressAllowedBy.map((p) => p.name), ['cart-in']);
  await h.close();
});

test('counted at the destination: two replicas each merging one end of a conversation send it once between them', async () => {
  // Replica 1 serves node-a (web's end), replica 2 node-b (cart's end).
  const one = harness({ bucketMs: 200, graceMs: 0, hubbleCountAt: 'destination' });
  const two = harness({ bucketMs: 200, graceMs: 0, hubbleCountAt: 'destination' });
  await one.merger.submitWindow('node-a', window(FlowSource.FLOW_SOURCE_HUBBLE, T0, [
    flow({ count: 5, direction: 'egress' }),
    // Denied leaving web: never reaches cart, counted where observed.
    flow({ count: 2, direction: 'egress', allowed: false }),
    // Towards the outside: no other end.
    flow({ count: 3, direction: 'egress', dst: none, dstIp: '203.0.113.9', port: 443 }),
  ]), signal);
  await two.merger.submitWindow('node-b', window(FlowSource.FLOW_SOURCE_HUBBLE, T0, [flow({ count: 5, direction: 'ingress' })]), signal);
  // VPC CNI has no guarantee that the other end logs: counted as observed.
  await one.merger.submitWindow('node-a', window(FlowSource.FLOW_SOURCE_VPC_CNI, T0, [flow({ count: 4, direction: 'egress', port: 5432 })]), signal);
  one.setNow(T0 + 1000);
  two.setNow(T0 + 1000);
  await one.flush();
  await two.flush();
  const all = [...one.sent, ...two.sent];
  const total = (port: number, allowed: boolean) => all.filter((f) => f.port === port && f.allowed === allowed).reduce((n, f) => n + f.count, 0);
  assert.equal(total(8080, true), 5, 'web -> cart once, from cart\'s end');
  assert.equal(total(8080, false), 2);
  assert.equal(total(443, true), 3);
  assert.equal(total(5432, true), 4);
  assert.equal(one.merger.view().leftToDestination, 1);
  await one.close();
  await two.close();
});

test('an allowed and a denied verdict of the same pair stay two Flow records', async () => {
  const h = harness({ bucketMs: 200, graceMs: 0 });
  await h.merger.submitWindow('node-a', window(FlowSource.FLOW_SOURCE_VPC_CNI, T0, [flow({ count: 2 }), flow({ count: 1, allowed: false })]), signal);
  h.setNow(T0 + 1000);
  await h.flush();
  assert.deepEqual(h.sent.map((f) => [f.allowed, f.count]).sort(), [[false, 1], [true, 2]]);
  await h.close();
});

test('an IP the node could not resolve is resolved from the pod index; one nobody knows stays an IP', async () => {
  const h = harness({ bucketMs: 200, graceMs: 0 }, { '10.0.2.7': ep('shop', 'cart') });
  await h.merger.submitWindow('node-a', window(FlowSource.FLOW_SOURCE_HUBBLE, T0, [flow({ dst: none }), flow({ dst: none, dstIp: '203.0.113.9', port: 443 })]), signal);
  h.setNow(T0 + 1000);
  await h.flush();
  const byPort = new Map(h.sent.map((f) => [f.port, f]));
  assert.deepEqual(byPort.get(8080)!.dst, ep('shop', 'cart'));
  assert.deepEqual(byPort.get(443)!.dst, none);
  assert.equal(byPort.get(443)!.dstIp, '203.0.113.9');
  await h.close();
});

test('a window is acknowledged only once the Flow records of its bucket are delivered', async () => {
  const h = harness({ bucketMs: 200, graceMs: 0 });
  const { delivered } = await h.merger.submitWindow('node-a', window(FlowSource.FLOW_SOURCE_HUBBLE, T0, [flow({})]), signal);
  let acked = false;
  void delivered.then(() => (acked = true));
  h.setNow(T0 + 1000);
  await h.flush();
  await new Promise((r) => setTimeout(r, 20));
  assert.equal(acked, false, 'sent but not delivered yet');
  h.deliverAll();
  await delivered;
  assert.equal(acked, true);
  await h.close();
});

test('a window resent by its agent is not counted again, and is acknowledged with the original', async () => {
  const h = harness({ bucketMs: 200, graceMs: 0 });
  const w = window(FlowSource.FLOW_SOURCE_HUBBLE, T0, [flow({ count: 9 })]);
  const first = await h.merger.submitWindow('node-a', w, signal);
  const again = await h.merger.submitWindow('node-a', structuredClone(w), signal);
  h.setNow(T0 + 1000);
  await h.flush();
  assert.equal(h.sent.length, 1);
  assert.equal(h.sent[0]!.count, 9);
  h.deliverAll();
  await Promise.all([first.delivered, again.delivered]);
  assert.equal(h.merger.view().replayedWindows, 1);
  await h.close();
});

test('in relay mode the agents\' Hubble windows are acknowledged and ignored, VPC CNI windows still merged', async () => {
  const h = harness({ bucketMs: 200, graceMs: 0, hubbleMode: 'relay' });
  const hubble = await h.merger.submitWindow('node-a', window(FlowSource.FLOW_SOURCE_HUBBLE, T0, [flow({ count: 4 })]), signal);
  await hubble.delivered;
  await h.merger.submitWindow('node-a', window(FlowSource.FLOW_SOURCE_VPC_CNI, T0, [flow({ count: 2, port: 53, protocol: 'UDP' })]), signal);
  h.setNow(T0 + 1000);
  await h.flush();
  assert.deepEqual(h.sent.map((f) => [f.port, f.count]), [[53, 2]]);
  assert.equal(h.merger.view().ignoredWindows, 1);
  await h.close();
});

test('at the conversation bound the oldest bucket goes out early instead of anything being dropped', async () => {
  const h = harness({ bucketMs: 60_000, graceMs: 60_000, maxConversations: 100 });
  const many = (start: number, n: number) => Array.from({ length: n }, (_, i) => flow({ port: start + i }));
  await h.merger.submitWindow('node-a', window(FlowSource.FLOW_SOURCE_HUBBLE, T0 - 60_000, many(1, 80)), signal);
  // 80 + 40 > 100: the first bucket is sent before its time, then this window is merged.
  const second = h.merger.submitWindow('node-a', window(FlowSource.FLOW_SOURCE_HUBBLE, T0, many(1000, 40)), signal);
  await second;
  for (let i = 0; i < 200 && h.sent.length < 80; i++) await new Promise((r) => setTimeout(r, 10));
  assert.equal(h.sent.length, 80);
  assert.equal(h.merger.view().conversationsHeld, 40);
  await h.close();
});

test('a window whose entries span two buckets is acknowledged once both are delivered', async () => {
  const h = harness({ bucketMs: 200, graceMs: 0 });
  h.setNow(T0 + 260);
  const { delivered } = await h.merger.submitWindow('node-a', window(FlowSource.FLOW_SOURCE_HUBBLE, T0, [flow({ count: 2 }), flow({ count: 3, firstSeen: timestampOf(T0 + 250) })]), signal);
  let acked = false;
  void delivered.then(() => (acked = true));
  h.setNow(T0 + 300);
  await h.flush();
  h.deliverAll();
  await new Promise((r) => setTimeout(r, 20));
  assert.equal(acked, false, 'the second bucket is not sent yet');
  h.setNow(T0 + 1000);
  await h.flush();
  h.deliverAll();
  await delivered;
  assert.deepEqual(h.sent.map((f) => f.count), [2, 3]);
  await h.close();
});

test('a window for a bucket already sent goes into a new bucket and is counted late, not lost', async () => {
  const h = harness({ bucketMs: 200, graceMs: 0 });
  await h.merger.submitWindow('node-a', window(FlowSource.FLOW_SOURCE_HUBBLE, T0, [flow({ count: 2 })]), signal);
  h.setNow(T0 + 1000);
  await h.flush();
  await h.merger.submitWindow('node-b', window(FlowSource.FLOW_SOURCE_HUBBLE, T0, [flow({ count: 3, direction: 'ingress' })]), signal);
  h.setNow(T0 + 2000);
  await h.flush();
  assert.deepEqual(h.sent.map((f) => f.count), [2, 3]);
  assert.equal(h.merger.view().lateWindows, 1);
  await h.close();
});

test('entries without a count or any endpoint are dropped and counted, the rest of the window goes on', async () => {
  const h = harness({ bucketMs: 200, graceMs: 0 });
  await h.merger.submitWindow('node-a', window(FlowSource.FLOW_SOURCE_HUBBLE, T0, [flow({ count: 0 }), flow({ src: none, srcIp: '' }), flow({ count: 6 })]), signal);
  h.setNow(T0 + 1000);
  await h.flush();
  assert.deepEqual(h.sent.map((f) => f.count), [6]);
  await h.close();
});

test('stopping fails the acknowledgements of what was not sent, so agents resend it elsewhere', async () => {
  const h = harness({ bucketMs: 60_000, graceMs: 60_000 });
  const { delivered } = await h.merger.submitWindow('node-a', window(FlowSource.FLOW_SOURCE_HUBBLE, T0, [flow({})]), signal);
  await h.close();
  await assert.rejects(delivered, /stopping/);
  assert.equal(h.sent.length, 0);
});
