// OTLP metrics ingest in the aggregator, with the code it runs:
//  1. data points/s through decode + Kubernetes context + store writes, in one process (no network), for a
//     realistic mix: BENCH_OTLP_SERIES series (50 pods x metrics x attribute sets) written again and again;
//  2. the same bytes over real gRPC on loopback to the OtlpReceiver (grpc-js framing and the event loop included),
//     one client, requests of BENCH_OTLP_BATCH points sent one after another;
//  3. store memory per series: heap growth (after GC) of a store holding BENCH_OTLP_MEMORY_SERIES series with
//     BENCH_OTLP_POINTS points each, against the store's own estimate (what metricsMaxBytes is checked against).
// Run alone: `make bench BENCH=otlp`.
import * as grpc from '@grpc/grpc-js';
import { createLogger, createRegistry } from '@kestrel/core';
import { ExportMetricsServiceRequest, ExportMetricsServiceResponse } from '@kestrel/proto/otlp/collector/metrics/v1';
import { DEFAULT_INGEST_LIMITS, DEFAULT_STORE_LIMITS, EXPORT_PATH, MetricsEvents, MetricsIngest, MetricsStore, OtlpReceiver, decodeExportRequest } from '@kestrel/aggregator/metrics';

const SERIES = Number(process.env.BENCH_OTLP_SERIES ?? 20_000);
const BATCH = Number(process.env.BENCH_OTLP_BATCH ?? 2_000);
const POINTS = Number(process.env.BENCH_OTLP_POINTS_TOTAL ?? 1_000_000);
const MEMORY_SERIES = Number(process.env.BENCH_OTLP_MEMORY_SERIES ?? 100_000);
const POINTS_PER_SERIES = Number(process.env.BENCH_OTLP_POINTS ?? 1);
const logger = createLogger('bench', 'error');

type KeyValue = ExportMetricsServiceRequest['resourceMetrics'][number]['scopeMetrics'][number]['metrics'][number]['metadata'][number];
const str = (key: string, value: string): KeyValue => ({ key, value: { value: { $case: 'stringValue', value } } });
const METRICS = ['http.server.request.duration', 'http.server.active_requests', 'process.memory.rss', 'db.client.operation.duration'];

/** One Export of BATCH points: pods in turn, each with its metrics and a few routes, like a collector batch. */
function request(first: number, timeMs: number): Buffer {
  const byPod = new Map<number, { name: string; attrs: KeyValue[]; value: number }[]>();
  for (let i = 0; i < BATCH; i++) {
    const s = (first + i) % SERIES;
    const pod = s % 50;
    const rest = Math.floor(s / 50);
    const list = byPod.get(pod) ?? [];
    list.push({ name: METRICS[rest % METRICS.length]!, attrs: [str('http.route', `/api/v${rest % 7}/items/${Math.floor(rest / 28)}`), str('http.request.method', 'GET'), str('http.response.status_code', String(200 + (rest % 3)))], value: first + i });
    byPod.set(pod, list);
  }
  const timeUnixNano = timeMs * 1e6;
  return Buffer.from(
    ExportMetricsServiceRequest.encode({
      resourceMetrics: [...byPod].map(([pod, points]) => ({
        resource: { attributes: [str('service.name', `svc-${pod % 10}`), str('k8s.namespace.name', `ns-${pod % 5}`), str('k8s.pod.name', `svc-${pod % 10}-7d4b9c-${pod}`), str('k8s.deployment.name', `svc-${pod % 10}`), str('k8s.node.name', `node-${pod % 3}`)], droppedAttributesCount: 0 },
        schemaUrl: '',
        scopeMetrics: [
          {
            scope: { name: 'app', version: '1.0.0', attributes: [], droppedAttributesCount: 0 },
            schemaUrl: '',
            metrics: points.map((p) => ({ name: p.name, description: '', unit: 's', metadata: [], data: { $case: 'gauge' as const, value: { dataPoints: [{ attributes: p.attrs, startTimeUnixNano: 0, timeUnixNano, value: { $case: 'asDouble' as const, value: p.value }, exemplars: [], flags: 0 }] } } })),
          },
        ],
      })),
    }).finish(),
  );
}

function newStore(maxSeries = SERIES * 2) {
  const events = new MetricsEvents(createRegistry('bench', false), logger);
  const store = new MetricsStore({ ...DEFAULT_STORE_LIMITS, maxSeries, maxBytes: 4 * 1024 ** 3 }, events);
  return { store, events, ingest: new MetricsIngest(store, events, DEFAULT_INGEST_LIMITS, undefined, false) };
}

