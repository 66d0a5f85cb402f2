// When the aggregator acknowledges an agent's batch: only once the uplink delivered every PodLogs of it (written and
// past the replay window), in order, while later batches are already being submitted.
import assert from 'node:assert/strict';
import { test } from 'node:test';
import { createLogger, createRegistry } from '@kestrel/core';
import { AgentMessage, BatchContent, Encoding, LogChunk, type AggregatorMessage } from '@kestrel/proto/ingest/v1';
import { NodeConditionChange, type PodLogs } from '@kestrel/proto/cloud/v1';
import { frameEntries, unframeEntries } from '@kestrel/proto/cloud/v1/log-entries';
import { encodePositions } from '@kestrel/proto/ingest/v1/positions';
import { deflateSegmentSync, inflateSegmentSync } from '@kestrel/proto/ingest/v1/segments';
import { Metadata, Status, type CallContext } from 'nice-grpc';
import { ReplayFilter } from '../pipeline/replay-filter.js';
import { IngestEvents } from './events.js';
import type { AgentIdentityCheck } from './identity.js';
import { IngestService, type IngestSink } from './service.js';

interface Submitted {
  logs: PodLogs;
  deliver: () => void;
}

function fakeUplink() {
  const submitted: Submitted[] = [];
  const conditions: NodeConditionChange[] = [];
  const sink: IngestSink = {
    async submitLogs(logs) {
      let deliver!: () => void;
      const delivered = new Promise<void>((resolve) => (deliver = resolve));
      submitted.push({ logs, deliver });
      return { delivered };
    },
    async submitFramedLogs(header, entries) {
      // Decoded back to objects here only, to compare what the cloud would receive.
      let deliver!: () => void;
      const delivered = new Promise<void>((resolve) => (deliver = resolve));
      submitted.push({ logs: { ...header, logEntries: unframeEntries(entries) }, deliver });
      return { delivered };
    },
    async submitNodeCondition(change) {
      conditions.push(change);
      return { delivered: Promise.resolve() };
    },
  };
  return { sink, submitted, conditions };
}

/** Accepts a stream when the peer's metadata names the node it claims (what a real check proves cryptographically). */
const metadataIdentity: AgentIdentityCheck = {
  async verify(call, claimed) {
    const proven = call.metadata.get('test-node');
    return proven === claimed ? { accepted: true, node: claimed, subject: `test:${claimed}` } : { accepted: false, status: Status.PERMISSION_DENIED, reason: 'wrong_node', message: `peer proves ${proven}, not ${claimed}` };
  },
};

function service(sink: IngestSink, registry = createRegistry('t', false), maxOpenBatches?: number) {
  const logger = createLogger('test', 'error');
  logger.silent = true;
  return new IngestService('agg-0', sink, new ReplayFilter(1000), { maxEntries: 1000, maxBytes: 1 << 20, maxBatchContentBytes: 1 << 20, maxOpenBatches }, metadataIdentity, new IngestEvents(registry, logger), logger);
}

const batch = (sequence: number, logs: LogChunk[], nodeConditions: NodeConditionChange[] = []) => ({
  sequence,
  encoding: Encoding.ENCODING_NONE,
  content: Buffer.from(BatchContent.encode({ logs, nodeConditions, flows: [] }).finish()),
  records: logs.reduce((n, c) => n + c.lines.length + c.entrySizes.length, 0),
});

/** Lines as the agent sends them: framed for PodLogs (or, `legacy`, as LogLine objects, what older agents send). */
const chunk = (first: number, count: number, legacy = false) => {
  const lines = Array.from({ length: count }, (_, i) => ({ message: `line ${first + i}`, lineNumber: first + i, offset: (first + i - 1) * 10, endOffset: (first + i) * 10, stream: 'stdout', timestamp: { seconds: 1, nanos: first + i } }));
  const base = { namespace: 'shop', podName: 'web-1', podUid: 'uid-1', containerName: 'app', file: { device: 1, inode: 2, fingerprint: 3 } };
  if (legacy) return LogChunk.fromPartial({ ...base, lines });
  const framed = frameEntries(lines.map((l) => ({ timestamp: l.timestamp, message: l.message, level: '', lineNumber: l.lineNumber, errorInfo: undefined })));
  return LogChunk.fromPartial({ ...base, entries: Buffer.from(framed.bytes), entrySizes: [...framed.sizes], ...encodePositions(lines[0]?.offset ?? 0, lines.map((l) => l.endOffset), framed.lineNumbers) });
};

