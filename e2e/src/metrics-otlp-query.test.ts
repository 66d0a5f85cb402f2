// Metrics end to end: pods of two workloads export with the real OpenTelemetry JS SDK and OTLP/gRPC exporter (over
// TLS, one of them gzip-compressed) to the aggregator process; MetricsQueryRequest sent through cloud-dev's console
// comes back on the control stream with the right series, values and Kubernetes context — from resource attributes
// for one workload, resolved through the pod index (the Kubernetes API test server) for the other.
import assert from 'node:assert/strict';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { test } from 'node:test';
import * as grpc from '@grpc/grpc-js';
import { OTelMetricType } from '@kestrel/proto/cloud/v1';
import { OTLPMetricExporter } from '@opentelemetry/exporter-metrics-otlp-grpc';
import { resourceFromAttributes } from '@opentelemetry/resources';
import { AggregationType, MeterProvider, PeriodicExportingMetricReader, type ViewOptions } from '@opentelemetry/sdk-metrics';
import { eventually } from './harness/in-process-uplink.js';
import { runToEnd } from './harness/process.js';
import { programs } from './harness/repo.js';
import { createInternalPki, startAggregator, startCloudDev } from './harness/system.js';
import { startKubeApiServer } from './kube-api-server/index.js';

interface OTelMetric {
  name: string;
  type: number;
  namespace: string;
  workloadName: string;
  workloadKind: string;
  podName: string;
  nodeName: string;
  labels: Record<string, string>;
  dataPoints: {
    value?: number;
    count?: string | number;
    sum?: number;
    min?: number;
    max?: number;
    bucketCounts?: (string | number)[];
    bucketBounds?: number[];
    exponentialHistogram?: { scale: number; zeroCount: string | number; positive?: { offset: number; bucketCounts: (string | number)[] } };
  }[];
}
interface MetricsAnswer {
  stream: string;
  requestId: string;
  answer: { $case: string; value: { requestId: string; metrics?: OTelMetric[]; totalSeriesMatched?: number; totalSeriesReturned?: number; truncated?: boolean; errorMessage?: string } };
}

/** One pod's application: its own MeterProvider and exporter, as the SDK runs in a real process. */
async function exportFrom(port: number, ca: Buffer, attributes: Record<string, string>, record: (meter: ReturnType<MeterProvider['getMeter']>) => void, gzip: boolean, views: ViewOptions[] = []): Promise<void> {
  const exporter = new OTLPMetricExporter({ url: `https://localhost:${port}`, credentials: grpc.credentials.createSsl(ca), ...(gzip ? { compression: 'gzip' as never } : {}) });
  const provider = new MeterProvider({ resource: resourceFromAttributes(attributes), views, readers: [new PeriodicExportingMetricReader({ exporter, exportIntervalMillis: 3_600_000 })] });
  record(provider.getMeter('shop-app', '1.4.2'));
  await provider.forceFlush();
  await provider.shutdown();
}

