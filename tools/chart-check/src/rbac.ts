// Least privilege, read from the rendered RBAC: what each ServiceAccount is bound to, and that it is no more than the
// chart promises (docs/install.md, "What the operator may do"). A static reading of the rules; the
// SubjectAccessReview checks against the Kubernetes API test server come on top of it.
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
const NEVER_RESOURCES = new Set(['pods/exec', 'pods/attach', 'pods/portforward', 'nodes/proxy', 'serviceaccounts/token']);
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

const allows = (grants: Grant[], group: string, resource: string, verb: string): boolean =>
  grants.some((g) => (g.rule.apiGroups ?? []).includes(group) && (g.rule.resources ?? []).includes(resource) && g.rule.verbs.includes(verb) && !g.rule.resourceNames?.length);

export function checkRbac(manifests: Manifest[], values: Values, namespace: string, fullname: string): string[] {
  const problems: string[] = [];
  const runtimeSecret = (get(values, ['cloud', 'runtimeSecret', 'name']) as string) || `${fullname}-cloud-runtime`;
  const accounts = { agent: `${fullname}-agent`, aggregator: `${fullname}-aggregator` };

  for (const [who, account] of Object.entries(accounts)) {
    const grants = grantsOf(manifests, namespace, account);
    for (const g of grants) {
      const r = g.rule;
      const what = `${who} (${g.role}): ${r.verbs.join(',')} on ${(r.resources ?? []).join(',')}`;
      if ([...(r.apiGroups ?? []), ...(r.resources ?? [])].includes('*') || r.verbs.some((v) => NEVER_VERBS.has(v))) problems.push(`${what}: wildcard or escalation verb`);
      if ((r.resources ?? []).some((res) => NEVER_RESOURCES.has(res))) problems.push(`${what}: exec/attach/proxy/token access is never granted`);
      if ((r.resources ?? []).includes('secrets')) {
        const ownSecretOnly = g.scope === 'namespace' && r.resourceNames?.length === 1 && r.resourceNames[0] === runtimeSecret && r.verbs.every((v) => ['get', 'update', 'patch'].includes(v));
        if (who !== 'aggregator' || !ownSecretOnly) problems.push(`${what}: Secrets may only be the aggregator's own runtime Secret ${runtimeSecret}, by name`);
      }
      const writes = r.verbs.filter((v) => !READ.has(v));
      if (writes.length === 0) continue;
      if (who === 'agent') {
        problems.push(`${what}: the agent only reads`);
        continue;
      }
      const leases = g.scope === 'namespace' && r.apiGroups?.join() === 'coordination.k8s.io' && r.resources?.join() === 'leases' && writes.every((v) => v === 'create' || v === 'update');
      const ownSecret = (r.resources ?? []).includes('secrets');
      // Agents prove their node with ServiceAccount tokens, which only the API server can check (cluster-scoped).
      const tokenReview = g.scope === 'cluster' && r.apiGroups?.join() === 'authentication.k8s.io' && r.resources?.join() === 'tokenreviews' && r.verbs.join() === 'create';
      const family = g.writeFamily !== undefined && FAMILY_SWITCHES[g.writeFamily] !== undefined && get(values, FAMILY_SWITCHES[g.writeFamily]!) === true;
      if (!(leases || ownSecret || tokenReview || family)) problems.push(`${what}: write access that no enabled value asks for`);
    }
    if (who === 'agent') {
      for (const res of ['nodes', 'pods']) for (const verb of ['get', 'list', 'watch']) if (!allows(grants, '', res, verb)) problems.push(`agent: missing ${verb} ${res}`);
    } else {
      const needed: Array<[string, string[]]> = [
        ['', ['namespaces', 'pods', 'services', 'nodes', 'events']],
        ['apps', ['deployments', 'statefulsets', 'daemonsets', 'replicasets']],
        ['batch', ['jobs', 'cronjobs']],
        ['networking.k8s.io', ['networkpolicies']],
        ['security.istio.io', ['authorizationpolicies']],
        ['apiextensions.k8s.io', ['customresourcedefinitions']],
      ];
      for (const [group, resources] of needed) for (const res of resources) for (const verb of ['list', 'watch']) if (!allows(grants, group, res, verb)) problems.push(`aggregator: missing ${verb} ${group || 'core'}/${res}`);
      for (const verb of ['get', 'create', 'update']) if (!allows(grants.filter((g) => g.scope === 'namespace'), 'coordination.k8s.io', 'leases', verb)) problems.push(`aggregator: missing ${verb} leases in its namespace`);
      if (!allows(grants, 'authentication.k8s.io', 'tokenreviews', 'create')) problems.push(`aggregator: missing create tokenreviews (it checks agents' tokens)`);
      // An agent token's pod is read when the review does not name the node (clusters before Kubernetes 1.30).
      if (!allows(grants, '', 'pods', 'get')) problems.push(`aggregator: missing get pods (an agent token's pod, on clusters whose TokenReviews do not name the node)`);
      for (const [family, keys] of Object.entries(FAMILY_SWITCHES)) {
        const on = get(values, keys) === true && !(family === 'yaml-apply' && !(get(values, ['investigations', 'yamlApply', 'rules']) as unknown[])?.length);
        if (on !== grants.some((g) => g.writeFamily === family)) problems.push(`aggregator: write family ${family} is ${on ? 'on but not granted' : 'granted but not on'}`);
      }
    }
  }
  return problems;
}
