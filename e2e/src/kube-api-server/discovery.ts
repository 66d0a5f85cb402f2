// Discovery documents, built from the registry on each request so CRDs appear and disappear at once: /api
// (APIVersions), /api/v1 and /apis/<g>/<v> (APIResourceList), /apis (APIGroupList), /apis/<g> (APIGroup),
// /version. Only the legacy (unaggregated) form is served: kubectl and client-go ask for the aggregated v2 form first
// and fall back when the response's Content-Type says it is the legacy one.
import { apiVersionOf, type ResourceRegistry, type ResourceType } from './resources.js';

export const KUBERNETES_VERSION = { major: '1', minor: '32', gitVersion: 'v1.32.0-kestrel-test' };

export function versionInfo(): Record<string, string> {
  return {
    ...KUBERNETES_VERSION,
    gitCommit: '0000000000000000000000000000000000000000',
    gitTreeState: 'clean',
    buildDate: '2025-01-01T00:00:00Z',
    goVersion: 'go1.23.0',
    compiler: 'gc',
    platform: 'linux/amd64',
  };
}

export function apiVersions(serverAddress: string): object {
  return { kind: 'APIVersions', versions: ['v1'], serverAddressByClientCIDRs: [{ clientCIDR: '0.0.0.0/0', serverAddress }] };
}

function groupDocument(registry: ResourceRegistry, group: string): object | undefined {
  const entry = registry.groupVersions().find((g) => g.group === group);
  if (!entry) return undefined;
  return {
    name: group,
    versions: entry.versions.map((version) => ({ groupVersion: `${group}/${version}`, version })),
    preferredVersion: { groupVersion: `${group}/${entry.preferred}`, version: entry.preferred },
  };
}

export function apiGroupList(registry: ResourceRegistry): object {
  const groups = registry
    .groupVersions()
    .filter((g) => g.group !== '')
    .map((g) => groupDocument(registry, g.group)!);
  return { kind: 'APIGroupList', apiVersion: 'v1', groups };
}

export function apiGroup(registry: ResourceRegistry, group: string): object | undefined {
  const document = groupDocument(registry, group);
  return document && { kind: 'APIGroup', apiVersion: 'v1', ...document };
}

const SUBRESOURCE_VERBS: Record<string, string[]> = { status: ['get', 'patch', 'update'], scale: ['get', 'patch', 'update'], token: ['create'], log: ['get'] };

function resourceEntries(type: ResourceType): object[] {
  const main: Record<string, unknown> = { name: type.resource, singularName: type.singular, namespaced: type.namespaced, kind: type.kind, verbs: type.verbs };
  if (type.shortNames.length > 0) main['shortNames'] = type.shortNames;
  if (type.categories.length > 0) main['categories'] = type.categories;
  const subresources = type.subresources.map((sub) => {
    const entry: Record<string, unknown> = { name: `${type.resource}/${sub}`, singularName: '', namespaced: type.namespaced, kind: type.kind, verbs: SUBRESOURCE_VERBS[sub] ?? ['get'] };
    if (sub === 'token') Object.assign(entry, { group: 'authentication.k8s.io', version: 'v1', kind: 'TokenRequest' });
    if (sub === 'scale') Object.assign(entry, { group: 'autoscaling', version: 'v1', kind: 'Scale' });
    return entry;
  });
  return [main, ...subresources];
}

export function apiResourceList(registry: ResourceRegistry, group: string, version: string): object | undefined {
  const types = registry.resources(group, version);
  if (types.length === 0) return undefined;
  types.sort((a, b) => (a.resource < b.resource ? -1 : 1));
  return { kind: 'APIResourceList', apiVersion: 'v1', groupVersion: apiVersionOf({ group, version }), resources: types.flatMap(resourceEntries) };
}
