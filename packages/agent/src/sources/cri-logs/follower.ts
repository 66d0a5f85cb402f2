// Follows one log file from a start offset: reads what is there in bounded chunks (holding a read permit), turns
// it into lines (record-assembler), hands them to the sink (waiting while it is full: backpressure), then waits to
// be woken (a file-system event, the safety poll) for more. It ends once its file has ended (rotated away with a
// successor, deleted, its container finished: the rotation logic says so) and has been read to its end once more
// after that was known, so that a successor starts only after its predecessor is finished and line numbers go on
// in order. A file that shrank is counted as truncated and read again from 0 as new content. A follower with nothing
// new at a safety poll and nothing half read parks: it ends, and its owner starts a new one there on the next change.
import type { ByteSource } from './byte-source.js';
import { FINGERPRINT_BYTES, hashBytes } from './fingerprint.js';
import type { ContainerLogIdentity } from './pod-path.js';
import type { ReadPermits } from './read-permits.js';
import { RecordAssembler, RECORD_PREFIX_ALLOWANCE, type AssemblerHooks, type LogFormat } from './record-assembler.js';
import type { StackTraceLimits } from './stack-traces.js';
import type { ChunkOwner, FileChunk, FileIdentity, LogLine, LogSink } from './types.js';

export interface FollowerOptions {
  /** Bytes read at a time. */
  readBufferBytes: number;
  /** A message longer than this is sent in pieces of at most this many bytes, flagged truncated. */
  maxMessageBytes: number;
  stackTraces: StackTraceLimits | null;
  /**
   * After reading to the end of what was written, a change is read no sooner than this (ms) after that: the writes
   * of a busy container (a runtime writes each line as it comes) are read together, at most 1000/readIntervalMs
   * reads a second per file, instead of a read, a stat and a chunk per write. The first write after a quiet spell
   * is read at once. 0: every change at once.
   */
  readIntervalMs?: number;
}

/** What the follower needs to know about its file and to tell it; the rotation logic implements it. */
export interface FollowedFile {
  readonly path: string;
  readonly container: ContainerLogIdentity;
  readonly identity: FileIdentity;
  /** The fingerprint covers fewer bytes than it could and no line was sent under it yet: fix it before the first. */
  readonly provisionalIdentity: boolean;
  /** Nothing more will be written to it. */
  readonly ended: boolean;
  readonly previousContainer: boolean;
  /** The last file of a container instance that ended: its last chunk says stream_complete. */
  readonly completesStream: boolean;
  /** The commit target of chunks with the current identity. */
  readonly owner: ChunkOwner;
  /** Size of the content when last seen. */
  knownSize: number;
  /** A new identity: fixed from more bytes, or new content after a truncation (reading restarts at 0). */
  setIdentity(identity: FileIdentity, truncated: boolean): void;
}

/** Counted events of one file, bound to its container by the caller. */
export interface FollowerEvents extends AssemblerHooks {
  read(lines: number, bytes: number): void;
  truncated(path: string, unreadBytes: number): void;
}

/**
 * finished: the file ended and was read to its end. parked: nothing new since the last safety poll and nothing half
 * read: the follower stops and its owner starts a new one at `position` when the file changes (an idle file then
 * costs no follower, no assembler and no waiting promise). stopped: the signal aborted.
 */
export type FollowerEnd = 'finished' | 'parked' | 'stopped';
export type FollowerState = 'reading' | 'waiting' | 'blocked' | 'finished';

/** How often, at most, a followed file's first bytes are compared again (a truncation followed by new writes). */
const FINGERPRINT_CHECK_MS = 1000;

export class FileFollower {
  private readonly assembler: RecordAssembler;
  /** Bytes after the assembler's position that were read but are not a complete record yet. */
  private carry: Buffer | undefined;
  private wakeUp: (() => void) | undefined;
  private woken = false;
  private polled = false;
  private lastFingerprintCheck = 0;
  /** Resume offset of the last chunk handed over. */
  private deliveredResume: number;
  private carryHighWater = 0;
  /** When reading last found nothing more (the end of what was written). */
  private caughtUpAt = -Infinity;
  /** Waiting for a read permit (all held by followers the sink does not take chunks from, or busy). */
  private waitingForPermit = false;
  state: FollowerState = 'reading';
  /** A chunk with stream_complete was handed over. */
  sentComplete = false;

  constructor(
    private readonly file: FollowedFile,
    private readonly source: ByteSource,
    start: { offset: number; lineNumber: number },
    private readonly sink: LogSink,
    private readonly permits: ReadPermits,
    private readonly options: FollowerOptions,
    private readonly events: FollowerEvents,
    private readonly now: () => number = Date.now,
  ) {
    this.assembler = new RecordAssembler(start, { maxMessageBytes: options.maxMessageBytes, stackTraces: options.stackTraces }, events, now);
    this.deliveredResume = start.offset;
  }

