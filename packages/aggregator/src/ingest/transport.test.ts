// The ingest transport with the real IngestService behind it, over real TLS on loopback: certificate mode refuses
// connections without a trusted certificate before any call, and refuses an agent whose certificate names another
// node after its Hello; token mode asks for no certificate; garbage and oversized messages are counted and the
// server goes on serving.
import assert from 'node:assert/strict';
import fs from 'node:fs';
import net from 'node:net';
import os from 'node:os';
import path from 'node:path';
import { after, before, test } from 'node:test';
import { createLogger, createRegistry, metricTotal, TlsReloader, type Counter, type Registry } from '@kestrel/core';
import { randomBytes } from 'node:crypto';
import { BatchContent, IngestServiceDefinition, LogChunk, type AgentMessage, type AggregatorMessage } from '@kestrel/proto/ingest/v1';
import { frameEntries } from '@kestrel/proto/cloud/v1/log-entries';
import { encodePositions } from '@kestrel/proto/ingest/v1/positions';
import { sealBatch } from '@kestrel/proto/ingest/v1/codec';
import { ChannelCredentials, ClientError, createChannel, createClient, Metadata, Status } from 'nice-grpc';
import { ReplayFilter } from '../pipeline/replay-filter.js';
import { CertificateIdentityCheck } from './certificate-identity.js';
import { IngestEvents } from './events.js';
import type { AgentIdentityCheck } from './identity.js';
import { IngestService, type IngestSink } from './service.js';
import { IngestTransport, type AgentAuthMode } from './transport.js';

const testdata = (name: string) => new URL(`../../../core/src/testdata/${name}`, import.meta.url);
const fixture = (name: string) => fs.readFileSync(testdata(name));
let dir: string;
let tls: TlsReloader;

before(() => {
  dir = fs.mkdtempSync(path.join(os.tmpdir(), 'ingest-transport-'));
  for (const [from, to] of [['server.crt', 'tls.crt'], ['server.key', 'tls.key'], ['ca.crt', 'ca.crt']]) fs.copyFileSync(testdata(from!), path.join(dir, to!));
  tls = new TlsReloader({ certFile: path.join(dir, 'tls.crt'), keyFile: path.join(dir, 'tls.key'), caFile: path.join(dir, 'ca.crt') });
});
after(() => {
  tls.close();
  fs.rmSync(dir, { recursive: true, force: true });
});

interface Running {
  transport: IngestTransport;
  address: string;
  registry: Registry;
  metric(name: string, labels?: Record<string, string>): Promise<number>;
  stop(): Promise<void>;
}

const acceptingSink: IngestSink = { submitLogs: async () => ({ delivered: Promise.resolve() }), submitFramedLogs: async () => ({ delivered: Promise.resolve() }), submitNodeCondition: async () => ({ delivered: Promise.resolve() }) };

async function start(agentAuth: AgentAuthMode, identityFor?: (transport: IngestTransport) => AgentIdentityCheck, maxReceiveMessageBytes = 1 << 20, sink = acceptingSink): Promise<Running> {
  const registry = createRegistry('t', false);
  const logger = createLogger('test', 'error');
  logger.silent = true;
  const events = new IngestEvents(registry, logger);
  const transport = new IngestTransport({
    listen: '127.0.0.1:0',
    tls,
    agentAuth,
    maxReceiveMessageBytes,
    registry,
    logger,
    handshakeTimeoutMs: 1000,
    onCallFailed: (reason, peer, details) => events.protocolError(reason, peer, details),
  });
  const identity = identityFor ? identityFor(transport) : new CertificateIdentityCheck((peer) => transport.certificateOf(peer));
  const service = new IngestService(
    'agg-test',
    sink,
    new ReplayFilter(1000),
    { maxEntries: 1000, maxBytes: 1 << 20, maxBatchContentBytes: 8 << 20 },
    identity,
    events,
    logger,
  );
  const port = await transport.start(service);
  return {
    transport,
    address: `127.0.0.1:${port}`,
    registry,
    metric: (name, labels) => metricTotal(registry.getSingleMetric(name) as Counter, labels),
    stop: () => transport.stop(1000),
  };
}

function client(address: string, identity?: string) {
  const credentials = identity
    ? ChannelCredentials.createSsl(fixture('ca.crt'), fixture(`${identity}.key`), fixture(`${identity}.crt`))
    : ChannelCredentials.createSsl(fixture('ca.crt'));
  const channel = createChannel(address, credentials, { 'grpc.ssl_target_name_override': 'localhost', 'grpc.max_send_message_length': -1 });
  return { ingest: createClient(IngestServiceDefinition, channel), close: () => channel.close() };
}

const hello = (node: string): AgentMessage => ({ message: { $case: 'hello', value: { nodeName: node, agentVersion: 'test', instanceId: 'i-1' } } });

