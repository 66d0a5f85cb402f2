// Reading Kubernetes objects defensively, for the agent's and the aggregator's watches. Lists come from
// @kubernetes/client-node's typed APIs (dates already Date objects), watch events as raw JSON (dates as RFC 3339
// strings): every reader here accepts both, and any field can be missing — an object the API server accepted must
// never crash a process.

export type KubeObject = Record<string, unknown>;

/** google.protobuf.Timestamp's shape (structural: core does not depend on the generated code). */
export interface KubeTimestamp {
  seconds: number;
  nanos: number;
}

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

/** A string map (labels, annotations, selectors, capacity); non-string values are dropped. */
export function stringMap(v: unknown): Record<string, string> {
  const out: Record<string, string> = {};
  for (const [k, val] of Object.entries(obj(v))) if (typeof val === 'string') out[k] = val;
  return out;
}

export function timestamp(v: unknown): KubeTimestamp | undefined {
  let ms: number;
  if (v instanceof Date) ms = v.getTime();
  else if (typeof v === 'string' && v) ms = Date.parse(v);
  else return undefined;
  if (Number.isNaN(ms)) return undefined;
  return timestampOf(ms);
}

export function timestampOf(ms: number): KubeTimestamp {
  return { seconds: Math.floor(ms / 1000), nanos: (((ms % 1000) + 1000) % 1000) * 1_000_000 };
}

export function timestampMs(t: KubeTimestamp | undefined): number {
  return t ? t.seconds * 1000 + Math.floor(t.nanos / 1_000_000) : 0;
}

export function metadata(o: KubeObject): { name: string; namespace: string; uid: string; labels: Record<string, string>; annotations: Record<string, string>; resourceVersion: string; creationTimestamp: unknown; generation: number; ownerReferences: unknown[] } {
  const m = obj(o['metadata']);
  return {
    name: str(m['name']),
    namespace: str(m['namespace']),
    uid: str(m['uid']),
    labels: stringMap(m['labels']),
    annotations: stringMap(m['annotations']),
    resourceVersion: str(m['resourceVersion']),
    creationTimestamp: m['creationTimestamp'],
    generation: num(m['generation']),
    ownerReferences: arr(m['ownerReferences']),
  };
}

/** The HTTP status of a failed request (client-node's ApiException has `code`, a failed watch `statusCode`). */
export function statusCode(err: unknown): number {
  const e = obj(err);
  return num(e['statusCode'] ?? e['code']);
}
