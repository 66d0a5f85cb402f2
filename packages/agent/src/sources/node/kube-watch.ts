// Keeps one resource (filtered by a field selector) in step with the API server the way client-go's reflector
// does, like the aggregator's cluster/reflector.ts but smaller: list (paginated), then watch from the list's
// resourceVersion with bookmarks; when a watch ends, watch again from the last version seen; on 410 Gone (the
// version left the server's window) list again and hand the whole list over, so the consumer can compare it with
// what it already had. Every object is cut down (`cut`) as soon as it arrives: a list page or a watch event is the
// only place the full object exists. An unreachable API server means backoff and retries, never an exception;
// 403 ends the run with ForbiddenError (RBAC will not change while the agent runs).
import type { KubeConfig } from '@kubernetes/client-node';
import { Backoff, sleep } from '@kestrel/core';
import type { NodeSourceEvents, WatchName } from './events.js';
import { arr, metadata, num, obj, statusCode, str, type KubeObject } from './kube-object.js';

export interface ListPage {
  items: KubeObject[];
  resourceVersion: string;
  continueToken: string | undefined;
}

export interface ListRequest {
  limit: number;
  continueToken: string | undefined;
  fieldSelector: string;
}

export interface WatchedResource {
  /** Where to watch, e.g. /api/v1/nodes. */
  path: string;
  list(kc: KubeConfig, request: ListRequest): Promise<ListPage>;
}

function page(list: unknown): ListPage {
  const l = obj(list);
  const meta = obj(l['metadata']);
  return { items: arr(l['items']).map(obj), resourceVersion: str(meta['resourceVersion']), continueToken: str(meta['_continue'] ?? meta['continue']) || undefined };
}

const params = (r: ListRequest) => ({ limit: r.limit, _continue: r.continueToken, fieldSelector: r.fieldSelector });

// client-node is imported when used (a KubeConfig exists only then; see config.ts on what importing it costs).
const coreV1 = async (kc: KubeConfig) => kc.makeApiClient((await import('@kubernetes/client-node')).CoreV1Api);

export const NODES: WatchedResource = { path: '/api/v1/nodes', list: async (kc, r) => page(await (await coreV1(kc)).listNode(params(r))) };
export const PODS: WatchedResource = { path: '/api/v1/pods', list: async (kc, r) => page(await (await coreV1(kc)).listPodForAllNamespaces(params(r))) };

export interface WatchHandler<T> {
  /** Everything that matches now: after the first list and after each relist. What is not in it is gone. */
  listed(items: T[]): void;
  /** ADDED or MODIFIED. */
  upsert(item: T): void;
  deleted(item: T): void;
}

export interface KubeWatchOptions<T> {
  name: WatchName;
  resource: WatchedResource;
  fieldSelector: string;
  /** What of an object is kept; called on every object as it arrives. */
  cut: (o: KubeObject) => T;
  pageSize?: number;
  backoffInitialMs?: number;
  backoffMaxMs?: number;
}

export class ForbiddenError extends Error {
  constructor(cause: unknown) {
    super(cause instanceof Error ? cause.message : String(cause), { cause });
    this.name = 'ForbiddenError';
  }
}

class GoneError extends Error {
  constructor() {
    super('resourceVersion too old (410 Gone)');
  }
}

export type WatchState = 'idle' | 'listing' | 'watching' | 'backoff' | 'forbidden' | 'stopped';

export class KubeWatch<T> {
  state: WatchState = 'idle';
  /** The last resourceVersion processed (list, event or bookmark). */
  resourceVersion = '';
  synced = false;
  relists = 0;
  lastError: string | undefined;

  constructor(
    private readonly kc: KubeConfig,
    private readonly options: KubeWatchOptions<T>,
    private readonly handler: WatchHandler<T>,
    private readonly events: NodeSourceEvents,
  ) {}