async function batch(sequence: number, lines = 1, size = 10): Promise<AgentMessage> {
  const content = {
    logs: [
      {
        namespace: 'shop',
        podName: 'web-1',
        podUid: 'uid-1',
        containerName: 'app',
        restartCount: 0,
        file: { device: 1, inode: sequence, fingerprint: 3 },
        lines: Array.from({ length: lines }, (_, i) => ({ message: 'x'.repeat(size), stream: 'stdout', offset: i * size, endOffset: (i + 1) * size, lineNumber: i + 1, parseError: false, truncated: false, timestamp: { seconds: 1, nanos: 0 } })),
        previousContainer: false,
        streamComplete: false,
        lastLineNumber: 0,
        ownerReferences: [],
      },
    ],
    nodeConditions: [],
  };
  return { message: { $case: 'batch', value: await sealBatch(sequence, BatchContent.fromPartial(content), false) } };
}

/** Opens a stream, sends the messages, and collects what comes back until the stream ends or `until` is seen. */
async function converse(ingest: ReturnType<typeof client>['ingest'], messages: AgentMessage[], options: { metadata?: Metadata; until?: (m: AggregatorMessage) => boolean } = {}) {
  const received: AggregatorMessage[] = [];
  const controller = new AbortController();
  async function* requests() {
    for (const m of messages) yield m;
    // Keep our side open until the exchange is over.
    await new Promise((resolve) => controller.signal.addEventListener('abort', resolve, { once: true }));
  }
  try {
    for await (const m of ingest.stream(requests(), { signal: controller.signal, ...(options.metadata ? { metadata: options.metadata } : {}) })) {
      received.push(m);
      if (options.until?.(m)) break;
    }
    return { received };
  } catch (err) {
    if (err instanceof ClientError) return { received, status: err.code, details: err.details };
    throw err;
  } finally {
    controller.abort();
  }
}

const acked = (sequence: number) => (m: AggregatorMessage) => m.message?.$case === 'ack' && m.message.value.sequence === sequence;

test('certificate mode: the agent of a node is served, and only for its own node', async () => {
  const server = await start('certificate');
  const a = client(server.address, 'node-a');
  try {
    const ok = await converse(a.ingest, [hello('node-a'), await batch(1)], { until: acked(1) });
    assert.equal(ok.status, undefined);
    assert.deepEqual(ok.received.map((m) => m.message?.$case), ['welcome', 'ack']);

    const other = await converse(a.ingest, [hello('node-b')]);
    assert.equal(other.status, Status.PERMISSION_DENIED);
    assert.match(other.details ?? '', /certificate is for node "node-a", not "node-b"/);
    assert.equal(await server.metric('kestrel_aggregator_ingest_refused_total', { reason: 'wrong_node' }), 1);
  } finally {
    a.close();
    await server.stop();
  }
});

test('certificate mode: no certificate, or one the CA did not issue, is refused for the connection with a readable status', async () => {
  const server = await start('certificate');
  try {
    for (const [identity, reason, message] of [
      [undefined, 'no_client_certificate', /client certificate required/],
      ['other-ca-node-a', 'untrusted_certificate', /not issued by the internal CA/],
      ['expired-node-a', 'expired_certificate', /expired/],
      ['server-usage-node-a', 'wrong_certificate_purpose', /not valid for client authentication/],
    ] as const) {
      const c = client(server.address, identity);
      try {
        const refused = await converse(c.ingest, [hello('node-a')]);
        assert.equal(refused.status, Status.UNAUTHENTICATED, reason);
        assert.match(refused.details ?? '', message);
        assert.equal(await server.metric('kestrel_aggregator_ingest_connections_refused_total', { reason }), 1, reason);
      } finally {
        c.close();
      }
    }
    // None of them reached the ingest service.
    assert.equal(await server.metric('kestrel_aggregator_ingest_refused_total'), 0);
    // The others are still served.
    const b = client(server.address, 'node-b');
    assert.deepEqual((await converse(b.ingest, [hello('node-b'), await batch(1)], { until: acked(1) })).received.length, 2);
    b.close();
  } finally {
    await server.stop();
  }
});

test('garbage instead of TLS is counted as a failed handshake; an oversized message ends only its own stream', async () => {
  const server = await start('certificate');
  try {
    const raw = net.connect({ host: '127.0.0.1', port: Number(server.address.split(':')[1]) });
    await new Promise((resolve) => raw.once('connect', resolve));
    raw.end(Buffer.from('PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n garbage garbage garbage'));
    const deadline = Date.now() + 5000;
    while ((await server.metric('kestrel_aggregator_ingest_connections_refused_total', { reason: 'tls_handshake' })) < 1) {
      assert.ok(Date.now() < deadline, 'the failed handshake is counted');
      await new Promise((r) => setTimeout(r, 20));
    }
    raw.destroy();

    const a = client(server.address, 'node-a');
    try {
      // 2 MiB in one message, over the 1 MiB limit.
      const big = await converse(a.ingest, [hello('node-a'), await batch(1, 1, 2 << 20)]);
      assert.equal(big.status, Status.RESOURCE_EXHAUSTED);
      // grpc-js refuses it before the service sees it; the transport counts it (once).
      assert.equal(await server.metric('kestrel_aggregator_ingest_protocol_errors_total', { reason: 'message_too_large' }), 1);
      const ok = await converse(a.ingest, [hello('node-a'), await batch(2)], { until: acked(2) });
      assert.equal(ok.status, undefined);
      // Statuses the service itself sends are not counted again by the transport.
      await converse(a.ingest, [hello('node-b')]);
      assert.equal(await server.metric('kestrel_aggregator_ingest_protocol_errors_total'), 1);
      assert.equal(await server.metric('kestrel_aggregator_ingest_refused_total', { reason: 'wrong_node' }), 1);
    } finally {
      a.close();
    }
  } finally {
    await server.stop();
  }
});

