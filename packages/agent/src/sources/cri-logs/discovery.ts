// Finds container log files under the pods root: <root>/<ns>_<pod>_<uid>/<container>/<N>.log[.<ts>[.gz]].
// File-system events (fs.watch: inotify on Linux) on the root, each pod folder and each container folder make it
// react at once: a write to a followed file wakes its follower without listing anything; a rename, a new or a
// deleted file lists that one container folder again. A periodic full rescan is the safety net for events the
// kernel dropped (inotify queue overflow) and for folders that cannot be watched. Filters are applied to pod and
// container folders as they are found, so an excluded container costs nothing.
import { watch, type FSWatcher } from 'node:fs';
import fs from 'node:fs/promises';
import path from 'node:path';
import type { CriLogEvents } from './events.js';
import type { LogFilter } from './filters.js';
import { parseLogFileName, parsePodDir, type ContainerIdentity, type PodIdentity } from './pod-path.js';
import type { LogFileEntry } from './rotation.js';

export interface DiscoveryListener {
  /** A container folder was listed (its log files) or is gone (null). `initial`: part of the first full scan. */
  containerListed(dir: string, container: ContainerIdentity, entries: LogFileEntry[] | null, initial: boolean, watched: boolean): Promise<void>;
  /** A log file of a watched container folder was written to; false when the name is not followed (it is listed). */
  fileChanged(dir: string, name: string): boolean;
}

export interface DiscoveryOptions {
  scanIntervalMs: number;
}

/** Runs an async task one at a time; requests during a run make one more run after it. */
class SerialTask {
  private running: Promise<void> | undefined;
  private again = false;
  private scheduled = false;

  constructor(
    private readonly task: () => Promise<void>,
    private readonly onError: (err: unknown) => void,
  ) {}

  /** Soon (events come in bursts: they are gathered into one run). */
  request(): void {
    if (this.scheduled) return;
    this.scheduled = true;
    setImmediate(() => {
      this.scheduled = false;
      void this.run();
    });
  }

  /** Resolves when no run is in progress. */
  idle(): Promise<void> {
    return this.running ?? Promise.resolve();
  }

  /** Now, or right after the current run; resolves when a run that started after this call has ended. */
  run(): Promise<void> {
    if (this.running) {
      this.again = true;
      return this.running;
    }
    this.running = (async () => {
      do {
        this.again = false;
        try {
          await this.task();
        } catch (err) {
          this.onError(err);
        }
      } while (this.again);
      this.running = undefined;
    })();
    return this.running;
  }
}

interface WatchedFolder {
  dir: string;
  watcher: FSWatcher | undefined;
  scan: SerialTask;
}

interface PodFolder extends WatchedFolder {
  pod: PodIdentity;
  containers: Map<string, ContainerFolder>;
}

interface ContainerFolder extends WatchedFolder {
  container: ContainerIdentity;
}

export class PodLogsDiscovery {
  private readonly pods = new Map<string, PodFolder>();
  private rootWatcher: FSWatcher | undefined;
  private readonly rootScan: SerialTask;
  private timer: NodeJS.Timeout | undefined;
  private initial = true;
  private stopped = false;

  constructor(
    private readonly root: string,
    private readonly filter: LogFilter,
    private readonly listener: DiscoveryListener,
    private readonly events: CriLogEvents,
    private readonly options: DiscoveryOptions,
  ) {
    this.rootScan = new SerialTask(() => this.scanRoot(), (err) => this.scanFailed(this.root, err));
  }

  /** Watches and lists everything once; resolves when the first full scan is done. */
  async start(): Promise<void> {
    this.rootWatcher = this.watch(this.root, () => this.rootScan.request(), () => (this.rootWatcher = undefined));
    await this.fullScan();
    this.initial = false;
    const tick = () => {
      if (this.stopped) return;
      void this.fullScan().finally(() => {
        if (!this.stopped) this.timer = setTimeout(tick, this.options.scanIntervalMs).unref();
      });
    };
    this.timer = setTimeout(tick, this.options.scanIntervalMs).unref();
  }

  /** Stops watching and scanning; resolves once no listing is in progress any more. */
  async stop(): Promise<void> {
    this.stopped = true;
    if (this.timer) clearTimeout(this.timer);
    this.rootWatcher?.close();
    const tasks: SerialTask[] = [this.rootScan];
    for (const pod of this.pods.values()) {
      pod.watcher?.close();
      tasks.push(pod.scan);
      for (const c of pod.containers.values()) {
        c.watcher?.close();
        tasks.push(c.scan);
      }
    }
    this.pods.clear();
    await Promise.all(tasks.map((t) => t.idle()));
  }

  /** Lists the root, every pod folder and every container folder (the safety net). */
  async fullScan(): Promise<void> {
    await this.rootScan.run();
    for (const pod of [...this.pods.values()]) {
      await pod.scan.run();
      for (const c of [...pod.containers.values()]) await c.scan.run();
    }
  }

  /** Folders watched right now (for the debug view). */
  get watchedFolders(): number {
    let n = this.rootWatcher ? 1 : 0;
    for (const pod of this.pods.values()) {
      if (pod.watcher) n++;
      for (const c of pod.containers.values()) if (c.watcher) n++;
    }
    return n;
  }

