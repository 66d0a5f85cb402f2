// Turns the bytes of one log file into numbered lines: splits records at newlines, parses each in the file's format
// (CRI or Docker json-file, detected from the first record, either accepted per record), joins partial records per
// stream, cuts messages longer than the maximum into bounded pieces, detects levels, groups stack traces, and keeps
// the resume point that checkpoints use.
//
// Rules that keep replays exact (reading the same bytes again from a resume point gives the same lines, numbers and
// offsets, whatever the read sizes were):
//   - a message longer than maxMessageBytes is cut into pieces at fixed places: a joined message before the record
//     that would take it past the maximum, a single record every maxMessageBytes bytes of its message (never inside
//     a UTF-8 character); every piece is flagged truncated;
//   - lines are emitted in the order their last record completes, each with an endOffset greater than the one
//     before (the aggregator drops a line whose endOffset is not past what it forwarded for the file);
//   - the resume point only moves to a record boundary where no message is half joined, no long record is open and
//     no stack trace is held.
import { newCriFields, parseCriRecord, type Stream } from './cri-parser.js';
import { newDockerFields, parseDockerRecord } from './docker-parser.js';
import { detectLevel } from './log-level.js';
import { PartialMessage, utf8Boundary } from './partial-lines.js';
import { StackTraceGrouper, type StackTraceLimits } from './stack-traces.js';
import type { LogLine } from './types.js';

export interface AssemblerOptions {
  maxMessageBytes: number;
  /** null: stack traces are not grouped. */
  stackTraces: StackTraceLimits | null;
}

/** What the assembler reports, bound to its container by the caller. */
export interface AssemblerHooks {
  parseError(): void;
  /** A message was cut at the maximum size (counted once per message). */
  truncation(): void;
  /** The rate limit: false when this line is to be dropped (the hook counts it). */
  admit(): boolean;
}

export type LogFormat = 'cri' | 'docker';

interface NodeBuffer {
  utf8Slice(start: number, end: number): string;
}

/** Decodes b[s..e) as UTF-8 (invalid bytes become U+FFFD): Buffer#toString without its argument handling. */
const decode = (b: Buffer, s: number, e: number): string => b.toString("utf8", s, e);

/** Where lines go between calls: nowhere (nothing is emitted outside consume, finish and flushHeld). */
const NO_LINES: LogLine[] = Object.freeze([]) as unknown as LogLine[];

/** Bytes beyond the maximum message size a record may have (its prefix) before it is read in pieces. */
export const RECORD_PREFIX_ALLOWANCE = 128;

interface LongRecord {
  /** Not in a known format: its pieces are raw lines. */
  raw: boolean;
  stream: Stream;
  seconds: number;
  nanos: number;
  /** Tagged P: what is left after the last full piece joins the stream's next records. */
  partialTag: boolean;
}

export class RecordAssembler {
  /** Last line number given. */
  lineNumber: number;
  /** File offset up to which bytes are consumed. */
  position: number;
  resumeOffset: number;
  resumeLine: number;
  format: LogFormat | undefined;
  private readonly stdout = new PartialMessage();
  private readonly stderr = new PartialMessage();
  private readonly cri = newCriFields();
  private readonly docker = newDockerFields();
  private readonly grouper: StackTraceGrouper | undefined;
  private long: LongRecord | undefined;
  private out: LogLine[] = NO_LINES;
  /** Lines of `out` from here on were emitted since the last record boundary. */
  private pendingFrom = 0;
  private lastEnd = -1;
  private lastSeconds = -1;
  private lastNanos = 0;
  /** Largest number of message bytes held at once (joins and pieces): what memory the file costs at most. */
  heldBytesHighWater = 0;

  constructor(
    start: { offset: number; lineNumber: number },
    private readonly options: AssemblerOptions,
    private readonly hooks: AssemblerHooks,
    private readonly now: () => number = Date.now,
  ) {
    this.lineNumber = start.lineNumber;
    this.position = start.offset;
    this.resumeOffset = start.offset;
    this.resumeLine = start.lineNumber;
    this.grouper = options.stackTraces ? new StackTraceGrouper(options.stackTraces, (l) => this.push(l), now) : undefined;
  }

