// A series explosion against the aggregator process: 1,000,000 distinct series (plus points that must be refused)
// sent over OTLP/gRPC. The store keeps to its limits by evicting the least recently written series, the process RSS
// (read from /proc while it runs) stays under the bound this test gives it, and /metrics and the debug view report
// the evictions and the refusals by reason.
//
// The bound: the store's budget (metricsMaxBytes) plus the process's own working set, with V8's heap capped as a
// container memory limit caps it in a cluster (Node sizes its heap from the cgroup limit; here there is none, so the
// test sets --max-old-space-size as the chart's 1 GiB limit would, scaled down). Without a cap V8 lets evicted
// series pile up as garbage far beyond what is live: the cap is what turns "live data is bounded" into "RSS is".
import assert from 'node:assert/strict';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { test } from 'node:test';
import * as grpc from '@grpc/grpc-js';
import { ExportMetricsServiceRequest, ExportMetricsServiceResponse } from '@kestrel/proto/otlp/collector/metrics/v1';
import { runToEnd } from './harness/process.js';
import { programs } from './harness/repo.js';
import { createInternalPki, startAggregator, startCloudDev } from './harness/system.js';

const SERIES = 1_000_000;
const PER_REQUEST = 10_000;
const MAX_SERIES = 100_000;
const MAX_BYTES = 96 * 1024 * 1024;
/** The process may hold the store's budget and its own working set; past this the bound is broken. */
const RSS_BOUND = 384 * 1024 * 1024;
const HEAP_CAP_MIB = 192;

function rssOf(pid: number): number {
  const m = /VmRSS:\s+(\d+) kB/.exec(fs.readFileSync(`/proc/${pid}/status`, 'utf8'));
  return m ? Number(m[1]) * 1024 : 0;
}

type KeyValue = ExportMetricsServiceRequest['resourceMetrics'][number]['scopeMetrics'][number]['metrics'][number]['metadata'][number];
const str = (key: string, value: string): KeyValue => ({ key, value: { value: { $case: 'stringValue', value } } });

function batch(first: number, count: number, nowNs: number, extra: { tooOld: number; tooWide: number }): ExportMetricsServiceRequest {
  const points = Array.from({ length: count }, (_, i) => ({
    attributes: [str('request.id', `r-${first + i}`), str('route', '/checkout')],
    startTimeUnixNano: 0,
    timeUnixNano: nowNs,
    value: { $case: 'asDouble' as const, value: first + i },
    exemplars: [],
    flags: 0,
  }));
  for (let i = 0; i < extra.tooOld; i++) points.push({ ...points[0]!, timeUnixNano: nowNs - 2 * 3600 * 1e9 });
  const wide = Array.from({ length: 300 }, (_, i) => str(`a${i}`, 'x'));
  for (let i = 0; i < extra.tooWide; i++) points.push({ ...points[0]!, attributes: wide });
  return {
    resourceMetrics: [
      {
        resource: { attributes: [str('k8s.namespace.name', 'shop'), str('k8s.pod.name', 'cart-1'), str('k8s.deployment.name', 'cart')], droppedAttributesCount: 0 },
        schemaUrl: '',
        scopeMetrics: [{ scope: undefined, schemaUrl: '', metrics: [{ name: 'http.requests.by_id', description: 'a label with one value per request: the classic explosion', unit: '1', metadata: [], data: { $case: 'gauge', value: { dataPoints: points } } }] }],
      },
    ],
  };
}

