// The remediation settings: one switch per write family (off by default) with an optional namespace allowlist, the
// per-family rate limit and how often the cluster is asked which tools it has. Merged into the aggregator's schema
// (KESTREL_AGGREGATOR_REMEDIATION_* / --remediation-*); the chart sets them from remediation.<family>.* values.
import { boolean, duration, integer, list, z } from '@kestrel/core';

export const remediationSettings = {
  remediationNetworkPoliciesEnabled: boolean().prefault('false'),
  remediationNetworkPoliciesNamespaces: list().prefault(''),
  remediationArgoCdEnabled: boolean().prefault('false'),
  remediationArgoCdNamespaces: list().prefault(''),
  remediationArgoRolloutsEnabled: boolean().prefault('false'),
  remediationArgoRolloutsNamespaces: list().prefault(''),
  remediationFluxEnabled: boolean().prefault('false'),
  remediationFluxNamespaces: list().prefault(''),
  /** Karpenter's NodePools and NodeClaims are cluster-scoped: no namespace allowlist. */
  remediationKarpenterEnabled: boolean().prefault('false'),
  /** Actions (reads and writes) one family may start per minute. */
  remediationActionsPerMinute: integer(1, 10_000).prefault('30'),
  /** How often discovery is asked which of Argo CD, Rollouts, Flux and Karpenter the cluster serves. */
  remediationDiscoveryInterval: duration().prefault('30s'),
};

export type RemediationSettings = { [K in keyof typeof remediationSettings]: z.infer<(typeof remediationSettings)[K]> };

/** A write family's switch: the chart value that turns it on and the namespaces it may write in (empty: all). */
export interface WriteSwitch {
  enabled: boolean;
  namespaces: readonly string[];
  /** The chart value to name in a refusal, e.g. remediation.argoRollouts. */
  value: string;
}

export interface RemediationConfig {
  networkPolicies: WriteSwitch;
  argoCd: WriteSwitch;
  argoRollouts: WriteSwitch;
  flux: WriteSwitch;
  karpenter: WriteSwitch;
  actionsPerMinute: number;
  discoveryIntervalMs: number;
}

export function remediationConfigFrom(s: RemediationSettings): RemediationConfig {
  return {
    networkPolicies: { enabled: s.remediationNetworkPoliciesEnabled, namespaces: s.remediationNetworkPoliciesNamespaces, value: 'remediation.networkPolicies' },
    argoCd: { enabled: s.remediationArgoCdEnabled, namespaces: s.remediationArgoCdNamespaces, value: 'remediation.argoCd' },
    argoRollouts: { enabled: s.remediationArgoRolloutsEnabled, namespaces: s.remediationArgoRolloutsNamespaces, value: 'remediation.argoRollouts' },
    flux: { enabled: s.remediationFluxEnabled, namespaces: s.remediationFluxNamespaces, value: 'remediation.flux' },
    karpenter: { enabled: s.remediationKarpenterEnabled, namespaces: [], value: 'remediation.karpenter' },
    actionsPerMinute: s.remediationActionsPerMinute,
    discoveryIntervalMs: s.remediationDiscoveryInterval,
  };
}

/** Why a write may not happen (undefined: it may). Checked before any call to the API server. */
export function writeRefusal(sw: WriteSwitch, namespace: string | undefined): string | undefined {
  if (!sw.enabled) return `this write action is off on this operator: the installer turns it on with the chart value ${sw.value}.enabled=true`;
  if (sw.namespaces.length > 0 && (namespace === undefined || !sw.namespaces.includes(namespace))) {
    return `namespace ${JSON.stringify(namespace ?? '')} is not in ${sw.value}.namespaces (${sw.namespaces.join(', ')})`;
  }
  return undefined;
}
