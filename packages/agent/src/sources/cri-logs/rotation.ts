// The log of one container instance (pod uid, container, restart count) as the kubelet and the runtimes write it:
// a sequence of files, oldest first — `N.log.<ts>.gz` and `N.log.<ts>` rotated away (the newest rotated one kept
// uncompressed), then the live `N.log`. Read strictly in that order, one file at a time, line numbers going on from
// file to file, so that the whole instance is one numbered stream.
//
// How files are recognised across renames, compression, replacement and agent restarts:
//   - a file is pinned (kept open) from the moment it is seen until it is read to its end: a rename or a deletion
//     does not stop us reading it, and its inode cannot be reused while we hold it, so device+inode identify it;
//   - a file we do not hold (after a restart, or read to its end) is matched by device+inode and the fingerprint of
//     its first bytes (conmon reuses inodes within seconds);
//   - a `.gz` copy is matched by the fingerprint of its first uncompressed bytes, so a rotated file compressed while
//     the agent was behind or stopped is read on from its checkpoint in uncompressed bytes, under the identity of
//     the file it came from (the aggregator's replay filter keeps working).
// A file ends when nothing more will be written to it: renamed with a successor, deleted, replaced (conmon renames
// a fresh file over the path), compressed, or its container finished (a higher restart count appeared, or the pod
// folder was deleted). What is deleted before it was read is counted as lost, exactly when its size was known.
import { fstatSync } from 'node:fs';
import fs from 'node:fs/promises';
import type { FileHandle } from 'node:fs/promises';
import path from 'node:path';
import { GzipSource, PlainSource, type ByteSource } from './byte-source.js';
import type { SavedFile, SavedStream } from './checkpoints.js';
import type { CriLogEvents, LossReason } from './events.js';
import { FINGERPRINT_BYTES, fingerprintOf, gzipDeclaredSize, gzipPrefix, hashBytes } from './fingerprint.js';
import { FileFollower, type FollowedFile, type FollowerEvents, type FollowerOptions } from './follower.js';
import { parseLogFileName, type ContainerLogIdentity, type LogFileKind } from './pod-path.js';
import type { ReadPermits } from './read-permits.js';
import type { ChunkOwner, FileIdentity, LogSink } from './types.js';

/** A log file as listed in its container folder. */
export interface LogFileEntry {
  name: string;
  restartCount: number;
  kind: LogFileKind;
  rotatedAt: string;
  device: number;
  inode: number;
  size: number;
  /** A symlink (Docker's json-file logs): writes to it raise no event in this folder, so it is polled. */
  symlink: boolean;
}

/** What every container log shares, built once by the source. */
export interface LogEnvironment {
  sink: LogSink;
  permits: ReadPermits;
  follower: FollowerOptions;
  events: CriLogEvents;
  /** The state to persist changed (now: write it at once, e.g. after a loss, so it is never counted twice). */
  stateChanged(now?: boolean): void;
  /** Deleted files not read yet kept open per container instance; beyond, the oldest are given up (counted). */
  maxDeletedFilesHeld: number;
  now(): number;
}

/** Where reading starts in files seen at startup that the state does not know. */
export type StartPolicy = 'beginning' | 'end';

export type TrackedFileState = 'queued' | 'reading' | 'waiting' | 'blocked' | 'done' | 'lost';

let sequence = 0;

/** Where the forwarder's acknowledgements of one file's chunks go (ignored once a truncation replaced its content). */
class CommitOwner implements ChunkOwner {
  constructor(
    private readonly file: TrackedFile,
    private readonly generation: number,
  ) {}

  commit(offset: number, line: number, complete: boolean): void {
    this.file.acknowledged(this.generation, offset, line, complete);
  }
}

