// Every thing worth knowing about the flow sources is one named event here: counted in /metrics and, when it is a
// problem, logged (repeated problems at most once a minute). The debug view reads the same totals.
import { Counter, RateLimitedLog, type Logger, type Registry } from '@kestrel/core';

export type FlowSourceName = 'hubble' | 'vpc_cni';

export class FlowSourceEvents {
  private readonly raw: Counter<'source'>;
  private readonly dropped: Counter<'source' | 'reason'>;
  private readonly skipped: Counter<'source' | 'reason'>;
  private readonly sourceLost: Counter<'source'>;
  private readonly windows: Counter<'source' | 'state'>;
  private readonly reconnects: Counter<'source'>;
  private readonly bytesLost: Counter<'reason'>;
  private readonly log: RateLimitedLog;
  /** Totals since start per source, for `debug flows`. */
  readonly totals: Record<FlowSourceName, { raw: number; dropped: Record<string, number>; skipped: Record<string, number>; sourceLost: number; windowsSent: number; windowsAcked: number; reconnects: number; bytesLost: number }> = {
    hubble: { raw: 0, dropped: {}, skipped: {}, sourceLost: 0, windowsSent: 0, windowsAcked: 0, reconnects: 0, bytesLost: 0 },
    vpc_cni: { raw: 0, dropped: {}, skipped: {}, sourceLost: 0, windowsSent: 0, windowsAcked: 0, reconnects: 0, bytesLost: 0 },
  };

  constructor(
    registry: Registry,
    private readonly logger: Logger,
  ) {
    const registers = [registry];
    // Counted per flow in plain numbers and added to the metric at each window and scrape: a labelled inc() per flow
    // cost more than reading the flow (docs/BENCHMARKS.md).
    const flushRaw = () => this.flushCounted();
    this.raw = new Counter({ name: 'kestrel_agent_flows_raw_total', help: 'Raw flows counted into windows, by source', labelNames: ['source'], registers, collect: flushRaw });
    this.dropped = new Counter({ name: 'kestrel_agent_flows_dropped_total', help: 'Raw flows the agent could not count or send (table_full, buffer_full, unparseable, line_too_long), by source and reason', labelNames: ['source', 'reason'], registers });
    this.skipped = new Counter({ name: 'kestrel_agent_flows_skipped_total', help: 'Records that are not flows to count (agent log lines, conntrack ends, non-IP events, replays), by source and reason', labelNames: ['source', 'reason'], registers });
    this.sourceLost = new Counter({ name: 'kestrel_agent_flows_source_lost_total', help: 'Events the source reported lost (Hubble lost_events), by source', labelNames: ['source'], registers });
    this.windows = new Counter({ name: 'kestrel_agent_flows_windows_total', help: 'Flow windows handed to the forwarder (sent) and acknowledged by the aggregator (acked)', labelNames: ['source', 'state'], registers });
    this.reconnects = new Counter({ name: 'kestrel_agent_flows_hubble_reconnects_total', help: 'Hubble streams that failed and were opened again', labelNames: ['source'], registers });
    this.bytesLost = new Counter({ name: 'kestrel_agent_flows_log_bytes_lost_total', help: 'VPC CNI flow log bytes gone before they were read (file rotated away or truncated), by reason', labelNames: ['reason'], registers });
    this.log = new RateLimitedLog(logger);
  }

  private readonly unflushed: Record<FlowSourceName, number> = { hubble: 0, vpc_cni: 0 };

  counted(source: FlowSourceName, n: number): void {
    this.totals[source].raw += n;
    this.unflushed[source] += n;
  }

  /** Adds what was counted since the last flush to kestrel_agent_flows_raw_total. */
  flushCounted(): void {
    for (const source of ['hubble', 'vpc_cni'] as const) {
      const n = this.unflushed[source];
      if (n === 0) continue;
      this.unflushed[source] = 0;
      this.raw.inc({ source }, n);
    }
  }

  droppedFlows(source: FlowSourceName, reason: string, n: number): void {
    if (n <= 0) return;
    this.dropped.inc({ source, reason }, n);
    const t = this.totals[source].dropped;
    t[reason] = (t[reason] ?? 0) + n;
    this.log.warn(`dropped:${source}:${reason}`, 'flows dropped on the node', { source, reason, flows: n });
  }

  skippedRecord(source: FlowSourceName, reason: string): void {
    this.skipped.inc({ source, reason });
    const t = this.totals[source].skipped;
    t[reason] = (t[reason] ?? 0) + 1;
  }

  lostAtSource(source: FlowSourceName, n: number, detail: Record<string, unknown>): void {
    this.sourceLost.inc({ source }, n);
    this.totals[source].sourceLost += n;
    this.log.warn(`source-lost:${source}`, 'the flow source reported events lost', { source, events: n, ...detail });
  }

  windowSent(source: FlowSourceName): void {
    this.windows.inc({ source, state: 'sent' });
    this.totals[source].windowsSent++;
  }

  windowAcked(source: FlowSourceName): void {
    this.windows.inc({ source, state: 'acked' });
    this.totals[source].windowsAcked++;
  }

  hubbleDisconnected(error: string): void {
    this.reconnects.inc({ source: 'hubble' });
    this.totals.hubble.reconnects++;
    this.log.warn('hubble-disconnected', 'Hubble flow stream failed; reconnecting with backoff', { error });
  }

  flowLogBytesLost(reason: string, bytes: number, file: string): void {
    if (bytes <= 0) return;
    this.bytesLost.inc({ reason }, bytes);
    this.totals.vpc_cni.bytesLost += bytes;
    this.logger.warn('VPC CNI flow log data lost before it was read', { reason, bytes, file });
  }

  checkpointError(file: string, err: unknown): void {
    this.log.error(`checkpoint:${file}`, 'cannot write the flow source checkpoint; retrying at the next acknowledgement', { file, error: err instanceof Error ? err.message : String(err) });
  }

  readError(file: string, err: unknown): void {
    this.log.warn(`read:${file}`, 'cannot read the VPC CNI flow log; retrying', { file, error: err instanceof Error ? err.message : String(err) });
  }
}
