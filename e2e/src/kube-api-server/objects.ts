// The verbs on stored kinds, with the real server's semantics: get/list (resourceVersion rules, selectors, pages),
// create/update/patch (optimistic concurrency, status subresource, dry run), delete (preconditions, finalizers,
// namespace termination, owner-reference cascade as the garbage collector does). The HTTP layer (server.ts) and the
// in-process test facade both call this, so a test that seeds objects directly sees the same rules.
import { ApiError, badRequest, conflict, expired, notFound, alreadyExists, tooLargeResourceVersion } from './status.js';
import { clone, kubeTime, type KubeObject } from './objects-meta.js';
import { applyPatch, type PatchType } from './patch.js';
import { decodeContinue, encodeContinue } from './paging.js';
import { apiVersionOf, type ResourceRegistry, type ResourceType } from './resources.js';
import { checkFieldSelector, matchesFilter, parseFieldSelector, parseLabelSelector, type ObjectFilter } from './selectors.js';
import { objectKey, type Change, type VersionedStore } from './store.js';
import { checkTypeMeta, groupResource, prepareForCreate, prepareForUpdate } from './strategy.js';

export interface ListOptions {
  namespace?: string;
  labelSelector?: string;
  fieldSelector?: string;
  limit?: number;
  continue?: string;
  resourceVersion?: string;
  resourceVersionMatch?: string;
}

export interface ListResult {
  /** Stored form, key order. */
  items: KubeObject[];
  resourceVersion: number;
  continue?: string;
  remainingItemCount?: number;
}

export interface WriteOptions {
  dryRun?: boolean;
  subresource?: string;
}

export interface DeleteOptions {
  dryRun?: boolean;
  preconditions?: { uid?: string; resourceVersion?: string };
  propagationPolicy?: 'Background' | 'Foreground' | 'Orphan';
}

export interface DeleteResult {
  /** Stored form: the deleted object, or the object now marked for deletion. */
  object: KubeObject;
  /** False when finalizers (or namespace termination) keep the object for now. */
  deleted: boolean;
}

/** Per-kind extensions: CRDs register kinds, bindings keep roleRef, services get a cluster IP. */
export interface KindHooks {
  /** Validates or completes an object about to be stored (also on dry run). */
  prepare?(object: KubeObject, previous: KubeObject | undefined): void;
  /** Runs before an object is removed for good (a CRD removes its custom objects first). */
  beforeRemove?(object: KubeObject): void;
  /** Runs after a stored change (not on dry run). */
  afterChange?(change: Change): void;
}

const NAMESPACES = 'core/namespaces';
// The NamespaceLifecycle admission plugin refuses to delete these.
const PROTECTED_NAMESPACES = new Set(['default', 'kube-system', 'kube-public']);

export class ObjectService {
  private readonly hooks = new Map<string, KindHooks>();
  // uid -> where the object lives, and owner uid -> dependents: what the garbage collector's graph holds.
  private readonly byUid = new Map<string, { bucket: string; key: string }>();
  private readonly dependents = new Map<string, Set<string>>();

  constructor(
    readonly store: VersionedStore,
    readonly registry: ResourceRegistry,
  ) {
    store.onChange((change) => this.index(change));
  }

  setHooks(storage: string, hooks: KindHooks): void {
    this.hooks.set(storage, hooks);
  }

  /** The object as the client's version shows it: apiVersion/kind of that version, converted if needed. */
  toExternal(type: ResourceType, stored: KubeObject): KubeObject {
    const converted = type.conversion ? type.conversion.fromStorage(stored) : stored;
    return { ...converted, apiVersion: apiVersionOf(type), kind: type.kind };
  }

  private toStorage(type: ResourceType, external: KubeObject): KubeObject {
    checkTypeMeta(type, external, apiVersionOf(type));
    const converted = type.conversion ? type.conversion.toStorage(external) : external;
    return { ...converted, apiVersion: type.storageApiVersion, kind: type.kind };
  }

  get(type: ResourceType, namespace: string | undefined, name: string): KubeObject {
    const object = this.store.get(type.storage, objectKey(type.namespaced ? namespace : undefined, name));
    if (!object) throw notFound(groupResource(type), name);
    return object;
  }

  filterFor(type: ResourceType, options: { namespace?: string; labelSelector?: string; fieldSelector?: string }): ObjectFilter {
    const fields = parseFieldSelector(options.fieldSelector);
    checkFieldSelector(type, fields);
    const filter: ObjectFilter = { labels: parseLabelSelector(options.labelSelector), fields };
    if (type.namespaced && options.namespace) filter.namespace = options.namespace;
    return filter;
  }