export class TrackedFile implements FollowedFile {
  identity: FileIdentity;
  provisionalIdentity: boolean;
  name: string;
  kind: LogFileKind;
  rotatedAt: string;
  /** Seen in the last listing of its folder (under its name or as its compressed copy). */
  present: boolean;
  /** Size in the last listing, to recognise an unchanged file without reading it. */
  listedSize = -1;
  symlink = false;
  handle: FileHandle | undefined;
  gzip: { name: string; device: number; inode: number } | undefined;
  gzipHandle: FileHandle | undefined;
  knownSize: number;
  /** A safety poll's fstat of this file is pending (at most one at a time). */
  sizing = false;
  /** Acknowledged up to here (offset, line number reached there). */
  committed: { offset: number; line: number } | undefined;
  /** Where reading starts when nothing was acknowledged. */
  startOffset = 0;
  readDone = false;
  /** Offset at which the file was finished (its end). */
  finalOffset = 0;
  /** Line number reached at its end, once read. */
  endLine: number | undefined;
  lost = false;
  ended = false;
  follower: FileFollower | undefined;
  /** Sort key: rotation time for rotated files, after all of them for live ones, then discovery order. */
  order: string;
  /** Where a parked file's next follower starts (its previous one stopped with nothing new and nothing half read). */
  parked: { offset: number; lineNumber: number } | undefined;
  private generation = 0;
  owner: ChunkOwner;

  constructor(
    readonly log: ContainerLog,
    identity: FileIdentity,
    name: string,
    kind: LogFileKind,
    rotatedAt: string,
    size: number,
  ) {
    this.identity = identity;
    this.provisionalIdentity = identity.fingerprintLength < FINGERPRINT_BYTES;
    this.name = name;
    this.kind = kind;
    this.rotatedAt = rotatedAt;
    this.present = true;
    this.knownSize = size;
    this.order = orderKey(kind, rotatedAt, ++sequence);
    this.owner = new CommitOwner(this, 0);
  }

  get path(): string {
    return path.join(this.log.dir, this.name);
  }

  get container(): ContainerLogIdentity {
    return this.log.container;
  }

  get previousContainer(): boolean {
    return this.log.superseded;
  }

  get completesStream(): boolean {
    return this.log.over && !this.log.completeSent && !this.log.completeCommitted && this.log.isLast(this);
  }

  get pinned(): boolean {
    return this.handle !== undefined || this.gzipHandle !== undefined;
  }

  /** Read to its end and acknowledged to its end. */
  get fullyCommitted(): boolean {
    return this.readDone && (this.committed?.offset ?? this.startOffset) >= this.finalOffset;
  }

  get state(): TrackedFileState {
    if (this.lost) return 'lost';
    if (this.readDone) return 'done';
    if (this.follower) return this.follower.state === 'finished' ? 'reading' : this.follower.state;
    if (this.parked) return 'waiting';
    return 'queued';
  }

  /** Where reading is: the follower's position, or where it parked, or where it would start. */
  get position(): number {
    return this.follower?.position ?? this.parked?.offset ?? (this.readDone ? this.finalOffset : (this.committed?.offset ?? this.startOffset));
  }

  setIdentity(identity: FileIdentity, truncated: boolean): void {
    this.identity = identity;
    this.provisionalIdentity = identity.fingerprintLength < FINGERPRINT_BYTES;
    this.owner = new CommitOwner(this, ++this.generation);
    if (truncated) {
      this.committed = { offset: 0, line: this.follower?.lineNumber ?? this.committed?.line ?? 0 };
      this.startOffset = 0;
    }
    this.log.env.stateChanged();
  }

  /** The forwarder's downstream acknowledged chunks of this file up to a resume point. */
  acknowledged(generation: number, offset: number, line: number, complete: boolean): void {
    if (generation !== this.generation) return; // lines of content a truncation replaced
    if (!this.committed || offset > this.committed.offset || (offset === this.committed.offset && line > this.committed.line)) {
      this.committed = { offset, line };
    }
    if (complete) this.log.completeCommitted = true;
    this.log.committed(this);
  }

