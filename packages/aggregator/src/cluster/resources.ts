// The Kubernetes resources the cluster watch follows, with how to list them (paginated) and where to watch them.
// Core resources are listed through CoreV1Api; every other group through CustomObjectsApi, which returns raw JSON
// for any /apis/<group>/<version>/<plural>, so a CRD such as Istio's AuthorizationPolicy needs no generated type.
import { CoreV1Api, CustomObjectsApi, type KubeConfig } from '@kubernetes/client-node';
import { arr, obj, str, type KubeObject } from './k8s-object.js';

export interface ListPage {
  items: KubeObject[];
  resourceVersion: string;
  continueToken: string | undefined;
}

export interface ListOptions {
  limit: number;
  continueToken: string | undefined;
  fieldSelector: string | undefined;
}

export interface ResourceType {
  /** Kind of the objects, e.g. 'Deployment'. */
  kind: string;
  group: string;
  version: string;
  plural: string;
  /** Path to list or watch across all namespaces. */
  path: string;
  list(kc: KubeConfig, options: ListOptions): Promise<ListPage>;
}

function page(list: unknown): ListPage {
  const l = obj(list);
  const meta = obj(l['metadata']);
  return {
    items: arr(l['items']).map(obj),
    resourceVersion: str(meta['resourceVersion']),
    continueToken: str(meta['_continue'] ?? meta['continue']) || undefined,
  };
}

function core(kind: string, plural: string, list: (api: CoreV1Api, o: ListOptions) => Promise<unknown>): ResourceType {
  return {
    kind,
    group: '',
    version: 'v1',
    plural,
    path: `/api/v1/${plural}`,
    list: async (kc, o) => page(await list(kc.makeApiClient(CoreV1Api), o)),
  };
}

export function groupResource(kind: string, group: string, version: string, plural: string): ResourceType {
  return {
    kind,
    group,
    version,
    plural,
    path: `/apis/${group}/${version}/${plural}`,
    list: async (kc, o) =>
      page(
        await kc.makeApiClient(CustomObjectsApi).listClusterCustomObject({
          group,
          version,
          plural,
          limit: o.limit,
          _continue: o.continueToken,
          fieldSelector: o.fieldSelector,
        }),
      ),
  };
}

const params = (o: ListOptions) => ({ limit: o.limit, _continue: o.continueToken, fieldSelector: o.fieldSelector });

export const RESOURCES = {
  namespaces: core('Namespace', 'namespaces', (api, o) => api.listNamespace(params(o))),
  pods: core('Pod', 'pods', (api, o) => api.listPodForAllNamespaces(params(o))),
  services: core('Service', 'services', (api, o) => api.listServiceForAllNamespaces(params(o))),
  nodes: core('Node', 'nodes', (api, o) => api.listNode(params(o))),
  events: core('Event', 'events', (api, o) => api.listEventForAllNamespaces(params(o))),
  deployments: groupResource('Deployment', 'apps', 'v1', 'deployments'),
  statefulsets: groupResource('StatefulSet', 'apps', 'v1', 'statefulsets'),
  daemonsets: groupResource('DaemonSet', 'apps', 'v1', 'daemonsets'),
  replicasets: groupResource('ReplicaSet', 'apps', 'v1', 'replicasets'),
  jobs: groupResource('Job', 'batch', 'v1', 'jobs'),
  cronjobs: groupResource('CronJob', 'batch', 'v1', 'cronjobs'),
  networkpolicies: groupResource('NetworkPolicy', 'networking.k8s.io', 'v1', 'networkpolicies'),
  authorizationpolicies: groupResource('AuthorizationPolicy', 'security.istio.io', 'v1', 'authorizationpolicies'),
} satisfies Record<string, ResourceType>;
