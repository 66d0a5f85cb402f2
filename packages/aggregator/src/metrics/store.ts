// The local metrics store: series keyed by metric name, kind, Kubernetes context and attributes, each holding its
// most recent points in time order. Memory is bounded three ways, all counted (events.ts):
//   - retention: points older than the window are refused on arrival and swept out; a series left empty goes;
//   - points per series: the oldest point of a full series makes room for a newer one;
//   - series count and estimated bytes: a new series beyond either limit evicts the least recently WRITTEN series
//     (series are also on a doubly linked list in write order: a write moves its series to the tail in O(1), the
//     head is the one to go; a Map re-insertion per write was the bench's hottest line).
// Out-of-order points are inserted in time order; a point with the timestamp of a stored one replaces it.
import type { Buckets, MetricKind } from './otlp-decode.js';

export interface KubeContext {
  namespace: string;
  workloadName: string;
  workloadKind: string;
  podName: string;
  containerName: string;
  nodeName: string;
}

export const NO_CONTEXT: KubeContext = { namespace: '', workloadName: '', workloadKind: '', podName: '', containerName: '', nodeName: '' };

export interface StoredPoint {
  timeMs: number;
  startMs: number;
  /** gauge and sum; NaN is kept (OTLP uses it, and the no-recorded-value flag, to mark staleness). */
  value?: number;
  count?: number;
  sum?: number;
  min?: number;
  max?: number;
  bounds?: number[];
  bucketCounts?: number[];
  scale?: number;
  zeroCount?: number;
  zeroThreshold?: number;
  positive?: Buckets;
  negative?: Buckets;
  quantiles?: [number, number][];
}

export interface SeriesMeta {
  name: string;
  description: string;
  unit: string;
  kind: MetricKind;
  temporality: number;
  monotonic: boolean;
  scopeName: string;
  scopeVersion: string;
}

export interface Series extends SeriesMeta {
  readonly key: string;
  readonly context: KubeContext;
  readonly labels: Readonly<Record<string, string>>;
  points: StoredPoint[];
  bytes: number;
  lastWriteMs: number;
  /** Write-order list links (older, newer). */
  older: Series | undefined;
  newer: Series | undefined;
}

/** What a new series is made of; built only when its key is not known yet. */
export interface SeriesInit {
  meta: SeriesMeta;
  context: KubeContext;
  labels: Record<string, string>;
}

export interface StoreLimits {
  retentionMs: number;
  maxSeries: number;
  maxPointsPerSeries: number;
  /** Estimated bytes of all series together (keys, labels, points). */
  maxBytes: number;
  /** A point stamped further ahead of the aggregator's clock is refused. */
  maxFutureSkewMs: number;
}

export const DEFAULT_STORE_LIMITS: StoreLimits = {
  retentionMs: 30 * 60_000,
  maxSeries: 100_000,
  maxPointsPerSeries: 60,
  maxBytes: 256 * 1024 * 1024,
  maxFutureSkewMs: 5 * 60_000,
};

export type WriteRejection = 'too_old' | 'in_future' | 'no_timestamp';
export type EvictionReason = 'max_series' | 'max_bytes' | 'expired';

export interface StoreObserver {
  /** A whole series went; `points` of its points with it. */
  seriesEvicted(reason: EvictionReason, points: number): void;
  /** Points dropped from a series that stays: the oldest of a full series, or expired ones. */
  pointsDropped(reason: 'points_per_series' | 'expired', count: number): void;
}

/** Rough heap cost, used for the byte limit and the bench's bytes-per-series figure (which measures the real one). */
const SERIES_OVERHEAD = 360;
const POINT_OVERHEAD = 96;
// V8 keeps ASCII text one byte per character (metric names and labels nearly always are).
const stringBytes = (s: string) => 16 + s.length;

export function pointBytes(p: StoredPoint): number {
  let n = POINT_OVERHEAD;
  if (p.bounds) n += 8 * p.bounds.length + 16;
  if (p.bucketCounts) n += 8 * p.bucketCounts.length + 16;
  if (p.positive) n += 8 * p.positive.counts.length + 48;
  if (p.negative) n += 8 * p.negative.counts.length + 48;
  if (p.quantiles) n += 48 * p.quantiles.length + 16;
  return n;
}

/** The part of a series key that comes from where the data was sent from; computed once per resource. */
export function contextKey(c: KubeContext): string {
  return [c.namespace, c.workloadKind, c.workloadName, c.podName, c.containerName, c.nodeName].join('\u0000');
}

/** The series identity: metric, kind, where from, and the labels sorted by key. */
export function keyOf(name: string, kind: MetricKind, ctxKey: string, sortedLabels: readonly (readonly [string, string])[]): string {
  // One flat string from a join, rather than a chain of concatenations the Map lookup would have to flatten.
  const parts: string[] = [name, kind, ctxKey];
  for (const [k, v] of sortedLabels) parts.push(k, v);
  return parts.join('\u0000');
}

export function seriesKey(meta: Pick<SeriesMeta, 'name' | 'kind'>, context: KubeContext, labels: Record<string, string>): string {
  return keyOf(meta.name, meta.kind, contextKey(context), Object.entries(labels).sort(([a], [b]) => (a < b ? -1 : a > b ? 1 : 0)));
}

