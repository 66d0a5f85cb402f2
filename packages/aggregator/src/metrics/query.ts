// MetricsQueryRequest answered from this replica's store: filters by metric names, namespace, workload, pod (name or
// prefix), label matchers and time range; max_data_points thins each series evenly over the range (keeping the
// newest point); max_series caps the number of series. The answer is one MetricsQueryResponse and must stay under
// the cloud's message limit, so series are added until the next one would pass maxResponseBytes, and the answer says
// truncated=true with total_series_matched vs total_series_returned (the RequestHandler interface answers a request
// with one message, so a larger answer is cut, never split).
import { OTelMetric, OTelMetricType, type MetricsQueryRequest, type MetricsQueryResponse, type OTelMetricDataPoint } from '@kestrel/proto/cloud/v1';
import type { Timestamp } from '@kestrel/proto/google/protobuf/timestamp';
import type { MetricKind } from './otlp-decode.js';
import type { MetricsStore, Series, StoredPoint } from './store.js';

export interface QueryLimits {
  /** Encoded bytes of all series in one answer (the cloud takes messages up to 10 MiB). */
  maxResponseBytes: number;
  /** Used when the request's max_series is 0, and the cap on a larger one. */
  maxSeries: number;
}

export const DEFAULT_QUERY_LIMITS: QueryLimits = { maxResponseBytes: 8 * 1024 * 1024, maxSeries: 10_000 };

/** Room kept for the response's own fields and the envelope around it. */
const ENVELOPE_BYTES = 1024;

const TYPES: Record<MetricKind, OTelMetricType> = {
  gauge: OTelMetricType.OTEL_METRIC_TYPE_GAUGE,
  sum: OTelMetricType.OTEL_METRIC_TYPE_SUM,
  histogram: OTelMetricType.OTEL_METRIC_TYPE_HISTOGRAM,
  exponential_histogram: OTelMetricType.OTEL_METRIC_TYPE_EXPONENTIAL_HISTOGRAM,
  summary: OTelMetricType.OTEL_METRIC_TYPE_SUMMARY,
};

export const timestampToMs = (t: Timestamp | undefined): number | undefined => (t && (t.seconds !== 0 || t.nanos !== 0) ? t.seconds * 1000 + t.nanos / 1e6 : undefined);

export function msToTimestamp(ms: number): Timestamp {
  const seconds = Math.floor(ms / 1000);
  return { seconds, nanos: Math.round((ms - seconds * 1000) * 1e6) };
}

/** A metric name filter: exact, or a prefix when it ends with '*'. */
function nameMatcher(names: readonly string[]): (name: string) => boolean {
  if (names.length === 0) return () => true;
  const exact = new Set(names.filter((n) => !n.endsWith('*')));
  const prefixes = names.filter((n) => n.endsWith('*')).map((n) => n.slice(0, -1));
  return (name) => exact.has(name) || prefixes.some((p) => name.startsWith(p));
}

export function matches(series: Series, q: MetricsQueryRequest, nameOk: (n: string) => boolean): boolean {
  const c = series.context;
  if (!nameOk(series.name)) return false;
  if (q.namespace && c.namespace !== q.namespace) return false;
  if (q.workloadName && c.workloadName !== q.workloadName) return false;
  if (q.workloadKind && c.workloadKind.toLowerCase() !== q.workloadKind.toLowerCase()) return false;
  if (q.podName && c.podName !== q.podName) return false;
  if (q.podNamePrefix && !c.podName.startsWith(q.podNamePrefix)) return false;
  for (const [k, v] of Object.entries(q.labelMatchers)) if (series.labels[k] !== v) return false;
  return true;
}

/** At most `max` points, evenly spread, always keeping the newest. */
export function thin(points: StoredPoint[], max: number): StoredPoint[] {
  if (max <= 0 || points.length <= max) return points;
  if (max === 1) return [points[points.length - 1]!];
  const step = (points.length - 1) / (max - 1);
  return Array.from({ length: max }, (_, i) => points[Math.round(i * step)]!);
}

