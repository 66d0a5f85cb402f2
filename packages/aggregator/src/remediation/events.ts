// Named, counted events of remediation (see STYLE.md): every action, allowed or not, is one audit line (never
// rate-limited: an audit that drops lines is not one) and is counted by family, action and decision.
import { Counter, Histogram, type Logger, type Registry } from '@kestrel/core';

export type ActionDecision =
  /** A read that was carried out (the API server may still have answered with an error). */
  | 'read'
  /** A write that was carried out. */
  | 'applied'
  /** A write turned down by the family's switch or namespace allowlist: nothing was sent to the API server. */
  | 'refused'
  /** A write whose server-side dry run failed: nothing was changed. */
  | 'dry_run_failed'
  /** A network policy checked and dry-run but not applied because its family is off. */
  | 'validated_only'
  /** A network policy that already exists: nothing was changed. */
  | 'already_present'
  | 'rate_limited'
  | 'invalid'
  | 'failed'
  | 'timed_out';

export interface ActionAudit {
  requestId: string;
  family: string;
  action: string;
  /** kind/namespace/name, or what the request named when it could not be resolved. */
  target: string;
  decision: ActionDecision;
  /** `ok`, the dry run's error, or absent when no dry run was made. */
  dryRun?: string;
  /** The status code answered, and the error text when not a success. */
  status: number;
  outcome: string;
  durationMs: number;
}

export type RemediationAuditSink = (record: ActionAudit) => void;

export const loggerRemediationAudit =
  (logger: Logger): RemediationAuditSink =>
  (record) =>
    logger.info('remediation audit', { audit: true, ...record });

export class RemediationEvents {
  readonly actions: Counter<'family' | 'action' | 'decision'>;
  readonly duration: Histogram<'family' | 'action'>;
  readonly presence: Counter<'family' | 'change'>;

  constructor(
    registry: Registry,
    private readonly sink: RemediationAuditSink,
  ) {
    const registers = [registry];
    this.actions = new Counter({ name: 'kestrel_aggregator_remediation_actions_total', help: 'Remediation actions (Argo CD, Rollouts, Flux, Karpenter, network policies) by family, action and decision', labelNames: ['family', 'action', 'decision'], registers });
    this.duration = new Histogram({ name: 'kestrel_aggregator_remediation_action_duration_seconds', help: 'Time to carry out a remediation action', labelNames: ['family', 'action'], buckets: [0.01, 0.05, 0.1, 0.5, 1, 5, 15, 60], registers });
    this.presence = new Counter({ name: 'kestrel_aggregator_remediation_presence_changes_total', help: 'A tool family found in or gone from the cluster (discovery)', labelNames: ['family', 'change'], registers });
  }

  /** Actions by family and decision, for the debug view (the same counts as the metric). */
  readonly tally = new Map<string, Map<ActionDecision, number>>();

  answered(record: ActionAudit): void {
    this.actions.inc({ family: record.family, action: record.action, decision: record.decision });
    const byDecision = this.tally.get(record.family) ?? new Map<ActionDecision, number>();
    byDecision.set(record.decision, (byDecision.get(record.decision) ?? 0) + 1);
    this.tally.set(record.family, byDecision);
    this.duration.observe({ family: record.family, action: record.action }, record.durationMs / 1000);
    this.sink(record);
  }
}
