// A pod as a flow endpoint: the workload it belongs to (kind, name, namespace) and its labels as "k=v", the shape
// of cloud.v1.Endpoint. The workload is the pod's controller, one level up where Kubernetes names it predictably:
// a ReplicaSet named <deployment>-<pod-template-hash> is its Deployment's, a Job named <cronjob>-<minutes> with a
// numeric suffix is its CronJob's. A pod without a controller is its own workload (kind Pod).
import type { Endpoint } from '@kestrel/proto/cloud/v1';
import { arr, bool, metadata, obj, str, type KubeObject } from '../cluster/k8s-object.js';

export interface PodEndpoint {
  endpoint: Endpoint;
  /** The pod's IPs (status.podIPs, else status.podIP); empty for host-network pods (their IP is the node's). */
  ips: string[];
}

export function podEndpoint(o: KubeObject): PodEndpoint {
  const m = metadata(o);
  const spec = obj(o['spec']);
  const status = obj(o['status']);
  const ips = bool(spec['hostNetwork'])
    ? []
    : [...new Set([...arr(status['podIPs']).map((p) => str(obj(p)['ip'])), str(status['podIP'])].filter((ip) => ip !== ''))];
  const { kind, name } = workloadOf(m.name, m.labels, m.ownerReferences);
  return { endpoint: { ns: m.namespace, kind, name, labels: labelList(m.labels) }, ips };
}

export function workloadOf(podName: string, labels: Record<string, string>, owners: unknown[]): { kind: string; name: string } {
  const controller = owners.map(obj).find((r) => bool(r['controller'])) ?? owners.map(obj)[0];
  if (!controller) return { kind: 'Pod', name: podName };
  const kind = str(controller['kind']);
  const name = str(controller['name']);
  const hash = labels['pod-template-hash'];
  if (kind === 'ReplicaSet' && hash && name.endsWith(`-${hash}`)) return { kind: 'Deployment', name: name.slice(0, -hash.length - 1) };
  if (kind === 'Job' && /-\d{8,}$/.test(name)) return { kind: 'CronJob', name: name.replace(/-\d{8,}$/, '') };
  return { kind: kind || 'Pod', name: name || podName };
}

/** Labels as cloud.v1 carries them: "k=v", sorted so that equal label sets compare equal. */
export function labelList(labels: Record<string, string>): string[] {
  return Object.entries(labels)
    .map(([k, v]) => `${k}=${v}`)
    .sort();
}

/** An Endpoint that names nothing (what agents send for an IP they could not resolve). */
export const isEmptyEndpoint = (e: Endpoint | undefined): boolean => !e || (e.name === '' && e.ns === '' && e.kind === '');
