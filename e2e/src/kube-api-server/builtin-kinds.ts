// The built-in kinds: the ones the product inventories and watches, the ones its Helm chart creates (so issue 9 can
// load rendered manifests), and the review kinds authorization answers. Field selectors are the ones the real server
// registers for each kind (pkg/registry/*/strategy.go GetAttrs); an unlisted one is refused with 400 as it would be.
import { eventsV1Conversion } from './event-conversion.js';
import { pathValue, type KubeObject } from './objects-meta.js';
import { STANDARD_VERBS, type FieldGetter, type ResourceType } from './resources.js';
import { WORKLOAD_SCALE, type ScalePaths } from './scale.js';

function field(path: string): FieldGetter {
  const steps = path.split('.');
  return (object: KubeObject) => {
    const value = pathValue(object, steps);
    if (value === undefined || value === null) return '';
    return typeof value === 'object' ? JSON.stringify(value) : String(value);
  };
}

function fields(...paths: string[]): Record<string, FieldGetter> {
  return Object.fromEntries(paths.map((p) => [p, field(p)]));
}

interface KindSpec {
  group?: string;
  version?: string;
  resource: string;
  kind: string;
  namespaced?: boolean;
  shortNames?: string[];
  categories?: string[];
  subresources?: string[];
  tracksGeneration?: boolean;
  statusOnCreate?: 'keep' | 'reset';
  initialStatus?: Record<string, unknown>;
  deleteReturnsObject?: boolean;
  nameRule?: ResourceType['nameRule'];
  fields?: Record<string, FieldGetter>;
  virtual?: string;
  storage?: string;
  storageApiVersion?: string;
  conversion?: ResourceType['conversion'];
  scale?: ScalePaths;
}

export function defineKind(spec: KindSpec): ResourceType {
  const group = spec.group ?? '';
  const version = spec.version ?? 'v1';
  const subresources = spec.subresources ?? [];
  const type: ResourceType = {
    group,
    version,
    resource: spec.resource,
    singular: spec.kind.toLowerCase(),
    kind: spec.kind,
    listKind: `${spec.kind}List`,
    namespaced: spec.namespaced ?? true,
    shortNames: spec.shortNames ?? [],
    categories: spec.categories ?? [],
    verbs: spec.virtual ? ['create'] : [...STANDARD_VERBS],
    subresources,
    storage: spec.storage ?? `${group || 'core'}/${spec.resource}`,
    storageApiVersion: spec.storageApiVersion ?? (group ? `${group}/${version}` : version),
    tracksGeneration: spec.tracksGeneration ?? false,
    statusOnCreate: spec.statusOnCreate ?? (subresources.includes('status') ? 'reset' : 'keep'),
    deleteReturnsObject: spec.deleteReturnsObject ?? false,
    nameRule: spec.nameRule ?? 'subdomain',
    fields: spec.fields ?? {},
  };
  if (spec.initialStatus) type.initialStatus = spec.initialStatus;
  if (spec.virtual) type.virtual = spec.virtual;
  if (spec.conversion) type.conversion = spec.conversion;
  if (spec.scale) type.scale = spec.scale;
  return type;
}

const EVENT_FIELDS = fields(
  'involvedObject.kind',
  'involvedObject.namespace',
  'involvedObject.name',
  'involvedObject.uid',
  'involvedObject.apiVersion',
  'involvedObject.resourceVersion',
  'involvedObject.fieldPath',
  'reason',
  'reportingComponent',
  'type',
);
// source is the component name, not the whole EventSource object.
EVENT_FIELDS['source'] = field('source.component');

// The events.k8s.io/v1 names of the same fields: the selector is applied to the stored (core/v1) object.
const EVENTS_V1_FIELDS: Record<string, FieldGetter> = {
  ...Object.fromEntries(Object.entries(EVENT_FIELDS).map(([k, get]) => [k.replace(/^involvedObject\./, 'regarding.'), get])),
  ...EVENT_FIELDS,
  reportingController: field('reportingComponent'),
};

