// Named, counted events of the ingest side (see STYLE.md).
import { Counter, Gauge, RateLimitedLog, type Logger, type Registry } from '@kestrel/core';

export class IngestEvents {
  readonly linesReceived: Counter;
  readonly linesReplayed: Counter;
  readonly batchesAcked: Counter;
  readonly protocolErrors: Counter<'reason'>;
  readonly refusals: Counter<'reason'>;
  readonly agentsConnected: Gauge;
  readonly batchesOpen: Gauge;
  readonly batchesWaiting: Gauge;
  private readonly log: RateLimitedLog;

  constructor(registry: Registry, logger: Logger) {
    const registers = [registry];
    this.linesReceived = new Counter({ name: 'kestrel_aggregator_ingest_lines_received_total', help: 'Log lines received from agents', registers });
    this.linesReplayed = new Counter({ name: 'kestrel_aggregator_ingest_lines_replayed_total', help: 'Log lines dropped as replays of lines already forwarded', registers });
    this.batchesAcked = new Counter({ name: 'kestrel_aggregator_ingest_batches_acked_total', help: 'Agent batches acknowledged', registers });
    this.protocolErrors = new Counter({ name: 'kestrel_aggregator_ingest_protocol_errors_total', help: 'Agent streams refused or ended for breaking the protocol', labelNames: ['reason'], registers });
    this.refusals = new Counter({ name: 'kestrel_aggregator_ingest_refused_total', help: 'Agent streams refused because the peer did not prove the node it named', labelNames: ['reason'], registers });
    this.agentsConnected = new Gauge({ name: 'kestrel_aggregator_agents_connected', help: 'Agent streams open now', registers });
    this.batchesOpen = new Gauge({ name: 'kestrel_aggregator_ingest_batches_open', help: 'Agent batches inflated and being submitted now, over all agents (bounded by ingestMaxOpenBatches)', registers });
    this.batchesWaiting = new Gauge({ name: 'kestrel_aggregator_ingest_batches_waiting', help: 'Agent batches received and waiting, still compressed, for their turn to be opened', registers });
    this.log = new RateLimitedLog(logger);
  }

  /** Logged once per peer and reason for a while: a misconfigured agent retries, and must not flood the log. */
  refused(reason: string, peer: string, node: string, detail: string): void {
    this.refusals.inc({ reason });
    this.log.warn(`refused:${reason}:${peerHost(peer)}`, 'agent refused', { reason, peer, node, detail });
  }

  protocolError(reason: string, peer: string, detail: string): void {
    this.protocolErrors.inc({ reason });
    this.log.warn(`${reason}:${peerHost(peer)}`, 'agent stream refused', { reason, peer, detail });
  }
}

/** The peer without its port: a reconnecting agent gets a new port each time but is the same peer. */
const peerHost = (peer: string): string => (peer.lastIndexOf(':') > 0 ? peer.slice(0, peer.lastIndexOf(':')) : peer);
