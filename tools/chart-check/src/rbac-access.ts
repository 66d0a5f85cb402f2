// What each ServiceAccount may do, asked of a Kubernetes API server: the rendered RBAC (ServiceAccounts, Roles,
// ClusterRoles and their bindings) is loaded into the Kubernetes API test server (e2e/src/kube-api-server, real RBAC
// evaluation: verbs, groups, subresources, resourceNames, RoleBindings to ClusterRoles, the bootstrap roles every
// cluster has), and SubjectAccessReviews from @kubernetes/client-node ask, as the user
// system:serviceaccount:<namespace>:<name> with a ServiceAccount's groups, whether the agent and the aggregator can do
// what they need (docs/install.md, "What the operator may do in the cluster") and cannot do what no value asks for.
//
// Two phases: first the RBAC without the write families (ClusterRoles labelled usekestrel.ai/write-access), which
// must never read Secrets, write workloads or exec into pods whatever the values; then with them, where each family
// that is on grants its writes (and one that is off grants none), and still no Secret, exec or escalation.
//
// rbac.ts reads the rules themselves (wildcards, escalation verbs, a write rule no value asks for): a review can only
// answer the questions asked, the rules show every grant.
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import * as k8s from '@kubernetes/client-node';
import { startKubeApiServer, type KubeApiServer, type KubeObject } from '@kestrel/e2e/kube-api-server';
import type { Manifest } from './render.js';
import type { Values } from './values.js';

export interface AccessQuery {
  verb: string;
  group?: string;
  resource: string;
  subresource?: string;
  /** Absent: cluster-scoped, or every namespace for a namespaced resource. */
  namespace?: string;
  name?: string;
}

interface Expectation {
  who: 'agent' | 'aggregator';
  query: AccessQuery;
  allowed: boolean;
  /** Why (needed for what, or which promise forbids it). */
  why: string;
}

const RBAC_KINDS = new Set(['ServiceAccount', 'Role', 'RoleBinding', 'ClusterRole', 'ClusterRoleBinding']);
const WRITE_LABEL = 'usekestrel.ai/write-access';
const CLUSTER_SCOPED = new Set(['nodes', 'namespaces', 'customresourcedefinitions', 'tokenreviews', 'clusterroles', 'clusterrolebindings', 'users', 'groups', 'nodepools', 'nodeclaims']);
/** A namespace that is not the release's, for "elsewhere" questions. */
const OTHER = 'kube-system';

const get = (values: Values, ...keys: string[]): unknown =>
  keys.reduce<unknown>((v, k) => (v && typeof v === 'object' ? (v as Record<string, unknown>)[k] : undefined), values);

export function describeQuery(q: AccessQuery): string {
  const what = `${q.resource}${q.subresource ? `/${q.subresource}` : ''}${q.group ? `.${q.group}` : ''}${q.name ? ` ${q.name}` : ''}`;
  const where = q.namespace ? `in ${q.namespace}` : CLUSTER_SCOPED.has(q.resource) ? '(cluster-scoped)' : 'in all namespaces';
  return `${q.verb} ${what} ${where}`;
}

