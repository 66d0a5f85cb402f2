// The flow sources of the agent: Cilium Hubble on the node's socket and the AWS VPC CNI flow log, each on when its
// setting says so. Both aggregate into windows (window-loop.ts) that go to the forwarder's bounded buffer and resume
// from their last acknowledged point after a restart. Endpoints Hubble does not name, and every VPC CNI endpoint,
// are resolved from the pods on this node (pod-endpoints.ts, a list + watch of those pods).
//
// The sources themselves (and through them @kestrel/flows: the Hubble client, its generated protos) are imported only
// when their setting is on: most nodes run with both off, and loading them costs every agent about 1 MiB of memory
// (docs/BENCHMARKS.md, "Idle files"). Hence `FlowSources.create()` rather than a constructor.
import type { KubeConfig } from '@kubernetes/client-node';
import type { Logger, Registry } from '@kestrel/core';
import { ForbiddenError, KubeWatch, PODS } from '../node/kube-watch.js';
import type { NodeSourceEvents } from '../node/events.js';
import type { FlowSourcesConfig } from './config.js';
import { FlowSourceEvents } from './events.js';
import type { HubbleSource, HubbleSourceView } from './hubble-source.js';
import { cutPodEndpoint, PodEndpoints, type PodEndpointRef } from './pod-endpoints.js';
import type { FlowWindowSink } from './types.js';
import type { VpcCniSource, VpcCniSourceView } from './vpc-cni-source.js';

export { flowSourceSettings, flowSourcesConfigFrom, type FlowSourcesConfig } from './config.js';
export { FlowSourceEvents } from './events.js';
export type { FlowWindowSink, PendingFlowWindow } from './types.js';
export { renderFlows } from './view.js';

export interface FlowsView {
  node: string;
  enabled: boolean;
  podsResolvable: number;
  podWatch: string;
  sources: (HubbleSourceView | VpcCniSourceView)[];
  totals: FlowSourceEvents['totals'];
}

export interface FlowSourcesDeps {
  registry: Registry;
  logger: Logger;
  /** Kubernetes access for the pod watch; undefined: endpoints are resolved by Hubble alone, others stay IPs. */
  kubeConfig: KubeConfig | undefined;
  /** The node source's events: the pod watch's errors count with the node source's pod watch. */
  watchEvents: NodeSourceEvents;
}

export class FlowSources {
  readonly events: FlowSourceEvents;
  private readonly pods = new PodEndpoints();
  private readonly hubble: HubbleSource | undefined;
  private readonly vpcCni: VpcCniSource | undefined;
  private readonly podWatch: KubeWatch<PodEndpointRef> | undefined;
  private readonly controller = new AbortController();
  private watching: Promise<void> | undefined;
  private readonly logger: Logger;

  /** Builds the sources that are on, loading the code of those only. */
  static async create(config: FlowSourcesConfig, sink: FlowWindowSink, deps: FlowSourcesDeps): Promise<FlowSources> {
    const classes = {
      HubbleSource: config.hubble ? (await import('./hubble-source.js')).HubbleSource : undefined,
      VpcCniSource: config.vpcCni ? (await import('./vpc-cni-source.js')).VpcCniSource : undefined,
    };
    return new FlowSources(config, sink, deps, classes);
  }

  private constructor(
    private readonly config: FlowSourcesConfig,
    sink: FlowWindowSink,
    deps: FlowSourcesDeps,
    classes: { HubbleSource: typeof HubbleSource | undefined; VpcCniSource: typeof VpcCniSource | undefined },
  ) {
    this.logger = deps.logger;
    this.events = new FlowSourceEvents(deps.registry, deps.logger);
    const resolve = (ip: string) => this.pods.resolve(ip);
    const common = { stateDir: config.stateDir, windowMs: config.windowMs, maxConversations: config.maxConversations };
    if (config.hubble && classes.HubbleSource) this.hubble = new classes.HubbleSource({ ...common, address: config.hubble.address }, sink, resolve, this.events, deps.logger);
    if (config.vpcCni && classes.VpcCniSource) this.vpcCni = new classes.VpcCniSource({ ...common, ...config.vpcCni }, sink, resolve, this.events, deps.logger);
    if (this.enabled && deps.kubeConfig) {
      this.podWatch = new KubeWatch(deps.kubeConfig, { name: 'pods', resource: PODS, fieldSelector: `spec.nodeName=${config.nodeName}`, cut: cutPodEndpoint }, this.pods, deps.watchEvents);
    }
  }

  get enabled(): boolean {
    return this.hubble !== undefined || this.vpcCni !== undefined;
  }

  /**
   * Starts the pod watch, waits (at most firstListTimeoutMs) for its first list so that the first flows, e.g. a
   * Hubble ring buffer's backlog after a restart, already resolve to workloads, then starts the sources.
   */
  async start(signal: AbortSignal, firstListTimeoutMs = 10_000): Promise<void> {
    if (!this.enabled) return;
    signal.addEventListener('abort', () => this.controller.abort(), { once: true });
    let ended = false;
    this.watching = this.podWatch
      ?.run(this.controller.signal)
      .catch((err: unknown) => {
        if (!(err instanceof ForbiddenError)) this.logger.error('pod watch for flow endpoints failed; endpoints stay IPs', { error: String(err) });
        this.pods.clear();
      })
      .finally(() => (ended = true));
    const deadline = Date.now() + firstListTimeoutMs;
    while (this.podWatch && !this.podWatch.synced && !ended && !signal.aborted && Date.now() < deadline) await new Promise((r) => setTimeout(r, 50));
    if (this.podWatch && !this.podWatch.synced) this.logger.warn('the pods of this node are not listed yet; flows start with endpoints as IPs until they are', { waitedMs: firstListTimeoutMs });
    this.hubble?.start(this.controller.signal);
    this.vpcCni?.start(this.controller.signal);
  }

  /** Stops reading and sends the open windows (call before the forwarder stops). */
  async stop(): Promise<void> {
    this.controller.abort();
    await Promise.all([this.hubble?.stop(), this.vpcCni?.stop(), this.watching]);
  }

  /** Closes the open windows now (tests). */
  closeWindows(): void {
    this.hubble?.closeWindow();
    this.vpcCni?.closeWindow();
  }

  view(): FlowsView {
    return {
      node: this.config.nodeName,
      enabled: this.enabled,
      podsResolvable: this.pods.pods,
      podWatch: this.podWatch ? this.podWatch.state : 'off',
      sources: [this.hubble?.view(), this.vpcCni?.view()].filter((v): v is HubbleSourceView | VpcCniSourceView => v !== undefined),
      totals: this.events.totals,
    };
  }
}