/** Uplink room for log lines that comes only when the test opens it. */
function roomLater(): { room: Promise<void>; open: () => void } {
  let open!: () => void;
  const room = new Promise<void>((resolve) => (open = resolve));
  return { room, open };
}

/** A batch whose content does not inflate: opening it is what fails. */
const undecodableBatch = (sequence: number) =>
  AgentMessage.fromPartial({ message: { $case: 'batch', value: { sequence, encoding: Encoding.ENCODING_GZIP, content: Buffer.from('garbage'), records: 1 } } });

/** An agent's side of the stream: messages pushed in by the test, open until closed. */
function agentSide(node = 'node-a', proven = node) {
  const queue: AgentMessage[] = [AgentMessage.fromPartial({ message: { $case: 'hello', value: { nodeName: node, agentVersion: 't', instanceId: 'i' } } })];
  let wake: (() => void) | undefined;
  let closed = false;
  const controller = new AbortController();
  return {
    send(sequence: number, logs: LogChunk[], nodeConditions: NodeConditionChange[] = []) {
      queue.push(AgentMessage.fromPartial({ message: { $case: 'batch', value: batch(sequence, logs, nodeConditions) } }));
      wake?.();
    },
    sendRaw(message: AgentMessage) {
      queue.push(message);
      wake?.();
    },
    close() {
      closed = true;
      controller.abort();
      wake?.();
    },
    /** Half-close: no more messages, the call stays up (what a draining agent does). */
    endInput() {
      closed = true;
      wake?.();
    },
    context: { peer: `127.0.0.1:${node}`, signal: controller.signal, metadata: Metadata({ 'test-node': proven }) } as unknown as CallContext,
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

test('a batch is acknowledged once its own PodLogs are delivered, not waiting for earlier batches, while the next is already submitted', async () => {
  const { sink, submitted } = fakeUplink();
  const agent = agentSide();
  const responses = service(sink).stream(agent.requests, agent.context)[Symbol.asyncIterator]();
  assert.equal((await responses.next()).value?.message?.$case, 'welcome');
  agent.send(1, [chunk(1, 3)]);
  agent.send(2, [chunk(4, 3)]);
  await eventually(() => submitted.length === 2);
  const first = nextAnswer(responses);
  await ticks();
  assert.equal(first.state.done, false, 'no Ack while nothing is delivered');
  submitted[1]!.deliver(); // the second batch is delivered first
  assert.deepEqual((await first.promise)?.message, { $case: 'ack', value: { sequence: 2 } });
  const second = nextAnswer(responses);
  await ticks();
  assert.equal(second.state.done, false, 'no Ack for batch 1 while it is not delivered');
  submitted[0]!.deliver();
  assert.deepEqual((await second.promise)?.message, { $case: 'ack', value: { sequence: 1 } });
  agent.close();
});

test('an agent that half-closes still gets every Ack it is owed, then the call ends', async () => {
  const { sink, submitted } = fakeUplink();
  const agent = agentSide();
  const responses = service(sink).stream(agent.requests, agent.context)[Symbol.asyncIterator]();
  await responses.next();
  agent.send(1, [chunk(1, 3)]);
  await eventually(() => submitted.length === 1);
  agent.endInput();
  await ticks();
  submitted[0]!.deliver();
  assert.deepEqual((await responses.next()).value?.message, { $case: 'ack', value: { sequence: 1 } });
  assert.equal((await responses.next()).done, true);
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

test('a peer that cannot prove the node it names is refused before anything is read, and counted', async () => {
  const { sink, submitted } = fakeUplink();
  const registry = createRegistry('t', false);
  const agent = agentSide('node-b', 'node-a');
  agent.send(1, [chunk(1, 3)]);
  const responses = service(sink, registry).stream(agent.requests, agent.context)[Symbol.asyncIterator]();
  await assert.rejects(responses.next(), (err: { code?: number }) => err.code === Status.PERMISSION_DENIED);
  assert.equal(submitted.length, 0);
  assert.match(await registry.metrics(), /kestrel_aggregator_ingest_refused_total\{reason="wrong_node"[^}]*\} 1/);
  agent.close();
});

test("node condition changes are passed on for the agent's own node only", async () => {
  const { sink, conditions } = fakeUplink();
  const registry = createRegistry('t', false);
  const agent = agentSide('node-a');
  const responses = service(sink, registry).stream(agent.requests, agent.context)[Symbol.asyncIterator]();
  await responses.next();
  const change = (name: string) => NodeConditionChange.fromPartial({ name, uid: `uid-${name}`, conditions: [{ type: 'Ready', status: 'False' }] });
  agent.send(1, [], [change('node-a'), change('node-z')]);
  assert.deepEqual((await responses.next()).value?.message, { $case: 'ack', value: { sequence: 1 } });
  assert.deepEqual(conditions.map((c) => c.name), ['node-a']);
  assert.match(await registry.metrics(), /kestrel_aggregator_ingest_protocol_errors_total\{reason="foreign_node_condition"[^}]*\} 1/);
  agent.close();
});

test('a batch whose content does not decode ends the stream with INVALID_ARGUMENT and is counted', async () => {
  const { sink, submitted } = fakeUplink();
  const registry = createRegistry('t', false);
  const agent = agentSide();
  const responses = service(sink, registry).stream(agent.requests, agent.context)[Symbol.asyncIterator]();
  await responses.next();
  agent.sendRaw(undecodableBatch(1));
  await assert.rejects(responses.next(), (err: { code?: number }) => err.code === Status.INVALID_ARGUMENT);
  assert.equal(submitted.length, 0);
  assert.match(await registry.metrics(), /kestrel_aggregator_ingest_protocol_errors_total\{reason="undecodable_batch"[^}]*\} 1/);
  agent.close();
});

test('batches of all agents are opened a bounded number at a time: the others wait compressed for their turn, first come first served', async () => {
  const { sink, submitted } = fakeUplink();
  const later = roomLater();
  let room = later.room;
  const open = later.open;
  const registry = createRegistry('t', false);
  // Lines are taken only once there is room, as the uplink does.
  const svc = service({ ...sink, submitFramedLogs: async (header, entries, signal) => (await room, sink.submitFramedLogs(header, entries, signal)) }, registry, 1);
  const a = agentSide('node-a');
  const b = agentSide('node-b');
  const fromA = svc.stream(a.requests, a.context)[Symbol.asyncIterator]();
  const fromB = svc.stream(b.requests, b.context)[Symbol.asyncIterator]();
  await fromA.next();
  await fromB.next();
  a.send(1, [chunk(1, 3)]);
  await ticks();
  // node-a's batch holds the one turn (its lines wait for room); node-b's cannot be opened, so its garbage is not seen yet.
  b.sendRaw(undecodableBatch(1));
  const answerB = nextAnswer(fromB);
  await ticks();
  assert.deepEqual(svc.openBatches, { open: 1, waiting: 1 });
  assert.match(await registry.metrics(), /kestrel_aggregator_ingest_batches_waiting\{[^}]*\} 1/);
  assert.equal(answerB.state.done, false);
  assert.equal(submitted.length, 0);
  const bRefused = assert.rejects(answerB.promise, (err: { code?: number }) => err.code === Status.INVALID_ARGUMENT);
  open();
  await eventually(() => submitted.length === 1);
  await bRefused;
  await eventually(() => svc.openBatches.open === 0 && svc.openBatches.waiting === 0);
  // node-a goes on with its turn free again.
  room = Promise.resolve();
  a.send(2, [chunk(4, 3)]);
  await eventually(() => submitted.length === 2);
  a.close();
  b.close();
});