/** Promises for both accounts whatever the values: no Secret outside their own, no exec, no escalation. */
function never(namespace: string, secrets: string[]): Array<{ query: AccessQuery; why: string }> {
  const noSecrets = 'no ServiceAccount reads Secrets beyond the aggregator its own runtime Secret';
  const out: Array<{ query: AccessQuery; why: string }> = [];
  for (const verb of ['get', 'list', 'watch']) {
    out.push({ query: { verb, resource: 'secrets' }, why: noSecrets });
    out.push({ query: { verb, resource: 'secrets', namespace: OTHER }, why: noSecrets });
    out.push({ query: { verb, resource: 'secrets', namespace }, why: noSecrets });
  }
  for (const name of secrets) out.push({ query: { verb: 'get', resource: 'secrets', namespace, name }, why: noSecrets });
  out.push({ query: { verb: 'create', resource: 'secrets', namespace }, why: noSecrets });
  for (const [subresource, verb] of [['exec', 'create'], ['exec', 'get'], ['attach', 'create'], ['portforward', 'create']] as const) {
    out.push({ query: { verb, resource: 'pods', subresource, namespace: 'default' }, why: 'nothing execs into, attaches to or forwards ports of pods' });
  }
  out.push({ query: { verb: 'get', resource: 'nodes', subresource: 'proxy', name: 'node-1' }, why: 'no kubelet API through the API server' });
  out.push({ query: { verb: 'create', resource: 'serviceaccounts', subresource: 'token', namespace }, why: 'no tokens minted for other accounts' });
  for (const resource of ['users', 'groups', 'serviceaccounts']) {
    out.push({ query: { verb: 'impersonate', resource, ...(resource === 'serviceaccounts' ? { namespace } : {}) }, why: 'no impersonation' });
  }
  const rbac = 'rbac.authorization.k8s.io';
  out.push({ query: { verb: 'escalate', group: rbac, resource: 'clusterroles' }, why: 'no RBAC changes' });
  out.push({ query: { verb: 'bind', group: rbac, resource: 'clusterroles' }, why: 'no RBAC changes' });
  out.push({ query: { verb: 'create', group: rbac, resource: 'clusterrolebindings' }, why: 'no RBAC changes' });
  out.push({ query: { verb: 'create', group: rbac, resource: 'rolebindings', namespace }, why: 'no RBAC changes' });
  return out;
}

/** Writes no base grant gives (write access comes only from a family that is on), in its namespace and another. */
function workloadWrites(namespace: string): AccessQuery[] {
  const out: AccessQuery[] = [];
  const kinds: Array<[string, string[]]> = [
    ['apps', ['deployments', 'statefulsets', 'daemonsets', 'replicasets']],
    ['batch', ['jobs', 'cronjobs']],
    ['', ['pods', 'services', 'configmaps']],
    ['networking.k8s.io', ['networkpolicies']],
  ];
  for (const [group, resources] of kinds) {
    for (const resource of resources) {
      for (const ns of [namespace, 'default']) {
        for (const verb of ['create', 'update', 'patch', 'delete']) out.push({ verb, ...(group ? { group } : {}), resource, namespace: ns });
      }
    }
  }
  out.push({ verb: 'patch', group: 'apps', resource: 'deployments', subresource: 'scale', namespace: 'default' });
  out.push({ verb: 'delete', resource: 'nodes', name: 'node-1' });
  out.push({ verb: 'patch', resource: 'nodes', name: 'node-1' });
  return out;
}

/**
 * Per remediation family (docs/remediation.md): the writes its actions make (allowed when it is on, in an allowlisted
 * namespace when it has `namespaces`) and writes beyond them (denied even when it is on: no more than it needs).
 */
