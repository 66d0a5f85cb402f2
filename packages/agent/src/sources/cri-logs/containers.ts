// One container folder (<root>/<ns>_<pod>_<uid>/<container>/): its instances by restart count, each a
// ContainerLog. A higher restart count makes the lower ones previous containers (ended); the folder's deletion
// ends them all. The instances are started here and forgotten here once they have nothing left.
import type { SavedStream } from './checkpoints.js';
import type { ContainerIdentity } from './pod-path.js';
import { LineRateLimit } from './rate-limit.js';
import { ContainerLog, type LogEnvironment, type LogFileEntry, type StartPolicy, type TrackedFile } from './rotation.js';

const admitAll = (): boolean => true;

export class ContainerDir {
  readonly logs = new Map<number, ContainerLog>();
  private readonly admit: () => boolean;
  folderGone = false;
  /** Some file is a symlink or the folder cannot be watched: its files are polled often. */
  needsFastPoll = false;

  constructor(
    readonly dir: string,
    readonly container: ContainerIdentity,
    private readonly env: LogEnvironment,
    /** Takes the saved state of this container's instances (once). */
    private readonly claimSaved: () => SavedStream[],
    private readonly startPolicy: StartPolicy,
    rateLimit: number,
    private readonly signal: AbortSignal,
    /** Called when the folder is gone and every instance forgotten. */
    private readonly onDisposable: (dir: ContainerDir) => void,
  ) {
    if (rateLimit > 0) {
      const limit = new LineRateLimit(rateLimit, env.now);
      this.admit = () => {
        if (limit.take()) return true;
        env.events.rateLimited(container, 1);
        return false;
      };
    } else this.admit = admitAll;
  }

  /** Nothing left to read or remember, and the folder is gone. */
  get disposable(): boolean {
    return this.folderGone && this.logs.size === 0;
  }

  /** A listing of the folder (null: the folder is gone). */
  async listed(entries: readonly LogFileEntry[] | null, initial: boolean, watched: boolean): Promise<void> {
    for (const saved of this.claimSaved()) this.instance(saved.restartCount, saved);
    if (entries === null) {
      this.folderGone = true;
      for (const log of this.logs.values()) {
        log.folderGone = true;
        await log.reconcile([], initial);
      }
      if (this.disposable) this.onDisposable(this);
      return;
    }
    this.needsFastPoll = !watched || entries.some((e) => e.symlink);
    const byRestart = new Map<number, LogFileEntry[]>();
    for (const e of entries) {
      const list = byRestart.get(e.restartCount);
      if (list) list.push(e);
      else byRestart.set(e.restartCount, [e]);
    }
    const newest = Math.max(-1, ...byRestart.keys());
    for (const restart of byRestart.keys()) this.instance(restart, undefined);
    for (const [restart, log] of this.logs) {
      if (restart < newest) log.superseded = true;
      await log.reconcile(byRestart.get(restart) ?? [], initial);
    }
  }

  private instance(restartCount: number, saved: SavedStream | undefined): ContainerLog {
    let log = this.logs.get(restartCount);
    if (log) return log;
    const created = new ContainerLog(this.dir, { ...this.container, restartCount }, this.env, this.admit, saved, this.startPolicy);
    created.onDisposed = () => {
      // Over and nothing left: forget it (its files are closed, its state goes with the next write).
      if (this.logs.get(restartCount) === created) this.logs.delete(restartCount);
      void created.dispose();
      this.env.stateChanged();
      if (this.disposable) this.onDisposable(this);
    };
    this.logs.set(restartCount, created);
    created.start(this.signal);
    return created;
  }

  /**
   * A file of the folder was written to: wakes the follower reading it. False when the folder is to be listed
   * again: a name we do not follow, or a rotated file written to after its rename (its size is kept exact, for
   * the loss accounting of files deleted before they are read).
   */
  fileChanged(name: string): boolean {
    for (const log of this.logs.values()) {
      const f = log.activeOrParked;
      if (f && f.name === name) {
        log.poke();
        return f.kind === 'live';
      }
    }
    return false;
  }

  /** The safety poll: every follower looks at its file's size. */
  poll(): void {
    for (const log of this.logs.values()) log.poll();
  }

  files(): TrackedFile[] {
    const out: TrackedFile[] = [];
    for (const log of this.logs.values()) out.push(...log.files);
    return out;
  }

  saved(): SavedStream[] {
    return [...this.logs.values()].map((l) => l.saved());
  }

  /** Waits for the read loops to end (after the signal aborted) and closes every file. */
  async stopped(): Promise<void> {
    for (const log of this.logs.values()) log.poke();
    await Promise.all([...this.logs.values()].map((log) => log.idle()));
    for (const log of this.logs.values()) await log.close();
  }
}