test('1,000,000 distinct series keep the aggregator under its memory bound, evicting least recently written series and counting evictions and refusals', { timeout: 600_000 }, async () => {
  const workDir = fs.mkdtempSync(path.join(os.tmpdir(), 'kestrel-e2e-explosion-'));
  const { cloud, cloudDir, address } = await startCloudDev(workDir, '5s');
  const pki = createInternalPki(path.join(workDir, 'internal-pki'));
  let agg: Awaited<ReturnType<typeof startAggregator>> | undefined;
  try {
    agg = await startAggregator(workDir, 'agg-0', cloudDir, address, pki, {
      KESTREL_AGGREGATOR_OTLP_LISTEN: '127.0.0.1:0',
      KESTREL_AGGREGATOR_METRICS_MAX_SERIES: String(MAX_SERIES),
      KESTREL_AGGREGATOR_METRICS_MAX_BYTES: String(MAX_BYTES),
      // The heap cap, and a small young generation as the agent's image sets it (--max-semi-space-size=8).
      NODE_OPTIONS: `--max-old-space-size=${HEAP_CAP_MIB} --max-semi-space-size=8`,
    });
    const started = agg.aggregator.lines.find((l) => l.message === 'kestrel-aggregator started')!;
    const port = Number(String(started['otlp']).split(':').at(-1));
    const pid = agg.aggregator.pid!;
    const client = new grpc.Client(`127.0.0.1:${port}`, grpc.credentials.createInsecure());
    const exportOnce = (request: ExportMetricsServiceRequest) =>
      new Promise<ExportMetricsServiceResponse>((resolve, reject) =>
        client.makeUnaryRequest(
          '/opentelemetry.proto.collector.metrics.v1.MetricsService/Export',
          (r: ExportMetricsServiceRequest) => Buffer.from(ExportMetricsServiceRequest.encode(r).finish()),
          (b: Buffer) => ExportMetricsServiceResponse.decode(b),
          request,
          (err, response) => (err || !response ? reject(err ?? new Error('no response')) : resolve(response)),
        ),
      );
    let peak = rssOf(pid);
    const sampler = setInterval(() => (peak = Math.max(peak, rssOf(pid))), 50);
    let rejected = 0;
    try {
      for (let first = 0; first < SERIES; first += PER_REQUEST) {
        const extra = first % 100_000 === 0 ? { tooOld: 10, tooWide: 5 } : { tooOld: 0, tooWide: 0 };
        const response = await exportOnce(batch(first, PER_REQUEST, Date.now() * 1e6, extra));
        rejected += response.partialSuccess?.rejectedDataPoints ?? 0;
      }
    } finally {
      clearInterval(sampler);
      client.close();
    }
    peak = Math.max(peak, rssOf(pid));
    assert.equal(rejected, 10 * 15, 'every refused point was reported back as partial success');
    assert.ok(peak < RSS_BOUND, `aggregator RSS peaked at ${(peak / 1048576).toFixed(0)} MiB, bound ${RSS_BOUND / 1048576} MiB`);

    const view = JSON.parse((await runToEnd(programs.aggregator, ['debug', 'metrics', '-o', 'json', '--socket', agg.adminSocket])).stdout) as {
      series: number;
      estimatedBytes: number;
      rejected: Record<string, number>;
      seriesEvicted: Record<string, number>;
    };
    assert.ok(view.series <= MAX_SERIES && view.series > 0, `series held: ${view.series}`);
    assert.ok(view.estimatedBytes <= MAX_BYTES);
    assert.equal(view.series + (view.seriesEvicted['max_series'] ?? 0) + (view.seriesEvicted['max_bytes'] ?? 0), SERIES, 'every series is either held or counted as evicted');
    assert.deepEqual(view.rejected, { too_old: 100, too_many_attributes: 50 });

    const text = await (await fetch(`http://${String(started['http'])}/metrics`)).text();
    const evicted = [...text.matchAll(/kestrel_aggregator_metrics_store_series_evicted_total\{[^}]*reason="(max_series|max_bytes)"[^}]*\} (\d+)/g)].reduce((n, m) => n + Number(m[2]), 0);
    assert.equal(evicted, SERIES - view.series);
    assert.match(text, /kestrel_aggregator_otlp_data_points_rejected_total\{[^}]*reason="too_old"[^}]*\} 100/);
    assert.match(text, /kestrel_aggregator_otlp_data_points_rejected_total\{[^}]*reason="too_many_attributes"[^}]*\} 50/);
    // The newest series are the ones kept.
    const q = await runToEnd(programs.cloudDev, ['request', '--dir', cloudDir, '--kind', 'metricsQueryRequest', '--body', JSON.stringify({ namespace: '', workloadName: '', workloadKind: '', podName: '', podNamePrefix: '', metricNames: [], labelMatchers: { 'request.id': `r-${SERIES - 1}` }, maxSeries: 0, maxDataPoints: 0 }), '--timeout', '60s']);
    assert.equal(q.code, 0, q.stderr);
    assert.equal((JSON.parse(q.stdout) as { answer: { value: { totalSeriesMatched: number } } }).answer.value.totalSeriesMatched, 1);
    process.stdout.write(`# explosion: ${SERIES} series sent, ${view.series} held, peak RSS ${(peak / 1048576).toFixed(0)} MiB\n`);
  } finally {
    await agg?.aggregator.stop();
    await cloud.stop();
  }
});
