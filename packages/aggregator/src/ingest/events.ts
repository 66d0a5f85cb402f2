// Named, counted events of the ingest side (see STYLE.md).
import { Counter, Gauge, RateLimitedLog, type Logger, type Registry } from '@kestrel/core';

export class IngestEvents {
  readonly linesReceived: Counter;
  readonly linesReplayed: Counter;
  readonly batchesAcked: Counter;
  readonly protocolErrors: Counter<'reason'>;
  readonly agentsConnected: Gauge;
  private readonly log: RateLimitedLog;

  constructor(registry: Registry, logger: Logger) {
    const registers = [registry];
    this.linesReceived = new Counter({ name: 'kestrel_aggregator_ingest_lines_received_total', help: 'Log lines received from agents', registers });
    this.linesReplayed = new Counter({ name: 'kestrel_aggregator_ingest_lines_replayed_total', help: 'Log lines dropped as replays of lines already forwarded', registers });
    this.batchesAcked = new Counter({ name: 'kestrel_aggregator_ingest_batches_acked_total', help: 'Agent batches acknowledged', registers });
    this.protocolErrors = new Counter({ name: 'kestrel_aggregator_ingest_protocol_errors_total', help: 'Agent streams refused or ended for breaking the protocol', labelNames: ['reason'], registers });
    this.agentsConnected = new Gauge({ name: 'kestrel_aggregator_agents_connected', help: 'Agent streams open now', registers });
    this.log = new RateLimitedLog(logger);
  }

  protocolError(reason: string, peer: string, detail: string): void {
    this.protocolErrors.inc({ reason });
    this.log.warn(`${reason}:${peer}`, 'agent stream refused', { reason, peer, detail });
  }
}
