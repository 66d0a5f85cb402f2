// Keeps one resource type in step with the API server the way client-go's reflector does: list (paginated), then
// watch from the list's resourceVersion with bookmarks; when the watch ends, watch again from the last version
// seen; on 410 Gone (the version left the server's window), list again and compare with what we had, so that a
// relist reports only real changes (no inventory sent twice, no change missed). It keeps per object only a key
// and a fingerprint of what consumers care about; consumers keep their own cut-down state.
import { createHash } from 'node:crypto';
import { Watch, type KubeConfig } from '@kubernetes/client-node';
import { Backoff, sleep } from '@kestrel/core';
import { metadata, num, obj, str, type KubeObject } from './k8s-object.js';
import type { ResourceType } from './resources.js';

export type ChangeType = 'added' | 'modified' | 'deleted';

export interface ReflectorHandler {
  /** An object appeared, changed (in what `fingerprint` covers) or went away. `initial` during the first list. */
  change(type: ChangeType, object: KubeObject, initial: boolean): void;
  /** The first list is complete (and again after each relist). */
  synced?(): void;
}

export interface ReflectorOptions {
  pageSize: number;
  fieldSelector?: string;
  /** What of an object matters; a MODIFIED event whose fingerprint is unchanged is not passed on. */
  fingerprint: (o: KubeObject) => string;
}

export class GoneError extends Error {
  constructor() {
    super('resourceVersion too old (410 Gone)');
  }
}

export class ForbiddenError extends Error {}

export type ReflectorState = 'listing' | 'watching' | 'backoff' | 'absent' | 'forbidden' | 'stopped';

export class Reflector {
  private readonly known = new Map<string, string>();
  private resourceVersion = '';
  state: ReflectorState = 'listing';
  synced = false;
  relists = 0;
  lastError: string | undefined;

  constructor(
    readonly resource: ResourceType,
    private readonly kc: KubeConfig,
    private readonly handler: ReflectorHandler,
    private readonly options: ReflectorOptions,
    private readonly absentRetryMs = 30_000,
  ) {}

  get size(): number {
    return this.known.size;
  }

  /** The last resourceVersion this reflector has processed (list, event or bookmark). */
  get currentResourceVersion(): string {
    return this.resourceVersion;
  }

  async run(signal: AbortSignal): Promise<void> {
    const backoff = new Backoff({ initialMs: 500, maxMs: 30_000 });
    let needList = true;
    while (!signal.aborted) {
      try {
        if (needList) {
          this.state = 'listing';
          await this.list(signal);
          needList = false;
        }
        this.state = 'watching';
        await this.watch(signal);
        backoff.reset();
      } catch (err) {
        if (signal.aborted) break;
        if (err instanceof GoneError) {
          this.relists++;
          needList = true;
          continue;
        }
        if (statusCode(err) === 404) {
          needList = true;
          // The resource does not exist (a CRD not installed): report it empty, and look again later, so the
          // inventory snapshot does not wait for it and the kind is picked up when its CRD appears.
          this.state = 'absent';
          for (const [key] of this.known) this.handler.change('deleted', keyObject(key), false);
          this.known.clear();
          if (!this.synced) {
            this.synced = true;
            this.handler.synced?.();
          }
          await sleep(this.absentRetryMs, signal).catch(() => undefined);
          continue;
        }
        if (err instanceof ForbiddenError || statusCode(err) === 403) {
          this.state = 'forbidden';
          this.lastError = err instanceof Error ? err.message : String(err);
          throw new ForbiddenError(`${this.resource.kind}: ${this.lastError}`);
        }
        this.lastError = err instanceof Error ? err.message : String(err);
        this.state = 'backoff';
        await sleep(backoff.next(), signal).catch(() => undefined);
        // Without a version to resume from, list again.
        if (!this.resourceVersion) needList = true;
      }
    }
    this.state = 'stopped';
  }

  private async list(signal: AbortSignal): Promise<void> {
    const initial = !this.synced;
    const seen = new Set<string>();
    let continueToken: string | undefined;
    let resourceVersion = '';
    do {
      signal.throwIfAborted();
      const page = await this.resource.list(this.kc, { limit: this.options.pageSize, continueToken, fieldSelector: this.options.fieldSelector });
      resourceVersion = page.resourceVersion;
      continueToken = page.continueToken;
      for (const item of page.items) {
        const key = objectKey(item);
        seen.add(key);
        this.upsert(key, item, initial);
      }
    } while (continueToken);
    // What we knew and the new list does not have was deleted while we were not watching.
    for (const [key] of this.known) {
      if (!seen.has(key)) {
        this.known.delete(key);
        this.handler.change('deleted', keyObject(key), initial);
      }
    }
    this.resourceVersion = resourceVersion;
    this.synced = true;
    this.handler.synced?.();
  }

  private upsert(key: string, item: KubeObject, initial: boolean): void {
    const fp = hash(this.options.fingerprint(item));
    const before = this.known.get(key);
    if (before === fp) return;
    this.known.set(key, fp);
    this.handler.change(before === undefined ? 'added' : 'modified', item, initial);
  }

  /** One watch request; resolves when the server ends it normally, throws GoneError on 410. */
  private watch(signal: AbortSignal): Promise<void> {
    return new Promise<void>((resolve, reject) => {
      let gone = false;
      let controller: AbortController | undefined;
      const onAbort = () => controller?.abort();
      signal.addEventListener('abort', onAbort, { once: true });
      const finish = (err: unknown) => {
        signal.removeEventListener('abort', onAbort);
        if (gone || statusCode(err) === 410) reject(new GoneError());
        else if (err && !signal.aborted && !isTimeout(err)) reject(err);
        else resolve();
      };
      const query: Record<string, string | number | boolean> = { allowWatchBookmarks: true, resourceVersion: this.resourceVersion, timeoutSeconds: 240 + Math.floor(Math.random() * 120) };
      if (this.options.fieldSelector) query['fieldSelector'] = this.options.fieldSelector;
      new Watch(this.kc)
        .watch(
          this.resource.path,
          query,
          (type, object) => {
            const o = obj(object);
            if (type === 'ERROR') {
              if (num(o['code']) === 410) {
                gone = true;
                controller?.abort();
              }
              return;
            }
            const rv = metadata(o).resourceVersion;
            if (rv) this.resourceVersion = rv;
            if (type === 'BOOKMARK') return;
            const key = objectKey(o);
            if (type === 'DELETED') {
              if (this.known.delete(key)) this.handler.change('deleted', o, false);
            } else if (type === 'ADDED' || type === 'MODIFIED') {
              this.upsert(key, o, false);
            }
          },
          finish,
        )
        .then(
          (c) => {
            controller = c;
            if (signal.aborted) c.abort();
          },
          (err: unknown) => finish(err),
        );
    });
  }
}

export function objectKey(o: KubeObject): string {
  const m = metadata(o);
  return m.uid || `${m.namespace}/${m.name}`;
}

/** A stand-in object for a deletion found by a relist: the consumer only needs its identity. */
function keyObject(key: string): KubeObject {
  return { metadata: { uid: key } };
}

function hash(text: string): string {
  return createHash('sha1').update(text).digest('base64');
}

function statusCode(err: unknown): number {
  const e = obj(err);
  return num(e['statusCode'] ?? e['code']);
}

function isTimeout(err: unknown): boolean {
  return str(obj(err)['name']) === 'TimeoutError' || str(obj(err)['name']) === 'AbortError';
}