export class MetricsStore {
  private readonly series = new Map<string, Series>();
  /** Least recently written first. */
  private oldest: Series | undefined;
  private newest: Series | undefined;
  private totalBytes = 0;
  private totalPoints = 0;

  constructor(
    readonly limits: StoreLimits,
    private readonly observer: StoreObserver,
    private readonly now: () => number = Date.now,
  ) {}

  get seriesCount(): number {
    return this.series.size;
  }

  get pointCount(): number {
    return this.totalPoints;
  }

  get estimatedBytes(): number {
    return this.totalBytes;
  }

  /** Stores one point; returns why it was refused, or undefined when stored. */
  write(meta: SeriesMeta, context: KubeContext, labels: Record<string, string>, point: StoredPoint): WriteRejection | undefined {
    return this.writeKeyed(seriesKey(meta, context, labels), () => ({ meta, context, labels }), point);
  }

  /** As write, for a caller that has the series key already (ingest.ts builds it without a labels object). */
  writeKeyed(key: string, init: () => SeriesInit, point: StoredPoint): WriteRejection | undefined {
    const now = this.now();
    if (!(point.timeMs > 0)) return 'no_timestamp';
    if (point.timeMs < now - this.limits.retentionMs) return 'too_old';
    if (point.timeMs > now + this.limits.maxFutureSkewMs) return 'in_future';
    let series = this.series.get(key);
    if (series) {
      this.unlink(series);
    } else {
      const { meta, context, labels } = init();
      let bytes = SERIES_OVERHEAD + stringBytes(key);
      for (const k in labels) bytes += stringBytes(k) + stringBytes(labels[k]!) + 32;
      bytes += stringBytes(meta.description) + stringBytes(meta.unit);
      while (this.series.size >= this.limits.maxSeries) this.evictOldest('max_series');
      series = { ...meta, key, context, labels, points: [], bytes, lastWriteMs: now, older: undefined, newer: undefined };
      this.series.set(key, series);
      this.totalBytes += bytes;
    }
    this.append(series);
    series.lastWriteMs = now;
    this.insert(series, point);
    // The series just written is the newest, so it goes only if it alone is over the budget.
    while (this.totalBytes > this.limits.maxBytes && this.series.size > 1) this.evictOldest('max_bytes');
    return undefined;
  }

  private unlink(s: Series): void {
    if (s.older) s.older.newer = s.newer;
    else this.oldest = s.newer;
    if (s.newer) s.newer.older = s.older;
    else this.newest = s.older;
    s.older = s.newer = undefined;
  }

  private append(s: Series): void {
    s.older = this.newest;
    s.newer = undefined;
    if (this.newest) this.newest.newer = s;
    else this.oldest = s;
    this.newest = s;
  }

  private insert(series: Series, point: StoredPoint): void {
    const points = series.points;
    let i = points.length;
    while (i > 0 && points[i - 1]!.timeMs > point.timeMs) i--;
    const added = pointBytes(point);
    if (i > 0 && points[i - 1]!.timeMs === point.timeMs) {
      // A re-sent point (exporter retry) or a correction: the newer write wins.
      const old = points[i - 1]!;
      points[i - 1] = point;
      this.adjust(series, added - pointBytes(old), 0);
      return;
    }
    if (i === points.length) points.push(point);
    else points.splice(i, 0, point);
    this.adjust(series, added, 1);
    if (points.length > this.limits.maxPointsPerSeries) {
      const dropped = points.shift()!;
      this.adjust(series, -pointBytes(dropped), -1);
      this.observer.pointsDropped('points_per_series', 1);
    }
  }

  private adjust(series: Series, bytes: number, points: number): void {
    series.bytes += bytes;
    this.totalBytes += bytes;
    this.totalPoints += points;
  }

  private evictOldest(reason: EvictionReason): void {
    if (this.oldest) this.remove(this.oldest, reason);
  }

  private remove(series: Series, reason: EvictionReason): void {
    this.unlink(series);
    this.series.delete(series.key);
    this.totalBytes -= series.bytes;
    this.totalPoints -= series.points.length;
    this.observer.seriesEvicted(reason, series.points.length);
  }

  /** Drops points past the retention window, and series left without points. */
  sweep(): void {
    const cutoff = this.now() - this.limits.retentionMs;
    for (const series of [...this.series.values()]) {
      const points = series.points;
      let n = 0;
      while (n < points.length && points[n]!.timeMs < cutoff) n++;
      if (n === 0) continue;
      if (n === points.length) {
        this.remove(series, 'expired');
        continue;
      }
      let bytes = 0;
      for (const p of points.splice(0, n)) bytes += pointBytes(p);
      this.adjust(series, -bytes, -n);
      this.observer.pointsDropped('expired', n);
    }
  }

  /** Every series, least recently written first (the caller filters; the store holds at most maxSeries). */
  *all(): IterableIterator<Series> {
    for (let s = this.oldest; s; s = s.newer) yield s;
  }

  /** The points of a series inside [fromMs, toMs] that are still within retention. */
  pointsIn(series: Series, fromMs: number, toMs: number): StoredPoint[] {
    const from = Math.max(fromMs, this.now() - this.limits.retentionMs);
    return series.points.filter((p) => p.timeMs >= from && p.timeMs <= toMs);
  }
}