test('metrics exported by pods of two workloads with the OpenTelemetry JS exporter come back through MetricsQueryRequest with Kubernetes context', { timeout: 180_000 }, async () => {
  const workDir = fs.mkdtempSync(path.join(os.tmpdir(), 'kestrel-e2e-metrics-'));
  const kube = await startKubeApiServer();
  const { cloud, cloudDir, address } = await startCloudDev(workDir, '5s');
  const pki = createInternalPki(path.join(workDir, 'internal-pki'));
  const kubeconfig = kube.writeKubeconfig(path.join(workDir, 'kubeconfig'));
  let agg: Awaited<ReturnType<typeof startAggregator>> | undefined;
  const request = async (body: Record<string, unknown>): Promise<MetricsAnswer> => {
    const full = { namespace: '', workloadName: '', workloadKind: '', podName: '', podNamePrefix: '', metricNames: [], labelMatchers: {}, maxSeries: 0, maxDataPoints: 0, ...body };
    const args = ['request', '--dir', cloudDir, '--kind', 'metricsQueryRequest', '--body', JSON.stringify(full), '--timeout', '60s'];
    let r = await runToEnd(programs.cloudDev, args);
    for (let i = 0; i < 40 && r.code !== 0 && /no operator is connected/.test(r.stderr); i++) {
      await new Promise((res) => setTimeout(res, 500));
      r = await runToEnd(programs.cloudDev, args);
    }
    assert.equal(r.code, 0, r.stderr);
    return JSON.parse(r.stdout) as MetricsAnswer;
  };
  try {
    kube.ensureNamespace('shop');
    const pod = (name: string, node: string, ip: string, owner: { kind: string; name: string }, hash?: string) =>
      kube.create({
        apiVersion: 'v1',
        kind: 'Pod',
        metadata: { name, namespace: 'shop', labels: hash ? { 'pod-template-hash': hash } : {}, ownerReferences: [{ apiVersion: 'apps/v1', kind: owner.kind, name: owner.name, uid: `${owner.name}-uid`, controller: true }] },
        spec: { nodeName: node, containers: [{ name: 'app', image: 'app:1' }] },
        status: { phase: 'Running', podIP: ip },
      });
    pod('cart-5c6f-aaaaa', 'node-1', '10.0.0.11', { kind: 'ReplicaSet', name: 'cart-5c6f' }, '5c6f');
    pod('cart-5c6f-bbbbb', 'node-2', '10.0.0.12', { kind: 'ReplicaSet', name: 'cart-5c6f' }, '5c6f');
    pod('pay-0', 'node-2', '10.0.0.21', { kind: 'StatefulSet', name: 'pay' });

    agg = await startAggregator(workDir, 'agg-0', cloudDir, address, pki, {
      KESTREL_AGGREGATOR_KUBECONFIG: kubeconfig,
      KESTREL_AGGREGATOR_CLUSTER_WATCH: 'off',
      KESTREL_AGGREGATOR_OTLP_LISTEN: '127.0.0.1:0',
      KESTREL_AGGREGATOR_OTLP_TLS_CERT_FILE: pki.aggregator.cert,
      KESTREL_AGGREGATOR_OTLP_TLS_KEY_FILE: pki.aggregator.key,
      KESTREL_AGGREGATOR_OTLP_TLS_CA_FILE: pki.ca,
    });
    const started = agg.aggregator.lines.find((l) => l.message === 'kestrel-aggregator started')!;
    const otlpPort = Number(String(started['otlp']).split(':').at(-1));
    const socket = agg.adminSocket;
    await eventually('the pod index has the three pods', async () => {
      const view = await runToEnd(programs.aggregator, ['debug', 'metrics', '-o', 'json', '--socket', socket]);
      const v = JSON.parse(view.stdout || '{}') as { podIndex?: { pods: number; synced: boolean } };
      return v.podIndex?.synced === true && v.podIndex.pods === 3;
    });

    const ca = fs.readFileSync(pki.ca);
    // cart: the context comes in the resource (as OTEL_RESOURCE_ATTRIBUTES from the downward API would set it).
    for (const [podName, node, errors, gzip] of [['cart-5c6f-aaaaa', 'node-1', 3, false], ['cart-5c6f-bbbbb', 'node-2', 5, true]] as const) {
      await exportFrom(
        otlpPort,
        ca,
        { 'service.name': 'cart', 'k8s.namespace.name': 'shop', 'k8s.pod.name': podName, 'k8s.deployment.name': 'cart', 'k8s.node.name': node },
        (meter) => {
          meter.createCounter('http.server.errors', { unit: '{error}', description: 'failed requests' }).add(errors, { 'http.route': '/checkout' });
          meter.createGauge('process.memory.rss', { unit: 'By' }).record(errors * 1_000_000);
        },
        gzip,
      );
    }
    // pay: only the pod name; namespace, workload and node are resolved from the pod index.
    await exportFrom(
      otlpPort,
      ca,
      { 'service.name': 'pay', 'k8s.pod.name': 'pay-0' },
      (meter) => {
        const h = meter.createHistogram('http.server.duration', { unit: 'ms' });
        for (const v of [10, 20, 300]) h.record(v, { 'http.route': '/pay' });
        // The SDK's exponential histogram (a view selects it): scale, offsets and counts as the real exporter encodes them.
        const size = meter.createHistogram('http.request.body.size', { unit: 'By' });
        for (const v of [100, 200, 400, 800]) size.record(v);
      },
      false,
      [{ instrumentName: 'http.request.body.size', aggregation: { type: AggregationType.EXPONENTIAL_HISTOGRAM } }],
    );

    // The cart workload's error counters: one series per pod, with its pod, node and workload.
    const cart = await request({ namespace: 'shop', workloadName: 'cart', metricNames: ['http.server.errors'] });
    assert.equal(cart.stream, 'control');
    assert.equal(cart.answer.$case, 'metricsQueryResponse');
    assert.equal(cart.answer.value.requestId, cart.requestId);
    assert.equal(cart.answer.value.totalSeriesMatched, 2);
    // forceFlush and shutdown each export once: two points of the same cumulative value.
    const bySeries = (cart.answer.value.metrics ?? []).map((m) => [m.podName, m.nodeName, m.workloadKind, m.type, m.labels['http.route'], m.labels['service.name'], [...new Set(m.dataPoints.map((p) => p.value))]]);
    assert.deepEqual(bySeries, [
      ['cart-5c6f-aaaaa', 'node-1', 'Deployment', OTelMetricType.OTEL_METRIC_TYPE_SUM, '/checkout', 'cart', [3]],
      ['cart-5c6f-bbbbb', 'node-2', 'Deployment', OTelMetricType.OTEL_METRIC_TYPE_SUM, '/checkout', 'cart', [5]],
    ]);
    assert.ok((cart.answer.value.metrics ?? []).every((m) => m.dataPoints.length >= 1 && m.dataPoints.length <= 2));

    // The pay workload's histogram, its context resolved from the pod index.
    const pay = await request({ workloadName: 'pay', metricNames: ['http.server.duration'] });
    const [h] = pay.answer.value.metrics ?? [];
    assert.ok(h, JSON.stringify(pay.answer.value));
    assert.deepEqual([h.namespace, h.podName, h.workloadName, h.workloadKind, h.nodeName, h.type], ['shop', 'pay-0', 'pay', 'StatefulSet', 'node-2', OTelMetricType.OTEL_METRIC_TYPE_HISTOGRAM]);
    const point = h.dataPoints.at(-1)!;
    assert.deepEqual([Number(point.count), point.sum, point.min, point.max], [3, 330, 10, 300]);
    assert.equal(point.bucketCounts!.map(Number).reduce((a, b) => a + b, 0), 3);
    assert.equal(point.bucketCounts!.length, point.bucketBounds!.length + 1);

    const exp = await request({ podName: 'pay-0', metricNames: ['http.request.body.size'] });
    const [e] = exp.answer.value.metrics ?? [];
    assert.ok(e, JSON.stringify(exp.answer.value));
    assert.equal(e.type, OTelMetricType.OTEL_METRIC_TYPE_EXPONENTIAL_HISTOGRAM);
    const ep = e.dataPoints.at(-1)!;
    assert.deepEqual([Number(ep.count), ep.sum, ep.min, ep.max], [4, 1500, 100, 800]);
    const eh = ep.exponentialHistogram!;
    assert.equal(eh.positive!.bucketCounts.map(Number).reduce((a, b) => a + b, 0) + Number(eh.zeroCount), 4, 'every value is in a bucket');
    // Each value falls in the bucket its scale and offset say: base 2^(2^-scale), bucket i covers (base^i, base^(i+1)].
    const base = 2 ** (2 ** -eh.scale);
    for (const v of [100, 200, 400, 800]) {
      const index = Math.ceil(Math.log(v) / Math.log(base)) - 1 - eh.positive!.offset;
      assert.ok(Number(eh.positive!.bucketCounts[index] ?? 0) >= 1, `value ${v} in bucket ${index}`);
    }

    // A pod name prefix and a gauge; and a label matcher that matches nothing.
    const mem = await request({ podNamePrefix: 'cart-5c6f-b', metricNames: ['process.memory.rss'] });
    assert.deepEqual((mem.answer.value.metrics ?? []).map((m) => [m.podName, m.type, m.dataPoints[0]!.value]), [['cart-5c6f-bbbbb', OTelMetricType.OTEL_METRIC_TYPE_GAUGE, 5_000_000]]);
    const none = await request({ labelMatchers: { 'http.route': '/nowhere' } });
    assert.equal(none.answer.value.totalSeriesMatched ?? 0, 0);

    // /metrics counts what was accepted and where the context came from.
    const http = String(started['http']);
    const text = await (await fetch(`http://${http}/metrics`)).text();
    assert.match(text, /kestrel_aggregator_otlp_data_points_total\{[^}]*outcome="accepted"[^}]*\} (\d+)/);
    assert.match(text, /kestrel_aggregator_otlp_resource_context_total\{[^}]*source="attributes"/);
    assert.match(text, /kestrel_aggregator_metrics_store_series\{[^}]*\} 6/);
  } finally {
    await agg?.aggregator.stop();
    await cloud.stop();
    await kube.stop();
  }
});
