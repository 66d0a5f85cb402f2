// Which tools the cluster has, from discovery (a live question to the API server, as the published operator's probes,
// but with no object listed and so no RBAC needed): Argo CD = argoproj.io applications, Argo Rollouts = argoproj.io
// rollouts, Flux = kustomize.toolkit.fluxcd.io kustomizations or helm.toolkit.fluxcd.io helmreleases, Karpenter =
// karpenter.sh nodepools. Asked again every interval, so a CRD installed or removed later is followed: the families
// are made available or not, and the InventoryCommit flags change (index.ts wires both).
import type { Logger } from '@kestrel/core';
import type { RemediationEvents } from './events.js';
import { arr, obj, str } from './actions.js';
import type { RemediationKube } from './kube-client.js';

export interface ToolsPresent {
  argocd: boolean;
  rollouts: boolean;
  flux: boolean;
  karpenter: boolean;
}

export const NONE_PRESENT: ToolsPresent = { argocd: false, rollouts: false, flux: false, karpenter: false };

/** Per tool: any of these group/version/resource triples served means present. */
const SIGNS: Record<keyof ToolsPresent, [string, string, string][]> = {
  argocd: [['argoproj.io', 'v1alpha1', 'applications']],
  rollouts: [['argoproj.io', 'v1alpha1', 'rollouts']],
  flux: [
    ['kustomize.toolkit.fluxcd.io', 'v1', 'kustomizations'],
    ['kustomize.toolkit.fluxcd.io', 'v1beta2', 'kustomizations'],
    ['helm.toolkit.fluxcd.io', 'v2', 'helmreleases'],
    ['helm.toolkit.fluxcd.io', 'v2beta2', 'helmreleases'],
    ['helm.toolkit.fluxcd.io', 'v2beta1', 'helmreleases'],
  ],
  karpenter: [
    ['karpenter.sh', 'v1', 'nodepools'],
    ['karpenter.sh', 'v1beta1', 'nodepools'],
  ],
};

export class ToolPresence {
  current: ToolsPresent = { ...NONE_PRESENT };
  lastError: string | undefined;

  constructor(
    private readonly kube: RemediationKube,
    private readonly intervalMs: number,
    private readonly events: RemediationEvents,
    private readonly logger: Logger,
    private readonly onChange: (now: ToolsPresent, before: ToolsPresent) => void,
  ) {}

  /** One look at discovery. Rejects when the API server cannot be asked (the previous answer then stands). */
  async probe(signal: AbortSignal): Promise<ToolsPresent> {
    const groups = arr((await this.kube.call({ method: 'GET', path: '/apis', signal }))['groups']).map(obj);
    const served = new Set<string>();
    for (const g of groups) for (const v of arr(g['versions']).map(obj)) served.add(str(v['groupVersion']));
    const wanted = new Set(Object.values(SIGNS).flatMap((signs) => signs.map(([group, version]) => `${group}/${version}`)));
    const resources = new Set<string>();
    for (const gv of [...wanted].filter((x) => served.has(x))) {
      try {
        const list = await this.kube.call({ method: 'GET', path: `/apis/${gv}`, signal });
        for (const r of arr(list['resources']).map(obj)) resources.add(`${gv}/${str(r['name'])}`);
      } catch {
        // A group version that went away between the two questions: not served.
      }
    }
    const has = (tool: keyof ToolsPresent) => SIGNS[tool].some(([group, version, resource]) => resources.has(`${group}/${version}/${resource}`));
    return { argocd: has('argocd'), rollouts: has('rollouts'), flux: has('flux'), karpenter: has('karpenter') };
  }

  /** Looks once now, then every interval, until the signal ends. */
  async run(signal: AbortSignal): Promise<void> {
    while (!signal.aborted) {
      await this.refresh(signal);
      await new Promise<void>((resolve) => {
        const timer = setTimeout(resolve, this.intervalMs);
        signal.addEventListener('abort', () => (clearTimeout(timer), resolve()), { once: true });
      });
    }
  }

  async refresh(signal: AbortSignal): Promise<void> {
    let now: ToolsPresent;
    try {
      now = await this.probe(AbortSignal.any([signal, AbortSignal.timeout(10_000)]));
      this.lastError = undefined;
    } catch (err) {
      if (signal.aborted) return;
      const text = err instanceof Error ? err.message : String(err);
      if (this.lastError !== text) this.logger.warn('discovery failed; which tools the cluster has is left as it was', { error: text });
      this.lastError = text;
      return;
    }
    const before = this.current;
    const changed = (Object.keys(now) as (keyof ToolsPresent)[]).filter((k) => now[k] !== before[k]);
    if (changed.length === 0) return;
    this.current = now;
    for (const k of changed) {
      this.events.presence.inc({ family: k, change: now[k] ? 'found' : 'gone' });
      this.logger.info(now[k] ? 'tool found in the cluster' : 'tool gone from the cluster', { tool: k });
    }
    this.onChange(now, before);
  }
}