  /** Something is half read: a joined message, a long record or a held stack trace. */
  get open(): boolean {
    return this.stdout.active || this.stderr.active || this.long !== undefined || (this.grouper?.holding ?? false);
  }

  /** When a held stack trace may be sent although nothing followed it (wall-clock ms), if one is held. */
  get heldDeadline(): number | undefined {
    return this.grouper?.flushDeadline();
  }

  /**
   * Consumes the complete records of b[0..end), which starts at file offset `base` (= position), appending lines to
   * `out`. Returns how many bytes were consumed; the rest (an incomplete record) is to be offered again with more.
   */
  consume(b: Buffer, end: number, base: number, out: LogLine[]): number {
    this.begin(out);
    try {
      return this.consumeRecords(b, end, base);
    } finally {
      this.out = NO_LINES; // the lines are the caller's now: an idle file keeps none of them alive
    }
  }

  private consumeRecords(b: Buffer, end: number, base: number): number {
    let start = 0;
    if (this.long) {
      const nl = b.indexOf(10, 0);
      const stop = nl < 0 || nl >= end ? -1 : nl;
      start = this.continueLong(b, 0, stop < 0 ? end : stop, base, stop >= 0, stop >= 0);
      if (stop < 0) {
        this.position = base + start;
        return start;
      }
      start = stop + 1;
      this.recordDone(base + start);
    }
    for (;;) {
      const nl = b.indexOf(10, start);
      if (nl < 0 || nl >= end) break;
      this.record(b, start, nl, base + start, base + nl + 1);
      start = nl + 1;
      this.recordDone(base + start);
    }
    if (end - start > this.options.maxMessageBytes + RECORD_PREFIX_ALLOWANCE) start = this.beginLong(b, start, end, base);
    this.position = base + start;
    return start;
  }

  /**
   * The file ended (rotated away, deleted, or its container finished): b[0..end) is its last, unterminated record
   * (possibly empty). Everything held is sent: joined messages as they are, a held stack trace.
   */
  finish(b: Buffer, end: number, base: number, out: LogLine[]): void {
    this.begin(out);
    try {
      this.finishRecords(b, end, base);
    } finally {
      this.out = NO_LINES;
    }
  }

  private finishRecords(b: Buffer, end: number, base: number): void {
    if (this.long) this.continueLong(b, 0, end, base, true, false);
    else if (end > 0) this.record(b, 0, end, base, base + end);
    this.position = base + end;
    this.grouper?.flush();
    for (const p of [this.stdout, this.stderr]) {
      if (!p.active) continue;
      this.finishPartial(p, p === this.stdout ? 'stdout' : 'stderr', p.lastEnd);
    }
    this.grouper?.flush();
    this.recordDone(this.position);
  }

  /** Sends a held stack trace (its quiet period is over). */
  flushHeld(out: LogLine[]): void {
    this.begin(out);
    this.grouper?.flush();
    this.recordDone(this.position);
    this.out = NO_LINES;
  }

  private begin(out: LogLine[]): void {
    this.out = out;
    this.pendingFrom = out.length;
  }

  /** The file was truncated: it is read again from 0 as new content, line numbers continuing. */
  restartAtZero(out: LogLine[]): void {
    this.begin(out);
    this.grouper?.flush();
    for (const p of [this.stdout, this.stderr]) if (p.active) this.finishPartial(p, p === this.stdout ? 'stdout' : 'stderr', p.lastEnd);
    this.out = NO_LINES;
    this.long = undefined;
    this.position = 0;
    this.lastEnd = -1;
    this.resumeOffset = 0;
    this.resumeLine = this.lineNumber;
  }

  // ---- records ----

