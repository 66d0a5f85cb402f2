// Finds container log files under the pods root: <root>/<ns>_<pod>_<uid>/<container>/<N>.log[.<ts>[.gz]].
// File-system events (fs.watch: inotify on Linux) on the root, each pod folder and each container folder make it
// react at once: a write to a followed file wakes its follower without listing anything; a rename, a new or a
// deleted file lists that one container folder again. A periodic full rescan is the safety net for events the
// kernel dropped (inotify queue overflow) and for folders that cannot be watched. Filters are applied to pod and
// container folders as they are found, so an excluded container costs nothing.
//
// Thousands of folders are watched, so a folder is one small object: its watcher shares its listeners with all
// the others (no closure per folder), and a listing runs only while one is due.
import { watch, type Dirent, type FSWatcher } from 'node:fs';
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

interface FolderWatcher extends FSWatcher {
  folder?: Folder;
}

/** A watched folder, listed one run at a time; events during a run make one more run after it. */
abstract class Folder {
  watcher: FolderWatcher | undefined;
  private running: Promise<void> | undefined;
  private again = false;
  scheduled = false;

  constructor(
    readonly discovery: PodLogsDiscovery,
    readonly dir: string,
  ) {}

  protected abstract list(): Promise<void>;

  /** A file-system event in this folder. */
  onEvent(_type: string, _name: string | null): void {
    this.request();
  }

  /** Soon (events come in bursts: they are gathered into one run). */
  request(): void {
    if (this.scheduled) return;
    this.scheduled = true;
    setImmediate(runScheduled, this);
  }

  /** Resolves when no listing is in progress. */
  idle(): Promise<void> {
    return this.running ?? Promise.resolve();
  }

  /** Now, or right after the current run; resolves when a run that started after this call has ended. */
  run(): Promise<void> {
    if (this.running) {
      this.again = true;
      return this.running;
    }
    this.running = this.runs();
    return this.running;
  }

  private async runs(): Promise<void> {
    do {
      this.again = false;
      try {
        await this.list();
      } catch (err) {
        this.discovery.listingFailed(this.dir, err);
      }
    } while (this.again);
    this.running = undefined;
  }

  watch(): void {
    this.watcher = this.discovery.watch(this);
  }

  close(): void {
    this.watcher?.close();
    this.watcher = undefined;
  }
}

function runScheduled(folder: Folder): void {
  folder.scheduled = false;
  void folder.run();
}

function onWatchEvent(this: FolderWatcher, type: string, name: string | Buffer | null): void {
  this.folder?.onEvent(type, typeof name === 'string' ? name : null);
}

function onWatchError(this: FolderWatcher, err: Error): void {
  this.close();
  const folder = this.folder;
  if (!folder) return;
  folder.watcher = undefined;
  folder.discovery.watchFailed(folder.dir, err);
}

class RootFolder extends Folder {
  protected list(): Promise<void> {
    return this.discovery.listRoot(this);
  }
}

class PodFolder extends Folder {
  readonly containers = new Map<string, ContainerFolder>();

  constructor(
    discovery: PodLogsDiscovery,
    dir: string,
    readonly name: string,
    readonly pod: PodIdentity,
  ) {
    super(discovery, dir);
  }

  protected list(): Promise<void> {
    return this.discovery.listPod(this);
  }
}

class ContainerFolder extends Folder {
  constructor(
    discovery: PodLogsDiscovery,
    dir: string,
    readonly pod: PodFolder,
    readonly name: string,
    readonly container: ContainerIdentity,
  ) {
    super(discovery, dir);
  }

  override onEvent(type: string, file: string | null): void {
    // A write to a followed file only wakes its follower; anything else lists the folder again.
    if (file !== null && type === 'change') {
      if (this.discovery.listener.fileChanged(this.dir, file)) return;
      if (!parseLogFileName(file)) return; // e.g. the kubelet writing <name>.gz.tmp
    }
    this.request();
  }

  protected list(): Promise<void> {
    return this.discovery.listContainer(this);
  }
}

