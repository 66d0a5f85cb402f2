// A minimal OpenAPI v3 (/openapi/v3 and /openapi/v3/<api|apis/g>/<v>): the paths of every kind with the
// x-kubernetes-group-version-kind extension and the fieldValidation query parameter on PATCH, and no schemas.
// That is what `kubectl create -f` / `apply -f` look for to decide that the server validates fields itself; without
// it kubectl refuses to send anything ("failed to download openapi"). kubectl apply then builds strategic merge
// patches from its compiled-in types. `kubectl explain` has nothing to show.
import { createHash } from 'node:crypto';
import { KUBERNETES_VERSION } from './discovery.js';
import type { ResourceRegistry } from './resources.js';

function groupVersionPath(group: string, version: string): string {
  return group ? `apis/${group}/${version}` : `api/${version}`;
}

export function openApiV3Document(registry: ResourceRegistry, group: string, version: string): object | undefined {
  const all = registry.resources(group, version);
  if (all.length === 0) return undefined;
  const types = all.filter((t) => !t.virtual);
  const paths: Record<string, object> = {};
  const fieldValidation = { name: 'fieldValidation', in: 'query', schema: { type: 'string', uniqueItems: true } };
  for (const type of types) {
    const gvk = { 'x-kubernetes-group-version-kind': { group, version, kind: type.kind } };
    const base = `/${groupVersionPath(group, version)}${type.namespaced ? '/namespaces/{namespace}' : ''}/${type.resource}`;
    const op = (action: string) => ({ ...gvk, 'x-kubernetes-action': action, parameters: [fieldValidation], responses: {} });
    paths[base] = { get: { ...op('list'), parameters: [] }, post: op('post') };
    paths[`${base}/{name}`] = { get: { ...op('get'), parameters: [] }, put: op('put'), patch: op('patch'), delete: { ...op('delete'), parameters: [] } };
    for (const sub of type.subresources.filter((s) => s === 'status')) {
      paths[`${base}/{name}/${sub}`] = { get: { ...op('get'), parameters: [] }, put: op('put'), patch: op('patch') };
    }
    if (type.scale) {
      const scale = { 'x-kubernetes-group-version-kind': { group: 'autoscaling', version: 'v1', kind: 'Scale' }, parameters: [fieldValidation], responses: {} };
      paths[`${base}/{name}/scale`] = { get: { ...scale, parameters: [] }, put: scale, patch: scale };
    }
  }
  return { openapi: '3.0.0', info: { title: 'Kubernetes', version: KUBERNETES_VERSION.gitVersion }, paths, components: { schemas: {} } };
}

export function openApiV3Root(registry: ResourceRegistry): object {
  const paths: Record<string, object> = {};
  for (const { group, versions } of registry.groupVersions()) {
    for (const version of versions) {
      const document = openApiV3Document(registry, group, version);
      const hash = createHash('sha512').update(JSON.stringify(document)).digest('hex').slice(0, 64).toUpperCase();
      const path = groupVersionPath(group, version);
      paths[path] = { serverRelativeURL: `/openapi/v3/${path}?hash=${hash}` };
    }
  }
  return { paths };
}
