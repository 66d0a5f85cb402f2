// `kestrel-aggregator debug flows` renders what an operator needs to see: sources, losses, top talkers, the receiver.
import assert from 'node:assert/strict';
import { test } from 'node:test';
import type { FlowsView } from './index.js';
import { renderFlows } from './view.js';

const view: FlowsView = {
  merger: {
    hubbleMode: 'agents',
    hubbleCountAt: 'either',
    bucketMs: 10_000,
    graceMs: 10_000,
    conversationsHeld: 12,
    maxConversations: 100_000,
    openBuckets: 2,
    rawFlows: 5000,
    flowsSent: 40,
    bothEnds: 7,
    lateWindows: 1,
    ignoredWindows: 0,
    replayedWindows: 2,
    leftToDestination: 0,
    lastBucketRawPerSecond: 250,
    sources: [{ node: 'node-a', source: 'hubble', windows: 10, rawFlows: 4000, sourceLost: 33, agentDropped: 4, lastWindowAt: '2026-11-26T03:00:00.000Z' }],
    topTalkers: [{ src: 'shop/Deployment/web', dst: 'shop/Deployment/cart', port: 8080, protocol: 'TCP', allowed: true, direction: 'ingress', count: 900 }],
  },
  podIndex: { enabled: true, pods: 3, ips: 3, synced: true, state: 'watching' },
  relay: { enabled: false },
  als: { listen: '0.0.0.0:8080', tls: false, streamsOpen: 2, reporters: [{ nodeId: 'sidecar~10.0.2.7~cart.shop~shop.svc.cluster.local', workload: 'shop/Deployment/cart', entries: 15, lastEntryAt: null }], entries: 15, intermediate: 0, dropped: { table_full: 3 }, recordsHeld: 4, maxRecords: 50_000, recordsSent: 9, bothSides: 1 },
};

test('debug flows shows the losses upstream, the sources, the top talkers and the receiver with its drops', () => {
  const text = renderFlows(view);
  assert.match(text, /lost upstream: reported by the source 33, dropped by agents 4/);
  assert.match(text, /node-a .*hubble .*4000/);
  assert.match(text, /shop\/Deployment\/web .*shop\/Deployment\/cart .*8080/);
  assert.match(text, /istio access logs on 0\.0\.0\.0:8080 \(plaintext\).*dropped table_full=3/);
  assert.match(text, /pod index 3 pods, 3 IPs, synced/);
});

test('debug flows says why the receiver and the pod index are off', () => {
  const text = renderFlows({ ...view, podIndex: { enabled: false, pods: 0, ips: 0, synced: false, state: 'off' }, als: { enabled: false, reason: 'alsEnabled is false' } });
  assert.match(text, /pod index off \(no Kubernetes access/);
  assert.match(text, /istio access logs: off \(alsEnabled is false\)/);
});
