// The part of a kubelet an e2e test needs to run one of our processes "in a pod" without a container runtime: given a
// Pod object in the Kubernetes API test server, it lays out the pod's volumes as files under a folder of its own (the
// pod's root) and computes the container's environment from the Pod, as the kubelet would:
//
//   - volumes: Secret and ConfigMap keys (items, defaultMode), projected volumes (serviceAccountToken from the real
//     TokenRequest API, bound to this pod with the audience and lifetime the volume asks for; Secret, ConfigMap and
//     downward API sources), downwardAPI volumes, emptyDir (a folder), hostPath (a symlink to the node's folder:
//     <nodeRoot><path>, except the paths in `hostFolders`, e.g. /proc, which are the machine's own);
//   - the ServiceAccount folder the kubelet mounts in every pod that does not opt out
//     (/var/run/secrets/kubernetes.io/serviceaccount: a token bound to the pod for the API server, ca.crt, namespace),
//     and KUBERNETES_SERVICE_HOST/PORT;
//   - env: value, valueFrom fieldRef (metadata.name/namespace/uid/labels/annotations, spec.nodeName,
//     spec.serviceAccountName, status.podIP/hostIP), resourceFieldRef (requests/limits with divisor; a limit not set is
//     the node's allocatable), secretKeyRef and configMapKeyRef (optional honoured), envFrom.
//
// One mapping makes the paths fit: a path P inside the pod is <podRoot>P on this machine. `mapPaths` applies it to
// every setting whose value (from the env, or the process's default) is a path under one of the container's mounts,
// and KESTREL_SERVICE_ACCOUNT_PATH_PREFIX=<podRoot> applies it to the ServiceAccount folder (packages/core/src/
// service-account.ts). The kubelet reads Secrets and requests tokens as the admin here (a real one uses its node's
// identity).
import fs from 'node:fs';
import path from 'node:path';
import * as k8s from '@kubernetes/client-node';
import type { KubeApiServer, KubeObject } from '../kube-api-server/index.js';

interface KeyToPath {
  key: string;
  path: string;
  mode?: number;
}
interface DownwardItem {
  path: string;
  fieldRef?: { fieldPath: string };
  resourceFieldRef?: ResourceFieldRef;
  mode?: number;
}
interface ResourceFieldRef {
  containerName?: string;
  resource: string;
  divisor?: string | number;
}
interface Volume {
  name: string;
  hostPath?: { path: string; type?: string };
  emptyDir?: object;
  secret?: { secretName: string; items?: KeyToPath[]; defaultMode?: number; optional?: boolean };
  configMap?: { name: string; items?: KeyToPath[]; defaultMode?: number; optional?: boolean };
  downwardAPI?: { items: DownwardItem[]; defaultMode?: number };
  projected?: {
    defaultMode?: number;
    sources: Array<{
      serviceAccountToken?: { audience?: string; expirationSeconds?: number; path: string };
      secret?: { name: string; items?: KeyToPath[]; optional?: boolean };
      configMap?: { name: string; items?: KeyToPath[]; optional?: boolean };
      downwardAPI?: { items: DownwardItem[] };
    }>;
  };
}
interface EnvVar {
  name: string;
  value?: string;
  valueFrom?: {
    fieldRef?: { fieldPath: string };
    resourceFieldRef?: ResourceFieldRef;
    secretKeyRef?: { name: string; key: string; optional?: boolean };
    configMapKeyRef?: { name: string; key: string; optional?: boolean };
  };
}
export interface Container {
  name: string;
  env?: EnvVar[];
  envFrom?: Array<{ prefix?: string; configMapRef?: { name: string; optional?: boolean }; secretRef?: { name: string; optional?: boolean } }>;
  volumeMounts?: Array<{ name: string; mountPath: string; readOnly?: boolean; subPath?: string }>;
  resources?: { requests?: Record<string, string | number>; limits?: Record<string, string | number> };
  ports?: Array<{ name?: string; containerPort: number }>;
  readinessProbe?: { httpGet?: { path?: string; port: number | string } };
  livenessProbe?: { httpGet?: { path?: string; port: number | string } };
}
export interface PodSpec {
  serviceAccountName?: string;
  automountServiceAccountToken?: boolean;
  nodeName?: string;
  containers: Container[];
  volumes?: Volume[];
}

export const SERVICE_ACCOUNT_MOUNT = '/var/run/secrets/kubernetes.io/serviceaccount';