test('batches keep being submitted while earlier ones wait for delivery', async () => {
  const { sink, submitted } = fakeUplink();
  const agent = agentSide();
  const responses = service(sink).stream(agent.requests, agent.context)[Symbol.asyncIterator]();
  await responses.next();
  for (let i = 1; i <= 5; i++) agent.send(i, [chunk(i * 10, 3)]);
  await eventually(() => submitted.length === 5);
  for (const s of submitted) s.deliver();
  for (let i = 1; i <= 5; i++) assert.deepEqual((await responses.next()).value?.message, { $case: 'ack', value: { sequence: i } });
  agent.close();
});

test('lines from an agent of an older version (LogLine objects) are forwarded like framed ones, replays dropped the same way', async () => {
  const { sink, submitted } = fakeUplink();
  const agent = agentSide();
  const responses = service(sink).stream(agent.requests, agent.context)[Symbol.asyncIterator]();
  await responses.next();
  agent.send(1, [chunk(1, 3, true)]);
  agent.send(2, [chunk(2, 3)]); // lines 2-3 again (framed this time), then 4
  await eventually(() => submitted.length === 2);
  assert.deepEqual(submitted.flatMap((s) => s.logs.logEntries.map((e) => e.message)), ['line 1', 'line 2', 'line 3', 'line 4']);
  for (const s of submitted) s.deliver();
  assert.deepEqual((await responses.next()).value?.message, { $case: 'ack', value: { sequence: 1 } });
  assert.deepEqual((await responses.next()).value?.message, { $case: 'ack', value: { sequence: 2 } });
  agent.close();
});

