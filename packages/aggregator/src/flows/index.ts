// Network flows and L7 access logs on the aggregator, built in one place for main.ts: the pod IP index (its own
// pods watch, on every replica), the flow merger (agents' FlowWindows, and Hubble Relay in relay mode), and the Envoy
// access log receiver (Istio). Everything leaves on StreamFlows through the uplink. See README.md, docs/flows.md
// and docs/istio.md.
import fs from 'node:fs';
import type { KubeConfig } from '@kubernetes/client-node';
import type { Logger, Registry } from '@kestrel/core';
import type { Flow, L7AccessLog } from '@kestrel/proto/cloud/v1';
import type { FlowWindow } from '@kestrel/proto/ingest/v1';
import type { Reflector } from '../cluster/reflector.js';
import { AlsEvents } from '../receivers/als/events.js';
import { AlsReceiver, type AlsView } from '../receivers/als/index.js';
import type { AlsConfig } from '../receivers/als/config.js';
import { ConfigError, settingName } from '@kestrel/core';
import type { FlowsConfig, RelayConfig } from './config.js';
import { FlowEvents } from './events.js';
import { FlowMerger, type MergerView } from './merger.js';
import { PodIpIndex, watchPodIps, type IpResolver } from './pod-ips.js';
import { RelayReader, relayTarget, type RelayView } from './relay.js';

export interface FlowsUplink {
  /** Accepts a record once there is room; `delivered` settles once written. */
  submit(record: { $case: 'flow'; value: Flow } | { $case: 'l7AccessLog'; value: L7AccessLog }, signal: AbortSignal): Promise<{ delivered: Promise<void> }>;
}

export interface FlowsDeps {
  registry: Registry;
  logger: Logger;
  uplink: FlowsUplink;
  /** Kubernetes access for the pod IP index; undefined: endpoints are resolved by the agents only. */
  kubeConfig: KubeConfig | undefined;
  listPageSize: number;
  /** Whether this replica leads (relay mode reads Relay on the leader only). */
  isLeader: () => boolean;
}

export interface FlowsView {
  merger: MergerView;
  podIndex: { enabled: boolean; pods: number; ips: number; synced: boolean; state: string };
  relay: RelayView | { enabled: false };
  als: AlsView | { enabled: false; reason: string };
}

export { FlowMerger, type MergerView, type SourceView, type TalkerView } from './merger.js';
export { FlowEvents } from './events.js';
export type { RelayView } from './relay.js';

/** Relay's TLS files, read at start: one that cannot be read is a setting error (the process exits saying which). */
function readRelayTarget(config: RelayConfig): ReturnType<typeof relayTarget> {
  try {
    return relayTarget(config);
  } catch (err) {
    const key = config.keyFile && !canRead(config.keyFile) ? 'flowsRelayKeyFile' : config.certFile && !canRead(config.certFile) ? 'flowsRelayCertFile' : 'flowsRelayCaFile';
    throw new ConfigError(settingName('KESTREL_AGGREGATOR_', key), err instanceof Error ? err.message : String(err));
  }
}

function canRead(file: string): boolean {
  try {
    fs.accessSync(file, fs.constants.R_OK);
    return true;
  } catch {
    return false;
  }
}

/** Relay windows: as short as the agents' (docs/flows.md), so that Relay and agents merge alike. */
const RELAY_WINDOW_MS = 5000;

export class Flows {
  readonly merger: FlowMerger;
  readonly als: AlsReceiver | undefined;
  private readonly index: PodIpIndex | undefined;
  private readonly reflector: Reflector | undefined;
  private readonly relay: RelayReader | undefined;
  private readonly logger: Logger;

  constructor(
    private readonly config: FlowsConfig,
    alsConfig: AlsConfig | undefined,
    deps: FlowsDeps,
  ) {
    this.logger = deps.logger;
    const events = new FlowEvents(deps.registry, deps.logger);
    this.index = deps.kubeConfig ? new PodIpIndex(config.maxIndexedPods, events) : undefined;
    this.reflector = deps.kubeConfig && this.index ? watchPodIps(deps.kubeConfig, this.index, deps.listPageSize) : undefined;
    const resolver: IpResolver = this.index ?? { resolve: () => undefined };
    this.merger = new FlowMerger(config, { submitFlow: (flow, signal) => deps.uplink.submit({ $case: 'flow', value: flow }, signal) }, resolver, events, deps.logger);
    this.als = alsConfig
      ? new AlsReceiver(alsConfig, { submitL7: (record, signal) => deps.uplink.submit({ $case: 'l7AccessLog', value: record }, signal) }, resolver, new AlsEvents(deps.registry, deps.logger), deps.logger)
      : undefined;
    this.relay =
      config.hubbleMode === 'relay'
        ? new RelayReader(config.relay, readRelayTarget(config.relay), { windowMs: RELAY_WINDOW_MS, maxEntries: config.maxConversations }, this.merger, events, deps.logger, deps.isLeader)
        : undefined;
  }

  submitFlowWindow(node: string, window: FlowWindow, signal: AbortSignal): Promise<{ delivered: Promise<void> }> {
    return this.merger.submitWindow(node, window, signal);
  }

  /** Starts the ALS server; resolves to its port (undefined when it is off). */
  async start(): Promise<number | undefined> {
    return this.als?.start();
  }

  /** Runs the pods watch, the merger, the ALS flusher and the Relay reader until the signal aborts. */
  async run(signal: AbortSignal): Promise<void> {
    // The pod index starts with the process: agents' windows are resolved when they arrive. A pods watch refused
    // (RBAC without pods) leaves endpoints to the agents; it must not stop the rest.
    const watching = this.reflector
      ?.run(signal)
      .catch((err: unknown) => void this.logger.warn('pod IP index stopped: flow endpoints are resolved by the agents only (may the aggregator list and watch pods?)', { error: err instanceof Error ? err.message : String(err) }));
    await Promise.all([watching, this.merger.run(signal), this.als?.run(signal), this.relay?.run(signal)]);
  }

  async stop(): Promise<void> {
    await this.als?.stop();
  }

  view(): FlowsView {
    return {
      merger: this.merger.view(),
      podIndex: {
        enabled: this.index !== undefined,
        pods: this.index?.pods ?? 0,
        ips: this.index?.ips ?? 0,
        synced: this.reflector?.synced ?? false,
        state: this.reflector?.state ?? 'off (no Kubernetes access)',
      },
      relay: this.relay?.view() ?? { enabled: false },
      als: this.als?.view() ?? { enabled: false, reason: 'alsEnabled is false' },
    };
  }
}
