// CustomResourceDefinitions: creating one makes its kind appear in discovery and become servable at every served
// version (conversion strategy None: versions differ only in apiVersion); deleting one goes through the real
// sequence — the CRD is marked for deletion, its custom objects are deleted (watchers see each DELETED), open watches
// on the kind end, then the CRD goes. This is how Istio, Argo CD, Argo Rollouts, Flux and Karpenter are "installed"
// in tests, including after the product has started.
import { ApiError, invalid } from './status.js';
import { clone, isJsonObject, kubeTime, pathValue, type KubeObject } from './objects-meta.js';
import type { ObjectService } from './objects.js';
import { STANDARD_VERBS, type PrinterColumn, type ResourceRegistry, type ResourceType } from './resources.js';
import type { ScalePaths } from './scale.js';
import { objectKey } from './store.js';

export const CRD_STORAGE = 'apiextensions.k8s.io/customresourcedefinitions';
// The real server puts this finalizer on every CRD so that its objects are cleaned up before it goes.
const CLEANUP_FINALIZER = 'customresourcecleanup.apiextensions.k8s.io';

interface CrdNames {
  plural: string;
  singular: string;
  kind: string;
  listKind: string;
  shortNames: string[];
  categories: string[];
}

interface CrdVersion {
  name: string;
  served: boolean;
  storage: boolean;
  status: boolean;
  scale?: ScalePaths;
  printerColumns: PrinterColumn[];
  selectableFields: string[];
}

interface CrdSpec {
  group: string;
  names: CrdNames;
  namespaced: boolean;
  versions: CrdVersion[];
}

function fail(name: string, field: string, message: string): ApiError {
  return invalid('CustomResourceDefinition', 'apiextensions.k8s.io', name, [{ field, message }]);
}

function readSpec(crd: KubeObject): CrdSpec {
  const name = crd.metadata.name ?? '';
  const spec = crd['spec'];
  if (!isJsonObject(spec)) throw fail(name, 'spec', 'Required value');
  const group = spec['group'];
  if (typeof group !== 'string' || !group.includes('.')) throw fail(name, 'spec.group', `Invalid value: "${String(group)}": should be a domain with at least one dot`);
  const names = isJsonObject(spec['names']) ? spec['names'] : {};
  const plural = names['plural'];
  const kind = names['kind'];
  if (typeof plural !== 'string' || plural === '') throw fail(name, 'spec.names.plural', 'Required value');
  if (typeof kind !== 'string' || kind === '') throw fail(name, 'spec.names.kind', 'Required value');
  if (name !== `${plural}.${group}`) throw fail(name, 'metadata.name', `Invalid value: "${name}": must be spec.names.plural+"."+spec.group`);
  const scope = spec['scope'];
  if (scope !== 'Namespaced' && scope !== 'Cluster') throw fail(name, 'spec.scope', `Unsupported value: "${String(scope)}": supported values: "Cluster", "Namespaced"`);
  const rawVersions = Array.isArray(spec['versions']) ? spec['versions'] : [];
  if (rawVersions.length === 0) throw fail(name, 'spec.versions', 'Invalid value: null: must have exactly one version marked as storage version');
  const versions = rawVersions.map((v): CrdVersion => {
    const version = isJsonObject(v) ? v : {};
    const scale = pathValue(version, ['subresources', 'scale']);
    const columns = Array.isArray(version['additionalPrinterColumns']) ? (version['additionalPrinterColumns'] as PrinterColumn[]) : [];
    const selectable = Array.isArray(version['selectableFields']) ? version['selectableFields'] : [];
    const parsed: CrdVersion = {
      name: String(version['name'] ?? ''),
      served: version['served'] === true,
      storage: version['storage'] === true,
      status: isJsonObject(pathValue(version, ['subresources', 'status'])),
      printerColumns: columns,
      selectableFields: selectable.map((f) => String(isJsonObject(f) ? f['jsonPath'] : '').replace(/^\./, '')).filter((f) => f !== ''),
    };
    if (isJsonObject(scale) && typeof scale['specReplicasPath'] === 'string' && typeof scale['statusReplicasPath'] === 'string') {
      parsed.scale = { specReplicasPath: scale['specReplicasPath'], statusReplicasPath: scale['statusReplicasPath'] };
      if (typeof scale['labelSelectorPath'] === 'string') parsed.scale.labelSelectorPath = scale['labelSelectorPath'];
    }
    return parsed;
  });
  if (versions.filter((v) => v.storage).length !== 1) throw fail(name, 'spec.versions', 'Invalid value: must have exactly one version marked as storage version');
  const strings = (value: unknown) => (Array.isArray(value) ? value.map(String) : []);
  return {
    group,
    namespaced: scope === 'Namespaced',
    versions,
    names: {
      plural,
      kind,
      singular: typeof names['singular'] === 'string' && names['singular'] ? names['singular'] : kind.toLowerCase(),
      listKind: typeof names['listKind'] === 'string' && names['listKind'] ? names['listKind'] : `${kind}List`,
      shortNames: strings(names['shortNames']),
      categories: strings(names['categories']),
    },
  };
}