  list(type: ResourceType, options: ListOptions): ListResult {
    const filter = this.filterFor(type, options);
    const current = this.store.currentRV();
    let listRV = current;
    let after: string | undefined;
    let items: KubeObject[];
    if (options.continue) {
      if (options.resourceVersion && options.resourceVersion !== '0') throw badRequest('specifying resource version is not allowed when using continue');
      const token = decodeContinue(options.continue);
      after = token.after;
      listRV = token.rv;
      try {
        items = this.store.listAt(type.storage, token.rv);
      } catch (err) {
        if (!(err instanceof ApiError) || err.code !== 410) throw err;
        throw expired(
          'The provided continue parameter is too old to display a consistent list result. You can start a new list without the continue parameter, or use the continue token in this response to retrieve the remainder of the results. Continuing with the provided token results in an inconsistent list - objects that were created, modified, or deleted between the time the first chunk was returned and now may show up in the list.',
          encodeContinue({ rv: current, after: token.after }),
        );
      }
    } else {
      const rv = options.resourceVersion ?? '';
      const match = options.resourceVersionMatch ?? '';
      if (match && rv === '') throw badRequest('resourceVersionMatch is forbidden unless resourceVersion is provided');
      if (match && match !== 'Exact' && match !== 'NotOlderThan') throw badRequest(`resourceVersionMatch: Unsupported value: "${match}": supported values: "Exact", "NotOlderThan"`);
      if (rv === '' || rv === '0') {
        if (match === 'Exact') throw badRequest('resourceVersionMatch "exact" is forbidden for resourceVersion "0"');
        items = this.store.list(type.storage);
      } else {
        const requested = parseResourceVersion(rv);
        if (requested > current) throw tooLargeResourceVersion(requested, current);
        if (match === 'Exact') {
          items = this.store.listAt(type.storage, requested);
          listRV = requested;
        } else items = this.store.list(type.storage);
      }
    }
    const start = after === undefined ? 0 : firstAfter(items, after);
    const matching = items.slice(start).filter((o) => matchesFilter(type, filter, o));
    const limit = options.limit && options.limit > 0 ? options.limit : undefined;
    if (limit === undefined || matching.length <= limit) return { items: matching, resourceVersion: listRV };
    const page = matching.slice(0, limit);
    const last = page.at(-1)!;
    const result: ListResult = { items: page, resourceVersion: listRV, continue: encodeContinue({ rv: listRV, after: objectKey(last.metadata.namespace, last.metadata.name!) }) };
    // The real server counts what is left only when it can do so without filtering.
    if (filter.labels.length === 0 && filter.fields.length === 0) result.remainingItemCount = matching.length - limit;
    return result;
  }

  private checkNamespace(type: ResourceType, namespace: string | undefined, name: string): void {
    if (!type.namespaced) return;
    const ns = namespace ? this.store.get(NAMESPACES, namespace) : undefined;
    if (!ns) throw notFound({ group: '', resource: 'namespaces' }, namespace ?? '');
    if (ns.metadata.deletionTimestamp) {
      throw new ApiError(403, 'Forbidden', `${type.resource}${type.group ? `.${type.group}` : ''} "${name}" is forbidden: unable to create new content in namespace ${namespace} because it is being terminated`, {
        name,
        group: type.group,
        kind: type.resource,
        causes: [{ reason: 'NamespaceTerminating', message: `namespace ${namespace} is being terminated`, field: 'metadata.namespace' }],
      });
    }
  }

  create(type: ResourceType, namespace: string | undefined, body: KubeObject, options: WriteOptions = {}): KubeObject {
    const object = prepareForCreate(type, this.toStorage(type, clone(body)), type.namespaced ? namespace : undefined);
    const name = object.metadata.name!;
    this.checkNamespace(type, object.metadata.namespace, name);
    const key = objectKey(object.metadata.namespace, name);
    if (this.store.get(type.storage, key)) throw alreadyExists(groupResource(type), name);
    this.hooks.get(type.storage)?.prepare?.(object, undefined);
    if (options.dryRun) return object;
    const change = this.store.put(type.storage, key, object);
    this.hooks.get(type.storage)?.afterChange?.(change);
    return change.object;
  }

  update(type: ResourceType, namespace: string | undefined, name: string, body: KubeObject, options: WriteOptions = {}): KubeObject {
    const stored = this.get(type, namespace, name);
    const plan = prepareForUpdate(type, this.toStorage(type, clone(body)), stored, options.subresource);
    return this.commitUpdate(type, stored, plan.object, plan.unchanged, options);
  }