const FAMILIES: Array<{ family: string; switch: string[]; namespaced: boolean; writes: AccessQuery[]; beyond: AccessQuery[] }> = [
  {
    family: 'network-policies',
    switch: ['remediation', 'networkPolicies', 'enabled'],
    namespaced: true,
    writes: [{ verb: 'create', group: 'networking.k8s.io', resource: 'networkpolicies', namespace: 'default' }, { verb: 'update', group: 'networking.k8s.io', resource: 'networkpolicies', namespace: 'default', name: 'allow-web' }],
    beyond: [{ verb: 'delete', group: 'networking.k8s.io', resource: 'networkpolicies', namespace: 'default', name: 'allow-web' }],
  },
  {
    family: 'argo-cd',
    switch: ['remediation', 'argoCd', 'enabled'],
    namespaced: true,
    writes: [{ verb: 'patch', group: 'argoproj.io', resource: 'applications', namespace: 'argocd' }],
    beyond: [{ verb: 'create', group: 'argoproj.io', resource: 'applications', namespace: 'argocd' }, { verb: 'delete', group: 'argoproj.io', resource: 'applications', namespace: 'argocd' }, { verb: 'get', resource: 'secrets', namespace: 'argocd', name: 'argocd-initial-admin-secret' }],
  },
  {
    family: 'argo-rollouts',
    switch: ['remediation', 'argoRollouts', 'enabled'],
    namespaced: true,
    writes: [{ verb: 'patch', group: 'argoproj.io', resource: 'rollouts', namespace: 'default' }, { verb: 'patch', group: 'argoproj.io', resource: 'rollouts', subresource: 'status', namespace: 'default' }],
    beyond: [{ verb: 'delete', group: 'argoproj.io', resource: 'rollouts', namespace: 'default' }, { verb: 'update', group: 'argoproj.io', resource: 'rollouts', namespace: 'default' }, { verb: 'patch', group: 'apps', resource: 'replicasets', namespace: 'default' }],
  },
  {
    family: 'flux',
    switch: ['remediation', 'flux', 'enabled'],
    namespaced: true,
    writes: [{ verb: 'patch', group: 'kustomize.toolkit.fluxcd.io', resource: 'kustomizations', namespace: 'flux-system' }, { verb: 'patch', group: 'source.toolkit.fluxcd.io', resource: 'gitrepositories', namespace: 'flux-system' }],
    beyond: [{ verb: 'delete', group: 'kustomize.toolkit.fluxcd.io', resource: 'kustomizations', namespace: 'flux-system' }, { verb: 'create', group: 'helm.toolkit.fluxcd.io', resource: 'helmreleases', namespace: 'flux-system' }],
  },
  {
    family: 'karpenter',
    switch: ['remediation', 'karpenter', 'enabled'],
    namespaced: false,
    writes: [{ verb: 'patch', group: 'karpenter.sh', resource: 'nodepools', name: 'default' }, { verb: 'create', group: 'karpenter.sh', resource: 'nodepools' }, { verb: 'delete', group: 'karpenter.sh', resource: 'nodeclaims', name: 'default-abc12' }],
    beyond: [{ verb: 'delete', group: 'karpenter.sh', resource: 'nodepools', name: 'default' }, { verb: 'patch', group: 'karpenter.sh', resource: 'nodeclaims', name: 'default-abc12' }, { verb: 'patch', group: 'karpenter.k8s.aws', resource: 'ec2nodeclasses', name: 'default' }],
  },
];

/** A family's writes where its values allow them: in its first allowlisted namespace, if it has an allowlist. */
function familyWrites(values: Values, f: (typeof FAMILIES)[number]): { allowed: AccessQuery[]; elsewhere: AccessQuery[] } {
  const namespaces = (get(values, ...f.switch.slice(0, -1), 'namespaces') ?? []) as string[];
  if (!f.namespaced || namespaces.length === 0) return { allowed: f.writes, elsewhere: [] };
  return {
    allowed: f.writes.map((q) => ({ ...q, namespace: namespaces[0]! })),
    elsewhere: namespaces.includes(OTHER) ? [] : f.writes.map((q) => ({ ...q, namespace: OTHER })),
  };
}

/** The aggregator container's plain env values. */
function aggregatorEnv(manifests: Manifest[]): Map<string, string> {
  const deployment = manifests.find((m) => m.kind === 'Deployment')?.object as { spec?: { template?: { spec?: { containers?: Array<{ name: string; env?: Array<{ name: string; value?: string }> }> } } } } | undefined;
  const container = deployment?.spec?.template?.spec?.containers?.find((c) => c.name === 'aggregator');
  return new Map((container?.env ?? []).filter((e) => e.value !== undefined).map((e) => [e.name, e.value!]));
}

/** The aggregator's defaults (packages/aggregator/src/config.ts) for the names it writes when the chart sets none. */
const AGGREGATOR_DEFAULTS: Record<string, string> = {
  KESTREL_AGGREGATOR_CLOUD_TOKEN_SECRET: 'kestrel-aggregator-cloud-token',
  KESTREL_AGGREGATOR_CLOUD_CERT_SECRET: 'kestrel-aggregator-cloud-tls',
  KESTREL_AGGREGATOR_LEASE_NAME: 'kestrel-aggregator-leader',
};

