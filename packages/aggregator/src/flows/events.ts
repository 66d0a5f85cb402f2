// Named, counted events of the aggregator's flow merging (see STYLE.md): /metrics and `debug flows` read these.
import { Counter, RateLimitedLog, type Logger, type Registry } from '@kestrel/core';

export class FlowEvents {
  /** Flow windows received, by source (hubble, vpc_cni, relay) and outcome (merged, replay, ignored_relay_mode, invalid). */
  readonly windows: Counter<'source' | 'outcome'>;
  /** Raw flows the windows stand for (FlowWindow.raw_flows), by source. */
  readonly rawFlows: Counter<'source'>;
  /** Per-window lost counts reported upstream of the aggregator: by the source itself (Hubble lost_events) or by the agent. */
  readonly upstreamLost: Counter<'source' | 'where'>;
  /** Flow entries merged into a conversation, by source. */
  readonly entriesMerged: Counter<'source'>;
  /** Conversations seen on both ends (an egress and an ingress observation merged into one Flow). */
  readonly bothEnds: Counter;
  /** Egress entries left to the destination's node (hubbleCountAt=destination): not counted here, not lost. */
  readonly leftToDestination: Counter;
  /** cloud.v1 Flow records handed to the uplink. */
  readonly flowsSent: Counter;
  /** Buckets sent before their time (reason: table_full, shutdown). */
  readonly earlyFlushes: Counter<'reason'>;
  /** Windows that arrived after their bucket was sent: merged into a new bucket. */
  readonly lateWindows: Counter<'source'>;
  /** Flow entries or records dropped, by reason. */
  readonly dropped: Counter<'reason'>;
  /** Endpoints the aggregator resolved from its pod IP index (what the node could not). */
  readonly resolved: Counter<'side'>;
  readonly podsNotIndexed: Counter;
  private readonly log: RateLimitedLog;

  constructor(registry: Registry, logger: Logger) {
    const registers = [registry];
    this.windows = new Counter({ name: 'kestrel_aggregator_flow_windows_total', help: 'Flow windows received, by source and outcome', labelNames: ['source', 'outcome'], registers });
    this.rawFlows = new Counter({ name: 'kestrel_aggregator_flow_raw_flows_total', help: 'Raw flows the received windows stand for', labelNames: ['source'], registers });
    this.upstreamLost = new Counter({ name: 'kestrel_aggregator_flow_upstream_lost_total', help: 'Raw flows lost before the aggregator: reported by the source (hubble lost events) or dropped by the agent', labelNames: ['source', 'where'], registers });
    this.entriesMerged = new Counter({ name: 'kestrel_aggregator_flow_entries_merged_total', help: 'Aggregated flow entries merged into conversations', labelNames: ['source'], registers });
    this.bothEnds = new Counter({ name: 'kestrel_aggregator_flow_both_ends_total', help: 'Conversations observed on both ends and sent once', registers });
    this.leftToDestination = new Counter({ name: 'kestrel_aggregator_flow_entries_left_to_destination_total', help: 'Allowed egress entries towards a known pod not counted here: the destination node counts them (flowsHubbleCountAt=destination)', registers });
    this.flowsSent = new Counter({ name: 'kestrel_aggregator_flows_sent_total', help: 'cloud.v1 Flow records handed to the uplink', registers });
    this.earlyFlushes = new Counter({ name: 'kestrel_aggregator_flow_early_flushes_total', help: 'Buckets sent before their time', labelNames: ['reason'], registers });
    this.lateWindows = new Counter({ name: 'kestrel_aggregator_flow_late_windows_total', help: 'Windows that arrived after their bucket was sent', labelNames: ['source'], registers });
    this.dropped = new Counter({ name: 'kestrel_aggregator_flows_dropped_total', help: 'Flow entries dropped by the aggregator, by reason', labelNames: ['reason'], registers });
    this.resolved = new Counter({ name: 'kestrel_aggregator_flow_endpoints_resolved_total', help: 'Flow endpoints the aggregator resolved from its pod IP index', labelNames: ['side'], registers });
    this.podsNotIndexed = new Counter({ name: 'kestrel_aggregator_flow_pods_not_indexed_total', help: 'Pods left out of the IP index because it was full', registers });
    this.log = new RateLimitedLog(logger);
  }

  drop(reason: string, count: number, detail: string, meta: Record<string, unknown> = {}): void {
    if (count <= 0) return;
    this.dropped.inc({ reason }, count);
    this.log.warn(`flows:${reason}`, 'flow entries dropped', { reason, count, detail, ...meta });
  }

  invalidWindow(source: string, node: string, detail: string): void {
    this.windows.inc({ source, outcome: 'invalid' });
    this.log.warn(`flows:invalid:${node}`, 'flow window refused', { source, node, detail });
  }
}
