// From a decoded Export request to store writes: each resource's Kubernetes context is resolved once, each data
// point is checked and written, and every refused point is counted by reason. What was refused comes back to the
// sender as OTLP partial success (rejected_data_points + a message naming the reasons), as the OTLP spec asks.
import { resolveContext, type PodLookup } from './kubernetes-context.js';
import type { DecodedMetric, DecodedPoint, DecodedResourceMetrics } from './otlp-decode.js';
import type { MetricsEvents, PointRejection } from './events.js';
import { contextKey, keyOf, type MetricsStore, type SeriesMeta, type StoredPoint } from './store.js';

export interface IngestLimits {
  /** Attributes of one data point (with the resource labels kept); more and the point is refused. */
  maxAttributes: number;
  /** Bytes of one data point's attribute keys and values together. */
  maxAttributeBytes: number;
}

export const DEFAULT_INGEST_LIMITS: IngestLimits = { maxAttributes: 128, maxAttributeBytes: 16 * 1024 };

export interface IngestResult {
  accepted: number;
  rejected: number;
  /** Empty when nothing was refused; else e.g. "rejected 3 data points: too_old 2 (http.duration), no_value 1 (x)". */
  errorMessage: string;
}

const NO_RECORDED_VALUE = 1;
const nsToMs = (ns: number) => ns / 1e6;

export class MetricsIngest {
  constructor(
    private readonly store: MetricsStore,
    private readonly events: MetricsEvents,
    private readonly limits: IngestLimits,
    private readonly pods: PodLookup | undefined,
    /** Resolve senders without Kubernetes attributes by their address (setting otlpPeerPodContext). */
    private readonly usePeerAddress: boolean,
  ) {}

  ingest(request: DecodedResourceMetrics[], peer: string, peerIp: string | undefined): IngestResult {
    let accepted = 0;
    const rejected = new Map<PointRejection, { count: number; metrics: Set<string> }>();
    const reject = (reason: PointRejection, count: number, metric: string) => {
      let r = rejected.get(reason);
      if (!r) rejected.set(reason, (r = { count: 0, metrics: new Set() }));
      r.count += count;
      if (r.metrics.size < 3) r.metrics.add(metric || '(no name)');
    };
    for (const rm of request) {
      const { context, resourceLabels, source } = resolveContext(rm.resource, this.usePeerAddress ? peerIp : undefined, this.pods);
      this.events.context(source);
      const ctxKey = contextKey(context);
      const resourcePairs = Object.entries(resourceLabels);
      for (const scope of rm.scopes) {
        for (const metric of scope.metrics) {
          if (!metric.name) {
            reject('no_name', Math.max(1, metric.points.length), '');
            continue;
          }
          if (!metric.kind) {
            reject('no_data', 1, metric.name);
            continue;
          }
          const meta: SeriesMeta = {
            name: metric.name,
            description: metric.description,
            unit: metric.unit,
            kind: metric.kind,
            temporality: metric.temporality,
            monotonic: metric.monotonic,
            scopeName: scope.name,
            scopeVersion: scope.version,
          };
          for (const point of metric.points) {
            const labels = this.labelsOf(point, resourcePairs);
            if (typeof labels === 'string') {
              reject(labels, 1, metric.name);
              continue;
            }
            const stored = toStored(metric, point);
            if (typeof stored === 'string') {
              reject(stored, 1, metric.name);
              continue;
            }
            const refused = this.store.writeKeyed(keyOf(meta.name, meta.kind, ctxKey, labels), () => ({ meta, context, labels: Object.fromEntries(labels) }), stored);
            if (refused) reject(refused, 1, metric.name);
            else accepted++;
          }
        }
      }
    }
    this.events.accepted(accepted);
    let total = 0;
    const parts: string[] = [];
    for (const [reason, { count, metrics }] of rejected) {
      total += count;
      this.events.pointRejected(reason, count, peer, [...metrics].join(','));
      parts.push(`${reason} ${count} (${[...metrics].join(', ')})`);
    }
    return { accepted, rejected: total, errorMessage: total > 0 ? `rejected ${total} data points: ${parts.join('; ')}` : '' };
  }

  /**
   * The point's labels, sorted by key: its attributes plus the resource labels it does not override (a point
   * attribute wins over a resource label of the same key), or why they are refused.
   */
  private labelsOf(point: DecodedPoint, resourcePairs: readonly [string, string][]): [string, string][] | PointRejection {
    const attrs = point.attributes;
    if (attrs.length > this.limits.maxAttributes) return 'too_many_attributes';
    let bytes = 0;
    for (const [k, v] of attrs) bytes += k.length + v.length;
    if (bytes > this.limits.maxAttributeBytes) return 'attributes_too_large';
    let labels: [string, string][] = attrs;
    if (resourcePairs.length > 0) {
      labels = attrs.slice();
      for (const pair of resourcePairs) if (!attrs.some(([k]) => k === pair[0])) labels.push(pair);
      if (labels.length > this.limits.maxAttributes) return 'too_many_attributes';
    }
    // Exporters usually send attributes sorted already; sort (a copy) only when they are not, and drop repeats.
    let sorted = true;
    for (let i = 1; i < labels.length && sorted; i++) if (labels[i - 1]![0] >= labels[i]![0]) sorted = false;
    if (!sorted) {
      const byKey = new Map(labels);
      labels = [...byKey].sort(([a], [b]) => (a < b ? -1 : a > b ? 1 : 0));
    }
    return labels;
  }
}

function toStored(metric: DecodedMetric, p: DecodedPoint): StoredPoint | PointRejection {
  const timeMs = nsToMs(p.timeNs);
  const startMs = nsToMs(p.startNs);
  const noValue = (p.flags & NO_RECORDED_VALUE) !== 0;
  switch (metric.kind) {
    case 'gauge':
    case 'sum':
      if (p.value === undefined && !noValue) return 'no_value';
      // One object per point: this is the hot path of every gauge and sum.
      return { timeMs, startMs, value: noValue ? NaN : p.value! };
    case 'histogram': {
      const bounds = p.bounds ?? [];
      const counts = p.bucketCounts ?? [];
      // The spec: bucket_counts is empty or has one more entry than explicit_bounds.
      if (counts.length !== 0 && counts.length !== bounds.length + 1) return 'invalid_histogram';
      return { timeMs, startMs, count: p.count ?? 0, ...optional(p), bounds, bucketCounts: counts };
    }
    case 'exponential_histogram':
      return {
        timeMs,
        startMs,
        count: p.count ?? 0,
        ...optional(p),
        scale: p.scale ?? 0,
        zeroCount: p.zeroCount ?? 0,
        zeroThreshold: p.zeroThreshold ?? 0,
        ...(p.positive ? { positive: p.positive } : {}),
        ...(p.negative ? { negative: p.negative } : {}),
      };
    case 'summary':
      return { timeMs, startMs, count: p.count ?? 0, sum: p.sum ?? 0, quantiles: p.quantiles ?? [] };
    default:
      return 'no_data';
  }
}

function optional(p: DecodedPoint): Pick<StoredPoint, 'sum' | 'min' | 'max'> {
  return { ...(p.sum === undefined ? {} : { sum: p.sum }), ...(p.min === undefined ? {} : { min: p.min }), ...(p.max === undefined ? {} : { max: p.max }) };
}
