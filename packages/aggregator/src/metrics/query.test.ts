import assert from 'node:assert/strict';
import { test } from 'node:test';
import { MetricsQueryResponse, OTelMetricType, type MetricsQueryRequest } from '@kestrel/proto/cloud/v1';
import { answerQuery, msToTimestamp, thin } from './query.js';
import { MetricsStore, NO_CONTEXT, type KubeContext, type SeriesMeta } from './store.js';

const NOW = 1_764_000_000_000;
const meta = (name: string, kind: SeriesMeta['kind'] = 'gauge'): SeriesMeta => ({ name, description: 'd', unit: 'u', kind, temporality: 0, monotonic: false, scopeName: 's', scopeVersion: '1' });
const ctx = (namespace: string, workloadName: string, podName: string): KubeContext => ({ ...NO_CONTEXT, namespace, workloadName, workloadKind: 'Deployment', podName, nodeName: 'node-1' });
const q = (fields: Partial<MetricsQueryRequest>): MetricsQueryRequest => ({
  requestId: 'r1',
  namespace: '',
  workloadName: '',
  workloadKind: '',
  podName: '',
  podNamePrefix: '',
  metricNames: [],
  labelMatchers: {},
  startTime: undefined,
  endTime: undefined,
  maxSeries: 0,
  maxDataPoints: 0,
  ...fields,
});

function filled(): MetricsStore {
  const s = new MetricsStore({ retentionMs: 30 * 60_000, maxSeries: 1000, maxPointsPerSeries: 60, maxBytes: 1e9, maxFutureSkewMs: 60_000 }, { seriesEvicted() {}, pointsDropped() {} }, () => NOW);
  for (const [ns, wl, pod] of [['shop', 'cart', 'cart-a'], ['shop', 'cart', 'cart-b'], ['shop', 'pay', 'pay-a'], ['ops', 'cart', 'cart-x']] as const) {
    for (let i = 0; i < 10; i++) {
      s.write(meta('http.errors'), ctx(ns, wl, pod), { route: '/buy' }, { timeMs: NOW - 60_000 * (10 - i), startMs: 0, value: i });
      s.write(meta('mem'), ctx(ns, wl, pod), {}, { timeMs: NOW - 60_000 * (10 - i), startMs: 0, value: 100 + i });
    }
  }
  return s;
}

const limits = { maxResponseBytes: 8 * 1024 * 1024, maxSeries: 10_000 };

test('filters by namespace, workload, pod, pod prefix, metric names and labels', () => {
  const s = filled();
  const pods = (r: MetricsQueryResponse) => r.metrics.map((m) => `${m.namespace}/${m.podName}/${m.name}`);
  assert.deepEqual(pods(answerQuery(s, q({ namespace: 'shop', workloadName: 'cart', metricNames: ['http.errors'] }), limits, NOW).response), ['shop/cart-a/http.errors', 'shop/cart-b/http.errors']);
  assert.deepEqual(pods(answerQuery(s, q({ podName: 'pay-a', metricNames: ['mem'] }), limits, NOW).response), ['shop/pay-a/mem']);
  assert.deepEqual(pods(answerQuery(s, q({ podNamePrefix: 'cart-', workloadKind: 'deployment', metricNames: ['http.*'], labelMatchers: { route: '/buy' } }), limits, NOW).response).length, 3);
  assert.equal(answerQuery(s, q({ labelMatchers: { route: '/other' } }), limits, NOW).response.totalSeriesMatched, 0);
});

test('answers with Kubernetes context, labels, type and points in the time range', () => {
  const s = filled();
  const { response } = answerQuery(s, q({ podName: 'cart-a', metricNames: ['http.errors'], startTime: msToTimestamp(NOW - 3 * 60_000), endTime: msToTimestamp(NOW) }), limits, NOW);
  const [m] = response.metrics;
  assert.equal(response.requestId, 'r1');
  assert.deepEqual(
    { ...m, dataPoints: m!.dataPoints.map((p) => p.value) },
    { name: 'http.errors', description: 'd', unit: 'u', type: OTelMetricType.OTEL_METRIC_TYPE_GAUGE, namespace: 'shop', workloadName: 'cart', workloadKind: 'Deployment', podName: 'cart-a', containerName: '', nodeName: 'node-1', labels: { route: '/buy' }, dataPoints: [7, 8, 9], scopeName: 's', scopeVersion: '1' },
  );
  assert.deepEqual(m!.dataPoints[2]!.timestamp, msToTimestamp(NOW - 60_000));
});

test('max_data_points thins evenly and keeps the newest; max_series caps and says truncated', () => {
  assert.deepEqual(thin([1, 2, 3, 4, 5, 6, 7].map((v) => ({ timeMs: v, startMs: 0, value: v })), 3).map((p) => p.value), [1, 4, 7]);
  const s = filled();
  const { response, outcome } = answerQuery(s, q({ metricNames: ['mem'], maxSeries: 2, maxDataPoints: 2 }), limits, NOW);
  assert.equal(outcome, 'truncated');
  assert.deepEqual([response.totalSeriesMatched, response.totalSeriesReturned, response.truncated], [4, 2, true]);
  assert.deepEqual(response.metrics[0]!.dataPoints.map((p) => p.value), [100, 109]);
});

test('a large answer stays under the byte limit and says how many series were left out', () => {
  const s = filled();
  const small = { maxResponseBytes: 2000, maxSeries: 10_000 };
  const { response } = answerQuery(s, q({}), small, NOW);
  assert.ok(MetricsQueryResponse.encode(response).finish().length <= 2000);
  assert.ok(response.truncated && response.totalSeriesReturned > 0 && response.totalSeriesReturned < 8);
  assert.match(response.errorMessage, /of 8 matching series left out/);
});

test('an inverted time range is refused with a clear error', () => {
  const { response, outcome } = answerQuery(filled(), q({ startTime: msToTimestamp(NOW), endTime: msToTimestamp(NOW - 1000) }), limits, NOW);
  assert.equal(outcome, 'invalid');
  assert.equal(response.errorMessage, 'start_time is after end_time');
});
