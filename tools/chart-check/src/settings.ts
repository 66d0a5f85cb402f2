// The environment the chart gives each process, checked against the process's own configuration schema (the built
// packages/*/dist/config.js): every KESTREL_* variable must be a setting the process reads, the process must accept
// the whole environment as it would at start, and every file or folder a setting names must be mounted.
import path from 'node:path';
import { pathToFileURL } from 'node:url';
import type { Manifest } from './render.js';

export interface ProcessConfig {
  process: string;
  kind: 'DaemonSet' | 'Deployment';
  container: string;
  prefix: string;
  keys: string[];
  envName(key: string): string;
  /** Loads the configuration from this environment as the process does at start; throws a ConfigError. */
  load(env: Record<string, string>): unknown;
}

interface ConfigModule {
  PREFIX: string;
  agentSchema?: { shape: object };
  aggregatorSchema?: { shape: object };
  loadAgentConfig?: (argv: string[], env: Record<string, string>) => unknown;
  loadAggregatorConfig?: (argv: string[], env: Record<string, string>) => unknown;
}

/** Imports the built configuration modules of both processes (run `make build` first). */
export async function loadProcessConfigs(root: string): Promise<ProcessConfig[]> {
  const load = async <T>(rel: string): Promise<T> => {
    const file = path.join(root, rel);
    try {
      return (await import(pathToFileURL(file).href)) as T;
    } catch (err) {
      throw new Error(`cannot load ${rel} (run make build first): ${(err as Error).message}`);
    }
  };
  const core = await load<{ envName(prefix: string, key: string): string }>('packages/core/dist/config.js');
  const agent = await load<ConfigModule>('packages/agent/dist/config.js');
  const aggregator = await load<ConfigModule>('packages/aggregator/dist/config.js');
  return [
    {
      process: 'kestrel-agent',
      kind: 'DaemonSet',
      container: 'agent',
      prefix: agent.PREFIX,
      keys: Object.keys(agent.agentSchema!.shape),
      envName: (key) => core.envName(agent.PREFIX, key),
      load: (env) => agent.loadAgentConfig!([], env),
    },
    {
      process: 'kestrel-aggregator',
      kind: 'Deployment',
      container: 'aggregator',
      prefix: aggregator.PREFIX,
      keys: Object.keys(aggregator.aggregatorSchema!.shape),
      envName: (key) => core.envName(aggregator.PREFIX, key),
      load: (env) => aggregator.loadAggregatorConfig!([], env),
    },
  ];
}

interface EnvVar {
  name: string;
  value?: string;
  valueFrom?: { fieldRef?: { fieldPath: string } };
}
interface VolumeMount {
  name: string;
  mountPath: string;
  readOnly?: boolean;
}
interface KeyToPath {
  key: string;
  path: string;
}
interface Volume {
  name: string;
  secret?: { secretName: string; items?: KeyToPath[]; optional?: boolean };
  configMap?: { name: string; items?: KeyToPath[] };
  projected?: {
    sources: Array<{
      secret?: { name: string; items?: KeyToPath[] };
      configMap?: { name: string; items?: KeyToPath[] };
      serviceAccountToken?: { audience?: string; expirationSeconds?: number; path: string };
    }>;
  };
  hostPath?: { path: string };
  emptyDir?: object;
}
interface PodSpec {
  enableServiceLinks?: boolean;
  containers: Array<{ name: string; env?: EnvVar[]; volumeMounts?: VolumeMount[] }>;
  volumes?: Volume[];
}

/** What the downward API would give, for the fields the chart uses. */
const FIELD_SAMPLES: Record<string, string> = { 'spec.nodeName': 'node-1', 'metadata.name': 'kestrel-aggregator-7d9f-x2x4z', 'metadata.namespace': 'kestrel' };