  private record(b: Buffer, s: number, e: number, offset: number, endOffset: number): void {
    const first = b[s];
    if (this.format === 'docker' || (this.format === undefined && first === 123)) {
      if (this.dockerRecord(b, s, e, offset, endOffset)) {
        this.format ??= 'docker';
        return;
      }
      if (this.criRecord(b, s, e, offset, endOffset)) return;
    } else {
      if (this.criRecord(b, s, e, offset, endOffset)) {
        this.format ??= 'cri';
        return;
      }
      if (first === 123 && this.dockerRecord(b, s, e, offset, endOffset)) return;
    }
    this.rawRecord(b, s, e, offset, endOffset);
  }

  private criRecord(b: Buffer, s: number, e: number, offset: number, endOffset: number): boolean {
    const f = this.cri;
    if (!parseCriRecord(b, s, e, f)) return false;
    this.lastSeconds = f.seconds;
    this.lastNanos = f.nanos;
    const p = f.stream === 'stdout' ? this.stdout : this.stderr;
    const ms = f.messageStart;
    if (!f.partial && !p.active && e - ms <= this.options.maxMessageBytes) {
      this.complete(this.line(f.seconds, f.nanos, f.stream, decode(b, ms, e), offset, endOffset));
      return true;
    }
    this.join(p, f.stream, b, ms, e, offset, offset + (ms - s), endOffset, f.seconds, f.nanos, f.partial);
    return true;
  }

  private dockerRecord(b: Buffer, s: number, e: number, offset: number, endOffset: number): boolean {
    const f = this.docker;
    if (!parseDockerRecord(b, s, e, f)) return false;
    this.lastSeconds = f.seconds;
    this.lastNanos = f.nanos;
    const p = f.stream === 'stdout' ? this.stdout : this.stderr;
    if (!f.partial && !p.active && f.message.length <= this.options.maxMessageBytes && Buffer.byteLength(f.message) <= this.options.maxMessageBytes) {
      this.complete(this.line(f.seconds, f.nanos, f.stream, f.message, offset, endOffset));
      return true;
    }
    const bytes = Buffer.from(f.message, 'utf8');
    this.join(p, f.stream, bytes, 0, bytes.length, offset, offset + 1, endOffset, f.seconds, f.nanos, f.partial);
    return true;
  }

  private rawRecord(b: Buffer, s: number, e: number, offset: number, endOffset: number): void {
    this.hooks.parseError();
    this.grouper?.flush();
    if (e - s <= this.options.maxMessageBytes) {
      const line = this.rawLine(decode(b, s, e), offset, endOffset, false);
      this.push(line);
      return;
    }
    // A raw record longer than the maximum: pieces, like a long CRI record.
    const max = this.options.maxMessageBytes;
    let pos = s;
    this.hooks.truncation();
    while (e - pos > max) {
      const cut = pieceEnd(b, pos, max);
      this.push(this.rawLine(b.toString('utf8', pos, cut), offset + (pos - s), offset + (cut - s), true));
      pos = cut;
    }
    this.push(this.rawLine(b.toString('utf8', pos, e), offset + (pos - s), endOffset, true));
  }

  /**
   * Adds a record's message bytes b[ms..e) to the stream's joined message, taking pieces so that none passes the
   * maximum; completes the message when the record is not partial. messageOffset is the file offset of b[ms].
   */
  private join(p: PartialMessage, stream: Stream, b: Buffer, ms: number, e: number, offset: number, messageOffset: number, endOffset: number, seconds: number, nanos: number, partialTag: boolean): void {
    const max = this.options.maxMessageBytes;
    this.beginJoin(p, stream, offset, messageOffset, seconds, nanos, e - ms);
    let pos = ms;
    if (e - ms > max) {
      // One record longer than the maximum on its own: full pieces straight from the buffer.
      while (e - pos > max) {
        const cut = pieceEnd(b, pos, max);
        this.push(this.pieceLine(seconds, nanos, stream, b.toString('utf8', pos, cut), pos === ms ? offset : messageOffset + (pos - ms), messageOffset + (cut - ms)));
        pos = cut;
      }
      p.offset = messageOffset + (pos - ms);
    }
    this.endJoin(p, stream, b, pos, e, endOffset, partialTag);
  }

