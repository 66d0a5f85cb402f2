// Named, counted events of the cluster watch (see STYLE.md).
import { Counter, Gauge, RateLimitedLog, type Logger, type Registry } from '@kestrel/core';

export class ClusterEvents {
  readonly messages: Counter<'stream' | 'kind'>;
  readonly dropped: Counter<'reason'>;
  readonly relists: Counter<'resource'>;
  readonly disabled: Gauge<'resource'>;
  readonly objects: Gauge<'resource'>;
  readonly leader: Gauge;
  private readonly log: RateLimitedLog;

  constructor(registry: Registry, logger: Logger) {
    const registers = [registry];
    this.messages = new Counter({ name: 'kestrel_aggregator_cluster_messages_total', help: 'Inventory and incident messages handed to the uplink', labelNames: ['stream', 'kind'], registers });
    this.dropped = new Counter({ name: 'kestrel_aggregator_cluster_messages_dropped_total', help: 'Cluster messages dropped, by reason', labelNames: ['reason'], registers });
    this.relists = new Counter({ name: 'kestrel_aggregator_cluster_relists_total', help: 'Relists after 410 Gone', labelNames: ['resource'], registers });
    this.disabled = new Gauge({ name: 'kestrel_aggregator_cluster_resource_disabled', help: '1 when a resource kind is not watched because RBAC denies it', labelNames: ['resource'], registers });
    this.objects = new Gauge({ name: 'kestrel_aggregator_cluster_objects', help: 'Objects known per resource', labelNames: ['resource'], registers });
    this.leader = new Gauge({ name: 'kestrel_aggregator_leader', help: '1 while this replica is the leader running cluster-wide watches', registers });
    this.log = new RateLimitedLog(logger);
  }

  drop(reason: string, count = 1): void {
    this.dropped.inc({ reason }, count);
    this.log.warn(`drop:${reason}`, 'cluster messages dropped', { reason, count });
  }
}