  /** Offset up to which the file was read (the assembler's position plus a not yet complete record). */
  get position(): number {
    return this.assembler.position + (this.carry?.length ?? 0);
  }

  get lineNumber(): number {
    return this.assembler.lineNumber;
  }

  get format(): LogFormat | undefined {
    return this.assembler.format;
  }

  /** The most message bytes held at once while joining (what a very long line cost in memory). */
  get heldBytesHighWater(): number {
    return Math.max(this.assembler.heldBytesHighWater, this.carryHighWater);
  }

  /**
   * Held back, not reading: its lines wait for the sink (backpressure) or it waits for a read permit. Meanwhile it
   * does not look at its file's size; the owner does (one fstat per safety poll), so the size and lag shown stay current.
   */
  get paused(): boolean {
    return this.state === 'blocked' || this.waitingForPermit;
  }

  /** Asks the follower to look at its file now (it changed, or its end is known). */
  wake(): void {
    this.woken = true;
    this.polled = false;
    this.wakeUp?.();
  }

  /**
   * The safety poll: a waiting follower compares its file's size with where it is (one fstat) and reads only when
   * they differ, so thousands of idle files cost one system call each per poll.
   */
  poll(): void {
    if (this.state !== 'waiting' || this.woken) return;
    this.polled = true;
    this.wakeUp?.();
  }

  async run(signal: AbortSignal): Promise<FollowerEnd> {
    let endSeen = false;
    try {
      while (!signal.aborted) {
        if (this.polled) {
          this.polled = false;
          const { size, linked } = await this.source.stat();
          if (size === this.position && linked && !this.file.ended && !this.assembler.open && !this.carry && !this.woken) return 'parked';
        }
        this.woken = false;
        this.state = 'reading';
        const n = await this.readOnce(signal);
        if (n > 0) continue;
        const { size, linked } = await this.source.stat();
        const previousSize = this.file.knownSize;
        this.file.knownSize = size;
        if (!this.source.compressed && (size < this.position || (await this.rewritten(size)))) {
          await this.truncated(signal, previousSize);
          endSeen = false;
          continue;
        }
        if (this.file.ended || !linked) {
          // The runtime may have appended between our last read and the moment the end was known: read once more.
          if (!endSeen) {
            endSeen = true;
            continue;
          }
          await this.finish(signal);
          return 'finished';
        }
        const deadline = this.assembler.heldDeadline;
        if (deadline !== undefined && this.now() >= deadline) {
          const out: LogLine[] = [];
          this.assembler.flushHeld(out);
          await this.deliver(out, signal, false);
          continue;
        }
        this.state = 'waiting';
        this.caughtUpAt = this.now();
        await this.waitForWake(signal, deadline);
        await this.readInterval(signal);
      }
      return 'stopped';
    } catch (err) {
      if (signal.aborted) return 'stopped';
      throw err;
    } finally {
      this.state = 'finished';
    }
  }

  /** Reads one chunk and delivers its lines; returns the bytes read (0 at the end of what is written). */
  private async readOnce(signal: AbortSignal): Promise<number> {
    this.waitingForPermit = true;
    let buffer: Buffer;
    try {
      buffer = await this.permits.acquire(signal);
    } finally {
      this.waitingForPermit = false;
    }
    try {
      const carry = this.carry;
      const c = carry ? carry.copy(buffer, 0) : 0;
      const room = Math.min(this.options.readBufferBytes, buffer.length - c);
      const n = await this.source.read(buffer, c, room, this.assembler.position + c);
      if (n === 0) return 0;
      const end = c + n;
      const view = buffer.subarray(0, end);
      const out: LogLine[] = [];
      const linesBefore = this.assembler.lineNumber;
      const consumed = this.assembler.consume(view, end, this.assembler.position, out);
      this.carry = consumed < end ? Buffer.from(view.subarray(consumed, end)) : undefined;
      if (this.carry && this.carry.length > this.carryHighWater) this.carryHighWater = this.carry.length;
      this.events.read(this.assembler.lineNumber - linesBefore, n);
      await this.deliver(out, signal, false);
      return n;
    } finally {
      this.permits.release(buffer);
    }
  }

  /** True when the file's first bytes are not the ones its identity was made from (rewritten after a truncation). */
  private async rewritten(size: number): Promise<boolean> {
    const id = this.file.identity;
    if (id.fingerprintLength === 0 || size < id.fingerprintLength) return false;
    const now = this.now();
    if (now - this.lastFingerprintCheck < FINGERPRINT_CHECK_MS) return false;
    this.lastFingerprintCheck = now;
    const head = await this.source.head(id.fingerprintLength);
    return head.length === id.fingerprintLength && hashBytes(head) !== id.fingerprint;
  }

