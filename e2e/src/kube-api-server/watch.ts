// Watch streams as the real server sends them: newline-delimited JSON events {type, object} on a chunked 200
// response. From a resourceVersion the stream replays the changes after it from the bucket's history, then follows
// live; from "" or "0" it first sends the current objects as ADDED. A resourceVersion older than the history gets one
// ERROR event carrying a 410 Expired Status and the stream ends — what makes client-node's informer relist.
// Selectors apply to both the new and the previous state of each change, so an object that stops matching is sent
// as DELETED (and one that starts matching as ADDED), as the watch cache does.
import type { ServerResponse } from 'node:http';
import { ApiError } from './status.js';
import type { KubeObject } from './objects-meta.js';
import { parseResourceVersion } from './objects.js';
import { apiVersionOf, type ResourceType } from './resources.js';
import { matchesFilter, type ObjectFilter } from './selectors.js';
import { tooLargeResourceVersion } from './status.js';
import type { Change, VersionedStore } from './store.js';

export type WatchEventType = 'ADDED' | 'MODIFIED' | 'DELETED' | 'BOOKMARK' | 'ERROR';

export interface WatchRequest {
  type: ResourceType;
  filter: ObjectFilter;
  resourceVersion: string;
  resourceVersionMatch?: string;
  allowBookmarks: boolean;
  sendInitialEvents?: boolean;
  timeoutSeconds?: number;
  /** Stored form -> what the client's version shows. */
  render(stored: KubeObject): KubeObject;
}

export interface WatchHubOptions {
  bookmarkIntervalMs: number;
  /** Without timeoutSeconds a watch ends after this, times a random factor in [1, 2) (the real --min-request-timeout). */
  defaultTimeoutSeconds: number;
  /** A client that falls this far behind is cut off, as the real server closes unresponsive watchers. */
  maxBufferedBytes: number;
}

interface OpenWatch {
  type: ResourceType;
  end(abrupt: boolean): void;
}

export class WatchHub {
  private readonly open = new Set<OpenWatch>();
  /** Watches cut off because their client did not keep up. */
  slowClientsClosed = 0;

  constructor(
    private readonly store: VersionedStore,
    private readonly options: WatchHubOptions,
  ) {}

  openCount(): number {
    return this.open.size;
  }

  /**
   * Checks what must fail as an HTTP error (before any event is sent), then streams. Throws ApiError for those;
   * everything after the headers is reported in-band.
   */
  serve(res: ServerResponse, watch: WatchRequest): void {
    const current = this.store.currentRV();
    const rvText = watch.resourceVersion;
    const from = rvText === '' || rvText === '0' ? undefined : parseResourceVersion(rvText);
    if (from !== undefined && from > current) throw tooLargeResourceVersion(from, current);
    if (watch.sendInitialEvents !== undefined) {
      if (watch.resourceVersionMatch !== 'NotOlderThan') throw new ApiError(422, 'Invalid', 'resourceVersionMatch: Forbidden: sendInitialEvents requires setting resourceVersionMatch to NotOlderThan');
      if (!watch.allowBookmarks) throw new ApiError(422, 'Invalid', 'allowWatchBookmarks: Forbidden: sendInitialEvents requires setting allowWatchBookmarks to true');
    } else if (watch.resourceVersionMatch) {
      throw new ApiError(422, 'Invalid', 'resourceVersionMatch: Forbidden: resourceVersionMatch is forbidden for watch unless sendInitialEvents is provided');
    }

    res.writeHead(200, { 'Content-Type': 'application/json', 'Cache-Control': 'no-cache, private', 'Transfer-Encoding': 'chunked' });
    res.flushHeaders();
    let closed = false;
    const timers: NodeJS.Timeout[] = [];
    let stopFollowing = () => {};
    const handle: OpenWatch = { type: watch.type, end: (abrupt) => close(abrupt) };
    const close = (abrupt: boolean) => {
      if (closed) return;
      closed = true;
      stopFollowing();
      for (const t of timers) clearTimeout(t);
      this.open.delete(handle);
      if (abrupt) res.socket?.destroy();
      else res.end();
    };
    const send = (type: WatchEventType, object: unknown) => {
      if (closed) return;
      res.write(`${JSON.stringify({ type, object })}\n`);
      if (res.writableLength > this.options.maxBufferedBytes) {
        this.slowClientsClosed++;
        close(false);
      }
    };
    const sendChange = (change: Change) => {
      const now = change.type !== 'DELETED' && matchesFilter(watch.type, watch.filter, change.object);
      const before = change.previous !== undefined && matchesFilter(watch.type, watch.filter, change.previous);
      if (now && !before) send('ADDED', watch.render(change.object));
      else if (now && before) send('MODIFIED', watch.render(change.object));
      else if (!now && before) {
        // The previous content at this change's resourceVersion: for the watcher the object is gone.
        const gone = change.type === 'DELETED' ? change.object : { ...change.previous!, metadata: { ...change.previous!.metadata, resourceVersion: String(change.rv) } };
        send('DELETED', watch.render(gone));
      }
    };
    const bookmark = (annotations?: Record<string, string>) => {
      const metadata: Record<string, unknown> = { resourceVersion: String(this.store.currentRV()) };
      if (annotations) metadata['annotations'] = annotations;
      send('BOOKMARK', { kind: watch.type.kind, apiVersion: apiVersionOf(watch.type), metadata });
    };

    // The response's close is the reliable signal that the client went away (the request's follows body reading).
    res.on('close', () => close(false));
    this.open.add(handle);
    try {
      if (from === undefined || watch.sendInitialEvents) {
        // Current state as ADDED, then everything after it; one synchronous step, so nothing falls in between.
        const start = this.store.currentRV();
        for (const object of this.store.list(watch.type.storage)) {
          if (matchesFilter(watch.type, watch.filter, object)) send('ADDED', watch.render(object));
        }
        stopFollowing = this.store.follow(watch.type.storage, start, sendChange).stop;
        if (watch.sendInitialEvents) bookmark({ 'k8s.io/initial-events-end': 'true' });
      } else {
        const following = this.store.follow(watch.type.storage, from, sendChange);
        stopFollowing = following.stop;
        for (const change of following.replay) sendChange(change);
      }
    } catch (err) {
      if (err instanceof ApiError) {
        send('ERROR', err.toStatus());
        close(false);
        return;
      }
      close(true);
      throw err;
    }
    if (watch.allowBookmarks) {
      const tick = () => {
        bookmark();
        timers[0] = setTimeout(tick, this.options.bookmarkIntervalMs);
      };
      timers[0] = setTimeout(tick, this.options.bookmarkIntervalMs);
    }
    const timeoutMs = watch.timeoutSeconds !== undefined ? watch.timeoutSeconds * 1000 : this.options.defaultTimeoutSeconds * 1000 * (1 + Math.random());
    timers.push(setTimeout(() => close(false), timeoutMs));
  }

  /**
   * Test hook: ends every open watch. A clean end is what a client sees when the API server restarts gracefully or a
   * load balancer closes an idle stream (client-node's informer re-watches from its last resourceVersion); abrupt
   * resets the connections.
   */
  dropAll(abrupt = false): number {
    const all = [...this.open];
    for (const w of all) w.end(abrupt);
    return all.length;
  }

  /** Ends the watches on kinds that are no longer served (a deleted CustomResourceDefinition). */
  closeWhere(match: (type: ResourceType) => boolean): void {
    for (const w of [...this.open]) if (match(w.type)) w.end(false);
  }
}
