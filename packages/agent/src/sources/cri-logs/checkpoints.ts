// The source's durable state, in <stateDir>/cri-checkpoints.json: per container instance (pod uid, container,
// restart count) the files of its log in order, each with its identity (device, inode, fingerprint of its first
// bytes), its last known name and size, and where it was acknowledged up to (byte offset and line number). Offsets
// only advance through commits, which the forwarder makes when the aggregator acknowledged; the files' list and
// sizes change as rotations are seen, so that data deleted while the agent is down is counted exactly.
//
// Written atomically (temporary file, fsync, rename, fsync of the folder) at most every flushInterval, and at once
// after a loss was recorded. A state file that cannot be parsed is kept aside for inspection, reported, and the
// agent goes on as if it had none, reading files from the position the configured policy says: never a crash loop.
// A state folder that cannot be written is reported and retried; the agent keeps running.
import fs from 'node:fs';
import path from 'node:path';
import type { CriLogEvents } from './events.js';
import { parsePodLogPath } from './pod-path.js';

export interface SavedFile {
  device: number;
  inode: number;
  fingerprint: number;
  fingerprintLength: number;
  /** Last name in the container folder (a rotated or compressed name once rotated). */
  name: string;
  /** Last known size of the content (uncompressed). */
  size: number;
  /** Acknowledged up to here (or where reading starts, for a file not read yet). */
  offset: number;
  /** Line number reached at `offset`; -1: nothing acknowledged yet (numbers continue from the file before). */
  line: number;
  /** Read to its end and acknowledged: only kept to recognise the file. */
  done: boolean;
}

export interface SavedStream {
  namespace: string;
  pod: string;
  podUid: string;
  container: string;
  restartCount: number;
  /** stream_complete was acknowledged. */
  complete: boolean;
  /** Line number reached by files no longer tracked (read and deleted). */
  lineBase: number;
  files: SavedFile[];
}

export interface StateDocument {
  version: 2;
  streams: Record<string, SavedStream>;
}

export type LoadResult = { status: 'none' | 'loaded'; streams: Map<string, SavedStream> } | { status: 'corrupt'; streams: Map<string, SavedStream>; error: string; keptAs: string };

export const streamKey = (podUid: string, container: string, restartCount: number): string => `${podUid}/${container}/${restartCount}`;

const FILE_NAME = 'cri-checkpoints.json';

export class CheckpointStore {
  private dirty = false;
  private timer: NodeJS.Timeout | undefined;
  private snapshot: () => StateDocument = () => ({ version: 2, streams: {} });
  readonly file: string;
  writes = 0;

  constructor(
    private readonly stateDir: string,
    private readonly events: CriLogEvents,
    private readonly flushIntervalMs = 500,
  ) {
    this.file = path.join(stateDir, FILE_NAME);
  }

  /** Reads the state file. Never throws: an unreadable or corrupt file is reported in the result and set aside. */
  load(): LoadResult {
    let text: string;
    try {
      text = fs.readFileSync(this.file, 'utf8');
    } catch (err) {
      if ((err as NodeJS.ErrnoException).code === 'ENOENT') return { status: 'none', streams: new Map() };
      this.events.checkpointError('read', err);
      return { status: 'corrupt', streams: new Map(), error: String(err), keptAs: this.file };
    }
    try {
      return { status: 'loaded', streams: parseState(text) };
    } catch (err) {
      this.events.checkpointError('read', err);
      const keptAs = `${this.file}.corrupt-${Date.now()}`;
      try {
        fs.renameSync(this.file, keptAs);
      } catch (renameErr) {
        this.events.checkpointError('write', renameErr);
      }
      return { status: 'corrupt', streams: new Map(), error: err instanceof Error ? err.message : String(err), keptAs };
    }
  }

  /** What to write: the source's current state. */
  setSnapshot(snapshot: () => StateDocument): void {
    this.snapshot = snapshot;
  }

  /** Something changed: written within flushInterval (or now, e.g. after a loss, so it is not counted twice). */
  changed(now = false): void {
    this.dirty = true;
    if (now) {
      this.flush();
      return;
    }
    if (this.timer) return;
    this.timer = setTimeout(() => {
      this.timer = undefined;
      this.flush();
    }, this.flushIntervalMs);
    this.timer.unref();
  }

