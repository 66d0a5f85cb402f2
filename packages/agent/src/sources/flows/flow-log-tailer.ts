// Follows the VPC CNI network policy agent's log file line by line, across its rotations, from a saved position.
//
// The file is identified like the container logs are (cri-logs/fingerprint.ts): device + inode + a hash of its first
// bytes, so a reused inode is not mistaken for the file we knew. The open handle pins the file: when the agent
// rotates it (lumberjack: rename to <name>-<time>.log, then a new file under the old name), the renamed file is read
// to its end through the handle we hold and only then does the new one start, from 0. A position is a byte offset
// just after a complete line, in a file of that identity; the source saves it when the window holding the lines
// before it is acknowledged. After a restart, the position's file is looked for under the path, then among the
// rotated files beside it (read from the position to their end, then the current file from 0); a file that is gone
// is counted as lost (the bytes after the position, as far as its size was known) and reading starts at the current
// file's beginning. A file that shrank (truncated in place) counts what was not read as lost and is read from 0.
import fs from 'node:fs';
import fsp, { type FileHandle } from 'node:fs/promises';
import path from 'node:path';
import { FINGERPRINT_BYTES, fingerprintOf } from '../cri-logs/fingerprint.js';

export interface FlowLogPosition {
  device: number;
  inode: number;
  fingerprint: number;
  fingerprintLength: number;
  /** Just after the last complete line handed out. */
  offset: number;
  /** Size of the file when last seen (to count what is lost if it goes away). */
  size: number;
  /** Its name then (a rotated name once renamed). */
  name: string;
}

export interface FlowLogHandlers {
  line(text: string): void;
  /** A line longer than the limit was skipped (bytes skipped). */
  tooLong(bytes: number): void;
  lost(bytes: number, reason: 'rotated_away' | 'truncated', file: string): void;
  rotated(from: string): void;
  readError(err: unknown): void;
}

export interface FlowLogTailerOptions {
  path: string;
  /** Where to start without a saved position: the beginning of the current file, or its end. */
  startAt: 'beginning' | 'end';
  maxLineBytes: number;
  pollIntervalMs: number;
  readBufferBytes?: number;
}

interface OpenFile {
  handle: FileHandle;
  device: number;
  inode: number;
  fingerprint: number;
  fingerprintLength: number;
  name: string;
  size: number;
  /** Just after the last complete line handed out. */
  offset: number;
  /** Opened from a saved position under a rotated name: once read to its end, the current file starts. */
  rotatedAway: boolean;
  /** Its successor was seen under the path: it is read to its end once more, then left. */
  replacedSeen: boolean;
}

export type TailerState = 'waiting for file' | 'reading' | 'idle' | 'stopped';

export class FlowLogTailer {
  state: TailerState = 'waiting for file';
  rotations = 0;
  private file: OpenFile | undefined;
  private carry: Buffer = Buffer.alloc(0);
  /** Skipping the rest of a line that was too long. */
  private skipping = false;
  private skippedBytes = 0;
  private wakeUp: (() => void) | undefined;
  private readonly buffer: Buffer;

  constructor(
    private readonly options: FlowLogTailerOptions,
    private readonly start: FlowLogPosition | undefined,
    private readonly handlers: FlowLogHandlers,
  ) {
    this.buffer = Buffer.alloc(options.readBufferBytes ?? 64 * 1024);
  }

  /** Where everything before has been handed out; undefined before a file was opened. */
  position(): FlowLogPosition | undefined {
    const f = this.file;
    return f ? { device: f.device, inode: f.inode, fingerprint: f.fingerprint, fingerprintLength: f.fingerprintLength, offset: f.offset, size: f.size, name: f.name } : undefined;
  }

  get currentName(): string | undefined {
    return this.file?.name;
  }

  async run(signal: AbortSignal): Promise<void> {
    const dir = path.dirname(this.options.path);
    let watcher: fs.FSWatcher | undefined;
    try {
      watcher = fs.watch(dir, () => this.wakeUp?.());
      watcher.on('error', () => undefined); // the poll goes on
    } catch {
      // folder missing or not watchable: the poll finds the file
    }
    try {
      await this.openAtStart(signal);
      while (!signal.aborted) {
        try {
          if (!this.file) {
            this.file = await this.openCurrent(0, false);
            if (!this.file) {
              this.state = 'waiting for file';
              await this.wait(signal);
              continue;
            }
          }
          this.state = 'reading';
          if ((await this.readSome()) > 0) continue;
          if (await this.atEnd()) continue;
          this.state = 'idle';
          await this.wait(signal);
        } catch (err) {
          if (signal.aborted) break;
          this.handlers.readError(err);
          await this.wait(signal);
        }
      }
    } finally {
      watcher?.close();
      await this.file?.handle.close().catch(() => undefined);
      this.state = 'stopped';
    }
  }

