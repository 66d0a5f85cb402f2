// Proof that the checks can fail: each mutation breaks one promise in a copy of a rendered value set, and the check
// that guards that promise must report it. A check that passes every mutation would be a check that cannot fail.
import { checkAgentIdentity } from './agent-identity.js';
import { validateManifest } from './manifests.js';
import { checkPodSecurity } from './pod-security.js';
import { checkRbac } from './rbac.js';
import type { RbacAccessChecker } from './rbac-access.js';
import type { Manifest } from './render.js';
import { checkSettings, type ProcessConfig } from './settings.js';
import type { Values } from './values.js';

interface Mutation {
  name: string;
  /** Changes the copy in place; the kind of object it touches (and for RBAC objects the suffix of its name, default -aggregator). */
  kind: string;
  target?: string;
  apply(object: any): void;
  check: 'manifests' | 'settings' | 'rbac' | 'access' | 'pods' | 'identity';
  expect: string;
}

const agentContainer = (o: any) => o.spec.template.spec.containers[0];
const tokenSource = (o: any) => o.spec.template.spec.volumes.flatMap((v: any) => v.projected?.sources ?? []).find((s: any) => s.serviceAccountToken).serviceAccountToken;
const setEnv = (o: any, suffix: string, value: string) => (agentContainer(o).env.find((e: { name: string }) => e.name.endsWith(suffix)).value = value);

const MUTATIONS: Mutation[] = [
  { name: 'a misspelt field', kind: 'DaemonSet', check: 'manifests', expect: 'readOnlyRootFileSystem: unknown field', apply: (o) => (agentContainer(o).securityContext.readOnlyRootFileSystem = true) },
  { name: 'a wrong enum', kind: 'DaemonSet', check: 'manifests', expect: 'protocol', apply: (o) => (agentContainer(o).ports[0].protocol = 'tcp') },
  { name: 'a quantity that is not one', kind: 'Deployment', check: 'manifests', expect: 'memory', apply: (o) => (agentContainer(o).resources.limits.memory = '1 gig') },
  { name: 'an env name no process reads', kind: 'DaemonSet', check: 'settings', expect: 'KESTREL_AGENT_LOGLEVEL is not a setting', apply: (o) => agentContainer(o).env.push({ name: 'KESTREL_AGENT_LOGLEVEL', value: 'info' }) },
  { name: 'an env value the process refuses', kind: 'Deployment', check: 'settings', expect: 'would not start', apply: (o) => (agentContainer(o).env.find((e: { name: string }) => e.name.endsWith('RECONNECT_MAX_BACKOFF')).value = '30 seconds') },
  { name: 'a TLS file not in its Secret', kind: 'Deployment', check: 'settings', expect: 'has no key', apply: (o) => (agentContainer(o).env.find((e: { name: string }) => e.name.endsWith('INGEST_TLS_KEY_FILE')).value = '/etc/kestrel/ingest-tls/server.key') },
  { name: 'the container runtime folder not mounted', kind: 'DaemonSet', check: 'settings', expect: 'KESTREL_AGENT_CONTAINER_FILESYSTEM=/var/lib/containerd is not a mounted folder', apply: (o) => (agentContainer(o).volumeMounts = agentContainer(o).volumeMounts.filter((m: { name: string }) => m.name !== 'container-runtime')) },
  { name: 'the proc root not mounted', kind: 'DaemonSet', check: 'settings', expect: 'KESTREL_AGENT_PROC_ROOT=/host/proc is not a mounted folder', apply: (o) => (agentContainer(o).volumeMounts = agentContainer(o).volumeMounts.filter((m: { name: string }) => m.name !== 'host-proc')) },
  { name: 'the runtime Secret not mounted back', kind: 'Deployment', check: 'settings', expect: 'KESTREL_AGGREGATOR_CLOUD_RUNTIME_DIR=/etc/kestrel/cloud-runtime is not a mounted folder', apply: (o) => (agentContainer(o).volumeMounts = agentContainer(o).volumeMounts.filter((m: { name: string }) => m.name !== 'cloud-runtime')) },
  { name: 'the onboarding Secret read back as the runtime one', kind: 'Deployment', check: 'settings', expect: 'is not the Secret renewed credentials are written to', apply: (o) => (o.spec.template.spec.volumes.find((v: { name: string }) => v.name === 'cloud-runtime').secret.secretName = 'kestrel-cloud') },
  { name: 'the runtime Secret required to start', kind: 'Deployment', check: 'settings', expect: 'must be optional: true', apply: (o) => delete o.spec.template.spec.volumes.find((v: { name: string }) => v.name === 'cloud-runtime').secret.optional },
  { name: 'the runtime Secret mounted writable', kind: 'Deployment', check: 'settings', expect: 'KESTREL_AGGREGATOR_CLOUD_RUNTIME_DIR=/etc/kestrel/cloud-runtime should be mounted read-only', apply: (o) => delete agentContainer(o).volumeMounts.find((m: { name: string }) => m.name === 'cloud-runtime').readOnly },
  { name: 'service links on', kind: 'DaemonSet', check: 'settings', expect: 'enableServiceLinks', apply: (o) => delete o.spec.template.spec.enableServiceLinks },
  { name: 'Secrets readable cluster-wide', kind: 'ClusterRole', check: 'access', expect: 'aggregator can list secrets in all namespaces', apply: (o) => o.rules[0].resources.push('secrets') },
  { name: 'every Secret of its namespace', kind: 'Role', check: 'access', expect: 'aggregator can get secrets in kestrel', apply: (o) => o.rules.find((r: { resources: string[] }) => r.resources.includes('secrets')).resourceNames = [] },
  { name: 'a write nobody asked for', kind: 'ClusterRole', check: 'rbac', expect: 'write access that no enabled value asks for', apply: (o) => o.rules.push({ apiGroups: [''], resources: ['configmaps'], verbs: ['create'] }) },
  { name: 'workloads writable', kind: 'ClusterRole', check: 'access', expect: 'aggregator can patch deployments.apps in default', apply: (o) => o.rules.push({ apiGroups: ['apps'], resources: ['deployments'], verbs: ['patch'] }) },
  { name: 'exec into pods', kind: 'ClusterRole', target: '-agent', check: 'access', expect: 'agent can create pods/exec in default', apply: (o) => o.rules.push({ apiGroups: [''], resources: ['pods/exec'], verbs: ['create'] }) },
  { name: 'a wildcard verb', kind: 'ClusterRole', target: '-agent', check: 'rbac', expect: 'wildcard or escalation verb', apply: (o) => o.rules[0].verbs.push('*') },
  { name: 'no TokenReviews for the aggregator', kind: 'ClusterRole', check: 'access', expect: 'aggregator cannot create tokenreviews.authentication.k8s.io (cluster-scoped): needed', apply: (o) => (o.rules = o.rules.filter((r: { resources: string[] }) => !r.resources.includes('tokenreviews'))) },
  { name: 'the agent without its Node', kind: 'ClusterRole', target: '-agent', check: 'access', expect: 'agent cannot watch nodes (cluster-scoped): needed', apply: (o) => (o.rules = o.rules.filter((r: { resources: string[] }) => !r.resources.includes('nodes'))) },
  { name: 'renewed tokens written to a Secret the aggregator may not patch', kind: 'Deployment', check: 'access', expect: 'aggregator cannot patch secrets kestrel-aggregator-cloud-token in kestrel: needed', apply: (o) => (agentContainer(o).env = agentContainer(o).env.filter((e: { name: string }) => e.name !== 'KESTREL_AGGREGATOR_CLOUD_TOKEN_SECRET')) },
  { name: 'the Role bound in another namespace', kind: 'RoleBinding', check: 'access', expect: 'aggregator cannot create leases.coordination.k8s.io', apply: (o) => (o.subjects[0].namespace = 'default') },
  { name: 'agent tokens for another audience', kind: 'DaemonSet', check: 'identity', expect: "the token's audience", apply: (o) => (tokenSource(o).audience = 'https://kubernetes.default.svc') },
  { name: 'a long-lived agent token', kind: 'DaemonSet', check: 'identity', expect: 'expirationSeconds', apply: (o) => delete tokenSource(o).expirationSeconds },
  { name: 'a client certificate for the agents', kind: 'DaemonSet', check: 'identity', expect: 'agents have no client certificate', apply: (o) => agentContainer(o).env.push({ name: 'KESTREL_AGENT_TLS_CERT_FILE', value: '/etc/kestrel/identity/tls.crt' }) },
  { name: "the aggregators accepting another account's tokens", kind: 'Deployment', check: 'identity', expect: 'but the agents run as', apply: (o) => setEnv(o, 'AGENT_SERVICE_ACCOUNT', 'default') },
  { name: 'the aggregators in certificate mode', kind: 'Deployment', check: 'identity', expect: 'AGENT_AUTH must be token', apply: (o) => setEnv(o, 'AGENT_AUTH', 'certificate') },
  { name: 'a writable log folder', kind: 'DaemonSet', check: 'pods', expect: 'must be mounted read-only', apply: (o) => delete agentContainer(o).volumeMounts[0].readOnly },
  { name: 'a host namespace', kind: 'DaemonSet', check: 'pods', expect: 'host namespace', apply: (o) => (o.spec.template.spec.hostPID = true) },
  { name: 'a capability added', kind: 'DaemonSet', check: 'pods', expect: 'drop ALL capabilities and add none', apply: (o) => (agentContainer(o).securityContext.capabilities.add = ['SYS_ADMIN']) },
];

