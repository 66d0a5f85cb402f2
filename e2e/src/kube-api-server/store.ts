// The versioned object store, standing in for etcd + the watch cache: one global, monotonically increasing
// resourceVersion over all writes; per storage bucket (group-resource) the current objects and a bounded history of
// changes, from which watches are replayed and consistent paged lists are served. A resourceVersion older than a
// bucket's history is "compacted": watching or listing from it fails with 410 Gone, which is what makes clients
// relist.
//
// Objects handed in and out are never mutated afterwards (callers clone before changing), so history entries can
// share them.
import { expired } from './status.js';
import type { KubeObject } from './objects-meta.js';

export type ChangeType = 'ADDED' | 'MODIFIED' | 'DELETED';

export interface Change {
  type: ChangeType;
  rv: number;
  bucket: string;
  key: string;
  /** The new state; for DELETED the last state, carrying the deletion's resourceVersion. */
  object: KubeObject;
  /** The state before (MODIFIED and DELETED). */
  previous?: KubeObject;
}

export type ChangeListener = (change: Change) => void;

class Bucket {
  readonly objects = new Map<string, KubeObject>();
  readonly history: Change[] = [];
  /** Changes at or below this resourceVersion are no longer known. */
  compactedRV: number;
  lastChangeRV = 0;
  readonly listeners = new Set<ChangeListener>();
  sorted: string[] | undefined;

  constructor(compactedRV: number) {
    this.compactedRV = compactedRV;
  }
}

export function objectKey(namespace: string | undefined, name: string): string {
  return namespace ? `${namespace}/${name}` : name;
}

export interface StoreOptions {
  /** Changes kept per bucket for watch replay and paged lists (the real watch cache keeps ~100 s to a few thousand). */
  historyLimit: number;
}

export class VersionedStore {
  private rv: number;
  private readonly buckets = new Map<string, Bucket>();
  private readonly globalListeners = new Set<ChangeListener>();

  constructor(private readonly options: StoreOptions, initialRV = 0) {
    this.rv = initialRV;
  }

  currentRV(): number {
    return this.rv;
  }

  private bucket(name: string): Bucket {
    let bucket = this.buckets.get(name);
    if (!bucket) {
      // A bucket that did not exist had no objects: its (empty) history is complete from the beginning.
      bucket = new Bucket(0);
      this.buckets.set(name, bucket);
    }
    return bucket;
  }

  get(bucket: string, key: string): KubeObject | undefined {
    return this.buckets.get(bucket)?.objects.get(key);
  }

  /** Current objects in key order (namespace/name), as etcd returns a range. */
  list(bucket: string): KubeObject[] {
    const b = this.buckets.get(bucket);
    if (!b) return [];
    b.sorted ??= [...b.objects.keys()].sort();
    return b.sorted.map((k) => b.objects.get(k)!);
  }

  /** The objects of a bucket as they were at a past resourceVersion, rebuilt by undoing the history after it. */
  listAt(bucket: string, rv: number): KubeObject[] {
    const b = this.buckets.get(bucket);
    // Like etcd: a compacted revision is gone even if nothing changed since.
    if (b && rv < b.compactedRV) throw expired(`too old resource version: ${rv} (${b.compactedRV})`);
    if (!b || b.lastChangeRV <= rv) return this.list(bucket);
    const state = new Map(b.objects);
    for (let i = b.history.length - 1; i >= 0; i--) {
      const change = b.history[i]!;
      if (change.rv <= rv) break;
      if (change.type === 'ADDED') state.delete(change.key);
      else state.set(change.key, change.previous!);
    }
    return [...state.keys()].sort().map((k) => state.get(k)!);
  }

  /** Whether a past resourceVersion can still be served for this bucket. */
  assertAvailable(bucket: string, rv: number): void {
    const b = this.buckets.get(bucket);
    if (b && rv < b.compactedRV) throw expired(`too old resource version: ${rv} (${b.compactedRV})`);
  }

  /**
   * Writes (creates or replaces) an object under a new resourceVersion and tells watchers. The object's
   * metadata.resourceVersion is set here; the caller passes a fresh object it will not touch again.
   */
  put(bucket: string, key: string, object: KubeObject): Change {
    const b = this.bucket(bucket);
    const previous = b.objects.get(key);
    const rv = ++this.rv;
    object.metadata.resourceVersion = String(rv);
    if (!previous) b.sorted = undefined;
    b.objects.set(key, object);
    const change: Change = previous ? { type: 'MODIFIED', rv, bucket, key, object, previous } : { type: 'ADDED', rv, bucket, key, object };
    this.record(b, change);
    return change;
  }

  remove(bucket: string, key: string): Change | undefined {
    const b = this.buckets.get(bucket);
    const previous = b?.objects.get(key);
    if (!b || !previous) return undefined;
    const rv = ++this.rv;
    b.objects.delete(key);
    b.sorted = undefined;
    // As etcd's watch does: the deleted object is the last state, at the deletion's revision.
    const object: KubeObject = { ...previous, metadata: { ...previous.metadata, resourceVersion: String(rv) } };
    const change: Change = { type: 'DELETED', rv, bucket, key, object, previous };
    this.record(b, change);
    return change;
  }

  private record(b: Bucket, change: Change): void {
    b.lastChangeRV = change.rv;
    b.history.push(change);
    // Trim in steps rather than one shift per write: the window is "at least historyLimit changes".
    if (b.history.length > this.options.historyLimit * 1.25 + 10) {
      const drop = b.history.length - this.options.historyLimit;
      b.compactedRV = b.history[drop - 1]!.rv;
      b.history.splice(0, drop);
    }
    for (const listener of [...b.listeners]) listener(change);
    for (const listener of [...this.globalListeners]) listener(change);
  }

  /**
   * Starts following a bucket after resourceVersion `from`: returns the changes already made after it (to send
   * first) and registers the listener for the next ones, in one synchronous step so none falls in between.
   */
  follow(bucket: string, from: number, listener: ChangeListener): { replay: Change[]; stop: () => void } {
    const b = this.bucket(bucket);
    if (from < b.compactedRV) throw expired(`too old resource version: ${from} (${b.compactedRV})`);
    const replay = b.history.filter((c) => c.rv > from);
    b.listeners.add(listener);
    return { replay, stop: () => b.listeners.delete(listener) };
  }

  /** Every change in every bucket (indexes that span kinds: owner references, CRDs). */
  onChange(listener: ChangeListener): () => void {
    this.globalListeners.add(listener);
    return () => this.globalListeners.delete(listener);
  }

  /** Test hook: forget the history of one bucket or all, as an etcd compaction does. */
  compact(bucket?: string): void {
    const targets = bucket ? [this.bucket(bucket)] : [...this.buckets.values()];
    for (const b of targets) {
      b.history.length = 0;
      b.compactedRV = this.rv;
    }
  }

  bucketNames(): string[] {
    return [...this.buckets.keys()];
  }

  /** Drops a bucket entirely (a CustomResourceDefinition's storage after its objects are deleted). */
  dropBucket(bucket: string): void {
    const b = this.buckets.get(bucket);
    if (!b) return;
    this.buckets.delete(bucket);
    // A later bucket of the same name must not replay changes from before: its history starts now.
    this.buckets.set(bucket, new Bucket(this.rv));
  }
}
