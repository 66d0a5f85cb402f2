// Named, counted events of the executors (see STYLE.md), and the audit: every request from the cloud, allowed or
// not, is one JSON log line (never rate-limited: an audit that drops lines is not one) and is counted by decision.
import { Counter, Gauge, Histogram, type Logger, type Registry } from '@kestrel/core';

export type RequestKind = 'kubernetes_api' | 'shell_command' | 'yaml_dry_run' | 'yaml_apply' | 'operator_restart';

/** What happened to one item (a path, a command, a manifest) or to a whole request. */
export type Decision =
  /** Carried out (the API server or kubectl may still have answered with an error). */
  | 'allowed'
  /** Refused by policy; nothing was sent. */
  | 'refused'
  | 'rate_limited'
  | 'timed_out'
  /** Carried out, but the connection or process failed. */
  | 'failed'
  /** The request as a whole could not be understood. */
  | 'malformed'
  /** Some items allowed, some not (requests only). */
  | 'partial';

export interface AuditItem {
  /** The api path, the command line, or the manifest id, as the cloud sent it. */
  item: string;
  /** What was run: the normalised API path, or kubectl's argv. */
  ran?: string | string[];
  decision: Decision;
  /** The refusal code (a metrics label), when refused. */
  code?: string;
  reason?: string;
  status?: number;
  exitCode?: number;
  bytes: number;
  truncated?: boolean;
  durationMs: number;
  /** The API calls kubectl made through the policy proxy: method, path, status (refused ones as 403). */
  apiCalls?: string[];
}

export interface AuditRecord {
  requestId: string;
  kind: RequestKind;
  decision: Decision;
  reason?: string;
  durationMs: number;
  bytes: number;
  items: AuditItem[];
}

/** Where audit records go; the default is one JSON line on the logger. Tests may pass their own. */
export type AuditSink = (record: AuditRecord) => void;

export const loggerAuditSink =
  (logger: Logger): AuditSink =>
  (record) =>
    logger.info('cloud request audit', { audit: true, ...record });

export class ExecutorEvents {
  readonly requests: Counter<'kind' | 'decision'>;
  readonly items: Counter<'kind' | 'decision' | 'code'>;
  readonly truncated: Counter<'kind'>;
  readonly bytes: Counter<'kind'>;
  readonly proxiedCalls: Counter<'decision'>;
  readonly inFlight: Gauge<'kind'>;
  readonly duration: Histogram<'kind'>;

  constructor(
    registry: Registry,
    private readonly sink: AuditSink,
  ) {
    const registers = [registry];
    this.requests = new Counter({ name: 'kestrel_aggregator_executor_requests_total', help: 'Requests from the cloud (API paths, commands, YAML, restart) by kind and decision', labelNames: ['kind', 'decision'], registers });
    this.items = new Counter({ name: 'kestrel_aggregator_executor_items_total', help: 'Items of those requests (paths, commands, manifests) by decision and refusal code', labelNames: ['kind', 'decision', 'code'], registers });
    this.truncated = new Counter({ name: 'kestrel_aggregator_executor_truncated_total', help: 'Answers cut at the size limit', labelNames: ['kind'], registers });
    this.bytes = new Counter({ name: 'kestrel_aggregator_executor_response_bytes_total', help: 'Bytes of answers sent back to the cloud', labelNames: ['kind'], registers });
    this.proxiedCalls = new Counter({ name: 'kestrel_aggregator_executor_kubectl_api_calls_total', help: 'API calls kubectl made through the policy proxy, by decision', labelNames: ['decision'], registers });
    this.inFlight = new Gauge({ name: 'kestrel_aggregator_executor_in_flight', help: 'Requests being carried out now', labelNames: ['kind'], registers });
    this.duration = new Histogram({ name: 'kestrel_aggregator_executor_duration_seconds', help: 'Time to answer a request', labelNames: ['kind'], buckets: [0.01, 0.05, 0.1, 0.5, 1, 5, 15, 60, 180], registers });
  }

  /** Counts and audits one answered request. */
  answered(record: AuditRecord): void {
    this.requests.inc({ kind: record.kind, decision: record.decision });
    for (const item of record.items) {
      this.items.inc({ kind: record.kind, decision: item.decision, code: item.code ?? '' });
      if (item.truncated) this.truncated.inc({ kind: record.kind });
    }
    this.bytes.inc({ kind: record.kind }, record.bytes);
    this.duration.observe({ kind: record.kind }, record.durationMs / 1000);
    this.sink(record);
  }
}

/** The decision of a whole request from its items'. */
export function overall(items: readonly AuditItem[]): Decision {
  if (items.length === 0) return 'malformed';
  const first = items[0]!.decision;
  return items.every((i) => i.decision === first) ? first : 'partial';
}