  /** Reads one buffer's worth and hands out its complete lines; returns the bytes read. */
  private async readSome(): Promise<number> {
    const f = this.file!;
    const at = f.offset + this.carry.length;
    const { bytesRead } = await f.handle.read(this.buffer, 0, this.buffer.length, at);
    if (bytesRead === 0) return 0;
    if (at + bytesRead > f.size) f.size = at + bytesRead;
    const data = this.carry.length > 0 ? Buffer.concat([this.carry, this.buffer.subarray(0, bytesRead)]) : this.buffer.subarray(0, bytesRead);
    let start = 0;
    for (let nl = data.indexOf(0x0a, start); nl !== -1; nl = data.indexOf(0x0a, start)) {
      if (this.skipping) {
        this.skippedBytes += nl - start + 1;
        this.handlers.tooLong(this.skippedBytes);
        this.skipping = false;
        this.skippedBytes = 0;
      } else if (nl - start > this.options.maxLineBytes) {
        this.handlers.tooLong(nl - start + 1);
      } else {
        this.handlers.line(data.toString('utf8', start, nl));
      }
      start = nl + 1;
    }
    // `data` begins at the old offset (the carried partial line first): complete lines end at old + start.
    f.offset += start;
    const rest = data.length - start;
    if (rest > this.options.maxLineBytes) {
      // A line longer than the limit with no end in sight: drop what we have, keep skipping to its newline.
      this.skipping = true;
      this.skippedBytes += rest;
      f.offset += rest;
      this.carry = Buffer.alloc(0);
    } else {
      this.carry = rest > 0 ? Buffer.from(data.subarray(start)) : Buffer.alloc(0);
    }
    if (f.fingerprintLength < FINGERPRINT_BYTES && f.offset > f.fingerprintLength) await this.refreshFingerprint(f);
    return bytesRead;
  }

  /**
   * Nothing more to read in the open file: did it rotate, shrink or get replaced? Returns true when the next file is
   * open (or the same one reset) and reading goes on at once.
   */
  private async atEnd(): Promise<boolean> {
    const f = this.file!;
    const held = await f.handle.stat();
    f.size = Math.max(f.size, held.size);
    if (held.size < f.offset + this.carry.length) {
      const unread = Math.max(0, f.size - f.offset - this.carry.length);
      this.handlers.lost(unread, 'truncated', f.name);
      f.offset = 0;
      f.size = held.size;
      this.carry = Buffer.alloc(0);
      await this.refreshFingerprint(f, true);
      return true;
    }
    let current: fs.Stats | undefined;
    try {
      current = await fsp.stat(this.options.path);
    } catch {
      current = undefined;
    }
    const replaced = current !== undefined && (current.ino !== f.inode || current.dev !== f.device);
    if (!replaced && !f.rotatedAway) return false;
    if (f.rotatedAway && current === undefined) return false;
    if (!f.replacedSeen) {
      // The last read may have come before the writer's last lines (written, then the rename): read to the end
      // once more now that the file is known to be finished. (A unit test lost the 10 lines written just before
      // the rename, once in ~20 runs, when the read found nothing and the path's new file was seen after them.)
      f.replacedSeen = true;
      return true;
    }
    // Renamed away and read to its end (the writer had closed it before renaming): a line without its newline at the
    // very end is still a line.
    if (this.carry.length > 0 && !this.skipping) this.handlers.line(this.carry.toString('utf8'));
    f.offset += this.carry.length;
    this.carry = Buffer.alloc(0);
    this.skipping = false;
    this.skippedBytes = 0;
    await f.handle.close();
    this.file = undefined;
    this.rotations++;
    this.handlers.rotated(f.name);
    this.file = await this.openCurrent(0, false);
    return this.file !== undefined;
  }