  private commitUpdate(type: ResourceType, stored: KubeObject, next: KubeObject, unchanged: boolean, options: WriteOptions): KubeObject {
    if (unchanged) return stored;
    this.hooks.get(type.storage)?.prepare?.(next, stored);
    if (options.dryRun) return next;
    const key = objectKey(stored.metadata.namespace, stored.metadata.name!);
    // The last finalizer of an object being deleted is gone: the update becomes the deletion (as the real store does).
    if (next.metadata.deletionTimestamp && (next.metadata.finalizers?.length ?? 0) === 0) {
      return this.removeNow(type, key, stored, 'Background').object;
    }
    const change = this.store.put(type.storage, key, next);
    this.hooks.get(type.storage)?.afterChange?.(change);
    return change.object;
  }

  patch(type: ResourceType, namespace: string | undefined, name: string, patchType: PatchType, body: unknown, options: WriteOptions = {}): KubeObject {
    const key = objectKey(type.namespaced ? namespace : undefined, name);
    const stored = this.store.get(type.storage, key);
    if (!stored) {
      // Server-side apply creates what does not exist yet.
      if (patchType === 'apply' && !options.subresource) return this.create(type, namespace, applyBodyForCreate(body, name, namespace), options);
      throw notFound(groupResource(type), name);
    }
    const patched = applyPatch(patchType, this.toExternal(type, stored), body) as KubeObject;
    if (typeof patched !== 'object' || patched === null || Array.isArray(patched)) throw badRequest('the patched object is not a JSON object');
    patched.metadata ??= {};
    if (patched.metadata.name !== name) throw badRequest(`metadata.name: Invalid value: "${String(patched.metadata.name)}": field is immutable`);
    // A patch that sets metadata.resourceVersion makes it a precondition; one that leaves it keeps the stored one.
    const plan = prepareForUpdate(type, this.toStorage(type, patched), stored, options.subresource);
    return this.commitUpdate(type, stored, plan.object, plan.unchanged, options);
  }

  delete(type: ResourceType, namespace: string | undefined, name: string, options: DeleteOptions = {}): DeleteResult {
    const stored = this.get(type, namespace, name);
    const pre = options.preconditions;
    if (pre?.uid && pre.uid !== stored.metadata.uid) {
      throw conflict(groupResource(type), name, `Precondition failed: UID in precondition: ${pre.uid}, UID in object meta: ${stored.metadata.uid}`);
    }
    if (pre?.resourceVersion && pre.resourceVersion !== stored.metadata.resourceVersion) {
      throw conflict(groupResource(type), name, `Precondition failed: ResourceVersion in precondition: ${pre.resourceVersion}, ResourceVersion in object meta: ${stored.metadata.resourceVersion}`);
    }
    const key = objectKey(stored.metadata.namespace, name);
    const terminating = type.storage === NAMESPACES;
    if (terminating && PROTECTED_NAMESPACES.has(name)) {
      throw new ApiError(403, 'Forbidden', `namespaces "${name}" is forbidden: this namespace may not be deleted`, { name, group: '', kind: 'namespaces' });
    }
    if (terminating || (stored.metadata.finalizers?.length ?? 0) > 0) {
      if (stored.metadata.deletionTimestamp) return { object: stored, deleted: false };
      const next = clone(stored);
      next.metadata.deletionTimestamp = kubeTime();
      next.metadata.deletionGracePeriodSeconds = 0;
      if (terminating) next['status'] = { ...(next['status'] as object | undefined), phase: 'Terminating' };
      if (options.dryRun) return { object: next, deleted: false };
      const change = this.store.put(type.storage, key, next);
      this.hooks.get(type.storage)?.afterChange?.(change);
      // The namespace controller empties a terminating namespace, then lets it go.
      if (terminating) setImmediate(() => this.finishNamespace(name));
      return { object: change.object, deleted: false };
    }
    if (options.dryRun) return { object: stored, deleted: true };
    return this.removeNow(type, key, stored, options.propagationPolicy ?? 'Background');
  }

  private removeNow(type: ResourceType, key: string, stored: KubeObject, policy: 'Background' | 'Foreground' | 'Orphan'): DeleteResult {
    const hooks = this.hooks.get(type.storage);
    hooks?.beforeRemove?.(stored);
    const change = this.store.remove(type.storage, key);
    if (!change) throw notFound(groupResource(type), stored.metadata.name!);
    hooks?.afterChange?.(change);
    this.collectDependents(stored, policy);
    return { object: change.object, deleted: true };
  }

