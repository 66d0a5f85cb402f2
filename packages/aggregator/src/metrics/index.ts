// Builds the metrics part of the aggregator: store, OTLP receiver, optional pod index, the expiry sweep, and the
// RequestHandler that answers MetricsQueryRequest on the stream it came on. main.ts creates it when otlpListen is
// set; without it, MetricsQueryRequest gets the uplink's "not supported" answer.
import type { KubeConfig } from '@kubernetes/client-node';
import type { Logger, Registry, TlsReloader } from '@kestrel/core';
import type { CloudMessage, RequestHandler } from '../uplink/cloud-requests.js';
import type { StreamName, UplinkRecord } from '../uplink/records.js';
import type { MetricsConfig } from './config.js';
import { MetricsEvents, registerStoreGauges } from './events.js';
import { MetricsIngest } from './ingest.js';
import { PodIndex } from './pod-index.js';
import { answerQuery } from './query.js';
import { OtlpReceiver } from './receiver.js';
import { MetricsStore } from './store.js';

export interface MetricsView {
  listen: string;
  port: number;
  tls: boolean;
  series: number;
  points: number;
  estimatedBytes: number;
  limits: MetricsConfig['store'];
  podIndex: { enabled: boolean; synced: boolean; pods: number };
  /** Refused data points by reason, evicted series and points by reason, since start. */
  rejected: Record<string, number>;
  seriesEvicted: Record<string, number>;
  pointsEvicted: Record<string, number>;
}

export class Metrics implements RequestHandler {
  readonly store: MetricsStore;
  readonly events: MetricsEvents;
  readonly receiver: OtlpReceiver;
  private readonly pods: PodIndex | undefined;
  private sweeper: NodeJS.Timeout | undefined;
  private podsRunning: Promise<void> | undefined;
  private readonly stopPods = new AbortController();

  private readonly logger: Logger;

  constructor(
    private readonly config: MetricsConfig,
    deps: { registry: Registry; logger: Logger; tls: TlsReloader | undefined; kubeConfig: KubeConfig | undefined },
  ) {
    this.logger = deps.logger;
    this.events = new MetricsEvents(deps.registry, deps.logger);
    this.store = new MetricsStore(config.store, this.events);
    registerStoreGauges(deps.registry, this.store);
    this.pods = config.podIndex && deps.kubeConfig ? new PodIndex(deps.kubeConfig) : undefined;
    const ingest = new MetricsIngest(this.store, this.events, config.ingest, this.pods, config.peerPodContext);
    this.receiver = new OtlpReceiver(
      { listen: config.listen, tls: deps.tls, maxReceiveMessageBytes: config.maxMessageBytes, maxConcurrentStreams: config.maxConcurrentStreams },
      ingest,
      this.events,
      deps.logger,
    );
  }

  async start(): Promise<number> {
    // Without list/watch on pods (RBAC) the index stays empty: series keep what their attributes say.
    this.podsRunning = this.pods?.run(this.stopPods.signal).catch((err: unknown) => {
      this.logger.warn('metrics pod index stopped: pod names and IPs are not resolved to workloads', { error: err instanceof Error ? err.message.split('\n')[0] : String(err) });
    });
    this.sweeper = setInterval(() => this.store.sweep(), this.config.sweepIntervalMs);
    this.sweeper.unref();
    return this.receiver.start();
  }

  async stop(): Promise<void> {
    clearInterval(this.sweeper);
    this.stopPods.abort();
    await this.receiver.stop();
    await this.podsRunning;
  }

  handles(message: CloudMessage, on: StreamName): boolean {
    return message.$case === 'metricsQueryRequest' && (on === 'control' || on === 'data');
  }

  async handle(message: CloudMessage): Promise<UplinkRecord | undefined> {
    if (message.$case !== 'metricsQueryRequest') return undefined;
    const started = Date.now();
    const { response, outcome } = answerQuery(this.store, message.value, this.config.query);
    this.events.query(outcome, Date.now() - started, message.value.requestId, response.errorMessage);
    return { $case: 'metricsQueryResponse', value: response };
  }

  view(): MetricsView {
    return {
      listen: this.config.listen,
      port: this.receiver.port,
      tls: Boolean(this.config.tlsFiles),
      series: this.store.seriesCount,
      points: this.store.pointCount,
      estimatedBytes: this.store.estimatedBytes,
      limits: this.config.store,
      podIndex: { enabled: Boolean(this.pods), synced: this.pods?.synced ?? false, pods: this.pods?.size ?? 0 },
      ...this.events.totals,
    };
  }
}