function toDataPoint(p: StoredPoint): OTelMetricDataPoint {
  return {
    timestamp: msToTimestamp(p.timeMs),
    startTimestamp: p.startMs > 0 ? msToTimestamp(p.startMs) : undefined,
    value: p.value ?? 0,
    bucketBounds: p.bounds ?? [],
    bucketCounts: p.bucketCounts ?? [],
    count: p.count ?? 0,
    sum: p.sum ?? 0,
    min: p.min ?? 0,
    max: p.max ?? 0,
    attributes: {},
    exponentialHistogram:
      p.scale === undefined
        ? undefined
        : {
            scale: p.scale,
            zeroCount: p.zeroCount ?? 0,
            zeroThreshold: p.zeroThreshold ?? 0,
            positive: p.positive ? { offset: p.positive.offset, bucketCounts: p.positive.counts } : undefined,
            negative: p.negative ? { offset: p.negative.offset, bucketCounts: p.negative.counts } : undefined,
          },
    summary: p.quantiles ? { quantileValues: p.quantiles.map(([quantile, value]) => ({ quantile, value })) } : undefined,
  };
}

export function toOTelMetric(series: Series, points: StoredPoint[]): OTelMetric {
  const c = series.context;
  return {
    name: series.name,
    description: series.description,
    unit: series.unit,
    type: TYPES[series.kind],
    namespace: c.namespace,
    workloadName: c.workloadName,
    workloadKind: c.workloadKind,
    podName: c.podName,
    containerName: c.containerName,
    nodeName: c.nodeName,
    labels: { ...series.labels },
    dataPoints: points.map(toDataPoint),
    scopeName: series.scopeName,
    scopeVersion: series.scopeVersion,
  };
}

export type QueryOutcome = 'ok' | 'truncated' | 'invalid';

export function answerQuery(store: MetricsStore, q: MetricsQueryRequest, limits: QueryLimits, now: number = Date.now()): { response: MetricsQueryResponse; outcome: QueryOutcome } {
  const fromMs = timestampToMs(q.startTime) ?? now - store.limits.retentionMs;
  const toMs = timestampToMs(q.endTime) ?? now;
  const empty = { requestId: q.requestId, metrics: [], totalSeriesMatched: 0, totalSeriesReturned: 0, truncated: false };
  if (fromMs > toMs) return { outcome: 'invalid', response: { ...empty, errorMessage: 'start_time is after end_time' } };
  if (q.maxSeries < 0 || q.maxDataPoints < 0) return { outcome: 'invalid', response: { ...empty, errorMessage: 'max_series and max_data_points must not be negative' } };
  const nameOk = nameMatcher(q.metricNames);
  const matched: [Series, StoredPoint[]][] = [];
  for (const series of store.all()) {
    if (!matches(series, q, nameOk)) continue;
    const points = store.pointsIn(series, fromMs, toMs);
    if (points.length > 0) matched.push([series, points]);
  }
  // Stable order: by metric, then where it comes from.
  matched.sort(([a], [b]) => (a.key < b.key ? -1 : a.key > b.key ? 1 : 0));
  const maxSeries = q.maxSeries > 0 ? Math.min(q.maxSeries, limits.maxSeries) : limits.maxSeries;
  const metrics: OTelMetric[] = [];
  let bytes = ENVELOPE_BYTES;
  for (const [series, points] of matched) {
    if (metrics.length >= maxSeries) break;
    const metric = toOTelMetric(series, thin(points, q.maxDataPoints));
    // Each entry costs its encoding plus a tag and a length prefix (at most 6 bytes).
    const size = OTelMetric.encode(metric).finish().length + 6;
    if (bytes + size > limits.maxResponseBytes) break;
    bytes += size;
    metrics.push(metric);
  }
  const truncated = metrics.length < matched.length;
  return {
    outcome: truncated ? 'truncated' : 'ok',
    response: {
      requestId: q.requestId,
      metrics,
      totalSeriesMatched: matched.length,
      totalSeriesReturned: metrics.length,
      truncated,
      errorMessage: truncated ? `${matched.length - metrics.length} of ${matched.length} matching series left out (max_series, or the ${limits.maxResponseBytes}-byte answer limit): narrow the query` : '',
    },
  };
}