function baseExpectations(manifests: Manifest[], values: Values, namespace: string, fullname: string): Expectation[] {
  const runtimeSecret = (get(values, 'cloud', 'runtimeSecret', 'name') as string) || `${fullname}-cloud-runtime`;
  const env = aggregatorEnv(manifests);
  const setting = (name: string) => env.get(name) ?? AGGREGATOR_DEFAULTS[name]!;
  const otherSecrets = [(get(values, 'cloud', 'existingSecret') as string) || `${fullname}-cloud`, `${fullname}-internal-ca`, `${fullname}-aggregator-tls`];
  const out: Expectation[] = [];
  const allow = (who: Expectation['who'], why: string, ...queries: AccessQuery[]) => queries.forEach((query) => out.push({ who, query, allowed: true, why }));
  const deny = (who: Expectation['who'], why: string, ...queries: AccessQuery[]) => queries.forEach((query) => out.push({ who, query, allowed: false, why }));

  // The agent: its own Node, the pods on its node (RBAC cannot say "this node": the agent's field selectors do).
  allow('agent', 'its own Node (fieldSelector metadata.name=<node>)', { verb: 'get', resource: 'nodes', name: 'node-1' }, { verb: 'list', resource: 'nodes' }, { verb: 'watch', resource: 'nodes' });
  allow('agent', 'the pods on its node (fieldSelector spec.nodeName=<node>)', { verb: 'list', resource: 'pods' }, { verb: 'watch', resource: 'pods' });
  deny('agent', 'the agent only reads', { verb: 'create', group: 'coordination.k8s.io', resource: 'leases', namespace }, { verb: 'patch', resource: 'secrets', namespace, name: runtimeSecret });

  // The aggregator: what the leader inventories, its Lease, its runtime Secret by name, agents' tokens.
  const inventory: Array<[string, string[]]> = [
    ['', ['namespaces', 'pods', 'services', 'nodes', 'events']],
    ['apps', ['deployments', 'statefulsets', 'daemonsets', 'replicasets']],
    ['batch', ['jobs', 'cronjobs']],
    ['networking.k8s.io', ['networkpolicies']],
    ['security.istio.io', ['authorizationpolicies']],
    ['apiextensions.k8s.io', ['customresourcedefinitions']],
  ];
  for (const [group, resources] of inventory) {
    for (const resource of resources) for (const verb of ['list', 'watch']) allow('aggregator', 'the cluster inventory the leader streams', { verb, ...(group ? { group } : {}), resource });
  }
  allow('aggregator', 'custom resource kinds', { verb: 'get', group: 'apiextensions.k8s.io', resource: 'customresourcedefinitions', name: 'rollouts.argoproj.io' });
  const lease = setting('KESTREL_AGGREGATOR_LEASE_NAME');
  for (const verb of ['get', 'create', 'update']) allow('aggregator', 'leader election in its namespace (KESTREL_AGGREGATOR_LEASE_NAME)', { verb, group: 'coordination.k8s.io', resource: 'leases', namespace, name: lease });
  deny('aggregator', 'Leases only in its namespace', { verb: 'update', group: 'coordination.k8s.io', resource: 'leases', namespace: OTHER, name: lease });
  for (const verb of ['get', 'update', 'patch']) allow('aggregator', 'its runtime Secret, by name (renewed token and certificates)', { verb, resource: 'secrets', namespace, name: runtimeSecret });
  // Where the uplink writes renewed credentials (a JSON merge patch): the runtime Secret, else every renewal fails.
  for (const name of ['KESTREL_AGGREGATOR_CLOUD_TOKEN_SECRET', 'KESTREL_AGGREGATOR_CLOUD_CERT_SECRET']) {
    allow('aggregator', `${name}: where renewed credentials are written`, { verb: 'patch', resource: 'secrets', namespace, name: setting(name) });
  }
  deny('aggregator', 'its runtime Secret is only read and updated', { verb: 'delete', resource: 'secrets', namespace, name: runtimeSecret });
  allow('aggregator', "it checks agents' projected tokens", { verb: 'create', group: 'authentication.k8s.io', resource: 'tokenreviews' });
  allow('aggregator', "an agent token's pod (reviews without node-name, Kubernetes < 1.30)", { verb: 'get', resource: 'pods', namespace });

  // remediation.reads: the read query types of Argo CD, Rollouts, Flux and Karpenter, while the tool is installed.
  const reads = get(values, 'remediation', 'reads', 'enabled') === true;
  const toolKinds: Array<[string, string]> = [['argoproj.io', 'applications'], ['argoproj.io', 'rollouts'], ['kustomize.toolkit.fluxcd.io', 'kustomizations'], ['helm.toolkit.fluxcd.io', 'helmreleases'], ['karpenter.sh', 'nodepools'], ['karpenter.sh', 'nodeclaims']];
  for (const [group, resource] of toolKinds) {
    for (const verb of ['get', 'list']) (reads ? allow : deny)('aggregator', `remediation.reads.enabled is ${reads}`, { verb, group, resource });
  }
  for (const who of ['agent', 'aggregator'] as const) {
    for (const { query, why } of never(namespace, otherSecrets)) deny(who, why, query);
    for (const query of workloadWrites(namespace)) deny(who, 'no write access unless a write family is on', query);
    for (const { writes } of FAMILIES) for (const query of writes) deny(who, 'no write access unless a write family is on', query);
  }
  return out;
}

