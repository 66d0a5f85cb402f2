// Named, counted events of the OTLP receiver, the metrics store and metrics queries (see STYLE.md): every refused
// data point and every eviction is counted by reason here, and logged rate-limited.
import { Counter, Gauge, Histogram, RateLimitedLog, type Logger, type Registry } from '@kestrel/core';
import type { ContextSource } from './kubernetes-context.js';
import type { EvictionReason, MetricsStore, StoreObserver } from './store.js';

/** Why a data point was not stored (the partial-success message lists them too). */
export type PointRejection =
  | 'too_old'
  | 'in_future'
  | 'no_timestamp'
  | 'no_name'
  | 'no_data'
  | 'no_value'
  | 'invalid_histogram'
  | 'too_many_attributes'
  | 'attributes_too_large';

export class MetricsEvents implements StoreObserver {
  readonly requests: Counter<'outcome'>;
  readonly points: Counter<'outcome'>;
  readonly rejected: Counter<'reason'>;
  readonly seriesEvictions: Counter<'reason'>;
  readonly pointsEvicted: Counter<'reason'>;
  readonly contexts: Counter<'source'>;
  readonly queries: Counter<'outcome'>;
  readonly queryDuration: Histogram;
  /** The same counts as plain numbers, for the debug view. */
  readonly totals = { rejected: {} as Record<string, number>, seriesEvicted: {} as Record<string, number>, pointsEvicted: {} as Record<string, number> };
  private readonly log: RateLimitedLog;

  constructor(
    registry: Registry,
    private readonly logger: Logger,
  ) {
    const registers = [registry];
    this.requests = new Counter({ name: 'kestrel_aggregator_otlp_requests_total', help: 'OTLP metrics Export calls by outcome (ok, partial, invalid: undecodable, message_too_large, refused_by_grpc)', labelNames: ['outcome'], registers });
    this.points = new Counter({ name: 'kestrel_aggregator_otlp_data_points_total', help: 'OTLP data points received, by outcome (accepted, rejected)', labelNames: ['outcome'], registers });
    this.rejected = new Counter({ name: 'kestrel_aggregator_otlp_data_points_rejected_total', help: 'OTLP data points refused, by reason', labelNames: ['reason'], registers });
    this.seriesEvictions = new Counter({ name: 'kestrel_aggregator_metrics_store_series_evicted_total', help: 'Series removed from the metrics store: max_series and max_bytes evict the least recently written; expired = no point left in the retention window', labelNames: ['reason'], registers });
    this.pointsEvicted = new Counter({ name: 'kestrel_aggregator_metrics_store_points_evicted_total', help: 'Points removed from series that stay: points_per_series (oldest of a full series), expired', labelNames: ['reason'], registers });
    this.contexts = new Counter({ name: 'kestrel_aggregator_otlp_resource_context_total', help: 'Where the Kubernetes context of received resources came from (attributes, pod_name, pod_ip, peer_ip, none)', labelNames: ['source'], registers });
    this.queries = new Counter({ name: 'kestrel_aggregator_metrics_queries_total', help: 'MetricsQueryRequest answered, by outcome (ok, truncated, invalid, no_store)', labelNames: ['outcome'], registers });
    this.queryDuration = new Histogram({ name: 'kestrel_aggregator_metrics_query_duration_seconds', help: 'Time to answer a MetricsQueryRequest', buckets: [0.001, 0.01, 0.05, 0.1, 0.5, 1, 5], registers });
    this.log = new RateLimitedLog(logger);
  }

  request(outcome: 'ok' | 'partial' | 'invalid' | 'message_too_large' | 'refused_by_grpc', peer: string, detail?: string): void {
    this.requests.inc({ outcome });
    if (outcome !== 'ok' && outcome !== 'partial') this.log.warn(`otlp:${outcome}:${peer}`, 'OTLP metrics export refused', { peer, outcome, detail });
  }

  accepted(count: number): void {
    if (count > 0) this.points.inc({ outcome: 'accepted' }, count);
  }

  pointRejected(reason: PointRejection, count: number, peer: string, metric: string): void {
    this.points.inc({ outcome: 'rejected' }, count);
    this.rejected.inc({ reason }, count);
    this.totals.rejected[reason] = (this.totals.rejected[reason] ?? 0) + count;
    this.log.warn(`otlp:rejected:${reason}`, 'OTLP data points refused', { reason, count, peer, metric });
  }

  context(source: ContextSource): void {
    this.contexts.inc({ source });
  }

  seriesEvicted(reason: EvictionReason, _points: number): void {
    this.seriesEvictions.inc({ reason });
    this.totals.seriesEvicted[reason] = (this.totals.seriesEvicted[reason] ?? 0) + 1;
    if (reason !== 'expired') this.log.warn(`store:evicted:${reason}`, 'metrics store full: least recently written series evicted', { reason });
  }

  pointsDropped(reason: 'points_per_series' | 'expired', count: number): void {
    this.pointsEvicted.inc({ reason }, count);
    this.totals.pointsEvicted[reason] = (this.totals.pointsEvicted[reason] ?? 0) + count;
  }

  query(outcome: 'ok' | 'truncated' | 'invalid' | 'no_store', durationMs: number, requestId: string, detail?: string): void {
    this.queries.inc({ outcome });
    this.queryDuration.observe(durationMs / 1000);
    if (outcome === 'invalid') this.log.warn('query:invalid', 'metrics query refused', { requestId, detail });
    else this.logger.debug('metrics query answered', { requestId, outcome });
  }
}

/** Store gauges, read at scrape time. */
export function registerStoreGauges(registry: Registry, store: MetricsStore): void {
  const registers = [registry];
  new Gauge({ name: 'kestrel_aggregator_metrics_store_series', help: 'Series held in the metrics store', registers, collect() { this.set(store.seriesCount); } });
  new Gauge({ name: 'kestrel_aggregator_metrics_store_points', help: 'Points held in the metrics store', registers, collect() { this.set(store.pointCount); } });
  new Gauge({ name: 'kestrel_aggregator_metrics_store_bytes', help: 'Estimated bytes held by the metrics store (its limit is metricsMaxBytes)', registers, collect() { this.set(store.estimatedBytes); } });
  new Gauge({ name: 'kestrel_aggregator_metrics_store_max_series', help: 'The configured series limit (metricsMaxSeries)', registers, collect() { this.set(store.limits.maxSeries); } });
}