  rename(name: string, kind: LogFileKind, rotatedAt: string): void {
    if (name === this.name && kind === this.kind) return;
    if (this.kind === 'live' && kind === 'rotated') this.log.env.events.rotated('renamed');
    if (kind === 'gzip' && this.kind !== 'gzip') this.log.env.events.rotated('compressed');
    this.name = name;
    if (kind !== this.kind || rotatedAt !== this.rotatedAt) this.order = orderKey(kind, rotatedAt, Number(this.order.slice(this.order.lastIndexOf('|') + 1)));
    this.kind = kind;
    this.rotatedAt = rotatedAt;
  }

  async closeHandles(): Promise<void> {
    const handles = [this.handle, this.gzipHandle];
    this.handle = undefined;
    this.gzipHandle = undefined;
    for (const h of handles) await h?.close().catch(() => undefined);
  }

  saved(): SavedFile {
    const position = this.follower?.position ?? this.parked?.offset ?? 0;
    return {
      device: this.identity.device,
      inode: this.identity.inode,
      fingerprint: this.identity.fingerprint,
      fingerprintLength: this.identity.fingerprintLength,
      name: this.name,
      size: Math.max(this.knownSize, position),
      offset: this.committed?.offset ?? this.startOffset,
      line: this.committed?.line ?? -1,
      done: this.fullyCommitted,
    };
  }
}

function orderKey(kind: LogFileKind, rotatedAt: string, seq: number): string {
  return `${kind === 'live' ? '~' : rotatedAt}|${String(seq).padStart(12, '0')}`;
}

export class ContainerLog {
  readonly files: TrackedFile[] = [];
  /** A higher restart count of the container exists: this instance has ended. */
  superseded = false;
  /** The container's folder was deleted (its pod is gone). */
  folderGone = false;
  completeSent = false;
  completeCommitted = false;
  /** Line number reached by files no longer tracked. */
  lineBase = 0;
  private active: TrackedFile | undefined;
  /** The read loop, while it runs; none while there is nothing to read (an idle instance costs no pending promise). */
  private running: Promise<void> | undefined;
  /** Something changed while the loop ran: it goes on instead of stopping. */
  private again = false;
  private signal: AbortSignal | undefined;
  /** Called once the instance is over and has nothing left: the owner forgets it. */
  onDisposed: () => void = () => undefined;
  private readonly hadState: boolean;
  private disposed = false;
  /** Files are only read once a listing has told which of the remembered ones are still there. */
  private listedOnce = false;

  private readonly events: FollowerEvents;

  constructor(
    readonly dir: string,
    readonly container: ContainerLogIdentity,
    readonly env: LogEnvironment,
    admit: () => boolean,
    saved: SavedStream | undefined,
    private readonly startPolicy: StartPolicy,
  ) {
    this.hadState = saved !== undefined;
    this.events = new InstanceEvents(env.events, container, admit);
    if (saved) this.restore(saved);
  }

  /** The instance has ended: superseded by a restart, or its folder deleted. */
  get over(): boolean {
    return this.superseded || this.folderGone;
  }

  get activeFile(): TrackedFile | undefined {
    return this.active;
  }

  isLast(file: TrackedFile): boolean {
    return this.files[this.files.length - 1] === file;
  }

  /** Nothing left: no file, the instance is over. The caller forgets it (and its state). */
  get disposable(): boolean {
    return this.files.length === 0 && this.over;
  }

  private restore(saved: SavedStream): void {
    this.completeCommitted = saved.complete;
    this.lineBase = saved.lineBase;
    for (const s of saved.files) {
      const parsed = parseLogFileName(s.name);
      const f = new TrackedFile(this, { device: s.device, inode: s.inode, fingerprint: s.fingerprint, fingerprintLength: s.fingerprintLength }, s.name, parsed?.kind ?? 'rotated', parsed?.rotatedAt ?? '', s.size);
      f.provisionalIdentity = false; // what was sent is under this identity now
      f.present = false; // until a listing shows it
      if (s.line >= 0) f.committed = { offset: s.offset, line: s.line };
      else f.startOffset = s.offset;
      if (s.done) {
        f.readDone = true;
        f.finalOffset = s.offset;
        f.endLine = s.line >= 0 ? s.line : undefined;
      }
      this.files.push(f);
    }
  }