test('framed lines whose sizes do not match their bytes end the stream with INVALID_ARGUMENT before anything is submitted', async () => {
  const { sink, submitted } = fakeUplink();
  const registry = createRegistry('t', false);
  const agent = agentSide();
  const responses = service(sink, registry).stream(agent.requests, agent.context)[Symbol.asyncIterator]();
  await responses.next();
  const good = chunk(1, 2);
  const bad = LogChunk.fromPartial({ ...chunk(10, 3), entrySizes: [4, 4, 4] });
  agent.send(1, [good, bad]);
  await assert.rejects(responses.next(), (err: { code?: number; details?: string }) => err.code === Status.INVALID_ARGUMENT && /size|frame|add up/.test(err.details ?? ''));
  assert.equal(submitted.length, 0);
  assert.match(await registry.metrics(), /kestrel_aggregator_ingest_protocol_errors_total\{reason="undecodable_batch"[^}]*\} 1/);
  agent.close();
});

/** A chunk as agents send it by default: its framed entries compressed as one segment. */
const compressed = (c: LogChunk): LogChunk => {
  const segment = deflateSegmentSync(c.entries, 6);
  return { ...c, entries: new Uint8Array(0), entriesDeflated: segment.bytes, entriesCrc32: segment.crc32 };
};

test("compressed chunks go on as the agent's segment, not kept inflated; the new part of a partly replayed one is inflated again", async () => {
  const { sink, submitted } = fakeUplink();
  const framed: { segment: boolean; bytes: number }[] = [];
  const takesSegments: IngestSink = {
    ...sink,
    takesSegments: () => true,
    submitFramedLogs(header, entries, signal) {
      framed.push({ segment: entries.segment !== undefined, bytes: entries.bytes.length });
      return sink.submitFramedLogs(header, entries.segment && entries.bytes.length === 0 ? { ...entries, bytes: inflateSegmentSync(entries.segment) } : entries, signal);
    },
  };
  const agent = agentSide();
  const responses = service(takesSegments).stream(agent.requests, agent.context)[Symbol.asyncIterator]();
  await responses.next();
  agent.send(1, [compressed(chunk(1, 3))]);
  await eventually(() => submitted.length === 1);
  assert.deepEqual(framed, [{ segment: true, bytes: 0 }]);
  // Lines 2-3 again and two new ones (a resend after a reconnect that overlaps): only 4-5 go on, as plain bytes.
  agent.send(2, [compressed(chunk(2, 4))]);
  await eventually(() => submitted.length === 2);
  assert.equal(framed[1]!.segment, false);
  assert.ok(framed[1]!.bytes > 0);
  assert.deepEqual(submitted.flatMap((s) => s.logs.logEntries.map((e) => e.message)), ['line 1', 'line 2', 'line 3', 'line 4', 'line 5']);
  agent.close();
});

test('a compressed chunk whose segment does not check out ends the stream with INVALID_ARGUMENT before anything is submitted', async () => {
  const { sink, submitted } = fakeUplink();
  const registry = createRegistry('t', false);
  const agent = agentSide();
  const responses = service(sink, registry).stream(agent.requests, agent.context)[Symbol.asyncIterator]();
  await responses.next();
  const bad = compressed(chunk(10, 3));
  bad.entriesCrc32 = (bad.entriesCrc32 ^ 1) >>> 0;
  agent.send(1, [compressed(chunk(1, 2)), bad]);
  await assert.rejects(responses.next(), (err: { code?: number; details?: string }) => err.code === Status.INVALID_ARGUMENT && /CRC-32/.test(err.details ?? ''));
  assert.equal(submitted.length, 0);
  assert.match(await registry.metrics(), /kestrel_aggregator_ingest_protocol_errors_total\{reason="undecodable_batch"[^}]*\} 1/);
  agent.close();
});