  private async openAtStart(signal: AbortSignal): Promise<void> {
    const p = this.start;
    if (!p) {
      while (!signal.aborted && !this.file) {
        const size = await fsp.stat(this.options.path).then((s) => s.size, () => undefined);
        if (size !== undefined) this.file = await this.openCurrent(this.options.startAt === 'end' ? size : 0, false);
        if (!this.file) await this.wait(signal);
      }
      if (this.file && this.options.startAt === 'end') this.file.offset = await this.lineStartBefore(this.file);
      return;
    }
    // The saved file under the path?
    const here = await this.openIfSame(this.options.path, p);
    if (here) {
      this.file = here;
      return;
    }
    // Among the rotated files beside it?
    const dir = path.dirname(this.options.path);
    const names = await fsp.readdir(dir).catch(() => [] as string[]);
    for (const name of names) {
      const full = path.join(dir, name);
      if (full === this.options.path) continue;
      const rotated = await this.openIfSame(full, p);
      if (rotated) {
        rotated.rotatedAway = true;
        this.file = rotated;
        return;
      }
    }
    this.handlers.lost(Math.max(0, p.size - p.offset), 'rotated_away', p.name);
    this.file = await this.openCurrent(0, false);
  }

  /** Opens `file` when it is the saved one (device, inode and first bytes), at the saved offset. */
  private async openIfSame(file: string, p: FlowLogPosition): Promise<OpenFile | undefined> {
    let handle: FileHandle;
    try {
      handle = await fsp.open(file, 'r');
    } catch {
      return undefined;
    }
    const st = await handle.stat();
    if (st.isFile() && st.ino === p.inode && st.dev === p.device && st.size >= p.fingerprintLength) {
      const { fingerprint } = await fingerprintOf(handle, p.fingerprintLength);
      if (fingerprint === p.fingerprint) {
        if (st.size < p.offset) this.handlers.lost(Math.max(0, p.size - p.offset), 'truncated', file);
        const offset = st.size < p.offset ? 0 : p.offset;
        const opened: OpenFile = { handle, device: st.dev, inode: st.ino, fingerprint: p.fingerprint, fingerprintLength: p.fingerprintLength, name: file, size: st.size, offset, rotatedAway: false, replacedSeen: false };
        if (offset === 0) await this.refreshFingerprint(opened, true);
        return opened;
      }
    }
    await handle.close();
    return undefined;
  }

  private async openCurrent(offset: number, rotatedAway: boolean): Promise<OpenFile | undefined> {
    let handle: FileHandle;
    try {
      handle = await fsp.open(this.options.path, 'r');
    } catch {
      return undefined;
    }
    const st = await handle.stat();
    const f: OpenFile = { handle, device: st.dev, inode: st.ino, fingerprint: 0, fingerprintLength: 0, name: this.options.path, size: st.size, offset, rotatedAway, replacedSeen: false };
    await this.refreshFingerprint(f, true);
    return f;
  }

  /** startAt=end: begin after the last complete line (a line being written is read whole). */
  private async lineStartBefore(f: OpenFile): Promise<number> {
    const back = Math.min(f.offset, this.options.maxLineBytes + 1);
    const tail = Buffer.alloc(back);
    const { bytesRead } = await f.handle.read(tail, 0, back, f.offset - back);
    const nl = tail.subarray(0, bytesRead).lastIndexOf(0x0a);
    return nl === -1 ? f.offset - bytesRead : f.offset - bytesRead + nl + 1;
  }

  private async refreshFingerprint(f: OpenFile, force = false): Promise<void> {
    if (!force && f.fingerprintLength >= FINGERPRINT_BYTES) return;
    const { fingerprint, fingerprintLength } = await fingerprintOf(f.handle, FINGERPRINT_BYTES);
    f.fingerprint = fingerprint;
    f.fingerprintLength = fingerprintLength;
  }

  private wait(signal: AbortSignal): Promise<void> {
    if (signal.aborted) return Promise.resolve();
    return new Promise((resolve) => {
      const done = () => {
        clearTimeout(timer);
        signal.removeEventListener('abort', done);
        this.wakeUp = undefined;
        resolve();
      };
      const timer = setTimeout(done, this.options.pollIntervalMs);
      signal.addEventListener('abort', done, { once: true });
      this.wakeUp = done;
    });
  }
}