export interface PodRun {
  /** This pod's root: P inside the pod is <root>P here. */
  root: string;
  container: Container;
  /** The container's environment as the kubelet gives it (paths not yet mapped; see mapPaths). */
  env: Record<string, string>;
  /** Where each mount is: mountPath -> the folder or symlink under root. */
  mounts: Array<{ mountPath: string; at: string; readOnly: boolean }>;
}

export class TestKubelet {
  private readonly core: k8s.CoreV1Api;

  constructor(
    private readonly api: KubeApiServer,
    readonly nodeName: string,
    /** The node's filesystem: hostPath P is <nodeRoot>P. */
    readonly nodeRoot: string,
    /** hostPaths that are this machine's own folders rather than the fake node's (e.g. /proc). */
    private readonly hostFolders: string[] = ['/proc'],
  ) {
    const kc = new k8s.KubeConfig();
    kc.loadFromOptions(api.kubeConfig());
    this.core = kc.makeApiClient(k8s.CoreV1Api);
  }

  /** Where hostPath `p` is on this machine. */
  hostPath(p: string): string {
    return this.hostFolders.some((f) => p === f || p.startsWith(`${f}/`)) ? p : path.join(this.nodeRoot, p);
  }

  /** Mounts the pod's volumes under `root` and computes the container's environment. */
  async start(namespace: string, podName: string, containerName: string, root: string): Promise<PodRun> {
    const pod = this.api.get('v1', 'Pod', podName, namespace);
    if (!pod) throw new Error(`no pod ${namespace}/${podName}`);
    const spec = pod['spec'] as PodSpec;
    const container = spec.containers.find((c) => c.name === containerName);
    if (!container) throw new Error(`pod ${podName} has no container ${containerName}`);
    fs.mkdirSync(root, { recursive: true });
    const volumes = new Map((spec.volumes ?? []).map((v) => [v.name, v]));
    const mounts: PodRun['mounts'] = [];
    for (const m of container.volumeMounts ?? []) {
      if (m.subPath) throw new Error(`volumeMount ${m.name}: subPath is not supported by the test kubelet`);
      const volume = volumes.get(m.name);
      if (!volume) throw new Error(`volumeMount ${m.name}: no such volume`);
      const at = path.join(root, m.mountPath);
      await this.mount(pod, container, volume, at);
      mounts.push({ mountPath: m.mountPath, at, readOnly: m.readOnly === true });
    }
    const env: Record<string, string> = {};
    const serviceAccount = spec.serviceAccountName || 'default';
    if (spec.automountServiceAccountToken !== false && !mounts.some((m) => m.mountPath === SERVICE_ACCOUNT_MOUNT)) {
      // What the kubelet mounts as kube-api-access-*: a token for the API server (no audience), bound to this pod.
      const token = await this.tokenFor(pod, serviceAccount, undefined, 3607);
      Object.assign(env, this.api.writeInClusterFiles(root, token, namespace).env);
      mounts.push({ mountPath: SERVICE_ACCOUNT_MOUNT, at: path.join(root, SERVICE_ACCOUNT_MOUNT), readOnly: true });
    } else {
      const url = new URL(this.api.url);
      Object.assign(env, { KUBERNETES_SERVICE_HOST: url.hostname, KUBERNETES_SERVICE_PORT: url.port });
    }
    for (const from of container.envFrom ?? []) {
      const ref = from.configMapRef ?? from.secretRef;
      const data = ref && this.data(from.configMapRef ? 'ConfigMap' : 'Secret', namespace, ref.name, ref.optional);
      for (const [k, v] of Object.entries(data ?? {})) env[`${from.prefix ?? ''}${k}`] = v;
    }
    for (const e of container.env ?? []) {
      const value = this.envValue(pod, container, e);
      if (value !== undefined) env[e.name] = value;
    }
    return { root, container, env, mounts };
  }

  /** A TokenRequest as the kubelet makes it for a pod (real API: POST serviceaccounts/<name>/token). */
  async tokenFor(pod: KubeObject, serviceAccount: string, audience: string | undefined, expirationSeconds: number): Promise<string> {
    const answer = await this.core.createNamespacedServiceAccountToken({
      name: serviceAccount,
      namespace: pod.metadata.namespace!,
      body: {
        apiVersion: 'authentication.k8s.io/v1',
        kind: 'TokenRequest',
        spec: {
          audiences: audience ? [audience] : [],
          expirationSeconds,
          boundObjectRef: { kind: 'Pod', apiVersion: 'v1', name: pod.metadata.name!, uid: pod.metadata.uid! },
        },
      },
    });
    const token = answer.status?.token;
    if (!token) throw new Error(`TokenRequest for ${serviceAccount} gave no token`);
    return token;
  }