  /** The part of a join before the record's bytes: starts the message, or takes the piece it would overflow. */
  private beginJoin(p: PartialMessage, stream: Stream, offset: number, messageOffset: number, seconds: number, nanos: number, length: number): void {
    const max = this.options.maxMessageBytes;
    if (!p.active) p.begin(offset, seconds, nanos);
    if (p.bytes > 0 && p.bytes + length > max) {
      // The piece joined so far ends before this record's message.
      this.piece(p, stream, messageOffset);
      p.offset = offset;
      p.seconds = seconds;
      p.nanos = nanos;
    }
    if (length > max) {
      this.markCut(p);
      this.grouper?.flush();
    }
  }

  /** The part of a join after the full pieces: keeps the rest b[pos..e), completes the message on an F record. */
  private endJoin(p: PartialMessage, stream: Stream, b: Buffer, pos: number, e: number, endOffset: number, partialTag: boolean): void {
    p.append(b, pos, e);
    p.lastEnd = endOffset;
    if (p.bytes > this.heldBytesHighWater) this.heldBytesHighWater = p.bytes;
    if (!partialTag) this.finishPartial(p, stream, endOffset);
  }

  private finishPartial(p: PartialMessage, stream: Stream, endOffset: number): void {
    const cut = p.cut;
    const line = this.line(p.seconds, p.nanos, stream, p.take(false), p.offset, endOffset);
    p.end();
    if (cut) {
      line.truncated = true;
      line.level = detectLevel(line.message);
      this.grouper?.flush();
      this.push(line);
    } else this.complete(line);
  }

  /** Sends the joined part of p as a truncated piece ending at file offset endOffset. */
  private piece(p: PartialMessage, stream: Stream, endOffset: number): void {
    this.markCut(p);
    this.grouper?.flush();
    this.push(this.pieceLine(p.seconds, p.nanos, stream, p.take(true), p.offset, endOffset));
  }

  private markCut(p: PartialMessage): void {
    if (!p.cut) this.hooks.truncation();
    p.cut = true;
  }

  // ---- a record longer than the maximum whose end is not read yet: the same pieces, sent as they come ----

  /** b[s..end) is the start of a record longer than the maximum (no newline in it). Returns bytes consumed. */
  private beginLong(b: Buffer, s: number, end: number, base: number): number {
    const f = this.cri;
    const max = this.options.maxMessageBytes;
    if (this.format !== 'docker' && parseCriRecord(b, s, end, f) && f.messageStart - s <= RECORD_PREFIX_ALLOWANCE) {
      this.lastSeconds = f.seconds;
      this.lastNanos = f.nanos;
      const p = f.stream === 'stdout' ? this.stdout : this.stderr;
      const ms = f.messageStart;
      const offset = base + s;
      const messageOffset = base + ms;
      this.beginJoin(p, f.stream, offset, messageOffset, f.seconds, f.nanos, Infinity);
      this.long = { raw: false, stream: f.stream, seconds: f.seconds, nanos: f.nanos, partialTag: f.partial };
      let pos = ms;
      while (end - pos > max) {
        const cut = pieceEnd(b, pos, max);
        this.push(this.pieceLine(f.seconds, f.nanos, f.stream, b.toString('utf8', pos, cut), pos === ms ? offset : base + pos, base + cut));
        pos = cut;
      }
      return pos;
    }
    this.hooks.parseError();
    this.hooks.truncation();
    this.grouper?.flush();
    this.long = { raw: true, stream: 'stdout', seconds: 0, nanos: 0, partialTag: false };
    let pos = s;
    while (end - pos > max) {
      const cut = pieceEnd(b, pos, max);
      this.push(this.rawLine(b.toString('utf8', pos, cut), base + pos, base + cut, true));
      pos = cut;
    }
    return pos;
  }

