// The registry of kinds the server serves: what discovery lists, what a URL resolves to, and how each kind behaves
// (scope, subresources, field selectors, whether spec changes bump metadata.generation). Built-in kinds are added at
// start (builtin-kinds.ts); a CustomResourceDefinition adds and removes its own (crds.ts), which is how the
// product's optional integrations (Istio, Argo, Flux, Karpenter) appear in a cluster.
import type { KubeObject } from './objects-meta.js';
import type { ScalePaths } from './scale.js';

export const STANDARD_VERBS = ['create', 'delete', 'deletecollection', 'get', 'list', 'patch', 'update', 'watch'] as const;

/** Turns a stored object into a field-selector value ('' when absent, as the real field sets do). */
export type FieldGetter = (object: KubeObject) => string;

/** A served version of a kind converts between the stored form and what the client asked for. */
export interface VersionConversion {
  toStorage(object: KubeObject): KubeObject;
  fromStorage(object: KubeObject): KubeObject;
}

export interface PrinterColumn {
  name: string;
  type: string;
  jsonPath: string;
  description?: string;
  priority?: number;
  format?: string;
}

export interface ResourceType {
  group: string;
  version: string;
  /** Plural, lower case: the URL segment. */
  resource: string;
  singular: string;
  kind: string;
  listKind: string;
  namespaced: boolean;
  shortNames: string[];
  categories: string[];
  /** Discovery verbs; a create-only kind (reviews) has ['create']. */
  verbs: string[];
  /** Served subresources, e.g. status, token. */
  subresources: string[];
  /** Shared by the versions of one group-resource (core/v1 and events.k8s.io/v1 Events share one). */
  storage: string;
  /** apiVersion of the stored form. */
  storageApiVersion: string;
  conversion?: VersionConversion;
  /** Spec changes (anything outside metadata and status) increment metadata.generation. */
  tracksGeneration: boolean;
  /** What create does with a status the client sent: most kinds with a status subresource reset it. */
  statusOnCreate: 'keep' | 'reset';
  /** The status a created object starts with when the kind resets it (pods start Pending). */
  initialStatus?: Record<string, unknown>;
  /** DELETE answers with the object (pods, namespaces, custom resources) or with a Success Status. */
  deleteReturnsObject: boolean;
  nameRule: 'subdomain' | 'label' | 'path-segment';
  /** Field selector labels besides metadata.name and metadata.namespace. */
  fields: Record<string, FieldGetter>;
  printerColumns?: PrinterColumn[];
  /** Where the scale subresource reads and writes replicas. */
  scale?: ScalePaths;
  /** Handled by code rather than stored (SubjectAccessReview, TokenReview...). */
  virtual?: string;
  /** The CustomResourceDefinition that defines this kind. */
  crd?: string;
}

export interface ApiGroupVersion {
  group: string;
  versions: string[];
  preferred: string;
}

const key = (group: string, version: string, resource: string) => `${group}/${version}/${resource}`;

export class ResourceRegistry {
  private readonly types = new Map<string, ResourceType>();

  add(type: ResourceType): void {
    this.types.set(key(type.group, type.version, type.resource), type);
  }

  remove(match: (type: ResourceType) => boolean): ResourceType[] {
    const removed: ResourceType[] = [];
    for (const [k, type] of this.types) {
      if (match(type)) {
        this.types.delete(k);
        removed.push(type);
      }
    }
    return removed;
  }

  lookup(group: string, version: string, resource: string): ResourceType | undefined {
    return this.types.get(key(group, version, resource));
  }

  all(): ResourceType[] {
    return [...this.types.values()];
  }

  /** The kind behind an apiVersion + kind, as objects name their owners and as manifests are applied. */
  byKind(apiVersion: string, kind: string): ResourceType | undefined {
    const [group, version] = apiVersion.includes('/') ? apiVersion.split('/', 2) : ['', apiVersion];
    return this.all().find((t) => t.group === group && t.version === version && t.kind === kind && !t.virtual);
  }

  /** Resolves a resource name the way RBAC and reviews name it (no version): the preferred version's kind. */
  byGroupResource(group: string, resource: string): ResourceType | undefined {
    const candidates = this.all().filter((t) => t.group === group && t.resource === resource);
    const preferred = this.groupVersions().find((g) => g.group === group)?.preferred;
    return candidates.find((t) => t.version === preferred) ?? candidates[0];
  }

  resources(group: string, version: string): ResourceType[] {
    return this.all().filter((t) => t.group === group && t.version === version);
  }

  /** Every served group with its versions, most preferred first (the order discovery reports). */
  groupVersions(): ApiGroupVersion[] {
    const byGroup = new Map<string, Set<string>>();
    for (const t of this.types.values()) {
      const versions = byGroup.get(t.group) ?? new Set<string>();
      versions.add(t.version);
      byGroup.set(t.group, versions);
    }
    return [...byGroup.entries()].map(([group, versions]) => {
      const sorted = [...versions].sort(compareKubeVersions);
      return { group, versions: sorted, preferred: sorted[0]! };
    });
  }
}

/**
 * Kubernetes' version priority: GA before beta before alpha, higher numbers first, anything not shaped like
 * vNalphaM / vNbetaM after those, alphabetically (apimachinery's CompareKubeAwareVersionStrings).
 */
export function compareKubeVersions(a: string, b: string): number {
  const parse = (v: string) => {
    const m = /^v(\d+)(?:(alpha|beta)(\d+))?$/.exec(v);
    if (!m) return { rank: 3, major: 0, minor: 0 };
    const rank = m[2] === undefined ? 0 : m[2] === 'beta' ? 1 : 2;
    return { rank, major: Number(m[1]), minor: Number(m[3] ?? 0) };
  };
  const pa = parse(a);
  const pb = parse(b);
  if (pa.rank !== pb.rank) return pa.rank - pb.rank;
  if (pa.rank === 3) return a < b ? -1 : a > b ? 1 : 0;
  if (pa.major !== pb.major) return pb.major - pa.major;
  return pb.minor - pa.minor;
}

export function apiVersionOf(type: { group: string; version: string }): string {
  return type.group ? `${type.group}/${type.version}` : type.version;
}