  /**
   * Brings the files in line with a listing of this instance's files (entries; [] when none or the folder is
   * gone). `initial`: the first listing since the agent started, where the start policy applies to files the
   * state does not know.
   */
  async reconcile(entries: readonly LogFileEntry[], initial: boolean): Promise<void> {
    const before = this.signature();
    const seen = new Set<TrackedFile>();
    for (const e of entries) {
      if (e.kind === 'gzip') continue;
      const f = (await this.matchPlain(e, seen)) ?? (await this.addPlain(e, initial));
      if (!f) continue;
      f.rename(e.name, e.kind, e.rotatedAt);
      f.symlink = e.symlink;
      f.listedSize = e.size;
      if (!f.readDone) f.knownSize = f === this.active ? Math.max(f.knownSize, e.size) : e.size;
      seen.add(f);
    }
    for (const e of entries) {
      if (e.kind !== 'gzip') continue;
      const f = await this.matchGzip(e, seen, initial);
      if (!f) continue;
      if (!seen.has(f)) f.rename(e.name, 'gzip', e.rotatedAt);
      f.listedSize = seen.has(f) ? f.listedSize : e.size;
      seen.add(f);
    }
    for (const f of this.files) {
      const wasPresent = f.present;
      f.present = seen.has(f);
      if (wasPresent && !f.present && !f.lost) this.env.events.rotated(f.kind === 'live' && entries.some((e) => e.kind === 'live') ? 'replaced' : 'deleted');
    }
    await this.giveUpUnreadable();
    await this.limitHeldDeleted();
    this.files.sort((a, b) => (a.order < b.order ? -1 : a.order > b.order ? 1 : 0));
    this.updateEnded();
    this.prune();
    const first = !this.listedOnce;
    this.listedOnce = true;
    if (first || this.signature() !== before) {
      // Only what changed is written and woken: a periodic rescan of idle folders costs nothing more.
      this.env.stateChanged();
      this.changed();
    }
  }

  /** What a listing can change of the files, in short. */
  private signature(): string {
    let s = '';
    for (const f of this.files) s += `${f.name}|${f.present ? 1 : 0}|${f.knownSize}|${f.lost ? 1 : 0}|${f.readDone ? 1 : 0}|${f.ended ? 1 : 0};`;
    return s;
  }

  /** A file we hold or know with the same device and inode: the same file. */
  private async matchPlain(e: LogFileEntry, seen: Set<TrackedFile>): Promise<TrackedFile | undefined> {
    const pinned = this.files.find((t) => t.handle && !seen.has(t) && t.identity.device === e.device && t.identity.inode === e.inode);
    if (pinned) return pinned;
    for (const t of this.files) {
      if (t.handle || t.lost || seen.has(t) || t.identity.device !== e.device || t.identity.inode !== e.inode) continue;
      // Listed unchanged (same name and size) last time: no need to read it. A file under another name is checked:
      // a file we no longer hold may have been deleted and its inode given at once to a new file of the same size.
      if (t.present && t.listedSize === e.size && t.name === e.name) return t;
      const handle = await openFile(path.join(this.dir, e.name));
      if (!handle) return undefined;
      const st = await handle.stat();
      const same = st.dev === e.device && st.ino === e.inode && (await fingerprintOf(handle, t.identity.fingerprintLength)).fingerprint === t.identity.fingerprint;
      if (same && !t.readDone) {
        t.handle = handle;
        return t;
      }
      await handle.close();
      if (same) return t;
    }
    return undefined;
  }

  private async addPlain(e: LogFileEntry, initial: boolean): Promise<TrackedFile | undefined> {
    const handle = await openFile(path.join(this.dir, e.name));
    if (!handle) return undefined;
    const st = await handle.stat();
    const again = this.files.find((t) => t.handle && t.identity.device === st.dev && t.identity.inode === st.ino);
    if (again) {
      // The name was moved onto a file we hold between the listing and the open.
      await handle.close();
      return again;
    }
    const id = await fingerprintOf(handle, Math.min(FINGERPRINT_BYTES, st.size));
    const f = new TrackedFile(this, { device: st.dev, inode: st.ino, ...id }, e.name, e.kind, e.rotatedAt, st.size);
    f.handle = handle;
    if (initial && this.skipsExisting) await this.skip(f, st.size);
    this.files.push(f);
    return f;
  }

