// Named, counted events of the Envoy access log receiver (see STYLE.md).
import { Counter, Gauge, RateLimitedLog, type Logger, type Registry } from '@kestrel/core';

export class AlsEvents {
  /** Entries received, by kind (http, tcp) and outcome (merged, intermediate). */
  readonly entries: Counter<'kind' | 'outcome'>;
  /** Entries refused or dropped, by reason (no_common_properties, no_address, no_start_time, table_full, …). */
  readonly dropped: Counter<'reason'>;
  readonly recordsSent: Counter;
  /** Requests logged by both sidecars and sent once. */
  readonly bothSides: Counter;
  readonly earlyFlushes: Counter<'reason'>;
  readonly streams: Counter<'outcome'>;
  readonly streamsOpen: Gauge;
  private readonly log: RateLimitedLog;

  constructor(registry: Registry, logger: Logger) {
    const registers = [registry];
    this.entries = new Counter({ name: 'kestrel_aggregator_als_entries_total', help: 'Envoy access log entries received, by kind and outcome', labelNames: ['kind', 'outcome'], registers });
    this.dropped = new Counter({ name: 'kestrel_aggregator_als_entries_dropped_total', help: 'Envoy access log entries dropped, by reason', labelNames: ['reason'], registers });
    this.recordsSent = new Counter({ name: 'kestrel_aggregator_als_records_sent_total', help: 'cloud.v1 L7AccessLog records handed to the uplink', registers });
    this.bothSides = new Counter({ name: 'kestrel_aggregator_als_both_sides_total', help: 'Aggregated L7 records seen by both the client and the server sidecar', registers });
    this.earlyFlushes = new Counter({ name: 'kestrel_aggregator_als_early_flushes_total', help: 'L7 buckets sent before their time', labelNames: ['reason'], registers });
    this.streams = new Counter({ name: 'kestrel_aggregator_als_streams_total', help: 'Envoy access log streams, by how they ended', labelNames: ['outcome'], registers });
    this.streamsOpen = new Gauge({ name: 'kestrel_aggregator_als_streams_open', help: 'Envoy access log streams open now', registers });
    this.log = new RateLimitedLog(logger);
  }

  drop(reason: string, count: number, detail: string, meta: Record<string, unknown> = {}): void {
    if (count <= 0) return;
    this.dropped.inc({ reason }, count);
    this.log.warn(`als:${reason}`, 'access log entries dropped', { reason, count, detail, ...meta });
  }
}
