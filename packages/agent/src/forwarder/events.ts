// Named, counted events of the forwarder (see STYLE.md): /metrics and the debug CLI read the same counters.
import { Counter, RateLimitedLog, type Logger, type Registry } from '@kestrel/core';

export class ForwarderEvents {
  readonly linesSent: Counter;
  readonly linesAcked: Counter;
  readonly batchesResent: Counter;
  readonly connectionErrors: Counter;
  private readonly log: RateLimitedLog;

  constructor(registry: Registry, logger: Logger) {
    const registers = [registry];
    this.linesSent = new Counter({ name: 'kestrel_agent_forwarder_lines_batched_total', help: 'Log lines sealed into batches for the aggregator', registers });
    this.linesAcked = new Counter({ name: 'kestrel_agent_forwarder_lines_acked_total', help: 'Log lines acknowledged by the aggregator', registers });
    this.batchesResent = new Counter({ name: 'kestrel_agent_forwarder_batches_resent_total', help: 'Batches sent again after a reconnect', registers });
    this.connectionErrors = new Counter({ name: 'kestrel_agent_forwarder_connection_errors_total', help: 'Aggregator streams that failed', registers });
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
  connectionError(message: string): void {
    this.connectionErrors.inc();
    this.log.warn('connection', 'aggregator stream failed; reconnecting with backoff', { error: message });
  }
}