export class PodLogsDiscovery {
  private readonly pods = new Map<string, PodFolder>();
  private readonly root: RootFolder;
  private timer: NodeJS.Timeout | undefined;
  private initial = true;
  private stopped = false;

  constructor(
    rootDir: string,
    private readonly filter: LogFilter,
    readonly listener: DiscoveryListener,
    private readonly events: CriLogEvents,
    private readonly options: DiscoveryOptions,
  ) {
    this.root = new RootFolder(this, rootDir);
  }

  /** Watches and lists everything once; resolves when the first full scan is done. */
  async start(): Promise<void> {
    this.root.watch();
    await this.fullScan();
    this.initial = false;
    this.schedule();
  }

  private schedule(): void {
    this.timer = setTimeout(() => {
      if (this.stopped) return;
      void this.fullScan().finally(() => {
        if (!this.stopped) this.schedule();
      });
    }, this.options.scanIntervalMs).unref();
  }

  /** Stops watching and listing; resolves once no listing is in progress any more. */
  async stop(): Promise<void> {
    this.stopped = true;
    if (this.timer) clearTimeout(this.timer);
    const folders: Folder[] = [this.root];
    for (const pod of this.pods.values()) folders.push(pod, ...pod.containers.values());
    for (const f of folders) f.close();
    this.pods.clear();
    await Promise.all(folders.map((f) => f.idle()));
  }

  /** Lists the root, every pod folder and every container folder (the safety net). */
  async fullScan(): Promise<void> {
    await this.root.run();
    for (const pod of [...this.pods.values()]) {
      await pod.run();
      for (const c of [...pod.containers.values()]) await c.run();
    }
  }

  /** Folders watched right now (for the debug view). */
  get watchedFolders(): number {
    let n = this.root.watcher ? 1 : 0;
    for (const pod of this.pods.values()) {
      if (pod.watcher) n++;
      for (const c of pod.containers.values()) if (c.watcher) n++;
    }
    return n;
  }

  watch(folder: Folder): FolderWatcher | undefined {
    try {
      const watcher: FolderWatcher = watch(folder.dir, { persistent: false });
      watcher.folder = folder;
      watcher.on('change', onWatchEvent);
      watcher.on('error', onWatchError);
      return watcher;
    } catch (err) {
      const code = (err as NodeJS.ErrnoException).code;
      if (code !== 'ENOENT' && code !== 'ENOTDIR') this.events.watchFailed(folder.dir, err);
      return undefined;
    }
  }

  watchFailed(dir: string, err: unknown): void {
    this.events.watchFailed(dir, err);
  }

  listingFailed(dir: string, err: unknown): void {
    this.events.error(`scan:${dir}`, 'listing a log folder failed', { dir, error: err instanceof Error ? err.message : String(err) });
  }

  async listRoot(root: RootFolder): Promise<void> {
    if (this.stopped) return;
    const names = await listDir(root.dir);
    if (names === null) return; // no root yet: the rescan will find it
    if (!root.watcher) root.watch();
    const present = new Set(names);
    for (const name of present) {
      if (this.pods.has(name)) continue;
      const pod = parsePodDir(name);
      if (!pod || !this.filter.podAllowed(pod)) continue;
      const folder = new PodFolder(this, path.join(root.dir, name), name, pod);
      folder.watch();
      this.pods.set(name, folder);
      if (this.initial) await folder.run();
      else folder.request();
    }
    for (const [name, pod] of this.pods) {
      if (!present.has(name)) await this.podGone(pod);
    }
  }

  private async podGone(pod: PodFolder): Promise<void> {
    if (this.pods.get(pod.name) !== pod) return;
    this.pods.delete(pod.name);
    pod.close();
    for (const c of pod.containers.values()) await this.containerGone(c);
  }