export function checkSettings(manifests: Manifest[], configs: ProcessConfig[]): string[] {
  const problems: string[] = [];
  const objects: RenderedObjects = {
    Secret: new Map(manifests.filter((m) => m.kind === 'Secret').map((m) => [m.name, m.object])),
    ConfigMap: new Map(manifests.filter((m) => m.kind === 'ConfigMap').map((m) => [m.name, m.object])),
  };
  for (const config of configs) {
    const workload = manifests.find((m) => m.kind === config.kind);
    if (!workload) {
      problems.push(`${config.process}: no ${config.kind} rendered`);
      continue;
    }
    const at = `${config.kind} ${workload.name}`;
    const pod = (workload.object as { spec: { template: { spec: PodSpec } } }).spec.template.spec;
    if (pod.enableServiceLinks !== false) {
      problems.push(`${at}: enableServiceLinks must be false (service links add ${config.prefix}* look-alike variables)`);
    }
    const container = pod.containers.find((c) => c.name === config.container);
    if (!container) {
      problems.push(`${at}: no container ${config.container}`);
      continue;
    }
    const known = new Map(config.keys.map((k) => [config.envName(k), k]));
    const env: Record<string, string> = {};
    for (const v of container.env ?? []) {
      if (!known.has(v.name)) {
        problems.push(`${at}: env ${v.name} is not a setting of ${config.process} (its settings: ${[...known.keys()].join(', ')})`);
        continue;
      }
      const fieldPath = v.valueFrom?.fieldRef?.fieldPath;
      const value = v.value ?? (fieldPath ? FIELD_SAMPLES[fieldPath] : undefined);
      if (value === undefined) problems.push(`${at}: env ${v.name} has neither a value nor a known downward API field`);
      else env[v.name] = value;
    }
    try {
      config.load(env);
    } catch (err) {
      problems.push(`${at}: ${config.process} would not start with this environment: ${(err as Error).message}`);
    }
    problems.push(...checkPaths(at, env, container.volumeMounts ?? [], pod.volumes ?? [], objects));
    problems.push(...checkRuntimeSecret(at, env, container.volumeMounts ?? [], pod.volumes ?? []));
  }
  return problems;
}

/**
 * The aggregator reads back at start what it wrote (docs/uplink.md, "Credentials across restarts"): the folder of
 * KESTREL_AGGREGATOR_CLOUD_RUNTIME_DIR is the Secret that renewed tokens and certificates are written to, mounted
 * with optional: true (a pod still starts without it, on the onboarding credentials).
 */
function checkRuntimeSecret(at: string, env: Record<string, string>, mounts: VolumeMount[], volumes: Volume[]): string[] {
  const dir = env['KESTREL_AGGREGATOR_CLOUD_RUNTIME_DIR'];
  if (dir === undefined) return [];
  const volume = volumes.find((v) => v.name === mounts.find((m) => m.mountPath === dir)?.name);
  if (!volume) return []; // reported by checkPaths
  const written = ['KESTREL_AGGREGATOR_CLOUD_TOKEN_SECRET', 'KESTREL_AGGREGATOR_CLOUD_CERT_SECRET'].map((n) => env[n]);
  const problems: string[] = [];
  if (!volume.secret || written.some((name) => name !== volume.secret!.secretName)) {
    problems.push(`${at}: KESTREL_AGGREGATOR_CLOUD_RUNTIME_DIR=${dir} (volume ${volume.name}) is not the Secret renewed credentials are written to (${written.join(', ')})`);
  } else if (volume.secret.optional !== true) {
    problems.push(`${at}: the runtime Secret volume ${volume.name} must be optional: true (a pod must start without it)`);
  } else if (volume.secret.items) {
    problems.push(`${at}: the runtime Secret volume ${volume.name} must mount every key (no items): its keys appear one by one`);
  }
  return problems;
}

type RenderedObjects = Record<'Secret' | 'ConfigMap', Map<string, Record<string, unknown>>>;

/** Where a file of a volume comes from: a key of a Secret or ConfigMap, a projected token, or nothing. */
type FileSource = { kind: 'Secret' | 'ConfigMap'; name: string; key: string } | { kind: 'token' } | undefined;