  /**
   * Continues the long record with b[from..stop). `ends` when stop is where it ends: its newline (then
   * `newline` is true) or the end of the file.
   */
  private continueLong(b: Buffer, from: number, stop: number, base: number, ends: boolean, newline: boolean): number {
    const long = this.long!;
    const max = this.options.maxMessageBytes;
    let pos = from;
    while (stop - pos > max) {
      const cut = pieceEnd(b, pos, max);
      this.push(long.raw ? this.rawLine(b.toString('utf8', pos, cut), base + pos, base + cut, true) : this.pieceLine(long.seconds, long.nanos, long.stream, b.toString('utf8', pos, cut), base + pos, base + cut));
      pos = cut;
    }
    if (!ends) return pos;
    this.long = undefined;
    const endOffset = base + stop + (newline ? 1 : 0);
    if (long.raw) {
      this.push(this.rawLine(b.toString('utf8', pos, stop), base + pos, endOffset, true));
      return stop;
    }
    const p = long.stream === 'stdout' ? this.stdout : this.stderr;
    p.offset = base + pos;
    this.endJoin(p, long.stream, b, pos, stop, endOffset, long.partialTag);
    return stop;
  }

  // ---- lines ----

  private line(seconds: number, nanos: number, stream: Stream, message: string, offset: number, endOffset: number): LogLine {
    return {
      seconds,
      nanos,
      stream,
      message,
      offset,
      endOffset,
      lineNumber: 0,
      resumeOffset: 0,
      resumeLine: 0,
      parseError: false,
      truncated: false,
      level: '',
      errorInfo: undefined,
    };
  }

  private pieceLine(seconds: number, nanos: number, stream: Stream, message: string, offset: number, endOffset: number): LogLine {
    const line = this.line(seconds, nanos, stream, message, offset, endOffset);
    line.truncated = true;
    line.level = detectLevel(message);
    return line;
  }

  /** A record in no known format: its timestamp is the last one read from the file (or now), its stream stdout. */
  private rawLine(message: string, offset: number, endOffset: number, truncated: boolean): LogLine {
    let seconds = this.lastSeconds;
    let nanos = this.lastNanos;
    if (seconds < 0) {
      const ms = this.now();
      seconds = Math.floor(ms / 1000);
      nanos = (ms % 1000) * 1e6;
    }
    const line = this.line(seconds, nanos, 'stdout', message, offset, endOffset);
    line.parseError = true;
    line.truncated = truncated;
    line.level = detectLevel(message);
    return line;
  }

  /** A complete message: detects its level and offers it to the stack-trace grouper. */
  private complete(line: LogLine): void {
    line.level = detectLevel(line.message);
    if (this.grouper) this.grouper.offer(line);
    else this.push(line);
  }

  /** Emits a line: numbers it, keeps endOffsets increasing, applies the rate limit. */
  private push(line: LogLine): void {
    line.lineNumber = ++this.lineNumber;
    if (line.endOffset <= this.lastEnd) line.endOffset = this.lastEnd + 1;
    this.lastEnd = line.endOffset;
    line.resumeOffset = this.resumeOffset;
    line.resumeLine = this.resumeLine;
    if (this.hooks.admit()) this.out.push(line);
  }

  /** A record boundary at `position`: the resume point moves there when nothing is half read. */
  private recordDone(position: number): void {
    const out = this.out;
    if (!this.open) {
      this.resumeOffset = position;
      this.resumeLine = this.lineNumber;
      // Lines emitted while consuming this record resume after it.
      for (let i = this.pendingFrom; i < out.length; i++) {
        const l = out[i]!;
        l.resumeOffset = position;
        l.resumeLine = this.lineNumber;
      }
    }
    this.pendingFrom = out.length;
  }
}

/** Where a piece of at most `max` bytes starting at b[pos] ends, never inside a UTF-8 character. */
function pieceEnd(b: Buffer, pos: number, max: number): number {
  const cut = utf8Boundary(b, pos + max, pos);
  return cut > pos ? cut : pos + max;
}