function kindsOf(crdName: string, spec: CrdSpec): ResourceType[] {
  const storageVersion = spec.versions.find((v) => v.storage)!.name;
  return spec.versions
    .filter((v) => v.served)
    .map((v) => {
      const fields = Object.fromEntries(
        v.selectableFields.map((path) => [
          path,
          (o: KubeObject) => {
            const value = pathValue(o, path.split('.'));
            return value === undefined || value === null ? '' : String(value);
          },
        ]),
      );
      const type: ResourceType = {
        group: spec.group,
        version: v.name,
        resource: spec.names.plural,
        singular: spec.names.singular,
        kind: spec.names.kind,
        listKind: spec.names.listKind,
        namespaced: spec.namespaced,
        shortNames: spec.names.shortNames,
        categories: spec.names.categories,
        verbs: [...STANDARD_VERBS],
        subresources: [...(v.status ? ['status'] : []), ...(v.scale ? ['scale'] : [])],
        storage: `${spec.group}/${spec.names.plural}`,
        storageApiVersion: `${spec.group}/${storageVersion}`,
        tracksGeneration: true,
        statusOnCreate: v.status ? 'reset' : 'keep',
        deleteReturnsObject: true,
        nameRule: 'subdomain',
        fields,
        printerColumns: v.printerColumns,
        crd: crdName,
      };
      if (v.scale) type.scale = v.scale;
      return type;
    });
}

export interface CrdControllerOptions {
  /** Ends the open watches on kinds that stopped being served. */
  onKindsRemoved(types: ResourceType[]): void;
}

export class CrdController {
  constructor(
    private readonly objects: ObjectService,
    private readonly registry: ResourceRegistry,
    private readonly options: CrdControllerOptions,
  ) {}

  install(): void {
    this.objects.setHooks(CRD_STORAGE, {
      prepare: (crd, previous) => this.prepare(crd, previous),
      afterChange: (change) => {
        if (change.type === 'DELETED') return;
        this.serve(change.object);
        if (change.object.metadata.deletionTimestamp) setImmediate(() => this.cleanUp(change.object.metadata.name!));
      },
      beforeRemove: (crd) => this.stopServing(crd.metadata.name!),
    });
  }

  private prepare(crd: KubeObject, previous: KubeObject | undefined): void {
    const spec = readSpec(crd);
    const name = crd.metadata.name!;
    if (previous) {
      const old = readSpec(previous);
      if (old.group !== spec.group || old.names.plural !== spec.names.plural) throw fail(name, 'spec.group', 'Invalid value: field is immutable');
    }
    if (!crd.metadata.deletionTimestamp && !(crd.metadata.finalizers ?? []).includes(CLEANUP_FINALIZER) && !previous) {
      crd.metadata.finalizers = [...(crd.metadata.finalizers ?? []), CLEANUP_FINALIZER];
    }
    // What the establishing and naming controllers write, at once: the kind is served as soon as this is stored.
    const now = kubeTime();
    const previousStatus = isJsonObject(crd['status']) ? crd['status'] : {};
    const stored = Array.isArray(previousStatus['storedVersions']) ? previousStatus['storedVersions'].map(String) : [];
    const storageVersion = spec.versions.find((v) => v.storage)!.name;
    const terminating = Boolean(crd.metadata.deletionTimestamp);
    crd['status'] = {
      acceptedNames: { ...spec.names },
      conditions: [
        { type: 'NamesAccepted', status: 'True', lastTransitionTime: now, reason: 'NoConflicts', message: 'no conflicts found' },
        { type: 'Established', status: 'True', lastTransitionTime: now, reason: 'InitialNamesAccepted', message: 'the initial names have been accepted' },
        ...(terminating ? [{ type: 'Terminating', status: 'True', lastTransitionTime: now, reason: 'InstanceDeletionInProgress', message: 'CustomResource deletion is in progress' }] : []),
      ],
      storedVersions: stored.includes(storageVersion) ? stored : [...stored, storageVersion],
    };
  }

  private serve(crd: KubeObject): void {
    const name = crd.metadata.name!;
    const kinds = kindsOf(name, readSpec(crd));
    const removed = this.registry.remove((t) => t.crd === name && !kinds.some((k) => k.version === t.version));
    if (removed.length > 0) this.options.onKindsRemoved(removed);
    for (const kind of kinds) this.registry.add(kind);
  }

  /** The finalizer's work: delete every custom object of the kind, then release the CRD. */
  private cleanUp(name: string): void {
    const crdType = this.registry.lookup('apiextensions.k8s.io', 'v1', 'customresourcedefinitions')!;
    const crd = this.objects.store.get(CRD_STORAGE, name);
    if (!crd?.metadata.deletionTimestamp) return;
    const kinds = this.registry.all().filter((t) => t.crd === name);
    const storage = kinds[0]?.storage;
    if (storage) {
      for (const object of this.objects.store.list(storage)) this.objects.store.remove(storage, objectKey(object.metadata.namespace, object.metadata.name!));
    }
    const next = clone(crd);
    next.metadata.finalizers = (next.metadata.finalizers ?? []).filter((f) => f !== CLEANUP_FINALIZER);
    if (next.metadata.finalizers.length === 0) delete next.metadata.finalizers;
    this.objects.update(crdType, undefined, name, this.objects.toExternal(crdType, next));
  }

  private stopServing(name: string): void {
    const removed = this.registry.remove((t) => t.crd === name);
    if (removed.length > 0) {
      this.options.onKindsRemoved(removed);
      this.objects.store.dropBucket(removed[0]!.storage);
    }
  }
}