  private watch(dir: string, onEvent: (type: string, name: string | null) => void, onFailed: () => void = () => undefined): FSWatcher | undefined {
    try {
      const watcher = watch(dir, { persistent: false }, (type, name) => onEvent(type, typeof name === 'string' ? name : null));
      watcher.on('error', (err) => {
        watcher.close();
        onFailed();
        this.events.watchFailed(dir, err);
      });
      return watcher;
    } catch (err) {
      const code = (err as NodeJS.ErrnoException).code;
      if (code !== 'ENOENT' && code !== 'ENOTDIR') this.events.watchFailed(dir, err);
      return undefined;
    }
  }

  private scanFailed(dir: string, err: unknown): void {
    this.events.error(`scan:${dir}`, 'listing a log folder failed', { dir, error: err instanceof Error ? err.message : String(err) });
  }

  private async scanRoot(): Promise<void> {
    if (this.stopped) return;
    const names = await listDir(this.root);
    if (names === null && !this.rootWatcher) return; // no root yet: the rescan will find it
    if (!this.rootWatcher && names !== null) this.rootWatcher = this.watch(this.root, () => this.rootScan.request(), () => (this.rootWatcher = undefined));
    const present = new Set(names ?? []);
    for (const name of present) {
      if (this.pods.has(name)) continue;
      const pod = parsePodDir(name);
      if (!pod || !this.filter.podAllowed(pod)) continue;
      const dir = path.join(this.root, name);
      const folder: PodFolder = { dir, pod, containers: new Map(), watcher: undefined, scan: new SerialTask(() => this.scanPod(name), (err) => this.scanFailed(dir, err)) };
      folder.watcher = this.watch(dir, () => folder.scan.request(), () => (folder.watcher = undefined));
      this.pods.set(name, folder);
      if (this.initial) await folder.scan.run();
      else folder.scan.request();
    }
    for (const [name, pod] of this.pods) {
      if (!present.has(name)) await this.podGone(name, pod);
    }
  }

  private async podGone(name: string, pod: PodFolder): Promise<void> {
    if (this.pods.get(name) !== pod) return;
    this.pods.delete(name);
    pod.watcher?.close();
    for (const [cname, c] of pod.containers) await this.containerGone(pod, cname, c);
  }

  private async scanPod(name: string): Promise<void> {
    const pod = this.pods.get(name);
    if (!pod || this.stopped) return;
    const entries = await listDirTyped(pod.dir);
    if (entries === null) {
      await this.podGone(name, pod);
      return;
    }
    const present = new Set<string>();
    for (const e of entries) {
      if (!e.isDirectory()) continue;
      present.add(e.name);
      if (pod.containers.has(e.name)) continue;
      const container: ContainerIdentity = { ...pod.pod, containerName: e.name };
      if (!this.filter.containerAllowed(container)) continue;
      const dir = path.join(pod.dir, e.name);
      const folder: ContainerFolder = { dir, container, watcher: undefined, scan: new SerialTask(() => this.scanContainer(pod, e.name), (err) => this.scanFailed(dir, err)) };
      folder.watcher = this.watch(dir, (type, file) => {
        // A write to a followed file only wakes its follower; anything else lists the folder again.
        if (file !== null && type === 'change') {
          if (this.listener.fileChanged(dir, file)) return;
          if (!parseLogFileName(file)) return; // e.g. the kubelet writing <name>.gz.tmp
        }
        folder.scan.request();
      }, () => (folder.watcher = undefined));
      pod.containers.set(e.name, folder);
      if (this.initial) await folder.scan.run();
      else folder.scan.request();
    }
    for (const [cname, c] of pod.containers) {
      if (!present.has(cname)) await this.containerGone(pod, cname, c);
    }
  }

  private async containerGone(pod: PodFolder, name: string, c: ContainerFolder): Promise<void> {
    if (pod.containers.get(name) !== c) return;
    pod.containers.delete(name);
    c.watcher?.close();
    await this.listener.containerListed(c.dir, c.container, null, this.initial, false);
  }

  private async scanContainer(pod: PodFolder, name: string): Promise<void> {
    const c = pod.containers.get(name);
    if (!c || this.stopped) return;
    const names = await listDir(c.dir);
    if (names === null) {
      await this.containerGone(pod, name, c);
      return;
    }
    const entries: LogFileEntry[] = [];
    for (const file of names) {
      const parsed = parseLogFileName(file);
      if (!parsed) continue;
      const full = path.join(c.dir, file);
      let st;
      let symlink = false;
      try {
        const l = await fs.lstat(full);
        symlink = l.isSymbolicLink();
        st = symlink ? await fs.stat(full) : l;
      } catch {
        continue; // gone between the listing and the stat
      }
      if (!st.isFile()) continue;
      entries.push({ name: file, ...parsed, device: st.dev, inode: st.ino, size: st.size, symlink });
    }
    if (this.stopped) return;
    await this.listener.containerListed(c.dir, c.container, entries, this.initial, c.watcher !== undefined);
  }
}

/** Folder entries, or null when the folder is gone or not a folder. */
async function listDir(dir: string): Promise<string[] | null> {
  try {
    return await fs.readdir(dir);
  } catch (err) {
    const code = (err as NodeJS.ErrnoException).code;
    if (code === 'ENOENT' || code === 'ENOTDIR') return null;
    throw err;
  }
}

async function listDirTyped(dir: string): Promise<import('node:fs').Dirent[] | null> {
  try {
    return await fs.readdir(dir, { withFileTypes: true });
  } catch (err) {
    const code = (err as NodeJS.ErrnoException).code;
    if (code === 'ENOENT' || code === 'ENOTDIR') return null;
    throw err;
  }
}