export function builtinKinds(): ResourceType[] {
  const workload = { categories: ['all'], subresources: ['status'], tracksGeneration: true };
  const scalable = { ...workload, subresources: ['status', 'scale'], scale: WORKLOAD_SCALE };
  return [
    // core/v1
    defineKind({ resource: 'namespaces', kind: 'Namespace', namespaced: false, shortNames: ['ns'], subresources: ['status'], initialStatus: { phase: 'Active' }, deleteReturnsObject: true, nameRule: 'label', fields: fields('status.phase') }),
    defineKind({
      resource: 'pods',
      kind: 'Pod',
      shortNames: ['po'],
      categories: ['all'],
      subresources: ['status', 'log'],
      initialStatus: { phase: 'Pending' },
      deleteReturnsObject: true,
      fields: fields('spec.nodeName', 'spec.restartPolicy', 'spec.schedulerName', 'spec.serviceAccountName', 'spec.hostNetwork', 'status.phase', 'status.podIP', 'status.nominatedNodeName'),
    }),
    defineKind({ resource: 'services', kind: 'Service', shortNames: ['svc'], categories: ['all'], subresources: ['status'], initialStatus: { loadBalancer: {} }, deleteReturnsObject: true, nameRule: 'label' }),
    // Nodes are registered by kubelets with their status: create keeps it.
    defineKind({ resource: 'nodes', kind: 'Node', namespaced: false, shortNames: ['no'], subresources: ['status'], statusOnCreate: 'keep', fields: fields('spec.unschedulable') }),
    defineKind({ resource: 'events', kind: 'Event', shortNames: ['ev'], fields: EVENT_FIELDS }),
    defineKind({ resource: 'configmaps', kind: 'ConfigMap', shortNames: ['cm'] }),
    defineKind({ resource: 'secrets', kind: 'Secret', fields: fields('type') }),
    defineKind({ resource: 'serviceaccounts', kind: 'ServiceAccount', shortNames: ['sa'], subresources: ['token'] }),
    defineKind({ resource: 'endpoints', kind: 'Endpoints', shortNames: ['ep'] }),
    defineKind({ resource: 'persistentvolumeclaims', kind: 'PersistentVolumeClaim', shortNames: ['pvc'], subresources: ['status'] }),
    defineKind({ resource: 'persistentvolumes', kind: 'PersistentVolume', namespaced: false, shortNames: ['pv'], subresources: ['status'] }),
    defineKind({ resource: 'replicationcontrollers', kind: 'ReplicationController', shortNames: ['rc'], ...scalable, fields: fields('status.replicas') }),
    defineKind({ resource: 'resourcequotas', kind: 'ResourceQuota', shortNames: ['quota'], subresources: ['status'] }),
    defineKind({ resource: 'limitranges', kind: 'LimitRange', shortNames: ['limits'] }),
    defineKind({ resource: 'podtemplates', kind: 'PodTemplate' }),
    // apps/v1
    defineKind({ group: 'apps', resource: 'deployments', kind: 'Deployment', shortNames: ['deploy'], ...scalable }),
    defineKind({ group: 'apps', resource: 'statefulsets', kind: 'StatefulSet', shortNames: ['sts'], ...scalable }),
    defineKind({ group: 'apps', resource: 'daemonsets', kind: 'DaemonSet', shortNames: ['ds'], ...workload }),
    defineKind({ group: 'apps', resource: 'replicasets', kind: 'ReplicaSet', shortNames: ['rs'], ...scalable, fields: fields('status.replicas') }),
    defineKind({ group: 'apps', resource: 'controllerrevisions', kind: 'ControllerRevision' }),
    // batch/v1
    defineKind({ group: 'batch', resource: 'jobs', kind: 'Job', ...workload, fields: fields('status.successful') }),
    defineKind({ group: 'batch', resource: 'cronjobs', kind: 'CronJob', shortNames: ['cj'], ...workload }),
    // networking, coordination, discovery, policy, autoscaling, scheduling, storage
    defineKind({ group: 'networking.k8s.io', resource: 'networkpolicies', kind: 'NetworkPolicy', shortNames: ['netpol'], tracksGeneration: true }),
    defineKind({ group: 'networking.k8s.io', resource: 'ingresses', kind: 'Ingress', shortNames: ['ing'], subresources: ['status'], tracksGeneration: true }),
    defineKind({ group: 'networking.k8s.io', resource: 'ingressclasses', kind: 'IngressClass', namespaced: false }),
    defineKind({ group: 'coordination.k8s.io', resource: 'leases', kind: 'Lease' }),
    defineKind({ group: 'discovery.k8s.io', resource: 'endpointslices', kind: 'EndpointSlice' }),
    defineKind({ group: 'policy', resource: 'poddisruptionbudgets', kind: 'PodDisruptionBudget', shortNames: ['pdb'], subresources: ['status'], tracksGeneration: true }),
    defineKind({ group: 'autoscaling', version: 'v2', resource: 'horizontalpodautoscalers', kind: 'HorizontalPodAutoscaler', shortNames: ['hpa'], categories: ['all'], subresources: ['status'] }),
    defineKind({ group: 'scheduling.k8s.io', resource: 'priorityclasses', kind: 'PriorityClass', namespaced: false, shortNames: ['pc'] }),
    defineKind({ group: 'storage.k8s.io', resource: 'storageclasses', kind: 'StorageClass', namespaced: false, shortNames: ['sc'] }),
    // RBAC: names like "system:controller:x" are allowed (path segment rule).
    defineKind({ group: 'rbac.authorization.k8s.io', resource: 'clusterroles', kind: 'ClusterRole', namespaced: false, nameRule: 'path-segment' }),
    defineKind({ group: 'rbac.authorization.k8s.io', resource: 'clusterrolebindings', kind: 'ClusterRoleBinding', namespaced: false, nameRule: 'path-segment' }),
    defineKind({ group: 'rbac.authorization.k8s.io', resource: 'roles', kind: 'Role', nameRule: 'path-segment' }),
    defineKind({ group: 'rbac.authorization.k8s.io', resource: 'rolebindings', kind: 'RoleBinding', nameRule: 'path-segment' }),
    defineKind({ group: 'apiextensions.k8s.io', resource: 'customresourcedefinitions', kind: 'CustomResourceDefinition', namespaced: false, shortNames: ['crd', 'crds'], subresources: ['status'], tracksGeneration: true }),
    // events.k8s.io/v1 serves the core/v1 Event storage.
    defineKind({ group: 'events.k8s.io', resource: 'events', kind: 'Event', shortNames: ['ev'], storage: 'core/events', storageApiVersion: 'v1', conversion: eventsV1Conversion, fields: EVENTS_V1_FIELDS }),
    // Reviews: answered, never stored.
    defineKind({ group: 'authorization.k8s.io', resource: 'subjectaccessreviews', kind: 'SubjectAccessReview', namespaced: false, virtual: 'subjectaccessreview' }),
    defineKind({ group: 'authorization.k8s.io', resource: 'selfsubjectaccessreviews', kind: 'SelfSubjectAccessReview', namespaced: false, virtual: 'selfsubjectaccessreview' }),
    defineKind({ group: 'authorization.k8s.io', resource: 'localsubjectaccessreviews', kind: 'LocalSubjectAccessReview', virtual: 'localsubjectaccessreview' }),
    defineKind({ group: 'authorization.k8s.io', resource: 'selfsubjectrulesreviews', kind: 'SelfSubjectRulesReview', namespaced: false, virtual: 'selfsubjectrulesreview' }),
    defineKind({ group: 'authentication.k8s.io', resource: 'tokenreviews', kind: 'TokenReview', namespaced: false, virtual: 'tokenreview' }),
    defineKind({ group: 'authentication.k8s.io', resource: 'selfsubjectreviews', kind: 'SelfSubjectReview', namespaced: false, virtual: 'selfsubjectreview' }),
  ];
}