function familyExpectations(values: Values, namespace: string, fullname: string): Expectation[] {
  const otherSecrets = [(get(values, 'cloud', 'existingSecret') as string) || `${fullname}-cloud`, `${fullname}-internal-ca`];
  const out: Expectation[] = [];
  for (const who of ['agent', 'aggregator'] as const) {
    for (const { query, why } of never(namespace, otherSecrets)) out.push({ who, query, allowed: false, why: `${why} (write families included)` });
  }
  for (const f of FAMILIES) {
    const on = get(values, ...f.switch) === true;
    const { allowed, elsewhere } = familyWrites(values, f);
    for (const query of allowed) out.push({ who: 'aggregator', query, allowed: on, why: `write family ${f.family} is ${on ? 'on' : 'off'}` });
    for (const query of elsewhere) out.push({ who: 'aggregator', query, allowed: false, why: `write family ${f.family} is limited to its namespaces` });
    for (const query of f.beyond) out.push({ who: 'aggregator', query, allowed: false, why: `more than the ${f.family} actions need` });
    for (const query of [...allowed, ...f.beyond]) out.push({ who: 'agent', query, allowed: false, why: 'write families are the aggregator\'s' });
  }
  if (get(values, 'investigations', 'yamlApply', 'enabled') === true) {
    const rules = (get(values, 'investigations', 'yamlApply', 'rules') ?? []) as Array<{ apiGroups?: string[]; resources?: string[]; verbs?: string[] }>;
    for (const rule of rules) {
      for (const group of rule.apiGroups ?? ['']) {
        for (const resource of rule.resources ?? []) {
          const [res, subresource] = resource.split('/') as [string, string | undefined];
          for (const verb of rule.verbs ?? []) {
            out.push({ who: 'aggregator', query: { verb, ...(group ? { group } : {}), resource: res, ...(subresource ? { subresource } : {}), namespace: 'default' }, allowed: true, why: 'investigations.yamlApply.rules' });
          }
        }
      }
    }
  }
  return out;
}

/** One API test server for every value set: each check loads its RBAC, asks, and removes it again. */
export class RbacAccessChecker {
  private readonly api: k8s.AuthorizationV1Api;

