// The scale subresource (autoscaling/v1 Scale) of Deployments, StatefulSets, ReplicaSets and of custom kinds that
// declare one (Argo Rollouts does): `kubectl scale` and any remediation that scales go through it. Reading maps the
// object onto a Scale; writing maps the Scale's spec.replicas back onto the object (with the Scale's
// resourceVersion as the precondition) and stores it like any update.
import { badRequest } from './status.js';
import { clone, isJsonObject, pathValue, type KubeObject } from './objects-meta.js';
import { applyPatch, type PatchType } from './patch.js';

export interface ScalePaths {
  specReplicasPath: string;
  statusReplicasPath: string;
  /** Where the selector is: a metav1.LabelSelector object (built-in kinds) or a selector string (custom kinds). */
  labelSelectorPath?: string;
}

export const WORKLOAD_SCALE: ScalePaths = { specReplicasPath: '.spec.replicas', statusReplicasPath: '.status.replicas', labelSelectorPath: '.spec.selector' };

function steps(path: string): string[] {
  return path.replace(/^\./, '').split('.');
}

function selectorString(value: unknown): string {
  if (typeof value === 'string') return value;
  if (!isJsonObject(value)) return '';
  const parts: string[] = [];
  const labels = isJsonObject(value['matchLabels']) ? value['matchLabels'] : {};
  for (const [k, v] of Object.entries(labels).sort(([a], [b]) => (a < b ? -1 : 1))) parts.push(`${k}=${String(v)}`);
  for (const e of Array.isArray(value['matchExpressions']) ? value['matchExpressions'].filter(isJsonObject) : []) {
    const values = Array.isArray(e['values']) ? e['values'].map(String) : [];
    if (e['operator'] === 'In') parts.push(`${String(e['key'])} in (${values.join(',')})`);
    else if (e['operator'] === 'NotIn') parts.push(`${String(e['key'])} notin (${values.join(',')})`);
    else if (e['operator'] === 'Exists') parts.push(String(e['key']));
    else if (e['operator'] === 'DoesNotExist') parts.push(`!${String(e['key'])}`);
  }
  return parts.join(',');
}

export function scaleOf(paths: ScalePaths, object: KubeObject): KubeObject {
  const m = object.metadata;
  const status: Record<string, unknown> = { replicas: Number(pathValue(object, steps(paths.statusReplicasPath)) ?? 0) };
  const selector = paths.labelSelectorPath ? selectorString(pathValue(object, steps(paths.labelSelectorPath))) : '';
  if (selector) status['selector'] = selector;
  const metadata: Record<string, unknown> = { name: m.name, uid: m.uid, resourceVersion: m.resourceVersion, creationTimestamp: m.creationTimestamp };
  if (m.namespace) metadata['namespace'] = m.namespace;
  return { kind: 'Scale', apiVersion: 'autoscaling/v1', metadata: metadata as KubeObject['metadata'], spec: { replicas: Number(pathValue(object, steps(paths.specReplicasPath)) ?? 0) }, status };
}

/** The object as it is once a Scale (or a patch of the current Scale) is applied to it; the body to update with. */
export function scaledObject(paths: ScalePaths, current: KubeObject, scale: unknown, patchType?: PatchType): KubeObject {
  const next = patchType ? applyPatch(patchType, scaleOf(paths, current), scale) : scale;
  if (!isJsonObject(next)) throw badRequest('the body must be a Scale object');
  const replicas = pathValue(next, ['spec', 'replicas']);
  if (typeof replicas !== 'number' || !Number.isInteger(replicas) || replicas < 0) {
    throw badRequest(`Scale.autoscaling "${current.metadata.name}" is invalid: spec.replicas: Invalid value: ${String(replicas)}: must be greater than or equal to 0`);
  }
  const object = clone(current);
  let target: Record<string, unknown> = object;
  const path = steps(paths.specReplicasPath);
  for (const step of path.slice(0, -1)) {
    if (!isJsonObject(target[step])) target[step] = {};
    target = target[step] as Record<string, unknown>;
  }
  target[path.at(-1)!] = replicas;
  const rv = pathValue(next, ['metadata', 'resourceVersion']);
  object.metadata = { ...object.metadata, resourceVersion: typeof rv === 'string' && rv ? rv : current.metadata.resourceVersion! };
  return object;
}
