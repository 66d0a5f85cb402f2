// The pods on this node, by uid, cut down to what log records need from them: namespace, name and owner
// references (as cloud.v1 OwnerReference). Nothing else of a pod (spec, status, labels, env) is ever kept.
import type { OwnerReference } from '@kestrel/proto/cloud/v1';
import { bool, metadata, obj, str, type KubeObject } from './kube-object.js';
import type { WatchHandler } from './kube-watch.js';

export interface PodRef {
  uid: string;
  namespace: string;
  name: string;
  ownerReferences: OwnerReference[];
}

export function ownerReference(v: unknown): OwnerReference {
  const o = obj(v);
  return { apiVersion: str(o['apiVersion']), kind: str(o['kind']), name: str(o['name']), uid: str(o['uid']), controller: bool(o['controller']), blockOwnerDeletion: bool(o['blockOwnerDeletion']) };
}

/** A pod as it is kept: a new object holding copies of those fields only. */
export function cutPod(o: KubeObject): PodRef {
  const m = metadata(o);
  return { uid: m.uid, namespace: m.namespace, name: m.name, ownerReferences: m.ownerReferences.map(ownerReference) };
}

export class PodOwners implements WatchHandler<PodRef> {
  private pods = new Map<string, Omit<PodRef, 'uid'>>();

  get size(): number {
    return this.pods.size;
  }

  /** Owner references of a pod on this node; empty when the pod is unknown (or has none). */
  ownersOf(podUid: string): OwnerReference[] {
    return this.pods.get(podUid)?.ownerReferences.map((r) => ({ ...r })) ?? [];
  }

  pod(podUid: string): PodRef | undefined {
    const p = this.pods.get(podUid);
    return p ? { uid: podUid, namespace: p.namespace, name: p.name, ownerReferences: p.ownerReferences.map((r) => ({ ...r })) } : undefined;
  }

  listed(items: PodRef[]): void {
    const next = new Map<string, Omit<PodRef, 'uid'>>();
    for (const p of items) if (p.uid) next.set(p.uid, { namespace: p.namespace, name: p.name, ownerReferences: p.ownerReferences });
    this.pods = next;
  }

  upsert(p: PodRef): void {
    if (p.uid) this.pods.set(p.uid, { namespace: p.namespace, name: p.name, ownerReferences: p.ownerReferences });
  }

  deleted(p: PodRef): void {
    this.pods.delete(p.uid);
  }

  clear(): void {
    this.pods.clear();
  }
}
