// Reading Kubernetes objects defensively (the same rules as the aggregator's cluster/k8s-object.ts): lists come
// from @kubernetes/client-node's typed APIs (dates as Date objects), watch events as raw JSON (dates as RFC 3339
// strings); every reader accepts both, and any field may be missing. An object the API server accepted must never
// crash the agent.
import type { Timestamp } from '@kestrel/proto/google/protobuf/timestamp';

export type KubeObject = Record<string, unknown>;

export function obj(v: unknown): KubeObject {
  return typeof v === 'object' && v !== null && !Array.isArray(v) ? (v as KubeObject) : {};
}

export function arr(v: unknown): unknown[] {
  return Array.isArray(v) ? v : [];
}

export function str(v: unknown): string {
  return typeof v === 'string' ? v : typeof v === 'number' ? String(v) : '';
}

export function num(v: unknown): number {
  return typeof v === 'number' && Number.isFinite(v) ? v : typeof v === 'string' && v.trim() !== '' && Number.isFinite(Number(v)) ? Number(v) : 0;
}

export function bool(v: unknown): boolean {
  return v === true;
}

/** A string map (labels, capacity); non-string values are dropped. */
export function stringMap(v: unknown): Record<string, string> {
  const out: Record<string, string> = {};
  for (const [k, val] of Object.entries(obj(v))) if (typeof val === 'string') out[k] = val;
  return out;
}

export function timestamp(v: unknown): Timestamp | undefined {
  let ms: number;
  if (v instanceof Date) ms = v.getTime();
  else if (typeof v === 'string' && v) ms = Date.parse(v);
  else return undefined;
  if (Number.isNaN(ms)) return undefined;
  return timestampOf(ms);
}

export function timestampOf(ms: number): Timestamp {
  return { seconds: Math.floor(ms / 1000), nanos: (((ms % 1000) + 1000) % 1000) * 1_000_000 };
}

export function timestampMs(t: Timestamp | undefined): number {
  return t ? t.seconds * 1000 + Math.floor(t.nanos / 1_000_000) : 0;
}

export function metadata(o: KubeObject): { name: string; namespace: string; uid: string; labels: Record<string, string>; resourceVersion: string; creationTimestamp: unknown; ownerReferences: unknown[] } {
  const m = obj(o['metadata']);
  return {
    name: str(m['name']),
    namespace: str(m['namespace']),
    uid: str(m['uid']),
    labels: stringMap(m['labels']),
    resourceVersion: str(m['resourceVersion']),
    creationTimestamp: m['creationTimestamp'],
    ownerReferences: arr(m['ownerReferences']),
  };
}

/** The HTTP status of a failed request (client-node's ApiException has `code`, a failed watch `statusCode`). */
export function statusCode(err: unknown): number {
  const e = obj(err);
  return num(e['statusCode'] ?? e['code']);
}