  /** A compressed rotated file: the compressed copy of a file we know, or one we never saw. */
  private async matchGzip(e: LogFileEntry, seen: Set<TrackedFile>, initial: boolean): Promise<TrackedFile | undefined> {
    const known = this.files.find((t) => t.gzip && t.gzip.device === e.device && t.gzip.inode === e.inode);
    if (known) return known;
    const plainName = e.name.slice(0, -'.gz'.length);
    const byName = this.files.find((t) => t.name === plainName && !t.lost);
    if (byName && (byName.handle || byName.readDone || seen.has(byName))) {
      // The kubelet compressed a file we hold, have read, or still see: the same content.
      byName.gzip = { name: e.name, device: e.device, inode: e.inode };
      return byName;
    }
    const handle = await openFile(path.join(this.dir, e.name));
    if (!handle) return undefined;
    let prefix: Buffer;
    try {
      prefix = await gzipPrefix(handle, FINGERPRINT_BYTES);
    } catch (err) {
      this.env.events.error(`gzip:${this.dir}/${e.name}`, 'compressed log file cannot be read', { file: path.join(this.dir, e.name), error: String(err) });
      await handle.close();
      return undefined;
    }
    for (const t of this.files) {
      if (t.pinned || t.lost || seen.has(t) || t.identity.fingerprintLength > prefix.length) continue;
      if (hashBytes(prefix.subarray(0, t.identity.fingerprintLength)) !== t.identity.fingerprint) continue;
      t.gzip = { name: e.name, device: e.device, inode: e.inode };
      if (!t.readDone) {
        t.gzipHandle = handle;
        t.knownSize = Math.max(t.knownSize, await gzipDeclaredSize(handle));
      } else await handle.close();
      return t;
    }
    // Never seen as a plain file: a file of its own, identified by the compressed file and its content.
    const st = await handle.stat();
    const fpLength = Math.min(FINGERPRINT_BYTES, prefix.length);
    const f = new TrackedFile(this, { device: st.dev, inode: st.ino, fingerprint: hashBytes(prefix.subarray(0, fpLength)), fingerprintLength: fpLength }, e.name, 'gzip', e.rotatedAt, await gzipDeclaredSize(handle));
    f.provisionalIdentity = false;
    f.gzip = { name: e.name, device: e.device, inode: e.inode };
    f.gzipHandle = handle;
    if (initial && this.skipsExisting) await this.skip(f, f.knownSize);
    this.files.push(f);
    return f;
  }

  /** Start policy `end` on a stream the state does not know: what exists at startup is not read. */
  private get skipsExisting(): boolean {
    return this.startPolicy === 'end' && !this.hadState;
  }

  private async skip(f: TrackedFile, size: number): Promise<void> {
    if (f.kind === 'live') {
      f.startOffset = size;
      return;
    }
    f.readDone = true;
    f.finalOffset = size;
    f.committed = { offset: size, line: 0 };
    f.endLine = 0;
    await f.closeHandles();
  }

  /** Files that can no longer be read (gone, not held) and were not read to their end: lost. */
  private async giveUpUnreadable(): Promise<void> {
    for (const f of this.files) {
      if (f.present || f.pinned || f.readDone || f.lost || f === this.active) continue;
      this.lose(f, f.knownSize - (f.committed?.offset ?? f.startOffset), 'deleted_before_read');
    }
  }

  /** Keeps at most maxDeletedFilesHeld deleted, unread files open (they hold disk space); gives up the oldest. */
  private async limitHeldDeleted(): Promise<void> {
    const held = this.files.filter((f) => !f.present && f.pinned && !f.readDone && !f.lost && f !== this.active);
    for (let i = 0; i < held.length - this.env.maxDeletedFilesHeld; i++) {
      const f = held[i]!;
      const handle = f.handle ?? f.gzipHandle;
      if (f.handle) f.knownSize = (await handle!.stat()).size;
      this.lose(f, f.knownSize - (f.committed?.offset ?? f.startOffset), 'deleted_before_read');
      await f.closeHandles();
    }
  }