// Requests are made up front (the exporter's work is not ours to measure); each carries its own timestamp so that
// every write is a new point, not a replacement.
const start = Date.now() - 60_000;
const requests = Array.from({ length: Math.ceil(POINTS / BATCH) }, (_, i) => request(i * BATCH, start + i));
const bytes = requests.reduce((n, r) => n + r.length, 0);
process.stdout.write(`${requests.length} requests of ${BATCH} points (${SERIES} series), ${(bytes / requests.length / 1024).toFixed(0)} KiB each\n`);

{
  const { ingest, store } = newStore();
  const t0 = process.hrtime.bigint();
  for (const r of requests) ingest.ingest(decodeExportRequest(r), 'bench', undefined);
  const s = Number(process.hrtime.bigint() - t0) / 1e9;
  process.stdout.write(`in process: ${Math.round(requests.length * BATCH / s).toLocaleString('en')} data points/s (decode + context + store; ${store.seriesCount} series, ${store.pointCount} points held)\n`);
}

{
  const { ingest, events } = newStore();
  const receiver = new OtlpReceiver({ listen: '127.0.0.1:0', tls: undefined, maxReceiveMessageBytes: 64 * 1024 * 1024, maxConcurrentStreams: 16 }, ingest, events, logger);
  const port = await receiver.start();
  const client = new grpc.Client(`127.0.0.1:${port}`, grpc.credentials.createInsecure(), { 'grpc.max_send_message_length': 64 * 1024 * 1024 });
  const send = (r: Buffer) =>
    new Promise<void>((resolve, reject) => client.makeUnaryRequest(EXPORT_PATH, (b: Buffer) => b, (b: Buffer) => ExportMetricsServiceResponse.decode(b), r, (err) => (err ? reject(err) : resolve())));
  await send(requests[0]!);
  const t0 = process.hrtime.bigint();
  for (const r of requests) await send(r);
  const s = Number(process.hrtime.bigint() - t0) / 1e9;
  process.stdout.write(`over gRPC (loopback, one client, sequential): ${Math.round(requests.length * BATCH / s).toLocaleString('en')} data points/s\n`);
  client.close();
  await receiver.stop();
}

{
  const gc = (globalThis as { gc?: () => void }).gc;
  if (!gc) throw new Error('run with --expose-gc (make bench does)');
  gc();
  const before = process.memoryUsage().heapUsed;
  const { store, ingest } = newStore(MEMORY_SERIES + 1);
  const saved = { series: SERIES };
  for (let p = 0; p < POINTS_PER_SERIES; p++) {
    for (let first = 0; first < MEMORY_SERIES; first += BATCH) {
      // Distinct series: shift the series space per batch.
      ingest.ingest(decodeExportRequest(memoryRequest(first, start + p * 1000)), 'bench', undefined);
    }
  }
  void saved;
  gc();
  const after = process.memoryUsage().heapUsed;
  process.stdout.write(
    `store memory: ${store.seriesCount} series x ${POINTS_PER_SERIES} point(s): heap +${((after - before) / 1048576).toFixed(1)} MiB = ${Math.round((after - before) / store.seriesCount)} bytes per series (store's estimate ${Math.round(store.estimatedBytes / store.seriesCount)} bytes per series)\n`,
  );
}

/** BATCH distinct series starting at `first`, one point each (series = pod x metric x route). */
function memoryRequest(first: number, timeMs: number): Buffer {
  const points = Array.from({ length: Math.min(BATCH, MEMORY_SERIES - first) }, (_, i) => {
    const s = first + i;
    return { attributes: [str('http.route', `/api/items/${s}`), str('http.request.method', 'GET')], startTimeUnixNano: 0, timeUnixNano: timeMs * 1e6, value: { $case: 'asDouble' as const, value: s }, exemplars: [], flags: 0 };
  });
  return Buffer.from(
    ExportMetricsServiceRequest.encode({
      resourceMetrics: [
        {
          resource: { attributes: [str('k8s.namespace.name', 'shop'), str('k8s.pod.name', 'cart-7d4b9c-abcde'), str('k8s.deployment.name', 'cart'), str('k8s.node.name', 'node-1')], droppedAttributesCount: 0 },
          schemaUrl: '',
          scopeMetrics: [{ scope: undefined, schemaUrl: '', metrics: [{ name: 'http.server.request.duration', description: '', unit: 's', metadata: [], data: { $case: 'gauge', value: { dataPoints: points } } }] }],
        },
      ],
    }).finish(),
  );
}
