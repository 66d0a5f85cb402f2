// Follows one container log file from a start offset: reads what is there, turns complete records into lines,
// hands them to the sink (waiting while it is full), then waits for the file to grow. It ends when the file was
// rotated away or deleted and has been read to its end, so that a successor at the same path starts only after
// its predecessor is finished (line numbers then continue in order).
import fs from 'node:fs/promises';
import type { FileHandle } from 'node:fs/promises';
import { parseCriLine, type Timestamp } from './cri-parser.js';
import type { ContainerLogIdentity } from './pod-path.js';
import type { FileChunk, FileIdentity, LogLine, LogSink } from './types.js';
import type { CriLogEvents } from './events.js';

export interface FollowerOptions {
  readBufferBytes: number;
  /** A message joined from partial records is cut into pieces of at most this many bytes, flagged truncated. */
  maxMessageBytes: number;
  pollIntervalMs: number;
}

export type FollowerEnd = 'rotated' | 'deleted' | 'stopped';

interface OpenPartial {
  offset: number;
  timestamp: Timestamp;
  parts: string[];
  bytes: number;
}

export class FileFollower {
  /** Byte offset up to which records have been read and turned into lines (or are held as an open partial). */
  private readPosition: number;
  private lineNumber: number;
  private carry: Buffer = Buffer.alloc(0);
  private readonly partials = new Map<'stdout' | 'stderr', OpenPartial>();
  private wakeUp: (() => void) | undefined;
  state: 'reading' | 'waiting' | 'blocked' | 'finished' = 'reading';
  size = 0;

  constructor(
    readonly path: string,
    readonly container: ContainerLogIdentity,
    private readonly handle: FileHandle,
    readonly file: FileIdentity,
    start: { offset: number; lineNumber: number },
    private readonly sink: LogSink,
    private readonly options: FollowerOptions,
    private readonly events: CriLogEvents,
  ) {
    this.readPosition = start.offset;
    this.lineNumber = start.lineNumber;
  }

  get position(): number {
    return this.readPosition;
  }

  get lastLineNumber(): number {
    return this.lineNumber;
  }

  /** Asks a waiting follower to look at its file now (a file-system event said it changed). */
  wake(): void {
    this.wakeUp?.();
  }

  async run(signal: AbortSignal): Promise<FollowerEnd> {
    const buffer = Buffer.allocUnsafe(this.options.readBufferBytes);
    try {
      let sawEndOnce = false;
      while (!signal.aborted) {
        this.state = 'reading';
        const filePosition = this.readPosition + this.carry.length;
        const { bytesRead } = await this.handle.read(buffer, 0, buffer.length, filePosition);
        if (bytesRead > 0) {
          sawEndOnce = false;
          await this.consume(buffer.subarray(0, bytesRead), signal);
          continue;
        }
        const stat = await this.handle.stat();
        this.size = stat.size;
        if (stat.size < filePosition) {
          // Truncated in place (copytruncate or a runtime restart): what we had not read is gone; start over.
          this.events.truncated(this.container, filePosition - this.readPosition);
          this.readPosition = 0;
          this.carry = Buffer.alloc(0);
          this.partials.clear();
          continue;
        }
        const end = await this.replacedOrDeleted();
        if (end) {
          // The runtime may still append between the rename and its reopen: read once more after seeing the end.
          if (!sawEndOnce) {
            sawEndOnce = true;
            continue;
          }
          await this.finish(signal);
          return end;
        }
        this.state = 'waiting';
        await this.waitForChange(signal);
      }
      return 'stopped';
    } catch (err) {
      if (signal.aborted) return 'stopped';
      throw err;
    } finally {
      this.state = 'finished';
      await this.handle.close().catch(() => undefined);
    }
  }

  private async replacedOrDeleted(): Promise<FollowerEnd | undefined> {
    try {
      const current = await fs.stat(this.path);
      return current.ino === this.file.inode && current.dev === this.file.device ? undefined : 'rotated';
    } catch (err) {
      if ((err as NodeJS.ErrnoException).code === 'ENOENT') return 'deleted';
      throw err;
    }
  }

