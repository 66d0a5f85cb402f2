// Wires the cluster watch to leadership: only the replica holding the Lease runs the watches, and it publishes its
// watermark on the Lease so the next leader knows which incident signals were already sent.
import { KubeConfig } from '@kubernetes/client-node';
import { serviceAccountPathPrefix, type Logger, type Registry } from '@kestrel/core';
import { ClusterEvents } from './events.js';
import { ClusterWatch, type ClusterSink, type ReflectorView } from './index.js';
import { LeaderElector } from './leader-election.js';

export const WATERMARK_ANNOTATION = 'kestrel.ai/signals-sent-through';

export interface ClusterRunConfig {
  /** A kubeconfig file for local runs; empty: the in-cluster service account. */
  kubeconfig: string | undefined;
  namespace: string;
  leaseName: string;
  identity: string;
  leaseDurationMs: number;
  renewDeadlineMs: number;
  retryPeriodMs: number;
  pageSize: number;
  resyncIntervalMs: number;
  pendingTooLongMs: number;
  queueCapacity: number;
}

export interface ClusterView {
  leader: boolean;
  identity: string;
  currentHolder: string | null;
  leaderSince: string | null;
  lastLeaseError: string | null;
  watermarks: Record<string, string>;
  commits: number;
  lastCommitAt: string | null;
  informersSynced: number;
  informersTotal: number;
  reflectors: ReflectorView[];
}

/** The Lease annotation: {"pods":"1234","events":"1250",...}; anything unreadable counts as none. */
export function parseWatermarks(text: string | undefined): Record<string, string> {
  if (!text) return {};
  try {
    const parsed = JSON.parse(text) as unknown;
    if (typeof parsed !== 'object' || parsed === null || Array.isArray(parsed)) return {};
    return Object.fromEntries(Object.entries(parsed).filter(([, v]) => typeof v === 'string' && /^\d+$/.test(v))) as Record<string, string>;
  } catch {
    return {};
  }
}

export function loadKubeConfig(file: string | undefined): KubeConfig {
  const kc = new KubeConfig();
  if (file) kc.loadFromFile(file);
  else kc.loadFromCluster(serviceAccountPathPrefix());
  return kc;
}

export class ClusterRunner {
  readonly watch: ClusterWatch;
  readonly elector: LeaderElector;
  private current: Promise<void> | undefined;
  private readonly events: ClusterEvents;

  constructor(
    private readonly config: ClusterRunConfig,
    sink: ClusterSink,
    registry: Registry,
    private readonly logger: Logger,
    kc: KubeConfig = loadKubeConfig(config.kubeconfig),
  ) {
    this.events = new ClusterEvents(registry, logger);
    this.watch = new ClusterWatch(kc, config, sink, this.events, logger);
    this.elector = new LeaderElector(
      kc,
      {
        namespace: config.namespace,
        name: config.leaseName,
        identity: config.identity,
        leaseDurationMs: config.leaseDurationMs,
        renewDeadlineMs: config.renewDeadlineMs,
        retryPeriodMs: config.retryPeriodMs,
        // Only a published watermark is written: an empty one would erase the previous leader's.
        annotations: (): Record<string, string> => {
          // Merged over what the previous leader published: a resource not synced yet keeps its old watermark.
          const previous = parseWatermarks(this.elector.observedAnnotations[WATERMARK_ANNOTATION]);
          const current = this.watch.watermark();
          return Object.keys(current).length ? { [WATERMARK_ANNOTATION]: JSON.stringify({ ...previous, ...current }) } : {};
        },
      },
      {
        startedLeading: (signal) => {
          this.events.leader.set(1);
          const previous = parseWatermarks(this.elector.observedAnnotations[WATERMARK_ANNOTATION]);
          this.logger.info('starting cluster watches', { previousWatermarks: previous });
          this.current = this.watch.run(signal, previous).catch((err: unknown) => {
            this.logger.error('cluster watch failed', { error: String(err) });
          });
        },
        stoppedLeading: async () => {
          this.events.leader.set(0);
          await this.current;
          this.current = undefined;
          this.logger.info('cluster watches stopped');
        },
      },
      logger,
    );
  }

  run(signal: AbortSignal): Promise<void> {
    return this.elector.run(signal);
  }

  view(): ClusterView {
    return {
      leader: this.elector.isLeader,
      identity: this.config.identity,
      currentHolder: this.elector.currentHolder ?? null,
      leaderSince: this.elector.leaderSince?.toISOString() ?? null,
      lastLeaseError: this.elector.lastError ?? null,
      watermarks: this.watch.watermark(),
      commits: this.watch.commits,
      lastCommitAt: this.watch.lastCommitAt?.toISOString() ?? null,
      informersSynced: this.watch.informersSynced,
      informersTotal: this.watch.informersTotal,
      reflectors: this.watch.reflectorViews(),
    };
  }
}

export type { ClusterSink, DataRequest, EventRequest } from './index.js';