function fileSource(volume: Volume, file: string, objects: RenderedObjects): FileSource {
  const keyOf = (items: KeyToPath[] | undefined) => (items ? items.find((i) => i.path === file)?.key : file);
  if (volume.secret) {
    const key = keyOf(volume.secret.items);
    return key === undefined ? undefined : { kind: 'Secret', name: volume.secret.secretName, key };
  }
  if (volume.configMap) {
    const key = keyOf(volume.configMap.items);
    return key === undefined ? undefined : { kind: 'ConfigMap', name: volume.configMap.name, key };
  }
  for (const source of volume.projected?.sources ?? []) {
    if (source.serviceAccountToken?.path === file) return { kind: 'token' };
    const ref = source.secret ? { kind: 'Secret' as const, ...source.secret } : source.configMap ? { kind: 'ConfigMap' as const, ...source.configMap } : undefined;
    const key = ref && keyOf(ref.items);
    if (!ref || key === undefined) continue;
    // A source with items gives exactly those; one without gives every key of its object (when rendered here).
    const data = (objects[ref.kind].get(ref.name)?.data ?? undefined) as object | undefined;
    if (ref.items || !objects[ref.kind].has(ref.name) || (data !== undefined && key in data)) return { kind: ref.kind, name: ref.name, key };
  }
  return undefined;
}

/**
 * Every *_FILE setting is a key of a mounted Secret or ConfigMap (or a projected token); every *_DIR / *_ROOT setting
 * is a mounted folder; a *_FILESYSTEM setting is a read-only mounted folder or none.
 */
function checkPaths(
  at: string,
  env: Record<string, string>,
  mounts: VolumeMount[],
  volumes: Volume[],
  objects: RenderedObjects,
): string[] {
  const problems: string[] = [];
  for (const [name, value] of Object.entries(env)) {
    if (name.endsWith('_FILE')) {
      const mount = mounts.find((m) => path.dirname(value) === m.mountPath);
      const volume = volumes.find((v) => v.name === mount?.name);
      if (!mount || !volume || !(volume.secret || volume.configMap || volume.projected)) {
        problems.push(`${at}: ${name}=${value} is not in a mounted Secret, ConfigMap or projected volume`);
        continue;
      }
      const file = path.basename(value);
      const source = fileSource(volume, file, objects);
      if (source === undefined) {
        problems.push(`${at}: ${name}=${value}: the volume ${mount.name} has no item ${file}`);
        continue;
      }
      if (source.kind === 'token') continue;
      const rendered = objects[source.kind].get(source.name);
      if (rendered && !(source.key in ((rendered.data as object | undefined) ?? {}))) {
        problems.push(`${at}: ${name}=${value}: ${source.kind} ${source.name} has no key ${source.key}`);
      }
    } else if (name.endsWith('_FILESYSTEM')) {
      // A path on a node filesystem whose fill level is reported (statfs), or none.
      const mount = mounts.find((m) => m.mountPath === value);
      if (value !== 'none' && !mount) problems.push(`${at}: ${name}=${value} is not a mounted folder (nor none)`);
      else if (mount && !mount.readOnly) problems.push(`${at}: ${name}=${value} should be mounted read-only`);
    } else if (name.endsWith('_DIR') || name.endsWith('_ROOT')) {
      const mount = mounts.find((m) => m.mountPath === value);
      const volume = volumes.find((v) => v.name === mount?.name);
      // A folder of a Secret or ConfigMap (e.g. the runtime Secret the aggregator reads back) is read, never written.
      const ofObject = volume !== undefined && (volume.secret !== undefined || volume.configMap !== undefined || volume.projected !== undefined);
      if (!mount) problems.push(`${at}: ${name}=${value} is not a mounted folder`);
      else if ((name.endsWith('_ROOT') || ofObject) && !mount.readOnly) problems.push(`${at}: ${name}=${value} should be mounted read-only`);
      else if (name.endsWith('_DIR') && !ofObject && mount.readOnly) problems.push(`${at}: ${name}=${value} must be writable`);
    }
  }
  return problems;
}
