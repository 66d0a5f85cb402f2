// The OTLP receiver over real gRPC on loopback, plaintext and TLS, with the generated OTLP client: what is stored,
// what comes back as partial success, gzip, and malformed bytes.
import assert from 'node:assert/strict';
import fs from 'node:fs';
import { after, before, test } from 'node:test';
import * as grpc from '@grpc/grpc-js';
import { createLogger, createRegistry, metricTotal, TlsReloader } from '@kestrel/core';
import { MetricsServiceDefinition, type ExportMetricsServiceRequest } from '@kestrel/proto/otlp/collector/metrics/v1';
type KeyValue = ExportMetricsServiceRequest['resourceMetrics'][number]['scopeMetrics'][number]['metrics'][number]['metadata'][number];
import { ChannelCredentials, createChannel, createClient } from 'nice-grpc';
import { MetricsEvents } from './events.js';
import { DEFAULT_INGEST_LIMITS, MetricsIngest } from './ingest.js';
import { EXPORT_PATH, OtlpReceiver } from './receiver.js';
import { DEFAULT_STORE_LIMITS, MetricsStore } from './store.js';

const testdata = (name: string) => new URL(`../../../core/src/testdata/${name}`, import.meta.url);
const logger = createLogger('test', 'error');

const str = (key: string, value: string): KeyValue => ({ key, value: { value: { $case: 'stringValue', value } } });

function exportOf(points: { name: string; t: number; value?: number; attributes?: KeyValue[] }[], resource: KeyValue[] = [str('k8s.namespace.name', 'shop'), str('k8s.pod.name', 'cart-1'), str('k8s.deployment.name', 'cart')]): ExportMetricsServiceRequest {
  return {
    resourceMetrics: [
      {
        resource: { attributes: resource, droppedAttributesCount: 0 },
        schemaUrl: '',
        scopeMetrics: [
          {
            scope: undefined,
            schemaUrl: '',
            metrics: points.map((p) => ({
              name: p.name,
              description: '',
              unit: '',
              metadata: [],
              data: { $case: 'gauge', value: { dataPoints: [{ attributes: p.attributes ?? [], startTimeUnixNano: 0, timeUnixNano: p.t * 1e6, value: p.value === undefined ? undefined : { $case: 'asDouble', value: p.value }, exemplars: [], flags: 0 }] } },
            })),
          },
        ],
      },
    ],
  };
}

async function start(tls?: TlsReloader) {
  const registry = createRegistry('test', false);
  const events = new MetricsEvents(registry, logger);
  const store = new MetricsStore(DEFAULT_STORE_LIMITS, events);
  const ingest = new MetricsIngest(store, events, { ...DEFAULT_INGEST_LIMITS, maxAttributes: 64 }, undefined, false);
  const receiver = new OtlpReceiver({ listen: '127.0.0.1:0', tls, maxReceiveMessageBytes: 4 * 1024 * 1024, maxConcurrentStreams: 8 }, ingest, events, logger);
  const port = await receiver.start();
  return { registry, events, store, receiver, port };
}

let tls: TlsReloader;
before(() => {
  tls = new TlsReloader({ certFile: testdata('server.crt').pathname, keyFile: testdata('server.key').pathname, caFile: testdata('ca.crt').pathname });
});
after(() => tls.close());

test('stores what is valid, and answers partial success naming what it refused and why', async () => {
  const { store, receiver, port, events } = await start();
  const channel = createChannel(`127.0.0.1:${port}`, ChannelCredentials.createInsecure());
  const client = createClient(MetricsServiceDefinition, channel);
  const now = Date.now();
  const huge = Array.from({ length: 100 }, (_, i) => str(`attr${i}`, 'v'));
  const response = await client.export(
    exportOf([
      { name: 'cpu', t: now, value: 0.5 },
      { name: 'stale', t: now, value: NaN },
      { name: 'old', t: now - 3 * 3600_000, value: 1 },
      { name: 'wide', t: now, value: 1, attributes: huge },
      { name: 'empty', t: now },
    ]),
  );
  assert.equal(response.partialSuccess?.rejectedDataPoints, 3);
  assert.match(response.partialSuccess!.errorMessage, /too_old 1 \(old\)/);
  assert.match(response.partialSuccess!.errorMessage, /too_many_attributes 1 \(wide\)/);
  assert.match(response.partialSuccess!.errorMessage, /no_value 1 \(empty\)/);
  const stored = [...store.all()];
  assert.deepEqual(stored.map((s) => s.name).sort(), ['cpu', 'stale']);
  const cpu = stored.find((s) => s.name === 'cpu')!;
  assert.deepEqual(cpu.context, { namespace: 'shop', podName: 'cart-1', workloadName: 'cart', workloadKind: 'Deployment', containerName: '', nodeName: '' });
  assert.ok(Number.isNaN(stored.find((s) => s.name === 'stale')!.points[0]!.value));
  assert.equal(await metricTotal(events.rejected, { reason: 'too_many_attributes' }), 1);
  assert.equal(await metricTotal(events.points, { outcome: 'accepted' }), 2);
  channel.close();
  await receiver.stop();
});