  private async mount(pod: KubeObject, container: Container, v: Volume, at: string): Promise<void> {
    const namespace = pod.metadata.namespace!;
    fs.mkdirSync(path.dirname(at), { recursive: true });
    if (v.hostPath) {
      const target = this.hostPath(v.hostPath.path);
      if (v.hostPath.type === 'DirectoryOrCreate') fs.mkdirSync(target, { recursive: true });
      else if (v.hostPath.type === 'Directory' && !fs.statSync(target, { throwIfNoEntry: false })?.isDirectory()) {
        throw new Error(`hostPath ${v.hostPath.path} (type Directory) is not a folder on the node (${target})`);
      }
      fs.symlinkSync(target, at);
      return;
    }
    fs.mkdirSync(at, { recursive: true });
    if (v.emptyDir) return;
    const write = (file: string, content: string | Buffer, mode: number | undefined) => {
      const target = path.join(at, file);
      fs.mkdirSync(path.dirname(target), { recursive: true });
      fs.writeFileSync(target, content, { mode: mode ?? 0o644 });
    };
    const writeKeys = (kind: 'Secret' | 'ConfigMap', name: string, items: KeyToPath[] | undefined, optional: boolean | undefined, mode: number | undefined) => {
      const data = this.data(kind, namespace, name, optional);
      if (!data) return;
      for (const item of items ?? Object.keys(data).map((key): KeyToPath => ({ key, path: key }))) {
        const value = data[item.key];
        if (value === undefined) {
          if (optional) continue;
          throw new Error(`${kind} ${namespace}/${name} has no key ${item.key}`);
        }
        write(item.path, value, item.mode ?? mode);
      }
    };
    const writeDownward = (items: DownwardItem[], mode: number | undefined) => {
      for (const item of items) {
        const value = item.fieldRef ? fieldValue(pod, item.fieldRef.fieldPath) : this.resourceValue(pod, container, item.resourceFieldRef!);
        write(item.path, value, item.mode ?? mode);
      }
    };
    if (v.secret) return writeKeys('Secret', v.secret.secretName, v.secret.items, v.secret.optional, v.secret.defaultMode);
    if (v.configMap) return writeKeys('ConfigMap', v.configMap.name, v.configMap.items, v.configMap.optional, v.configMap.defaultMode);
    if (v.downwardAPI) return writeDownward(v.downwardAPI.items, v.downwardAPI.defaultMode);
    if (v.projected) {
      const mode = v.projected.defaultMode;
      const serviceAccount = (pod['spec'] as PodSpec).serviceAccountName || 'default';
      for (const source of v.projected.sources) {
        if (source.serviceAccountToken) {
          const t = source.serviceAccountToken;
          write(t.path, await this.tokenFor(pod, serviceAccount, t.audience, t.expirationSeconds ?? 3600), mode);
        } else if (source.secret) writeKeys('Secret', source.secret.name, source.secret.items, source.secret.optional, mode);
        else if (source.configMap) writeKeys('ConfigMap', source.configMap.name, source.configMap.items, source.configMap.optional, mode);
        else if (source.downwardAPI) writeDownward(source.downwardAPI.items, mode);
        else throw new Error(`volume ${v.name}: a projected source the test kubelet does not know`);
      }
      return;
    }
    throw new Error(`volume ${v.name}: a kind of volume the test kubelet does not know`);
  }

  /** The decoded data of a Secret (base64) or a ConfigMap; undefined when missing and optional. */
  private data(kind: 'Secret' | 'ConfigMap', namespace: string, name: string, optional: boolean | undefined): Record<string, string> | undefined {
    const object = this.api.get('v1', kind, name, namespace);
    if (!object) {
      if (optional) return undefined;
      throw new Error(`${kind} ${namespace}/${name} not found (the pod would not start)`);
    }
    const data = (object['data'] ?? {}) as Record<string, string>;
    return kind === 'Secret' ? Object.fromEntries(Object.entries(data).map(([k, v]) => [k, Buffer.from(v, 'base64').toString()])) : { ...data };
  }