  /** The file can no longer be read; what it had beyond its checkpoint is lost (counted when there was any). */
  private lose(f: TrackedFile, bytes: number, reason: LossReason): void {
    f.lost = true;
    f.endLine = f.committed?.line;
    if (bytes > 0) this.env.events.lost(this.container, f.path, bytes, reason);
    this.env.stateChanged(true);
  }

  private updateEnded(): void {
    for (let i = 0; i < this.files.length; i++) {
      const f = this.files[i]!;
      if (f.ended) continue;
      const later = i < this.files.length - 1;
      if (!f.present || f.kind === 'gzip' || this.over || (f.kind === 'rotated' && later)) {
        f.ended = true;
        if (f.follower) f.follower.wake();
        else if (f.parked) this.changed();
      }
    }
  }

  /**
   * Forgets files at the front that are gone and settled (lost, or read and acknowledged to their end), keeping
   * the line number they reached. The last file of an ended instance stays until its stream_complete is
   * acknowledged.
   */
  private prune(): void {
    while (this.files.length > 0) {
      const f = this.files[0]!;
      if (f.present || f.pinned || f === this.active || !(f.lost || f.fullyCommitted)) break;
      if (this.files.length === 1 && this.over && !f.lost && !this.completeCommitted) break; // stream_complete goes with it
      this.files.shift();
      if (f.endLine !== undefined) this.lineBase = Math.max(this.lineBase, f.endLine);
      this.env.stateChanged();
    }
  }

  /** An acknowledgement came for one of the files. */
  committed(f: TrackedFile): void {
    if (!f.present && f.fullyCommitted) {
      this.prune();
      this.changed();
    }
    this.env.stateChanged();
  }

  /** Files changed: the read loop runs (again). */
  changed(): void {
    this.again = true;
    this.kick();
  }

  /** Starts reading (once the first listing is reconciled). */
  start(signal: AbortSignal): void {
    this.signal = signal;
    this.kick();
  }

  /** Resolves when the read loop is not running. */
  idle(): Promise<void> {
    return this.running ?? Promise.resolve();
  }

  private kick(): void {
    const signal = this.signal;
    if (this.running || !signal || signal.aborted || this.disposed) return;
    this.again = false;
    this.running = this.loop(signal)
      .catch((err: unknown) => {
        this.env.events.error(`run:${this.dir}`, 'container log stopped on an unexpected error', { dir: this.dir, error: err instanceof Error ? (err.stack ?? err.message) : String(err) });
      })
      .finally(() => {
        this.running = undefined;
        if (this.again) this.kick();
      });
  }

  /** Wakes the follower of the file being read (an event for its name), or starts one for a parked file. */
  poke(): void {
    const follower = this.active?.follower;
    if (follower) follower.wake();
    else if (this.files.some((f) => f.parked)) this.changed();
  }

  /**
   * The safety poll: the follower of the file being read checks its size; a parked file is checked here. A follower
   * held back by backpressure (its lines wait for the sink, or it waits for a read permit) does not look at its file:
   * its size is taken here instead (one fstat), so the size and lag shown stay current, and nothing is read.
   */
  poll(): void {
    const active = this.active;
    const follower = active?.follower;
    if (active && follower) {
      if (follower.paused) this.pausedSize(active);
      else follower.poll();
      return;
    }
    const parked = this.files.find((f) => f.parked && !f.readDone && !f.lost);
    const handle = parked?.handle;
    if (!parked || !handle) return;
    // One fstat of the open descriptor, synchronously: it reads the kernel's inode, never the disk, and leaves no
    // promise or request behind. With thousands of parked files an asynchronous stat each keeps them all in flight
    // at once on every poll, long enough for V8 to promote them and grow its heap (docs/BENCHMARKS.md, "Idle
    // files"). A closed handle's fd is -1: the stat fails and the read loop decides, as on a failed stat before.
    // The loop starts after the poll (as it did from a stat's answer), not while the caller goes through folders.
    let st: { size: number; nlink: number } | undefined;
    try {
      st = fstatSync(handle.fd);
    } catch {
      st = undefined;
    }
    if (st) this.grew(parked, parked.identity, st.size);
    if (!st || st.size !== parked.parked?.offset || st.nlink === 0 || parked.ended) queueMicrotask(() => this.changed());
  }

