// A small pod index (name and IP to namespace, node and owning workload) for series whose senders did not say which
// pod they are (kubernetes-context.ts). It follows pods with the cluster package's Reflector, on every replica (the
// cluster watch runs on the leader only, and OTLP data reaches any replica), and keeps only those few strings per
// pod. Started only when the OTLP receiver is on and Kubernetes access exists (setting metricsPodIndex).
import type { KubeConfig } from '@kubernetes/client-node';
import { Reflector } from '../cluster/reflector.js';
import { RESOURCES } from '../cluster/resources.js';
import { arr, metadata, obj, str, type KubeObject } from '../cluster/k8s-object.js';
import type { PodInfo, PodLookup } from './kubernetes-context.js';

/** The workload that owns a pod: a ReplicaSet named <deployment>-<pod-template-hash> counts as its Deployment. */
export function workloadOf(pod: KubeObject): { workloadName: string; workloadKind: string } {
  const m = metadata(pod);
  const owner = arr(m.ownerReferences)
    .map(obj)
    .find((r) => r['controller'] === true);
  if (!owner) return { workloadName: '', workloadKind: '' };
  const kind = str(owner['kind']);
  const name = str(owner['name']);
  const hash = m.labels['pod-template-hash'];
  if (kind === 'ReplicaSet' && hash && name.endsWith(`-${hash}`)) return { workloadName: name.slice(0, -hash.length - 1), workloadKind: 'Deployment' };
  return { workloadName: name, workloadKind: kind };
}

export function podInfoOf(pod: KubeObject): PodInfo & { ip: string } {
  const m = metadata(pod);
  return { namespace: m.namespace, name: m.name, nodeName: str(obj(pod['spec'])['nodeName']), ip: str(obj(pod['status'])['podIP']), ...workloadOf(pod) };
}

export class PodIndex implements PodLookup {
  private readonly byKey = new Map<string, PodInfo & { ip: string }>();
  private readonly ips = new Map<string, string>();
  private readonly names = new Map<string, Set<string>>();
  private readonly reflector: Reflector | undefined;

  constructor(kc?: KubeConfig, pageSize = 500) {
    this.reflector = kc
      ? new Reflector(
          RESOURCES.pods,
          kc,
          { change: (type, object) => (type === 'deleted' ? this.remove(object) : this.upsert(object)) },
          { pageSize, fingerprint: (o) => JSON.stringify(podInfoOf(o)) },
        )
      : undefined;
  }

  get size(): number {
    return this.byKey.size;
  }

  get synced(): boolean {
    return this.reflector?.synced ?? true;
  }

  run(signal: AbortSignal): Promise<void> {
    return this.reflector ? this.reflector.run(signal) : Promise.resolve();
  }

  upsert(pod: KubeObject): void {
    this.remove(pod);
    const info = podInfoOf(pod);
    const key = `${info.namespace}/${info.name}`;
    this.byKey.set(key, info);
    // Host-network pods share the node's IP: an IP is only an answer when one pod has it.
    if (info.ip && !obj(pod['spec'])['hostNetwork']) this.ips.set(info.ip, this.ips.has(info.ip) ? '' : key);
    let set = this.names.get(info.name);
    if (!set) this.names.set(info.name, (set = new Set()));
    set.add(key);
  }

  remove(pod: KubeObject): void {
    const m = metadata(pod);
    const key = `${m.namespace}/${m.name}`;
    const old = this.byKey.get(key);
    if (!old) return;
    this.byKey.delete(key);
    if (old.ip && this.ips.get(old.ip) === key) this.ips.delete(old.ip);
    const set = this.names.get(old.name);
    set?.delete(key);
    if (set?.size === 0) this.names.delete(old.name);
  }

  byName(namespace: string, name: string): PodInfo | undefined {
    return this.byKey.get(`${namespace}/${name}`);
  }

  byUniqueName(name: string): PodInfo | undefined {
    const set = this.names.get(name);
    return set?.size === 1 ? this.byKey.get([...set][0]!) : undefined;
  }

  byIp(ip: string): PodInfo | undefined {
    const key = this.ips.get(ip);
    return key ? this.byKey.get(key) : undefined;
  }
}
