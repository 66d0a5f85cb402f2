// The delivery rule for flows, at the ingest service: an agent's batch carrying flow windows is acknowledged only
// once the Flow records those windows were merged into are written by the uplink, so the agent's resume point never
// passes a flow this replica could still lose; a resent batch is acknowledged without being counted again.
import assert from 'node:assert/strict';
import { test } from 'node:test';
import { createLogger, createRegistry, timestampOf } from '@kestrel/core';
import type { Flow } from '@kestrel/proto/cloud/v1';
import { AgentMessage, BatchContent, Encoding, FlowSource, type AggregatorMessage, type FlowWindow } from '@kestrel/proto/ingest/v1';
import { Metadata, type CallContext } from 'nice-grpc';
import { IngestEvents } from '../ingest/events.js';
import { IngestService } from '../ingest/service.js';
import { ReplayFilter } from '../pipeline/replay-filter.js';
import { FlowEvents } from './events.js';
import { FlowMerger } from './merger.js';

const logger = createLogger('test', 'error');
logger.silent = true;
const T0 = 1_700_000_000_000;

function flowWindow(count: number): FlowWindow {
  const flow: Flow = {
    srcIp: '10.0.1.5',
    dstIp: '10.0.2.7',
    src: { ns: 'shop', kind: 'Deployment', name: 'web', labels: [] },
    dst: { ns: 'shop', kind: 'Deployment', name: 'cart', labels: [] },
    direction: 'egress',
    port: 8080,
    protocol: 'TCP',
    allowed: true,
    count,
    firstSeen: timestampOf(T0 + 10),
    lastSeen: timestampOf(T0 + 20),
    ingressAllowedBy: [],
    egressAllowedBy: [],
  };
  return { source: FlowSource.FLOW_SOURCE_HUBBLE, windowStart: timestampOf(T0), windowEnd: timestampOf(T0 + 500), flows: [flow], sourceLost: 0, agentDropped: 0, rawFlows: count };
}

const batchMessage = (sequence: number, flows: FlowWindow[]) =>
  AgentMessage.fromPartial({ message: { $case: 'batch', value: { sequence, encoding: Encoding.ENCODING_NONE, content: Buffer.from(BatchContent.encode({ logs: [], nodeConditions: [], flows }).finish()), records: 0 } } });

test('a batch of flow windows is acknowledged once its merged Flows are written, and a resend is not counted again', async () => {
  let now = T0;
  const written: Flow[] = [];
  const deliver: (() => void)[] = [];
  const merger = new FlowMerger(
    { hubbleMode: 'agents', hubbleCountAt: 'either', bucketMs: 200, graceMs: 0, maxConversations: 100, maxRememberedWindows: 100, maxIndexedPods: 100, relay: { address: 'x:1', caFile: undefined, certFile: undefined, keyFile: undefined, serverName: undefined } },
    {
      async submitFlow(f) {
        written.push(f);
        return { delivered: new Promise<void>((r) => deliver.push(r)) };
      },
    },
    { resolve: () => undefined },
    new FlowEvents(createRegistry('t', false), logger),
    logger,
    () => now,
  );
  const stop = new AbortController();
  const merging = merger.run(stop.signal);
  const neverCalled = async () => {
    throw new Error('no logs or conditions in these batches');
  };
  const ingest = new IngestService(
    'agg-0',
    { submitLogs: neverCalled, submitFramedLogs: neverCalled, submitNodeCondition: neverCalled, submitFlowWindow: (node, w, s) => merger.submitWindow(node, w, s) },
    new ReplayFilter(1000),
    { maxEntries: 1000, maxBytes: 1 << 20, maxBatchContentBytes: 1 << 20 },
    { verify: async (_call, node) => ({ accepted: true, node, subject: node }) },
    new IngestEvents(createRegistry('t', false), logger),
    logger,
  );
  const queue: AgentMessage[] = [AgentMessage.fromPartial({ message: { $case: 'hello', value: { nodeName: 'node-a', agentVersion: 't', instanceId: 'i' } } })];
  let wake: (() => void) | undefined;
  const call = new AbortController();
  const requests = (async function* () {
    for (;;) {
      while (queue.length > 0) yield queue.shift()!;
      if (call.signal.aborted) return;
      await new Promise<void>((r) => (wake = r));
    }
  })();
  const send = (m: AgentMessage) => {
    queue.push(m);
    wake?.();
  };
  const context = { peer: '127.0.0.1:1', signal: call.signal, metadata: Metadata() } as unknown as CallContext;
  const responses = ingest.stream(requests, context)[Symbol.asyncIterator]();
  assert.equal((await responses.next()).value?.message?.$case, 'welcome');

  send(batchMessage(1, [flowWindow(7)]));
  const got: { ack?: AggregatorMessage } = {};
  const ack = responses.next().then((r) => (got.ack = r.value as AggregatorMessage));
  now = T0 + 1000;
  for (let i = 0; i < 200 && written.length === 0; i++) await new Promise((r) => setTimeout(r, 10));
  assert.equal(written.length, 1, 'the bucket was sent');
  await new Promise((r) => setTimeout(r, 30));
  assert.equal(got.ack === undefined, true, 'written to the stream queue is not delivered yet: no Ack');
  deliver.splice(0).forEach((d) => d());
  await ack;
  assert.deepEqual(got.ack?.message, { $case: 'ack', value: { sequence: 1 } });

  // The agent did not see that Ack (a reconnect) and sends the same window again.
  send(batchMessage(2, [flowWindow(7)]));
  assert.deepEqual((await responses.next()).value?.message, { $case: 'ack', value: { sequence: 2 } });
  now = T0 + 5000;
  await new Promise((r) => setTimeout(r, 300));
  assert.equal(written.length, 1, 'the resent window was not merged again');
  assert.equal(written[0]!.count, 7);

  call.abort();
  wake?.();
  stop.abort();
  await merging;
});