  /** The size of a file whose follower is paused, without reading it (a compressed file does not grow). */
  private pausedSize(f: TrackedFile): void {
    const handle = f.handle;
    if (!handle || f.sizing) return;
    f.sizing = true;
    const identity = f.identity;
    void handle.stat().then(
      (st) => {
        f.sizing = false;
        this.grew(f, identity, st.size);
      },
      () => {
        f.sizing = false; // closed meanwhile (read to its end, or given up): its follower or the listing says the rest
      },
    );
  }

  /**
   * A size seen by a poll: the known size only grows here (a shrink is a truncation, which the follower finds and
   * counts against the size it knew), and only while the file is the content it was (no truncation since the stat).
   * Saved with the state, like a size a listing brings: what a deletion while the agent is stopped would lose.
   */
  private grew(f: TrackedFile, identity: FileIdentity, size: number): void {
    if (f.identity !== identity || f.readDone || f.lost || size <= f.knownSize) return;
    f.knownSize = size;
    this.env.stateChanged();
  }

  /** The file being read, or the parked one (the one a wake is for). */
  get activeOrParked(): TrackedFile | undefined {
    return this.active ?? this.files.find((f) => f.parked !== undefined && !f.readDone && !f.lost);
  }

  /**
   * Reads the files in order while there is something to read; returns when there is nothing (no file to read, or
   * the one being read parked) — a change kicks it again — or when the instance is over and forgotten.
   */
  private async loop(signal: AbortSignal): Promise<void> {
    while (!signal.aborted && !this.disposed) {
      this.again = false;
      if (!this.listedOnce) return;
      this.prune();
      const f = this.files.find((t) => !t.readDone && !t.lost);
      if (!f) {
        if (this.over && !this.completeSent && !this.completeCommitted && this.files.length > 0) {
          await this.sendComplete(signal);
          continue;
        }
        if (this.disposable) {
          this.disposed = true;
          this.onDisposed();
        }
        return;
      }
      const end = await this.follow(f, signal);
      if (end === 'stopped') return;
      // Parked: nothing new and nothing half read; only its place is kept until a change kicks the loop again.
      if (end === 'parked' && !this.again) return;
    }
  }

  /**
   * Follows file f with a new follower until it is finished, parked or stopped. A method of its own, so that no
   * follower outlives it in the read loop's frame once it parked.
   */
  private async follow(f: TrackedFile, signal: AbortSignal): Promise<'finished' | 'parked' | 'stopped'> {
    const source = await this.sourceOf(f);
    if (!source) {
      this.lose(f, f.knownSize - (f.committed?.offset ?? f.startOffset), 'deleted_before_read');
      return 'finished';
    }
    const start = f.parked ?? (f.committed ? { offset: f.committed.offset, lineNumber: f.committed.line } : { offset: f.startOffset, lineNumber: this.lineBefore(f) });
    const follower = new FileFollower(f, source, start, this.env.sink, this.env.permits, this.env.follower, this.events, this.env.now);
    f.follower = follower;
    f.parked = undefined;
    this.active = f;
    let end: 'finished' | 'parked' | 'stopped' | 'failed';
    try {
      end = await follower.run(signal);
    } catch (err) {
      end = 'failed';
      this.env.events.error(`read:${f.path}`, 'log file could not be read to its end', { file: f.path, error: String(err) });
    } finally {
      this.active = undefined;
      f.follower = undefined;
      await source.close().catch(() => undefined);
    }
    if (end === 'stopped') return 'stopped';
    if (end === 'parked') {
      f.parked = { offset: follower.position, lineNumber: follower.lineNumber };
      return 'parked';
    }
    if (follower.sentComplete) this.completeSent = true;
    if (end === 'finished') {
      f.readDone = true;
      f.finalOffset = follower.position;
      f.endLine = follower.lineNumber;
    } else {
      this.lose(f, f.knownSize - follower.position, 'unreadable');
      f.endLine = follower.lineNumber;
    }
    await f.closeHandles();
    this.env.stateChanged();
    return 'finished';
  }

