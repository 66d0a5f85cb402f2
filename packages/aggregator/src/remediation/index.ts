// Remediation: the typed actions of Argo CD, Argo Rollouts, Flux and Karpenter (DatadogQueryRequest types 10-35) and
// the network policies Kestrel Cloud pushes, each write family off until the installer turns it on. Built once in
// main.ts when the aggregator has Kubernetes access: a family is registered on the query dispatcher while discovery
// finds its tool in the cluster (else the dispatcher answers "not available"), and the InventoryCommit flags follow.
import type { Logger, Registry } from '@kestrel/core';
import type { KubeConfig } from '@kubernetes/client-node';
import type { InventoryCommit } from '@kestrel/proto/cloud/v1';
import { MinuteRateLimit } from '../executors/limits.js';
import type { FamilyName, QueryDispatcher } from '../queries/dispatch.js';
import { ActionFamily, type Action } from './actions.js';
import { ARGOCD_ACTIONS } from './argocd.js';
import { loggerRemediationAudit, RemediationEvents, type RemediationAuditSink } from './events.js';
import { FLUX_ACTIONS } from './flux.js';
import { KARPENTER_ACTIONS } from './karpenter.js';
import { RemediationKube } from './kube-client.js';
import { NetworkPolicyPushes } from './network-policies.js';
import { ToolPresence, type ToolsPresent } from './presence.js';
import { ROLLOUT_ACTIONS } from './rollouts.js';
import type { RemediationConfig, WriteSwitch } from './settings.js';

export { remediationSettings, remediationConfigFrom, type RemediationConfig } from './settings.js';

export interface RemediationView {
  tools: ToolsPresent;
  lastDiscoveryError: string | null;
  families: Record<string, { writes: boolean; namespaces: string[] }>;
  actionsPerMinute: number;
  actions: Record<string, Partial<Record<string, number>>>;
}

export function renderRemediation(result: unknown): string {
  const v = result as RemediationView | { enabled: false; reason: string };
  if ('enabled' in v) return `remediation off: ${v.reason}`;
  const found = (Object.keys(v.tools) as (keyof ToolsPresent)[]).map((t) => `${t} ${v.tools[t] ? 'found' : 'absent'}`).join(', ');
  const lines = [`tools: ${found}${v.lastDiscoveryError ? ` (last discovery failed: ${v.lastDiscoveryError})` : ''}`, `rate limit: ${v.actionsPerMinute} actions per minute per family`];
  for (const [family, s] of Object.entries(v.families)) {
    const done = Object.entries(v.actions[family] ?? {}).map(([d, n]) => `${d} ${n}`).join(', ');
    lines.push(`${family}: writes ${s.writes ? `ON${s.namespaces.length ? ` in ${s.namespaces.join(', ')}` : ''}` : 'off'}${done ? `; ${done}` : ''}`);
  }
  return lines.join('\n');
}

export interface RemediationDeps {
  kubeConfig: KubeConfig;
  registry: Registry;
  logger: Logger;
  queries: QueryDispatcher;
  /** Called when the tools found in the cluster change (the cluster watch then re-sends its inventory and commit). */
  presenceChanged: () => void;
  audit?: RemediationAuditSink;
}

const FAMILIES: { name: FamilyName; tool: keyof ToolsPresent; actions: ReadonlyMap<number, Action>; switchOf: (c: RemediationConfig) => WriteSwitch }[] = [
  { name: 'ArgoCD', tool: 'argocd', actions: ARGOCD_ACTIONS, switchOf: (c) => c.argoCd },
  { name: 'Argo Rollouts', tool: 'rollouts', actions: ROLLOUT_ACTIONS, switchOf: (c) => c.argoRollouts },
  { name: 'Flux CD', tool: 'flux', actions: FLUX_ACTIONS, switchOf: (c) => c.flux },
  { name: 'Karpenter', tool: 'karpenter', actions: KARPENTER_ACTIONS, switchOf: (c) => c.karpenter },
];

export class Remediation {
  readonly networkPolicies: NetworkPolicyPushes;
  readonly presence: ToolPresence;
  readonly events: RemediationEvents;

  constructor(
    private readonly config: RemediationConfig,
    private readonly deps: RemediationDeps,
  ) {
    const kube = new RemediationKube(deps.kubeConfig);
    this.events = new RemediationEvents(deps.registry, deps.audit ?? loggerRemediationAudit(deps.logger));
    const families = FAMILIES.map((f) => ({
      tool: f.tool,
      family: new ActionFamily(f.name, f.actions, { kube, switch: f.switchOf(config), limit: new MinuteRateLimit(config.actionsPerMinute), events: this.events }),
    }));
    this.networkPolicies = new NetworkPolicyPushes(kube, config.networkPolicies, new MinuteRateLimit(config.actionsPerMinute), this.events);
    this.presence = new ToolPresence(kube, config.discoveryIntervalMs, this.events, deps.logger, (now) => {
      for (const { tool, family } of families) {
        if (now[tool]) deps.queries.register(family);
        else deps.queries.unregister(family.name);
      }
      deps.presenceChanged();
    });
  }

  /**
   * Follows the cluster's tools until the signal ends. The Datadog family registers itself on the dispatcher
   * whenever it is ready; has_datadog is read from there, and a change of it is followed the same way.
   */
  async run(signal: AbortSignal): Promise<void> {
    let datadog = this.deps.queries.has('Datadog');
    const timer = setInterval(() => {
      if (this.deps.queries.has('Datadog') === datadog) return;
      datadog = !datadog;
      this.deps.presenceChanged();
    }, this.config.discoveryIntervalMs);
    try {
      await this.presence.run(signal);
    } finally {
      clearInterval(timer);
    }
  }

  /** `kestrel-aggregator debug remediation`: what is found, what is on, what was done. */
  view(): RemediationView {
    const sw = (s: WriteSwitch) => ({ writes: s.enabled, namespaces: [...s.namespaces] });
    return {
      tools: { ...this.presence.current },
      lastDiscoveryError: this.presence.lastError ?? null,
      families: {
        'Network policies': sw(this.config.networkPolicies),
        ArgoCD: sw(this.config.argoCd),
        'Argo Rollouts': sw(this.config.argoRollouts),
        'Flux CD': sw(this.config.flux),
        Karpenter: sw(this.config.karpenter),
      },
      actionsPerMinute: this.config.actionsPerMinute,
      actions: Object.fromEntries([...this.events.tally].map(([family, byDecision]) => [family, Object.fromEntries(byDecision)])),
    };
  }

  /** The InventoryCommit flags this part knows (has_datadog is the Datadog family's). */
  flags(): Omit<InventoryCommit, 'hasDatadog'> {
    const p = this.presence.current;
    return { hasArgocd: p.argocd, hasRollouts: p.rollouts, hasFlux: p.flux, hasKarpenter: p.karpenter };
  }
}
