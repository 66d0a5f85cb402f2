// How agents prove their node (docs/transport.md), read from the rendered DaemonSet and Deployment: each agent sends
// a projected ServiceAccount token bound to its pod, for the audience the aggregators review it for, and has no
// client certificate (the chart cannot mint one per node, and a shared one could speak for any node); the
// aggregators run in token mode and accept the agents' own ServiceAccount, in the same namespace.
import path from 'node:path';
import type { Manifest } from './render.js';

interface EnvVar {
  name: string;
  value?: string;
}
interface PodSpec {
  serviceAccountName?: string;
  containers: Array<{ name: string; env?: EnvVar[]; volumeMounts?: Array<{ name: string; mountPath: string; readOnly?: boolean }> }>;
  volumes?: Array<{
    name: string;
    secret?: { secretName: string };
    projected?: { sources: Array<{ serviceAccountToken?: { audience?: string; expirationSeconds?: number; path: string }; secret?: { name: string } }> };
  }>;
}

/** The aggregator's default for KESTREL_AGGREGATOR_AGENT_TOKEN_AUDIENCE (packages/aggregator/src/config.ts). */
const DEFAULT_AUDIENCE = 'kestrel-aggregator';

const podOf = (m: Manifest) => (m.object as { spec: { template: { spec: PodSpec } } }).spec.template.spec;

export function checkAgentIdentity(manifests: Manifest[]): string[] {
  const daemonSet = manifests.find((m) => m.kind === 'DaemonSet');
  const deployment = manifests.find((m) => m.kind === 'Deployment');
  if (!daemonSet || !deployment) return ['no agent DaemonSet or aggregator Deployment rendered'];
  const problems: string[] = [];
  const agentPod = podOf(daemonSet);
  const agent = agentPod.containers.find((c) => c.name === 'agent');
  const aggregator = podOf(deployment).containers.find((c) => c.name === 'aggregator');
  if (!agent || !aggregator) return ['no agent or aggregator container'];
  const agentEnv = new Map((agent.env ?? []).map((e) => [e.name, e.value]));
  const aggregatorEnv = new Map((aggregator.env ?? []).map((e) => [e.name, e.value]));

  for (const name of ['KESTREL_AGENT_TLS_CERT_FILE', 'KESTREL_AGENT_TLS_KEY_FILE']) {
    if (agentEnv.has(name)) problems.push(`agent: ${name} is set: agents have no client certificate (a token proves their node)`);
  }
  const secrets = new Map(manifests.filter((m) => m.kind === 'Secret').map((m) => [m.name, (m.object.data ?? {}) as Record<string, string>]));
  for (const volume of agentPod.volumes ?? []) {
    const names = [volume.secret?.secretName, ...(volume.projected?.sources ?? []).map((s) => s.secret?.name)].filter((n): n is string => n !== undefined);
    for (const name of names) if ('tls.key' in (secrets.get(name) ?? {})) problems.push(`agent: volume ${volume.name} mounts Secret ${name} with a private key (a client certificate)`);
  }

  const tokenFile = agentEnv.get('KESTREL_AGENT_TOKEN_FILE');
  const audience = aggregatorEnv.get('KESTREL_AGGREGATOR_AGENT_TOKEN_AUDIENCE') ?? DEFAULT_AUDIENCE;
  if (!tokenFile) problems.push('agent: KESTREL_AGENT_TOKEN_FILE is not set');
  else {
    const mount = (agent.volumeMounts ?? []).find((m) => m.mountPath === path.dirname(tokenFile));
    const token = (agentPod.volumes ?? []).find((v) => v.name === mount?.name)?.projected?.sources.find((s) => s.serviceAccountToken?.path === path.basename(tokenFile))?.serviceAccountToken;
    if (!mount || !token) problems.push(`agent: KESTREL_AGENT_TOKEN_FILE=${tokenFile} is not a projected serviceAccountToken`);
    else {
      if (!mount.readOnly) problems.push(`agent: the token volume ${mount.name} must be mounted read-only`);
      if (token.audience !== audience) problems.push(`agent: the token's audience is ${JSON.stringify(token.audience)}, but the aggregators review tokens for ${JSON.stringify(audience)}`);
      if (!token.expirationSeconds || token.expirationSeconds > 86_400) problems.push(`agent: the token needs a short expirationSeconds (the kubelet renews it), got ${String(token.expirationSeconds)}`);
    }
  }

  if (aggregatorEnv.get('KESTREL_AGGREGATOR_AGENT_AUTH') !== 'token') problems.push(`aggregator: KESTREL_AGGREGATOR_AGENT_AUTH must be token, got ${String(aggregatorEnv.get('KESTREL_AGGREGATOR_AGENT_AUTH'))}`);
  const serviceAccount = aggregatorEnv.get('KESTREL_AGGREGATOR_AGENT_SERVICE_ACCOUNT');
  if (serviceAccount !== agentPod.serviceAccountName) {
    problems.push(`aggregator: KESTREL_AGGREGATOR_AGENT_SERVICE_ACCOUNT is ${String(serviceAccount)}, but the agents run as ${String(agentPod.serviceAccountName)}`);
  }
  if (daemonSet.namespace !== deployment.namespace) problems.push(`agents (namespace ${String(daemonSet.namespace)}) and aggregators (${String(deployment.namespace)}) must share a namespace: the aggregators accept the agents' ServiceAccount of their own namespace`);
  return problems;
}