  /** Runs until the signal is aborted; rejects only with ForbiddenError. */
  async run(signal: AbortSignal): Promise<void> {
    const backoff = new Backoff({ initialMs: this.options.backoffInitialMs ?? 500, maxMs: this.options.backoffMaxMs ?? 30_000 });
    let needList = true;
    while (!signal.aborted) {
      try {
        if (needList) {
          this.state = 'listing';
          await this.list(signal);
          needList = false;
        }
        this.state = 'watching';
        const started = Date.now();
        const events = await this.watch(signal);
        // A watch the server ends at once without a word, again and again, must not become a busy loop.
        if (events === 0 && Date.now() - started < 1000) await sleep(backoff.next(), signal).catch(() => undefined);
        else backoff.reset();
      } catch (err) {
        if (signal.aborted) break;
        if (err instanceof GoneError) {
          this.relists++;
          this.events.relisted(this.options.name);
          needList = true;
          continue;
        }
        if (statusCode(err) === 403) {
          this.state = 'forbidden';
          this.lastError = err instanceof Error ? err.message : String(err);
          this.events.forbidden(this.options.name, err);
          throw new ForbiddenError(err);
        }
        this.lastError = err instanceof Error ? err.message : String(err);
        this.events.watchError(this.options.name, err);
        this.state = 'backoff';
        await sleep(backoff.next(), signal).catch(() => undefined);
        if (!this.resourceVersion) needList = true;
      }
    }
    this.state = 'stopped';
  }

  private async list(signal: AbortSignal): Promise<void> {
    const items: T[] = [];
    let continueToken: string | undefined;
    let resourceVersion = '';
    do {
      signal.throwIfAborted();
      const p = await this.options.resource.list(this.kc, { limit: this.options.pageSize ?? 500, continueToken, fieldSelector: this.options.fieldSelector });
      resourceVersion = p.resourceVersion;
      continueToken = p.continueToken;
      for (const item of p.items) items.push(this.options.cut(item));
    } while (continueToken);
    signal.throwIfAborted();
    this.resourceVersion = resourceVersion;
    this.synced = true;
    this.handler.listed(items);
  }

  /** One watch request: resolves (with the number of events seen) when it ends normally; GoneError on 410. */
  private async watch(signal: AbortSignal): Promise<number> {
    const { Watch } = await import('@kubernetes/client-node');
    return new Promise<number>((resolve, reject) => {
      let failure: Error | undefined;
      let seen = 0;
      let controller: AbortController | undefined;
      const onAbort = () => controller?.abort();
      signal.addEventListener('abort', onAbort, { once: true });
      const finish = (err: unknown) => {
        signal.removeEventListener('abort', onAbort);
        if (failure) reject(failure);
        else if (statusCode(err) === 410) reject(new GoneError());
        else if (err && !signal.aborted && !isTimeout(err)) reject(err);
        else resolve(seen);
      };
      const query: Record<string, string | number | boolean> = {
        allowWatchBookmarks: true,
        resourceVersion: this.resourceVersion,
        timeoutSeconds: 240 + Math.floor(Math.random() * 120),
        fieldSelector: this.options.fieldSelector,
      };
      new Watch(this.kc)
        .watch(
          this.options.resource.path,
          query,
          (type, object) => {
            if (failure) return;
            seen++;
            const o = obj(object);
            if (type === 'ERROR') {
              // A Status: 410 means relist; anything else ends this watch (retried from the same version).
              const code = num(o['code']);
              failure = code === 410 ? new GoneError() : Object.assign(new Error(`watch error: ${str(o['message']) || code}`), { statusCode: code });
              controller?.abort();
              return;
            }
            const rv = metadata(o).resourceVersion;
            if (type === 'BOOKMARK') {
              if (rv) this.resourceVersion = rv;
              return;
            }
            // client-node swallows exceptions thrown here: a consumer's bug must at least be counted.
            try {
              if (type === 'DELETED') this.handler.deleted(this.options.cut(o));
              else if (type === 'ADDED' || type === 'MODIFIED') this.handler.upsert(this.options.cut(o));
            } catch (err) {
              this.events.watchError(this.options.name, err);
            }
            if (rv) this.resourceVersion = rv;
          },
          finish,
        )
        .then(
          (c) => {
            controller = c;
            if (signal.aborted || failure) c.abort();
          },
          (err: unknown) => finish(err),
        );
    });
  }
}

function isTimeout(err: unknown): boolean {
  const name = str(obj(err)['name']);
  return name === 'TimeoutError' || name === 'AbortError';
}