export async function checkMutations(manifests: Manifest[], values: Values, namespace: string, fullname: string, configs: ProcessConfig[], access: RbacAccessChecker): Promise<string[]> {
  const problems: string[] = [];
  const rbacKinds = new Set(['ClusterRole', 'Role', 'RoleBinding', 'ClusterRoleBinding']);
  for (const mutation of MUTATIONS) {
    const copy: Manifest[] = structuredClone(manifests);
    const target = rbacKinds.has(mutation.kind)
      ? copy.find((m) => m.kind === mutation.kind && m.name === `${fullname}${mutation.target ?? '-aggregator'}`)
      : copy.find((m) => m.kind === mutation.kind);
    if (!target) {
      problems.push(`${mutation.name}: no ${mutation.kind} to mutate`);
      continue;
    }
    mutation.apply(target.object);
    let found: string[];
    switch (mutation.check) {
      case 'manifests':
        found = await validateManifest(target);
        break;
      case 'settings':
        found = checkSettings(copy, configs);
        break;
      case 'rbac':
        found = checkRbac(copy, values, namespace, fullname);
        break;
      case 'access':
        found = await access.check(copy, values, namespace, fullname);
        break;
      case 'pods':
        found = checkPodSecurity(copy, { defaults: true });
        break;
      case 'identity':
        found = checkAgentIdentity(copy);
        break;
    }
    if (!found.some((p) => p.includes(mutation.expect))) problems.push(`${mutation.name} was not reported (expected "${mutation.expect}", got: ${found.join('; ') || 'nothing'})`);
  }
  return problems;
}

export const mutationCount = MUTATIONS.length;
