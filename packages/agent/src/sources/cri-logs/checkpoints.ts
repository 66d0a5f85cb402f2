// Where each followed file was acknowledged up to: per path, the file's identity, the byte offset to resume from
// and the last line number sent. Advanced only through commit(), which the forwarder calls when the aggregator has
// acknowledged; written to the state folder atomically (write a temporary file, fsync, rename) a few times a
// second at most. A corrupt or unreadable state file is reported and the agent starts as if it had none, reading
// files from the position the configured policy says.
import fs from 'node:fs';
import path from 'node:path';
import type { CriLogEvents } from './events.js';
import type { FileIdentity } from './types.js';

export interface Checkpoint {
  file: FileIdentity;
  offset: number;
  lineNumber: number;
}

const FORMAT_VERSION = 1;

export class CheckpointStore {
  private readonly entries = new Map<string, Checkpoint>();
  private dirty = false;
  private timer: NodeJS.Timeout | undefined;
  readonly file: string;

  constructor(
    stateDir: string,
    private readonly events: CriLogEvents,
    private readonly flushIntervalMs = 500,
  ) {
    fs.mkdirSync(stateDir, { recursive: true });
    this.file = path.join(stateDir, 'cri-checkpoints.json');
    this.load();
  }

  private load(): void {
    let text: string;
    try {
      text = fs.readFileSync(this.file, 'utf8');
    } catch (err) {
      if ((err as NodeJS.ErrnoException).code !== 'ENOENT') this.events.checkpointError('read', err);
      return;
    }
    try {
      const doc = JSON.parse(text) as { version?: unknown; files?: Record<string, Checkpoint> };
      if (doc.version !== FORMAT_VERSION || !doc.files || typeof doc.files !== 'object') throw new Error(`unknown checkpoint format in ${this.file}`);
      for (const [p, cp] of Object.entries(doc.files)) {
        if (isCheckpoint(cp)) this.entries.set(p, cp);
      }
    } catch (err) {
      this.events.checkpointError('read', err);
      // Keep the bad file for inspection; a new one is written on the next commit.
      fs.renameSync(this.file, `${this.file}.corrupt-${Date.now()}`);
    }
  }

  get(filePath: string): Checkpoint | undefined {
    return this.entries.get(filePath);
  }

  commit(filePath: string, checkpoint: Checkpoint): void {
    const prev = this.entries.get(filePath);
    if (prev && sameFile(prev.file, checkpoint.file) && prev.offset >= checkpoint.offset) return;
    this.entries.set(filePath, checkpoint);
    this.scheduleFlush();
  }

  forget(filePath: string): void {
    if (this.entries.delete(filePath)) this.scheduleFlush();
  }

  paths(): string[] {
    return [...this.entries.keys()];
  }

  private scheduleFlush(): void {
    this.dirty = true;
    if (this.timer) return;
    this.timer = setTimeout(() => {
      this.timer = undefined;
      this.flush();
    }, this.flushIntervalMs);
  }

  flush(): void {
    if (!this.dirty) return;
    this.dirty = false;
    const tmp = `${this.file}.tmp`;
    try {
      const fd = fs.openSync(tmp, 'w', 0o600);
      try {
        fs.writeSync(fd, JSON.stringify({ version: FORMAT_VERSION, files: Object.fromEntries(this.entries) }));
        fs.fsyncSync(fd);
      } finally {
        fs.closeSync(fd);
      }
      fs.renameSync(tmp, this.file);
    } catch (err) {
      this.dirty = true;
      this.events.checkpointError('write', err);
    }
  }

  close(): void {
    if (this.timer) clearTimeout(this.timer);
    this.timer = undefined;
    this.flush();
  }
}

export function sameFile(a: FileIdentity, b: FileIdentity): boolean {
  return a.device === b.device && a.inode === b.inode && a.fingerprint === b.fingerprint && a.fingerprintLength === b.fingerprintLength;
}

function isCheckpoint(v: unknown): v is Checkpoint {
  const c = v as Checkpoint;
  return (
    !!c &&
    typeof c.offset === 'number' &&
    typeof c.lineNumber === 'number' &&
    !!c.file &&
    typeof c.file.device === 'number' &&
    typeof c.file.inode === 'number' &&
    typeof c.file.fingerprint === 'number' &&
    typeof c.file.fingerprintLength === 'number'
  );
}