  private envValue(pod: KubeObject, container: Container, e: EnvVar): string | undefined {
    if (e.value !== undefined) return e.value;
    const from = e.valueFrom;
    if (!from) return '';
    if (from.fieldRef) return fieldValue(pod, from.fieldRef.fieldPath);
    if (from.resourceFieldRef) return this.resourceValue(pod, container, from.resourceFieldRef);
    const ref = from.secretKeyRef ?? from.configMapKeyRef;
    if (ref) {
      const data = this.data(from.secretKeyRef ? 'Secret' : 'ConfigMap', pod.metadata.namespace!, ref.name, ref.optional);
      const value = data?.[ref.key];
      if (value === undefined && !ref.optional) throw new Error(`env ${e.name}: key ${ref.key} not in ${ref.name}`);
      return value;
    }
    throw new Error(`env ${e.name}: a valueFrom the test kubelet does not know`);
  }

  private resourceValue(pod: KubeObject, container: Container, ref: ResourceFieldRef): string {
    const target = ref.containerName ? (pod['spec'] as PodSpec).containers.find((c) => c.name === ref.containerName)! : container;
    const [kind, resource] = ref.resource.split('.') as ['limits' | 'requests', string];
    let quantity = target.resources?.[kind]?.[resource];
    if (quantity === undefined && kind === 'limits') {
      const node = this.api.get('v1', 'Node', this.nodeName);
      quantity = ((node?.['status'] as { allocatable?: Record<string, string> } | undefined)?.allocatable ?? {})[resource];
    }
    if (quantity === undefined) return '0';
    const divisor = parseQuantity(ref.divisor ?? 1);
    return String(Math.ceil(parseQuantity(quantity) / divisor));
  }
}

/** A downward API field of the pod. */
export function fieldValue(pod: KubeObject, fieldPath: string): string {
  const meta = pod.metadata as { name?: string; namespace?: string; uid?: string; labels?: Record<string, string>; annotations?: Record<string, string> };
  const spec = pod['spec'] as PodSpec;
  const status = (pod['status'] ?? {}) as { podIP?: string; hostIP?: string };
  const keyed = /^metadata\.(labels|annotations)\['(.+)'\]$/.exec(fieldPath);
  if (keyed) return (meta[keyed[1] as 'labels' | 'annotations'] ?? {})[keyed[2]!] ?? '';
  const fields: Record<string, string | undefined> = {
    'metadata.name': meta.name,
    'metadata.namespace': meta.namespace,
    'metadata.uid': meta.uid,
    'spec.nodeName': spec.nodeName,
    'spec.serviceAccountName': spec.serviceAccountName,
    'status.podIP': status.podIP,
    'status.hostIP': status.hostIP,
  };
  if (!(fieldPath in fields)) throw new Error(`fieldRef ${fieldPath}: not a field the test kubelet knows`);
  return fields[fieldPath] ?? '';
}

const SUFFIXES: Record<string, number> = { m: 1e-3, '': 1, k: 1e3, M: 1e6, G: 1e9, T: 1e12, Ki: 2 ** 10, Mi: 2 ** 20, Gi: 2 ** 30, Ti: 2 ** 40 };

/** A Kubernetes quantity (100m, 64Mi, 2) as a number. */
export function parseQuantity(q: string | number): number {
  if (typeof q === 'number') return q;
  const m = /^([0-9.]+)(m|k|M|G|T|Ki|Mi|Gi|Ti)?$/.exec(q);
  if (!m) throw new Error(`not a quantity: ${q}`);
  return Number(m[1]) * SUFFIXES[m[2] ?? '']!;
}

/**
 * The one path mapping: every setting whose value (given in `env`, or the process's default) is a path inside one
 * of the container's mounts gets <podRoot><path>. `settings` is the process's configuration loaded from `env` (its
 * own loader); `envName` names the variable of a setting. Returns the env to run with and what was mapped.
 */
export function mapPaths(
  run: PodRun,
  settings: Record<string, unknown>,
  envName: (key: string) => string,
): { env: Record<string, string>; mapped: Array<{ name: string; from: string; to: string }> } {
  const env = { ...run.env };
  const mapped: Array<{ name: string; from: string; to: string }> = [];
  const inMount = (p: string) => run.mounts.some((m) => p === m.mountPath || p.startsWith(`${m.mountPath}/`));
  for (const [key, value] of Object.entries(settings)) {
    if (typeof value !== 'string' || !path.isAbsolute(value) || !inMount(value)) continue;
    const name = envName(key);
    const to = path.join(run.root, value);
    env[name] = to;
    mapped.push({ name, from: value, to });
  }
  return { env, mapped };
}