  private async sendComplete(signal: AbortSignal): Promise<void> {
    const last = this.files[this.files.length - 1]!;
    await this.env.sink.push(
      {
        owner: last.owner,
        path: last.path,
        container: this.container,
        file: last.identity,
        lines: [],
        bytes: 0,
        previousContainer: this.superseded,
        streamComplete: true,
        resumeOffset: last.committed?.offset ?? last.finalOffset,
        resumeLine: last.endLine ?? last.committed?.line ?? this.lineBase,
      },
      signal,
    );
    this.completeSent = true;
  }

  /** The line number reached before file f: where the file before it ended. */
  private lineBefore(f: TrackedFile): number {
    for (let i = this.files.indexOf(f) - 1; i >= 0; i--) {
      const p = this.files[i]!;
      if (p.endLine !== undefined) return p.endLine;
      if (p.committed) return p.committed.line;
    }
    return this.lineBase;
  }

  private async sourceOf(f: TrackedFile): Promise<ByteSource | undefined> {
    if (!f.pinned) {
      // Known but not held (e.g. the open failed earlier): open it now, if it is still the same file.
      if (f.kind !== 'gzip') {
        const handle = await openFile(f.path);
        if (handle) {
          const st = await handle.stat();
          const same = st.dev === f.identity.device && st.ino === f.identity.inode && (await fingerprintOf(handle, f.identity.fingerprintLength)).fingerprint === f.identity.fingerprint;
          if (same) f.handle = handle;
          else await handle.close();
        }
      } else if (f.gzip) {
        f.gzipHandle = await openFile(path.join(this.dir, f.gzip.name));
      }
    }
    if (f.handle) return new PlainSource(f.handle, false);
    if (f.gzipHandle) return new GzipSource(f.gzipHandle, f.committed?.offset ?? f.startOffset);
    return undefined;
  }

  /** Stops for good: closes what it holds. */
  async dispose(): Promise<void> {
    this.disposed = true;
    for (const f of this.files) if (f !== this.active) await f.closeHandles();
  }

  /** Closes every file (at shutdown, after the read loop ended). */
  async close(): Promise<void> {
    for (const f of this.files) await f.closeHandles();
  }

  saved(): SavedStream {
    return {
      namespace: this.container.namespace,
      pod: this.container.podName,
      podUid: this.container.podUid,
      container: this.container.containerName,
      restartCount: this.container.restartCount,
      complete: this.completeCommitted,
      lineBase: this.lineBase,
      files: this.files.filter((f) => !f.lost).map((f) => f.saved()),
    };
  }
}

/** The counted events of one container instance's files (one object for all of them). */
class InstanceEvents implements FollowerEvents {
  constructor(
    private readonly events: CriLogEvents,
    private readonly c: ContainerLogIdentity,
    readonly admit: () => boolean,
  ) {}

  read(lines: number, bytes: number): void {
    this.events.read(this.c, lines, bytes);
  }

  parseError(): void {
    this.events.parseError(this.c);
  }

  truncation(): void {
    this.events.truncation(this.c);
  }

  truncated(path: string, unreadBytes: number): void {
    this.events.fileTruncated(this.c, path, unreadBytes);
  }
}

async function openFile(file: string): Promise<FileHandle | undefined> {
  try {
    return await fs.open(file, 'r');
  } catch (err) {
    const code = (err as NodeJS.ErrnoException).code;
    if (code === 'ENOENT' || code === 'ENOTDIR' || code === 'EMFILE' || code === 'ENFILE' || code === 'EACCES') return undefined;
    throw err;
  }
}
