// When the aggregator acknowledges an agent's batch: only once the uplink delivered every PodLogs of it (written and
// past the replay window), in order, while later batches are already being submitted.
import assert from 'node:assert/strict';
import { test } from 'node:test';
import { createLogger, createRegistry } from '@kestrel/core';
import { AgentMessage, LogChunk, type AggregatorMessage } from '@kestrel/proto/ingest/v1';
import type { PodLogs } from '@kestrel/proto/cloud/v1';
import type { CallContext } from 'nice-grpc';
import { ReplayFilter } from '../pipeline/replay-filter.js';
import { IngestEvents } from './events.js';
import { IngestService, type PodLogsSink } from './service.js';

interface Submitted {
  logs: PodLogs;
  deliver: () => void;
}

function fakeUplink() {
  const submitted: Submitted[] = [];
  const sink: PodLogsSink = {
    async submit(logs) {
      let deliver!: () => void;
      const delivered = new Promise<void>((resolve) => (deliver = resolve));
      submitted.push({ logs, deliver });
      return { delivered };
    },
  };
  return { sink, submitted };
}

function service(sink: PodLogsSink) {
  const logger = createLogger('test', 'error');
  logger.silent = true;
  return new IngestService('agg-0', sink, new ReplayFilter(1000), { maxEntries: 1000, maxBytes: 1 << 20 }, new IngestEvents(createRegistry('t', false), logger), logger);
}

const chunk = (first: number, count: number) =>
  LogChunk.fromPartial({
    namespace: 'shop',
    podName: 'web-1',
    podUid: 'uid-1',
    containerName: 'app',
    file: { device: 1, inode: 2, fingerprint: 3 },
    lines: Array.from({ length: count }, (_, i) => ({ message: `line ${first + i}`, lineNumber: first + i, offset: (first + i - 1) * 10, endOffset: (first + i) * 10, stream: 'stdout', timestamp: { seconds: 1, nanos: first + i } })),
  });

/** An agent's side of the stream: messages pushed in by the test, open until closed. */
function agentSide(node = 'node-a') {
  const queue: AgentMessage[] = [AgentMessage.fromPartial({ message: { $case: 'hello', value: { nodeName: node, agentVersion: 't', instanceId: 'i' } } })];
  let wake: (() => void) | undefined;
  let closed = false;
  const controller = new AbortController();
  return {
    send(sequence: number, logs: LogChunk[]) {
      queue.push(AgentMessage.fromPartial({ message: { $case: 'batch', value: { sequence, logs } } }));
      wake?.();
    },
    close() {
      closed = true;
      controller.abort();
      wake?.();
    },
    context: { peer: `127.0.0.1:${node}`, signal: controller.signal } as unknown as CallContext,
    requests: (async function* () {
      for (;;) {
        while (queue.length > 0) yield queue.shift()!;
        if (closed) return;
        await new Promise<void>((r) => (wake = r));
      }
    })(),
  };
}

/** Reads the next answer, noting whether it came. */
function nextAnswer(responses: AsyncIterator<AggregatorMessage>) {
  const state = { done: false, value: undefined as AggregatorMessage | undefined };
  const promise = responses.next().then((r) => {
    state.done = true;
    state.value = r.value as AggregatorMessage;
    return state.value;
  });
  return { state, promise };
}

const ticks = async (n = 20) => {
  for (let i = 0; i < n; i++) await new Promise((r) => setImmediate(r));
};

async function eventually(check: () => boolean): Promise<void> {
  for (let i = 0; i < 200 && !check(); i++) await new Promise((r) => setTimeout(r, 5));
  assert.ok(check());
}

test('a batch is acknowledged only once its PodLogs are delivered, in order, while the next batch is already submitted', async () => {
  const { sink, submitted } = fakeUplink();
  const agent = agentSide();
  const responses = service(sink).stream(agent.requests, agent.context)[Symbol.asyncIterator]();
  assert.equal((await responses.next()).value?.message?.$case, 'welcome');
  agent.send(1, [chunk(1, 3)]);
  agent.send(2, [chunk(4, 3)]);
  await eventually(() => submitted.length === 2);
  const first = nextAnswer(responses);
  submitted[1]!.deliver(); // the second batch is delivered first
  await ticks();
  assert.equal(first.state.done, false, 'no Ack while batch 1 is not delivered');
  submitted[0]!.deliver();
  assert.deepEqual((await first.promise)?.message, { $case: 'ack', value: { sequence: 1 } });
  assert.deepEqual((await responses.next()).value?.message, { $case: 'ack', value: { sequence: 2 } });
  agent.close();
});

test('a resent batch whose lines were all forwarded is acknowledged only once the earlier copy is delivered', async () => {
  const { sink, submitted } = fakeUplink();
  const ingest = service(sink);
  const before = agentSide();
  const oldStream = ingest.stream(before.requests, before.context)[Symbol.asyncIterator]();
  await oldStream.next();
  before.send(1, [chunk(1, 3)]);
  await eventually(() => submitted.length === 1);
  // The agent reconnects before the Ack and sends the same lines again.
  const after = agentSide();
  const newStream = ingest.stream(after.requests, after.context)[Symbol.asyncIterator]();
  await newStream.next();
  after.send(1, [chunk(1, 3)]);
  const ack = nextAnswer(newStream);
  await ticks();
  assert.equal(submitted.length, 1, 'the resent lines are replays: not sent again');
  assert.equal(ack.state.done, false, 'not acknowledged while the first copy is undelivered');
  submitted[0]!.deliver();
  assert.deepEqual((await ack.promise)?.message, { $case: 'ack', value: { sequence: 1 } });
  before.close();
  after.close();
});

test('a chunk with no new lines but the end of a finished container stream is forwarded as stream_complete', async () => {
  const { sink, submitted } = fakeUplink();
  const agent = agentSide();
  const responses = service(sink).stream(agent.requests, agent.context)[Symbol.asyncIterator]();
  await responses.next();
  agent.send(1, [chunk(1, 2)]);
  agent.send(2, [LogChunk.fromPartial({ ...chunk(1, 0), previousContainer: true, streamComplete: true, lastLineNumber: 2 })]);
  await eventually(() => submitted.length === 2);
  const end = submitted[1]!.logs;
  assert.deepEqual([end.logEntries.length, end.streamComplete, end.previousContainer, end.streamOffset], [0, true, true, 2]);
  submitted[0]!.deliver();
  submitted[1]!.deliver();
  assert.deepEqual((await responses.next()).value?.message, { $case: 'ack', value: { sequence: 1 } });
  assert.deepEqual((await responses.next()).value?.message, { $case: 'ack', value: { sequence: 2 } });
  agent.close();
});