  async listPod(pod: PodFolder): Promise<void> {
    if (this.stopped || this.pods.get(pod.name) !== pod) return;
    const entries = await listDirTyped(pod.dir);
    if (entries === null) {
      await this.podGone(pod);
      return;
    }
    const present = new Set<string>();
    for (const e of entries) {
      if (!e.isDirectory()) continue;
      present.add(e.name);
      if (pod.containers.has(e.name)) continue;
      const container: ContainerIdentity = { ...pod.pod, containerName: e.name };
      if (!this.filter.containerAllowed(container)) continue;
      const folder = new ContainerFolder(this, path.join(pod.dir, e.name), pod, e.name, container);
      folder.watch();
      pod.containers.set(e.name, folder);
      if (this.initial) await folder.run();
      else folder.request();
    }
    for (const [name, c] of pod.containers) {
      if (!present.has(name)) await this.containerGone(c);
    }
  }

  private async containerGone(c: ContainerFolder): Promise<void> {
    if (c.pod.containers.get(c.name) !== c) return;
    c.pod.containers.delete(c.name);
    c.close();
    await this.listener.containerListed(c.dir, c.container, null, this.initial, false);
  }

  async listContainer(c: ContainerFolder): Promise<void> {
    if (this.stopped || c.pod.containers.get(c.name) !== c) return;
    // A listing is a readdir then a stat per file: a file renamed or deleted in between (the kubelet compressing
    // one: `.gz` renamed in, then the plain file deleted) would leave it out under both names, and a file
    // missing from a listing is taken for deleted. Such a listing is done again. So is one during which the log
    // file names changed: the kubelet rotating `0.log` (renamed to `0.log.<time>`, a new `0.log` created) after
    // the readdir and before the stat gives the new `0.log` and not the rotated name: the file being rotated
    // would be under neither name, taken for deleted (and, not read yet, counted lost although it is not).
    let entries: LogFileEntry[] | null = null;
    for (let attempt = 0; attempt < LISTING_ATTEMPTS && entries === null; attempt++) {
      const lastAttempt = attempt === LISTING_ATTEMPTS - 1;
      const names = await listDir(c.dir);
      if (names === null) {
        await this.containerGone(c);
        return;
      }
      entries = await this.entriesOf(c.dir, names, lastAttempt);
      if (entries !== null && !lastAttempt) {
        const after = await listDir(c.dir);
        if (after === null || !sameLogNames(names, after)) entries = null;
      }
    }
    if (this.stopped || entries === null) return;
    await this.listener.containerListed(c.dir, c.container, entries, this.initial, c.watcher !== undefined);
  }

  /** The log files among `names`, or null when one vanished meanwhile (unless `lastAttempt`). */
  private async entriesOf(dir: string, names: string[], lastAttempt: boolean): Promise<LogFileEntry[] | null> {
    const entries: LogFileEntry[] = [];
    for (const file of names) {
      const parsed = parseLogFileName(file);
      if (!parsed) continue;
      const full = path.join(dir, file);
      let st;
      let symlink = false;
      try {
        const l = await fs.lstat(full);
        symlink = l.isSymbolicLink();
        st = symlink ? await fs.stat(full) : l;
      } catch {
        if (!lastAttempt) return null;
        continue;
      }
      if (!st.isFile()) continue;
      entries.push({ name: file, ...parsed, device: st.dev, inode: st.ino, size: st.size, symlink });
    }
    return entries;
  }
}

/** Listings of a container folder tried before one that changed while listed is used as it is. */
const LISTING_ATTEMPTS = 5;

/** The same log file names in both folder listings (other names, e.g. the kubelet's `.gz.tmp`, do not count). */
function sameLogNames(a: readonly string[], b: readonly string[]): boolean {
  const logs = (names: readonly string[]) => names.filter((n) => parseLogFileName(n) !== null);
  const x = logs(a);
  const y = new Set(logs(b));
  return x.length === y.size && x.every((n) => y.has(n));
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

async function listDirTyped(dir: string): Promise<Dirent[] | null> {
  try {
    return await fs.readdir(dir, { withFileTypes: true });
  } catch (err) {
    const code = (err as NodeJS.ErrnoException).code;
    if (code === 'ENOENT' || code === 'ENOTDIR') return null;
    throw err;
  }
}