  private async truncated(signal: AbortSignal, previousSize: number): Promise<void> {
    // What was read is sent as it is (a record cut by the truncation goes out as read); what was written and not
    // read is gone: counted (as far as we saw it written). Then the file is new content: a new identity, read from
    // 0, line numbers continuing.
    const unread = Math.max(0, previousSize - this.position);
    const out: LogLine[] = [];
    const carry = this.carry;
    this.carry = undefined;
    this.assembler.finish(carry ?? Buffer.alloc(0), carry?.length ?? 0, this.assembler.position, out);
    await this.deliver(out, signal, false);
    this.events.truncated(this.file.path, unread);
    this.assembler.restartAtZero([]);
    this.deliveredResume = 0;
    const head = await this.source.head(FINGERPRINT_BYTES);
    this.file.setIdentity({ ...this.file.identity, fingerprint: hashBytes(head), fingerprintLength: head.length }, true);
    const { size } = await this.source.stat();
    this.file.knownSize = size;
  }

  private async finish(signal: AbortSignal): Promise<void> {
    const out: LogLine[] = [];
    const carry = this.carry;
    this.carry = undefined;
    this.assembler.finish(carry ?? Buffer.alloc(0), carry?.length ?? 0, this.assembler.position, out);
    await this.deliver(out, signal, true);
  }

  private async deliver(lines: LogLine[], signal: AbortSignal, last: boolean): Promise<void> {
    const streamComplete = last && this.file.completesStream;
    // Without lines a chunk still goes when it completes the stream, or moves the resume point (lines dropped by
    // the rate limit), so that checkpoints advance.
    if (lines.length === 0 && !streamComplete && this.assembler.resumeOffset === this.deliveredResume) return;
    if (lines.length > 0 && this.file.provisionalIdentity) await this.fixIdentity();
    this.deliveredResume = this.assembler.resumeOffset;
    let bytes = 0;
    for (let i = 0; i < lines.length; i++) bytes += lines[i]!.endOffset - lines[i]!.offset;
    const chunk: FileChunk = {
      owner: this.file.owner,
      path: this.file.path,
      container: this.file.container,
      file: this.file.identity,
      lines,
      bytes,
      previousContainer: this.file.previousContainer,
      streamComplete,
      resumeOffset: this.assembler.resumeOffset,
      resumeLine: this.assembler.resumeLine,
    };
    this.state = 'blocked';
    await this.sink.push(chunk, signal);
    if (streamComplete) this.sentComplete = true;
    this.state = 'reading';
  }

  /** The identity was taken when the file had few bytes: take it again over what it has now, before any line. */
  private async fixIdentity(): Promise<void> {
    if (this.source.compressed) return;
    const head = await this.source.head(FINGERPRINT_BYTES);
    this.file.setIdentity({ ...this.file.identity, fingerprint: hashBytes(head), fingerprintLength: head.length }, false);
  }

  /** Woken soon after catching up: waits out the rest of the read interval (not when the file has ended). */
  private async readInterval(signal: AbortSignal): Promise<void> {
    const wait = this.caughtUpAt + (this.options.readIntervalMs ?? 0) - this.now();
    if (wait <= 0 || this.file.ended || signal.aborted) return;
    await new Promise<void>((resolve) => {
      const done = () => {
        clearTimeout(timer);
        signal.removeEventListener('abort', done);
        resolve();
      };
      const timer = setTimeout(done, wait);
      signal.addEventListener('abort', done, { once: true });
    });
  }

  /** Waits for wake() or poll(), the signal, or a held trace's deadline. */
  private waitForWake(signal: AbortSignal, deadline: number | undefined): Promise<void> {
    this.state = 'waiting';
    if (this.woken || this.polled || signal.aborted) return Promise.resolve();
    return new Promise<void>((resolve) => {
      let timer: NodeJS.Timeout | undefined;
      const done = () => {
        if (timer) clearTimeout(timer);
        signal.removeEventListener('abort', done);
        this.wakeUp = undefined;
        resolve();
      };
      // A timer only while a stack trace is held (rare); otherwise events and the safety poll wake us.
      if (deadline !== undefined) timer = setTimeout(done, Math.max(1, deadline - this.now()));
      signal.addEventListener('abort', done, { once: true });
      this.wakeUp = done;
    });
  }
}

/** Bytes a read buffer needs: one read plus the longest incomplete record kept between reads. */
export const readBufferBytesFor = (options: FollowerOptions): number => options.readBufferBytes + options.maxMessageBytes + RECORD_PREFIX_ALLOWANCE + 1;
