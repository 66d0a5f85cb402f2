// Least privilege, read from the rendered rules themselves: no wildcard or escalation verb, and every rule that
// writes is one the chart promises (docs/install.md, "What the operator may do"). What each ServiceAccount can and
// cannot do is asked of the Kubernetes API test server with SubjectAccessReviews (rbac-access.ts); this file covers
// what a review cannot: a review answers only the questions asked, the rules show every grant.
import type { Manifest } from './render.js';
import type { Values } from './values.js';

interface Rule {
  apiGroups?: string[];
  resources?: string[];
  resourceNames?: string[];
  verbs: string[];
}

interface Grant {
  role: string;
  scope: 'cluster' | 'namespace';
  writeFamily: string | undefined;
  rule: Rule;
}

const READ = new Set(['get', 'list', 'watch']);
const NEVER_VERBS = new Set(['*', 'impersonate', 'escalate', 'bind']);
const WRITE_LABEL = 'usekestrel.ai/write-access';

/** The values switch of each write family (the ClusterRole label value names the family). */
const FAMILY_SWITCHES: Record<string, string[]> = {
  'yaml-apply': ['investigations', 'yamlApply', 'enabled'],
  'network-policies': ['remediation', 'networkPolicies', 'enabled'],
  'argo-cd': ['remediation', 'argoCd', 'enabled'],
  'argo-rollouts': ['remediation', 'argoRollouts', 'enabled'],
  flux: ['remediation', 'flux', 'enabled'],
  karpenter: ['remediation', 'karpenter', 'enabled'],
};

/**
 * What each remediation family's actions need (docs/remediation.md), as group/resource -> verbs: a family's role
 * may grant these and nothing more. The server-side dry run every write starts with needs the same verb.
 */
export const FAMILY_NEEDS: Record<string, Record<string, string[]>> = {
  'network-policies': { 'networking.k8s.io/networkpolicies': ['get', 'create', 'update'] },
  'argo-cd': { 'argoproj.io/applications': ['get', 'list', 'patch'] },
  'argo-rollouts': { 'argoproj.io/rollouts': ['get', 'list', 'patch'], 'argoproj.io/rollouts/status': ['patch'], 'apps/replicasets': ['list'] },
  flux: Object.fromEntries([
    ...['kustomizations', 'helmreleases'].flatMap((r) => [`kustomize.toolkit.fluxcd.io/${r}`, `helm.toolkit.fluxcd.io/${r}`]),
    ...['gitrepositories', 'helmrepositories', 'helmcharts', 'ocirepositories', 'buckets'].map((r) => `source.toolkit.fluxcd.io/${r}`),
  ].map((k) => [k, ['get', 'list', 'patch']])),
  karpenter: { 'karpenter.sh/nodepools': ['get', 'list', 'create', 'update', 'patch'], 'karpenter.sh/nodeclaims': ['get', 'list', 'delete'] },
};

const get = (values: Values, keys: string[]): unknown =>
  keys.reduce<unknown>((v, k) => (v && typeof v === 'object' ? (v as Record<string, unknown>)[k] : undefined), values);

/** Every rule bound to the ServiceAccount `name` in `namespace`, through (Cluster)RoleBindings. */
export function grantsOf(manifests: Manifest[], namespace: string, name: string): Grant[] {
  const grants: Grant[] = [];
  for (const binding of manifests.filter((m) => m.kind === 'ClusterRoleBinding' || m.kind === 'RoleBinding')) {
    const { subjects = [], roleRef } = binding.object as { subjects?: Array<{ kind: string; name: string; namespace?: string }>; roleRef: { kind: string; name: string } };
    if (!subjects.some((s) => s.kind === 'ServiceAccount' && s.name === name && s.namespace === namespace)) continue;
    const role = manifests.find((m) => m.kind === roleRef.kind && m.name === roleRef.name && (m.kind === 'ClusterRole' || m.namespace === binding.namespace));
    if (!role) continue;
    const labels = ((role.object.metadata as { labels?: Record<string, string> }).labels ?? {}) as Record<string, string>;
    const scope = binding.kind === 'RoleBinding' ? 'namespace' : 'cluster';
    for (const rule of ((role.object as { rules?: Rule[] }).rules ?? [])) grants.push({ role: `${role.kind} ${role.name}`, scope, writeFamily: labels[WRITE_LABEL], rule });
  }
  return grants;
}

export function checkRbac(manifests: Manifest[], values: Values, namespace: string, fullname: string): string[] {
  const problems: string[] = [];
  const runtimeSecret = (get(values, ['cloud', 'runtimeSecret', 'name']) as string) || `${fullname}-cloud-runtime`;
  const accounts = { agent: `${fullname}-agent`, aggregator: `${fullname}-aggregator` };

  for (const [who, account] of Object.entries(accounts)) {
    for (const g of grantsOf(manifests, namespace, account)) {
      const r = g.rule;
      const groups = r.apiGroups ?? [];
      const resources = r.resources ?? [];
      const what = `${who} (${g.role}): ${r.verbs.join(',')} on ${resources.join(',')}`;
      if ([...groups, ...resources].includes('*') || r.verbs.some((v) => NEVER_VERBS.has(v))) problems.push(`${what}: wildcard or escalation verb`);
      const writes = r.verbs.filter((v) => !READ.has(v));
      if (writes.length === 0) continue;
      if (who === 'agent') {
        problems.push(`${what}: the agent only reads`);
        continue;
      }
      const only = (values: string[] | undefined, ...allowed: string[]) => (values ?? []).length > 0 && (values ?? []).every((v) => allowed.includes(v));
      const leases = g.scope === 'namespace' && only(groups, 'coordination.k8s.io') && only(resources, 'leases') && only(writes, 'create', 'update');
      const ownSecret = g.scope === 'namespace' && only(groups, '') && only(resources, 'secrets') && r.resourceNames?.join() === runtimeSecret && only(writes, 'update', 'patch');
      // Agents prove their node with ServiceAccount tokens, which only the API server can check (cluster-scoped).
      const tokenReview = g.scope === 'cluster' && only(groups, 'authentication.k8s.io') && only(resources, 'tokenreviews') && r.verbs.join() === 'create';
      const family = g.writeFamily !== undefined && FAMILY_SWITCHES[g.writeFamily] !== undefined && get(values, FAMILY_SWITCHES[g.writeFamily]!) === true;
      const needs = g.writeFamily !== undefined ? FAMILY_NEEDS[g.writeFamily] : undefined;
      if (needs) {
        const extra = groups.flatMap((group) => resources.flatMap((resource) => r.verbs.filter((v) => !(needs[`${group ? `${group}/` : ''}${resource}`] ?? []).includes(v)).map((v) => `${v} ${group}/${resource}`)));
        if (extra.length > 0) problems.push(`${what}: more than the ${g.writeFamily} actions need (${extra.join(', ')})`);
      }
      if (!(leases || ownSecret || tokenReview || family)) problems.push(`${what}: write access that no enabled value asks for`);
    }
  }
  return problems;
}