  private waitForChange(signal: AbortSignal): Promise<void> {
    return new Promise<void>((resolve) => {
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

  /** Turns the bytes after carry into lines; keeps an incomplete trailing record as carry. */
  private async consume(bytes: Buffer, signal: AbortSignal): Promise<void> {
    const data = this.carry.length > 0 ? Buffer.concat([this.carry, bytes]) : bytes;
    const base = this.readPosition;
    const lines: LogLine[] = [];
    let start = 0;
    for (let nl = data.indexOf(10, start); nl !== -1; nl = data.indexOf(10, start)) {
      this.record(data.toString('utf8', start, nl), base + start, base + nl + 1, lines);
      start = nl + 1;
    }
    this.readPosition = base + start;
    // Copy the tail: it must not keep the shared read buffer alive or be overwritten by the next read.
    this.carry = Buffer.from(data.subarray(start));
    if (this.carry.length > this.options.maxMessageBytes + 64) {
      // A single record longer than any message we keep (no newline yet): cut it so memory stays bounded.
      this.emitRaw(this.carry.toString('utf8'), this.readPosition, this.readPosition + this.carry.length, lines, true);
      this.readPosition += this.carry.length;
      this.carry = Buffer.alloc(0);
    }
    if (lines.length > 0) await this.deliver(lines, signal);
  }

  private record(text: string, offset: number, endOffset: number, out: LogLine[]): void {
    const rec = parseCriLine(text);
    if (!rec) {
      this.events.parseError(this.container);
      this.emitRaw(text, offset, endOffset, out, false);
      return;
    }
    let open = this.partials.get(rec.stream);
    if (rec.partial || open) {
      if (!open) {
        open = { offset, timestamp: rec.timestamp, parts: [], bytes: 0 };
        this.partials.set(rec.stream, open);
      }
      open.parts.push(rec.message);
      open.bytes += Buffer.byteLength(rec.message);
      if (open.bytes > this.options.maxMessageBytes) {
        // Bounded memory whatever the line length: send what we have as a truncated piece, keep joining.
        this.events.truncation(this.container);
        out.push(this.line(open.timestamp, rec.stream, open.parts.join(''), open.offset, endOffset, false, true));
        open.parts = [];
        open.bytes = 0;
        open.offset = endOffset;
        if (!rec.partial) this.partials.delete(rec.stream);
        return;
      }
      if (rec.partial) return;
      this.partials.delete(rec.stream);
      out.push(this.line(open.timestamp, rec.stream, open.parts.join(''), open.offset, endOffset, false, false));
      return;
    }
    out.push(this.line(rec.timestamp, rec.stream, rec.message, offset, endOffset, false, false));
  }

  private emitRaw(text: string, offset: number, endOffset: number, out: LogLine[], truncated: boolean): void {
    const now = Date.now();
    out.push(this.line({ seconds: Math.floor(now / 1000), nanos: (now % 1000) * 1e6 }, 'stdout', text, offset, endOffset, true, truncated));
  }

  private line(timestamp: Timestamp, stream: 'stdout' | 'stderr', message: string, offset: number, endOffset: number, parseError: boolean, truncated: boolean): LogLine {
    return { timestamp, stream, message, offset, endOffset, lineNumber: ++this.lineNumber, parseError, truncated };
  }

  /** A file that ended (rotated or deleted) with an open partial: the runtime will not finish it here. */
  private async finish(signal: AbortSignal): Promise<void> {
    const lines: LogLine[] = [];
    for (const [stream, open] of this.partials) {
      if (open.parts.length > 0) lines.push(this.line(open.timestamp, stream, open.parts.join(''), open.offset, this.readPosition, false, false));
    }
    this.partials.clear();
    if (this.carry.length > 0) {
      this.emitRaw(this.carry.toString('utf8'), this.readPosition, this.readPosition + this.carry.length, lines, false);
      this.readPosition += this.carry.length;
      this.carry = Buffer.alloc(0);
    }
    if (lines.length > 0) await this.deliver(lines, signal);
  }

  private async deliver(lines: LogLine[], signal: AbortSignal): Promise<void> {
    let bytes = 0;
    for (const l of lines) bytes += l.endOffset - l.offset;
    const chunk: FileChunk = { path: this.path, container: this.container, file: this.file, lines, bytes };
    this.events.linesRead(this.container, lines.length, bytes);
    this.state = 'blocked';
    await this.sink.push(chunk, signal);
    this.state = 'reading';
  }
}