  flush(): void {
    if (!this.dirty) return;
    this.dirty = false;
    const tmp = `${this.file}.tmp`;
    try {
      fs.mkdirSync(this.stateDir, { recursive: true });
      const fd = fs.openSync(tmp, 'w', 0o600);
      try {
        fs.writeSync(fd, JSON.stringify(this.snapshot()));
        fs.fsyncSync(fd);
      } finally {
        fs.closeSync(fd);
      }
      fs.renameSync(tmp, this.file);
      syncFolder(this.stateDir);
      this.writes++;
    } catch (err) {
      this.dirty = true;
      this.events.checkpointError('write', err);
      // Retried with the next change, or at the latest after a flush interval.
      if (!this.timer) {
        this.timer = setTimeout(() => {
          this.timer = undefined;
          this.flush();
        }, Math.max(this.flushIntervalMs, 1000));
        this.timer.unref();
      }
    }
  }

  close(): void {
    if (this.timer) clearTimeout(this.timer);
    this.timer = undefined;
    this.flush();
  }
}

function syncFolder(dir: string): void {
  let fd: number | undefined;
  try {
    fd = fs.openSync(dir, 'r');
    fs.fsyncSync(fd);
  } catch {
    // Not every file system lets a folder be opened or synced; the rename is still atomic.
  } finally {
    if (fd !== undefined) fs.closeSync(fd);
  }
}

/** Parses a state document (version 2, or version 1 of the first agent: one entry per live file path). */
export function parseState(text: string): Map<string, SavedStream> {
  const doc = JSON.parse(text) as { version?: unknown; streams?: unknown; files?: unknown };
  const out = new Map<string, SavedStream>();
  if (doc.version === 2 && doc.streams && typeof doc.streams === 'object') {
    for (const [key, s] of Object.entries(doc.streams as Record<string, unknown>)) {
      if (!isStream(s)) throw new Error(`checkpoint entry ${key} is malformed`);
      out.set(streamKey(s.podUid, s.container, s.restartCount), s);
    }
    return out;
  }
  if (doc.version === 1 && doc.files && typeof doc.files === 'object') {
    for (const [p, cp] of Object.entries(doc.files as Record<string, V1Checkpoint>)) {
      const id = parsePodLogPath(path.dirname(path.dirname(path.dirname(p))), p);
      if (!id || !cp?.file || typeof cp.offset !== 'number') continue;
      out.set(streamKey(id.podUid, id.containerName, id.restartCount), {
        namespace: id.namespace,
        pod: id.podName,
        podUid: id.podUid,
        container: id.containerName,
        restartCount: id.restartCount,
        complete: false,
        lineBase: 0,
        files: [{ ...cp.file, name: path.basename(p), size: cp.offset, offset: cp.offset, line: cp.lineNumber, done: false }],
      });
    }
    return out;
  }
  throw new Error('unknown checkpoint format');
}

interface V1Checkpoint {
  file: { device: number; inode: number; fingerprint: number; fingerprintLength: number };
  offset: number;
  lineNumber: number;
}

const isNumber = (v: unknown): v is number => typeof v === 'number' && Number.isFinite(v);

function isStream(v: unknown): v is SavedStream {
  const s = v as SavedStream;
  return (
    !!s &&
    typeof s.namespace === 'string' &&
    typeof s.pod === 'string' &&
    typeof s.podUid === 'string' &&
    typeof s.container === 'string' &&
    isNumber(s.restartCount) &&
    typeof s.complete === 'boolean' &&
    isNumber(s.lineBase) &&
    Array.isArray(s.files) &&
    s.files.every(
      (f) =>
        !!f &&
        isNumber(f.device) &&
        isNumber(f.inode) &&
        isNumber(f.fingerprint) &&
        isNumber(f.fingerprintLength) &&
        typeof f.name === 'string' &&
        isNumber(f.size) &&
        isNumber(f.offset) &&
        isNumber(f.line) &&
        typeof f.done === 'boolean',
    )
  );
}
