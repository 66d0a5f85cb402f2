// The pods on this node by IP, cut down to what a flow's endpoint needs: namespace, workload (kind and name) and
// labels ("k=v"). Fed by a list + watch of the pods on this node (the node source's KubeWatch, a second watch with the
// same field selector); host-network pods are left out, since their IP is the node's and names no single pod.
//
// The workload is the pod's controller as far as the pod itself tells: a ReplicaSet made by a Deployment (it carries
// the pod-template-hash label) is named as the Deployment; a Job, StatefulSet, DaemonSet or other controller as
// itself; a pod without a controller as the Pod.
import type { Endpoint } from '@kestrel/proto/cloud/v1';
import { arr, bool, metadata, obj, str, type KubeObject } from '../node/kube-object.js';
import type { WatchHandler } from '../node/kube-watch.js';

export interface PodEndpointRef {
  uid: string;
  ips: string[];
  endpoint: Endpoint;
}

export function workloadOf(o: KubeObject): { kind: string; name: string } {
  const m = metadata(o);
  const controller = m.ownerReferences.map(obj).find((r) => bool(r['controller'])) ?? obj(m.ownerReferences[0]);
  const kind = str(controller['kind']);
  const name = str(controller['name']);
  if (!kind || !name) return { kind: 'Pod', name: m.name };
  const hash = m.labels['pod-template-hash'];
  if (kind === 'ReplicaSet' && hash && name.endsWith(`-${hash}`)) return { kind: 'Deployment', name: name.slice(0, -hash.length - 1) };
  return { kind, name };
}

/** A pod as it is kept: its IPs and its endpoint, copies of those fields only. */
export function cutPodEndpoint(o: KubeObject): PodEndpointRef {
  const m = metadata(o);
  const spec = obj(o['spec']);
  const status = obj(o['status']);
  const ips = bool(spec['hostNetwork'])
    ? []
    : [...new Set([str(status['podIP']), ...arr(status['podIPs']).map((p) => str(obj(p)['ip']))].filter((ip) => ip !== ''))];
  const labels = Object.entries(m.labels)
    .filter(([k]) => k !== 'pod-template-hash' && k !== 'controller-revision-hash')
    .map(([k, v]) => `${k}=${v}`)
    .sort();
  return { uid: m.uid, ips, endpoint: { ns: m.namespace, ...workloadOf(o), labels } };
}

export class PodEndpoints implements WatchHandler<PodEndpointRef> {
  private byUid = new Map<string, PodEndpointRef>();
  private byIp = new Map<string, Endpoint>();

  get pods(): number {
    return this.byUid.size;
  }

  /** The workload behind an IP of a pod on this node; undefined when no pod on this node has it. */
  resolve(ip: string): Endpoint | undefined {
    return this.byIp.get(ip);
  }

  listed(items: PodEndpointRef[]): void {
    this.byUid = new Map(items.filter((p) => p.uid).map((p) => [p.uid, p]));
    this.reindex();
  }

  upsert(p: PodEndpointRef): void {
    if (!p.uid) return;
    const before = this.byUid.get(p.uid);
    this.byUid.set(p.uid, p);
    if (before) for (const ip of before.ips) if (!p.ips.includes(ip)) this.byIp.delete(ip);
    for (const ip of p.ips) this.byIp.set(ip, p.endpoint);
  }

  deleted(p: PodEndpointRef): void {
    const before = this.byUid.get(p.uid);
    this.byUid.delete(p.uid);
    // An IP may already belong to a newer pod: remove it only if it still points at this one.
    if (before) for (const ip of before.ips) if (this.byIp.get(ip) === before.endpoint) this.byIp.delete(ip);
  }

  clear(): void {
    this.byUid.clear();
    this.byIp.clear();
  }

  private reindex(): void {
    this.byIp = new Map();
    for (const p of this.byUid.values()) for (const ip of p.ips) this.byIp.set(ip, p.endpoint);
  }
}