test('accepts gzip-compressed requests over TLS', async () => {
  const { store, receiver, port } = await start(tls);
  const channel = createChannel(`localhost:${port}`, ChannelCredentials.createSsl(fs.readFileSync(testdata('ca.crt'))), { 'grpc.default_compression_algorithm': 2 });
  const client = createClient(MetricsServiceDefinition, channel);
  const response = await client.export(exportOf([{ name: 'mem', t: Date.now(), value: 7 }]));
  assert.equal(response.partialSuccess, undefined);
  assert.equal([...store.all()][0]!.points[0]!.value, 7);
  channel.close();
  await receiver.stop();
});

test('malformed bytes are answered INVALID_ARGUMENT with the reason, and counted; the receiver goes on', async () => {
  const { receiver, port, events, store } = await start();
  const client = new grpc.Client(`127.0.0.1:${port}`, grpc.credentials.createInsecure());
  const status = await new Promise<grpc.ServiceError | null>((resolve) =>
    client.makeUnaryRequest(EXPORT_PATH, (b: Buffer) => b, (b: Buffer) => b, Buffer.from([0x0a, 0x50, 0x01]), (err) => resolve(err)),
  );
  assert.equal(status?.code, grpc.status.INVALID_ARGUMENT);
  assert.match(status!.details, /malformed ExportMetricsServiceRequest: truncated/);
  assert.equal(await metricTotal(events.requests, { outcome: 'invalid' }), 1);
  client.close();
  const channel = createChannel(`127.0.0.1:${port}`, ChannelCredentials.createInsecure());
  await createClient(MetricsServiceDefinition, channel).export(exportOf([{ name: 'after', t: Date.now(), value: 1 }]));
  assert.equal(store.seriesCount, 1);
  channel.close();
  await receiver.stop();
});

test('out-of-order points across Exports are stored in time order; a resent point replaces, not duplicates', async () => {
  const { store, receiver, port } = await start();
  const channel = createChannel(`127.0.0.1:${port}`, ChannelCredentials.createInsecure());
  const client = createClient(MetricsServiceDefinition, channel);
  const now = Date.now();
  for (const [t, v] of [[now - 1000, 3], [now - 3000, 1], [now - 2000, 2], [now - 1000, 33]] as const) {
    const response = await client.export(exportOf([{ name: 'queue.depth', t, value: v }]));
    assert.equal(response.partialSuccess, undefined);
  }
  const [series] = [...store.all()];
  assert.deepEqual(series!.points.map((p) => p.value), [1, 2, 33]);
  channel.close();
  await receiver.stop();
});

test('a point whose attributes are too large is refused alone; a message over the size limit is refused by gRPC and counted, and the receiver goes on', async () => {
  const { store, receiver, port, events } = await start();
  const channel = createChannel(`127.0.0.1:${port}`, ChannelCredentials.createInsecure(), { 'grpc.max_send_message_length': 64 * 1024 * 1024 });
  const client = createClient(MetricsServiceDefinition, channel);
  const now = Date.now();
  const response = await client.export(exportOf([{ name: 'big', t: now, value: 1, attributes: [str('blob', 'x'.repeat(20_000))] }, { name: 'small', t: now, value: 1 }]));
  assert.equal(response.partialSuccess?.rejectedDataPoints, 1);
  assert.match(response.partialSuccess!.errorMessage, /attributes_too_large 1 \(big\)/);
  await assert.rejects(client.export(exportOf([{ name: 'huge', t: now, value: 1, attributes: [str('blob', 'x'.repeat(5 * 1024 * 1024))] }])), /RESOURCE_EXHAUSTED|larger than max/);
  assert.deepEqual([...store.all()].map((s) => s.name), ['small']);
  assert.equal(await metricTotal(events.requests, { outcome: 'message_too_large' }), 1);
  channel.close();
  await receiver.stop();
});