  private constructor(
    private readonly server: KubeApiServer,
    private readonly stateDir: string,
  ) {
    const kc = new k8s.KubeConfig();
    kc.loadFromOptions(server.kubeConfig());
    // As kc.makeApiClient, but every review reuses the first one's connection pool (client-node makes a new one per
    // request, and a TLS handshake per review would be most of the check's time: thousands of reviews per run).
    let dispatcher: unknown;
    const auth: k8s.SecurityAuthentication = {
      getName: () => 'default',
      async applySecurityAuthentication(context) {
        await kc.applySecurityAuthentication(context);
        if (dispatcher === undefined) dispatcher = context.getDispatcher();
        else context.setDispatcher(dispatcher as Parameters<typeof context.setDispatcher>[0]);
      },
    };
    this.api = new k8s.AuthorizationV1Api(k8s.createConfiguration({ baseServer: new k8s.ServerConfiguration(server.url, {}), authMethods: { default: auth } }));
  }

  static async start(): Promise<RbacAccessChecker> {
    const stateDir = fs.mkdtempSync(path.join(os.tmpdir(), 'chart-check-api-'));
    return new RbacAccessChecker(await startKubeApiServer({ stateDir }), stateDir);
  }

  /** Asks as system:serviceaccount:<namespace>:<name>, with the groups the API server gives a ServiceAccount. */
  async allowed(namespace: string, serviceAccount: string, q: AccessQuery): Promise<boolean> {
    const review = await this.api.createSubjectAccessReview({
      body: {
        apiVersion: 'authorization.k8s.io/v1',
        kind: 'SubjectAccessReview',
        spec: {
          user: `system:serviceaccount:${namespace}:${serviceAccount}`,
          groups: ['system:serviceaccounts', `system:serviceaccounts:${namespace}`, 'system:authenticated'],
          resourceAttributes: { verb: q.verb, group: q.group ?? '', resource: q.resource, subresource: q.subresource, namespace: q.namespace, name: q.name },
        },
      },
    });
    return review.status?.allowed === true;
  }

  async check(manifests: Manifest[], values: Values, namespace: string, fullname: string): Promise<string[]> {
    const rbac = manifests.filter((m) => RBAC_KINDS.has(m.kind));
    const isFamily = (m: Manifest) => ((m.object.metadata as { labels?: Record<string, string> }).labels ?? {})[WRITE_LABEL] !== undefined;
    const accounts = { agent: `${fullname}-agent`, aggregator: `${fullname}-aggregator` };
    const loaded: KubeObject[] = [];
    const load = (ms: Manifest[]) => {
      for (const m of ms) loaded.push(this.server.apply(structuredClone(m.object) as unknown as KubeObject));
    };
    const problems: string[] = [];
    const ask = async (phase: string, expectations: Expectation[]) => {
      for (const e of expectations) {
        const allowed = await this.allowed(namespace, accounts[e.who], e.query);
        if (allowed === e.allowed) continue;
        problems.push(`${phase}${e.who} ${allowed ? 'can' : 'cannot'} ${describeQuery(e.query)}: ${e.allowed ? 'needed' : 'must be denied'} (${e.why})`);
      }
    };
    try {
      this.server.ensureNamespace(namespace);
      // Roles of families limited to namespaces (remediation.<family>.namespaces) live in those namespaces.
      for (const m of rbac) if (m.namespace) this.server.ensureNamespace(m.namespace);
      load(rbac.filter((m) => !isFamily(m)));
      await ask('', baseExpectations(manifests, values, namespace, fullname));
      // Without a family object or a family on, the second phase would ask the same questions of the same RBAC.
      const families = familyExpectations(values, namespace, fullname);
      if (rbac.some(isFamily) || families.some((e) => e.allowed)) {
        load(rbac.filter(isFamily));
        await ask('with write families: ', families);
      }
    } catch (err) {
      problems.push(`loading the RBAC into the Kubernetes API test server or asking it failed: ${(err as Error).message}`);
    } finally {
      for (const o of loaded.reverse()) this.server.delete(o.apiVersion!, o.kind!, o.metadata.name!, o.metadata.namespace);
    }
    return problems;
  }

  async close(): Promise<void> {
    await this.server.stop();
    fs.rmSync(this.stateDir, { recursive: true, force: true });
  }
}