test('token mode: no certificate is asked for, and the identity check decides from the metadata', async () => {
  const seen: { peer: string; authorization: string | undefined }[] = [];
  const server = await start('token', () => ({
    async verify(call, node) {
      seen.push({ peer: call.peer, authorization: call.metadata.get('authorization') });
      return call.metadata.get('authorization') === `Bearer token-of-${node}`
        ? { accepted: true, node, subject: 'test token' }
        : { accepted: false, status: Status.UNAUTHENTICATED, reason: 'invalid_token', message: 'bad token' };
    },
  }));
  const c = client(server.address);
  try {
    const ok = await converse(c.ingest, [hello('node-a'), await batch(1)], { metadata: Metadata({ authorization: 'Bearer token-of-node-a' }), until: acked(1) });
    assert.equal(ok.status, undefined);
    const bad = await converse(c.ingest, [hello('node-b')], { metadata: Metadata({ authorization: 'Bearer token-of-node-a' }) });
    assert.equal(bad.status, Status.UNAUTHENTICATED);
    assert.equal(server.transport.certificateOf(seen[0]!.peer), undefined, 'no certificate was asked for');
    assert.match(seen[0]!.peer, /^127\.0\.0\.1:\d+$/);
    assert.equal(await server.metric('kestrel_aggregator_ingest_connections_refused_total'), 0);
  } finally {
    c.close();
    await server.stop();
  }
});

test('stop() ends open agent connections within the grace period', async () => {
  const server = await start('certificate');
  const a = client(server.address, 'node-a');
  const open = converse(a.ingest, [hello('node-a')]);
  await new Promise((r) => setTimeout(r, 200));
  const started = Date.now();
  await server.stop();
  assert.ok(Date.now() - started < 3000);
  const ended = await open;
  assert.notEqual(ended.status, undefined, 'the stream ended with a status');
  a.close();
});

/** A batch of framed lines of random text (incompressible), about `bytes` long. */
async function framedBatch(sequence: number, bytes: number): Promise<AgentMessage> {
  const lines = Array.from({ length: Math.ceil(bytes / 200) }, (_, i) => ({ timestamp: { seconds: 1, nanos: i }, message: randomBytes(100).toString('hex'), level: '', lineNumber: i + 1, errorInfo: undefined }));
  const framed = frameEntries(lines);
  const chunk = LogChunk.fromPartial({
    namespace: 'shop', podName: 'web-1', podUid: 'uid-1', containerName: 'app', file: { device: 1, inode: sequence, fingerprint: 3 },
    entries: Buffer.from(framed.bytes), entrySizes: [...framed.sizes], ...encodePositions(0, framed.sizes.map((_, i) => (i + 1) * 210), framed.lineNumbers),
  });
  return { message: { $case: 'batch', value: await sealBatch(sequence, BatchContent.fromPartial({ logs: [chunk] }), false) } };
}

test("a batch received over gRPC is freed once the uplink copied its lines, not left for V8; a small one is left alone", async () => {
  const seen: { view: Uint8Array; copy: Buffer }[] = [];
  const sink: IngestSink = {
    ...acceptingSink,
    async submitFramedLogs(_header, entries, _signal, copied) {
      seen.push({ view: entries.bytes, copy: Buffer.from(entries.bytes) });
      copied?.();
      return { delivered: Promise.resolve() };
    },
  };
  const running = await start('certificate', undefined, 1 << 20, sink);
  const { ingest, close } = client(running.address, 'node-a');
  try {
    const { received } = await converse(ingest, [hello('node-a'), await framedBatch(1, 100_000), await framedBatch(2, 2_000)], { until: (m) => m.message?.$case === 'ack' && m.message.value.sequence === 2 });
    assert.deepEqual(received.filter((m) => m.message?.$case === 'ack').map((m) => m.message?.$case === 'ack' && m.message.value.sequence), [1, 2]);
    assert.equal(seen.length, 2);
    assert.ok(seen[0]!.copy.length > 90_000);
    assert.equal(seen[0]!.view.length, 0, 'the large batch was not freed');
    assert.ok(seen[1]!.copy.length > 1_000);
    assert.deepEqual(Buffer.from(seen[1]!.view), seen[1]!.copy, 'a small batch (a slice of the shared pool) was touched');
  } finally {
    close();
    await running.stop();
  }
});
