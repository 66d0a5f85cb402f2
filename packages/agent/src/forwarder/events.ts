// Named, counted events of the forwarder (see STYLE.md): /metrics and the debug CLI read the same counters.
import { Counter, RateLimitedLog, type Logger, type Registry } from '@kestrel/core';

export class ForwarderEvents {
  readonly linesSent: Counter;
  readonly linesAcked: Counter;
  readonly batchesResent: Counter;
  readonly connectionErrors: Counter;
  readonly failovers: Counter;
  readonly rebalances: Counter;
  readonly resolveErrors: Counter;
  readonly nodeConditionsDropped: Counter<'reason'>;
  private readonly log: RateLimitedLog;

  constructor(registry: Registry, logger: Logger) {
    const registers = [registry];
    this.linesSent = new Counter({ name: 'kestrel_agent_forwarder_lines_batched_total', help: 'Log lines sealed into batches for the aggregator', registers });
    this.linesAcked = new Counter({ name: 'kestrel_agent_forwarder_lines_acked_total', help: 'Log lines acknowledged by the aggregator', registers });
    this.batchesResent = new Counter({ name: 'kestrel_agent_forwarder_batches_resent_total', help: 'Batches sent again after a reconnect', registers });
    this.connectionErrors = new Counter({ name: 'kestrel_agent_forwarder_connection_errors_total', help: 'Aggregator streams that failed', registers });
    this.failovers = new Counter({ name: 'kestrel_agent_forwarder_failovers_total', help: 'Times the aggregator replica in use failed and the next choice was taken', registers });
    this.rebalances = new Counter({ name: 'kestrel_agent_forwarder_rebalances_total', help: 'Planned moves to a better-ranked aggregator replica (scale-up, replica back)', registers });
    this.resolveErrors = new Counter({ name: 'kestrel_agent_forwarder_resolve_errors_total', help: 'Aggregator address entries that did not resolve', registers });
    this.nodeConditionsDropped = new Counter({ name: 'kestrel_agent_forwarder_node_conditions_dropped_total', help: 'Node condition changes dropped before they were sent, by reason', labelNames: ['reason'], registers });
    this.log = new RateLimitedLog(logger, 30_000);
  }

  batchSealed(lines: number): void {
    this.linesSent.inc(lines);
  }
  batchAcked(lines: number): void {
    this.linesAcked.inc(lines);
  }
  batchResent(): void {
    this.batchesResent.inc();
  }
  connectionError(address: string, message: string): void {
    this.connectionErrors.inc();
    this.log.warn(`connection:${address}`, 'aggregator stream failed; trying the next replica', { address, error: message });
  }
  failedOver(): void {
    this.failovers.inc();
  }
  rebalanced(): void {
    this.rebalances.inc();
  }
  resolveError(message: string): void {
    this.resolveErrors.inc();
    this.log.warn(`resolve:${message}`, 'aggregator address did not resolve', { error: message });
  }
  nodeConditionDropped(reason: string): void {
    this.nodeConditionsDropped.inc({ reason });
    this.log.warn(`node-condition-dropped:${reason}`, 'node condition change dropped before it was sent', { reason });
  }
}
