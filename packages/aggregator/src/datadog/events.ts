// Named, counted events of the Datadog integration (see STYLE.md): API calls by endpoint and status, retries,
// requests by type and outcome, writes by action and decision (each also one audit line, never rate-limited), and
// monitor alerts (queued, sent, dropped by reason).
import { Counter, RateLimitedLog, type Logger, type Registry } from '@kestrel/core';
import type { ClientObserver } from './client.js';

export type WriteDecision = 'allowed' | 'refused' | 'invalid';

export interface WriteAudit {
  requestId: string;
  action: 'create_monitor' | 'send_event' | 'mute_monitor';
  /** The monitor name, event title or monitor id the request names ('' when it names none). */
  target: string;
  decision: WriteDecision;
  /** The status code answered, and the error when not a success (never a key). */
  status: number;
  outcome: string;
  durationMs: number;
}

export type DatadogAuditSink = (record: WriteAudit) => void;

export const loggerDatadogAudit =
  (logger: Logger): DatadogAuditSink =>
  (record) =>
    logger.info('datadog write audit', { audit: true, family: 'Datadog', ...record });

export class DatadogEvents implements ClientObserver {
  readonly apiCalls: Counter<'endpoint' | 'status'>;
  readonly retries: Counter<'reason'>;
  readonly requests: Counter<'type' | 'outcome'>;
  readonly writes: Counter<'action' | 'decision'>;
  readonly alerts: Counter<'outcome'>;
  readonly polls: Counter<'outcome'>;
  readonly totals = { alertsDropped: 0, alertsSent: 0, polls: 0, pollFailures: 0 };
  private readonly log: RateLimitedLog;

  constructor(
    registry: Registry,
    logger: Logger,
    private readonly audit: DatadogAuditSink = loggerDatadogAudit(logger),
  ) {
    const registers = [registry];
    this.apiCalls = new Counter({ name: 'kestrel_aggregator_datadog_api_calls_total', help: 'Calls to the Datadog API by endpoint and HTTP status (failed: no HTTP answer)', labelNames: ['endpoint', 'status'], registers });
    this.retries = new Counter({ name: 'kestrel_aggregator_datadog_api_retries_total', help: 'Datadog API calls sent again: rate_limited (429 with a wait that fits the deadline), server_error (5xx on a read)', labelNames: ['reason'], registers });
    this.requests = new Counter({ name: 'kestrel_aggregator_datadog_requests_total', help: 'DatadogQueryRequest of types 0-9 answered, by type and outcome (ok, upstream_error, failed, refused, invalid, no_keys)', labelNames: ['type', 'outcome'], registers });
    this.writes = new Counter({ name: 'kestrel_aggregator_datadog_writes_total', help: 'Datadog writes (create monitor, send event, mute monitor) by action and decision', labelNames: ['action', 'decision'], registers });
    this.alerts = new Counter({ name: 'kestrel_aggregator_datadog_monitor_alerts_total', help: 'DatadogMonitorAlert records: queued, sent, dropped_queue_full, dropped_stopping', labelNames: ['outcome'], registers });
    this.polls = new Counter({ name: 'kestrel_aggregator_datadog_monitor_polls_total', help: 'Monitor list polls by outcome (ok, baseline, http_error, unparseable, failed, no_keys)', labelNames: ['outcome'], registers });
    this.log = new RateLimitedLog(logger);
  }

  call(endpoint: string, status: number | 'failed'): void {
    // Monitor ids in paths would make one label per monitor.
    this.apiCalls.inc({ endpoint: endpoint.replace(/\/monitor\/[^/]+\/mute$/, '/monitor/{id}/mute'), status: String(status) });
  }

  retry(reason: 'rate_limited' | 'server_error'): void {
    this.retries.inc({ reason });
  }

  request(type: string, outcome: string, detail?: string): void {
    this.requests.inc({ type, outcome });
    if (outcome !== 'ok' && detail) this.log.warn(`datadog:${type}:${outcome}`, 'Datadog request not answered with data', { type, outcome, detail });
  }

  write(record: WriteAudit): void {
    this.writes.inc({ action: record.action, decision: record.decision });
    this.audit(record);
  }

  alert(outcome: 'queued' | 'sent' | 'dropped_queue_full' | 'dropped_stopping'): void {
    this.alerts.inc({ outcome });
    if (outcome === 'sent') this.totals.alertsSent++;
    if (outcome.startsWith('dropped')) {
      this.totals.alertsDropped++;
      this.log.warn(`datadog:alert:${outcome}`, 'Datadog monitor alert dropped', { reason: outcome });
    }
  }

  poll(outcome: string, detail?: string): void {
    this.polls.inc({ outcome });
    this.totals.polls++;
    if (outcome !== 'ok' && outcome !== 'baseline') {
      this.totals.pollFailures++;
      this.log.warn(`datadog:poll:${outcome}`, 'Datadog monitor poll skipped', { outcome, detail });
    }
  }
}