  deleteCollection(type: ResourceType, namespace: string | undefined, list: ListOptions, options: DeleteOptions): KubeObject[] {
    const { items } = this.list(type, { ...list, namespace: namespace ?? '', limit: 0 });
    const deleted: KubeObject[] = [];
    for (const item of items) {
      try {
        deleted.push(this.delete(type, item.metadata.namespace, item.metadata.name!, options).object);
      } catch (err) {
        // Deleted meanwhile (by a cascade from an earlier item): what the real server would also skip.
        if (!(err instanceof ApiError) || err.code !== 404) throw err;
      }
    }
    return deleted;
  }

  private finishNamespace(namespace: string): void {
    const ns = this.store.get(NAMESPACES, namespace);
    if (!ns?.metadata.deletionTimestamp) return;
    const buckets = new Set(this.registry.all().filter((t) => t.namespaced && !t.virtual).map((t) => t.storage));
    for (const bucket of buckets) {
      for (const object of this.store.list(bucket)) {
        if (object.metadata.namespace === namespace) this.store.remove(bucket, objectKey(namespace, object.metadata.name!));
      }
    }
    const namespaceType = this.registry.lookup('', 'v1', 'namespaces')!;
    if (this.store.get(NAMESPACES, namespace)) this.removeNow(namespaceType, namespace, this.store.get(NAMESPACES, namespace)!, 'Background');
  }

  private index(change: Change): void {
    const uid = change.object.metadata.uid;
    if (!uid) return;
    const where = `${change.bucket}\u0000${change.key}`;
    const owners = (o: KubeObject | undefined) => (o?.metadata.ownerReferences ?? []).map((r) => r.uid);
    for (const owner of owners(change.previous)) this.dependents.get(owner)?.delete(where);
    if (change.type === 'DELETED') {
      this.byUid.delete(uid);
      return;
    }
    this.byUid.set(uid, { bucket: change.bucket, key: change.key });
    for (const owner of owners(change.object)) {
      const set = this.dependents.get(owner) ?? new Set<string>();
      set.add(where);
      this.dependents.set(owner, set);
    }
  }

  /**
   * The garbage collector's part: dependents of a deleted owner are deleted when no other owner of theirs is alive
   * (or lose the reference when one is, or under the Orphan policy).
   */
  private collectDependents(owner: KubeObject, policy: 'Background' | 'Foreground' | 'Orphan'): void {
    const ownerUid = owner.metadata.uid!;
    const dependents = [...(this.dependents.get(ownerUid) ?? [])];
    this.dependents.delete(ownerUid);
    for (const where of dependents) {
      const [bucket, key] = where.split('\u0000') as [string, string];
      const dependent = this.store.get(bucket, key);
      if (!dependent) continue;
      const type = this.registry.all().find((t) => t.storage === bucket && t.storageApiVersion === dependent.apiVersion) ?? this.registry.all().find((t) => t.storage === bucket);
      if (!type) continue;
      const otherOwnersAlive = (dependent.metadata.ownerReferences ?? []).some((r) => r.uid !== ownerUid && this.byUid.has(r.uid));
      if (policy === 'Orphan' || otherOwnersAlive) {
        const next = clone(dependent);
        next.metadata.ownerReferences = (next.metadata.ownerReferences ?? []).filter((r) => r.uid !== ownerUid);
        if (next.metadata.ownerReferences.length === 0) delete next.metadata.ownerReferences;
        this.store.put(bucket, key, next);
      } else if ((dependent.metadata.finalizers?.length ?? 0) > 0) {
        this.delete(type, dependent.metadata.namespace, dependent.metadata.name!, {});
      } else {
        this.removeNow(type, key, dependent, 'Background');
      }
    }
  }
}

/** Index of the first object whose key sorts after `key` (items are in key order): where a next page starts. */
function firstAfter(items: KubeObject[], key: string): number {
  let low = 0;
  let high = items.length;
  while (low < high) {
    const mid = (low + high) >>> 1;
    if (objectKey(items[mid]!.metadata.namespace, items[mid]!.metadata.name!) <= key) low = mid + 1;
    else high = mid;
  }
  return low;
}

export function parseResourceVersion(text: string): number {
  if (!/^\d+$/.test(text)) throw badRequest(`Invalid value: "${text}": resourceVersion: invalid resource version`);
  return Number(text);
}

function applyBodyForCreate(body: unknown, name: string, namespace: string | undefined): KubeObject {
  const object = clone(body) as KubeObject;
  object.metadata ??= {};
  object.metadata.name ??= name;
  if (namespace) object.metadata.namespace ??= namespace;
  return object;
}
