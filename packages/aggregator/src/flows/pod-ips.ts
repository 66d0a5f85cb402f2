// Pod IP → endpoint, for every pod of the cluster, on every replica: agents resolve the pods of their own node, and
// this resolves the rest (the far end of a cross-node conversation, ALS addresses). The leader-only cluster watch
// cannot serve it (non-leaders do not watch), so each replica runs this one small watch of its own: pods only, kept
// cut down to the endpoint and IPs (about 200 bytes a pod plus labels), bounded by maxPods.
import type { KubeConfig } from '@kubernetes/client-node';
import type { Endpoint } from '@kestrel/proto/cloud/v1';
import { Reflector, type ChangeType } from '../cluster/reflector.js';
import { RESOURCES } from '../cluster/resources.js';
import { metadata, obj, str, type KubeObject } from '../cluster/k8s-object.js';
import type { FlowEvents } from './events.js';
import { podEndpoint } from './workload.js';

export interface IpResolver {
  resolve(ip: string): Endpoint | undefined;
}

export class PodIpIndex implements IpResolver {
  private readonly byIp = new Map<string, Endpoint>();
  private readonly ipsByPod = new Map<string, string[]>();

  constructor(
    private readonly maxPods: number,
    private readonly events: FlowEvents,
  ) {}

  get pods(): number {
    return this.ipsByPod.size;
  }

  get ips(): number {
    return this.byIp.size;
  }

  resolve(ip: string): Endpoint | undefined {
    return this.byIp.get(ip);
  }

  change(type: ChangeType, o: KubeObject): void {
    const uid = metadata(o).uid || `${metadata(o).namespace}/${metadata(o).name}`;
    const before = this.ipsByPod.get(uid);
    if (before) for (const ip of before) this.byIp.delete(ip);
    if (type === 'deleted') {
      this.ipsByPod.delete(uid);
      return;
    }
    // A finished pod's IP is handed to new pods: it no longer names this one.
    const phase = str(obj(o['status'])['phase']);
    const { endpoint, ips } = podEndpoint(o);
    if (phase === 'Succeeded' || phase === 'Failed' || ips.length === 0) {
      this.ipsByPod.delete(uid);
      return;
    }
    if (!before && this.ipsByPod.size >= this.maxPods) {
      this.events.podsNotIndexed.inc();
      return;
    }
    this.ipsByPod.set(uid, ips);
    for (const ip of ips) this.byIp.set(ip, endpoint);
  }
}

/** Runs the pods watch feeding an index (list + watch with bookmarks, relist on 410: cluster/reflector.ts). */
export function watchPodIps(kc: KubeConfig, index: PodIpIndex, pageSize: number): Reflector {
  return new Reflector(RESOURCES.pods, kc, { change: (type, o) => index.change(type, o) }, {
    pageSize,
    // Only what the index keeps: a status change that keeps the IPs and phase is not passed on.
    fingerprint: (o) => {
      const m = metadata(o);
      const s = obj(o['status']);
      return JSON.stringify([m.labels, m.ownerReferences, s['podIP'], s['podIPs'], s['phase'], obj(o['spec'])['hostNetwork']]);
    },
  });
}
