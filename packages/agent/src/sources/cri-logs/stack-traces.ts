// Groups the lines of one multi-line stack trace (Java, Python, Go panic, Node.js) into one record with its
// LogErrorInfo (error type, message, stack trace, and the exit code a Go crash prints), the way an engineer reads it.
//
// What decides a grouping is only the content of the file, so that reading the same bytes again (after a restart)
// gives the same records and line numbers:
//   - a header line that starts a trace (`java.lang.IllegalStateException: x`, `Traceback (most recent call last):`,
//     `panic: x`, `TypeError: x`), held until the next record tells whether frames follow;
//   - frames and the other lines of that language's trace, from the same stream, each written within `maxGapMs`
//     of the previous one (by the runtime's timestamps);
//   - any record that does not continue it (another stream, a line of another shape) ends it.
// Bounded: at most maxLines lines and maxBytes bytes per record; a longer trace continues as ordinary lines.
// The wall clock only decides when a trace at the very end of what was written so far is sent: once no line
// written from now on could continue it (see flushDeadline).
import type { ErrorInfo, LogLine } from './types.js';

export interface StackTraceLimits {
  maxLines: number;
  maxBytes: number;
  /** Largest gap between the timestamps of two lines of one trace. */
  maxGapMs: number;
}

type Language = 'jvm' | 'python' | 'go';

/** Where a trace of this language is: which lines may come next. */
type State =
  | 'jvm' // after the header or a frame: frames, `Caused by:`, `... N more`
  | 'python' // inside a traceback: indented `File` and code lines, then the exception line
  | 'python-end' // after the exception line: only a chained traceback may follow
  | 'python-chain' // after "During handling of the above exception...": a new Traceback
  | 'go' // after `panic:`: goroutine sections, function and file lines, `exit status N`
  | 'end'; // after a line that ends a trace (`exit status 2`, `Node.js v20.11.1`)

const MAX_HEADER_TOKEN = 200;
/** Added to the gap at the end of the file: how late a runtime may write a line it timestamped. */
const WRITE_MARGIN_MS = 250;

/** The language whose trace this line starts, or null. Cheap for lines that start nothing (the common case). */
export function traceHeader(msg: string): Language | null {
  const c = msg.charCodeAt(0);
  if (c === 84 /* T */ && msg.startsWith('Traceback (most recent call last):')) return 'python';
  if (c === 112 /* p */ && msg.startsWith('panic: ')) return 'go';
  if (c === 102 /* f */ && msg.startsWith('fatal error: ')) return 'go';
  if (c === 69 /* E */ && msg.startsWith('Exception in thread ')) return 'jvm';
  if (!((c >= 65 && c <= 90) || (c >= 97 && c <= 122))) return null;
  let end = msg.indexOf(' ');
  if (end < 0) end = msg.length;
  if (end > MAX_HEADER_TOKEN) return null;
  if (msg.charCodeAt(end - 1) === 58 /* : */) end--;
  // The first word ends with Exception, Error or Throwable (checked in place: this runs on every line).
  const last = msg.charCodeAt(end - 1);
  if (last === 110 /* n */) return msg.startsWith('Exception', end - 9) ? 'jvm' : null;
  if (last === 114 /* r */) return msg.startsWith('Error', end - 5) ? 'jvm' : null;
  if (last === 101 /* e */) return msg.startsWith('Throwable', end - 9) ? 'jvm' : null;
  return null;
}

const JVM_FRAME = /^\s+at \S/;
const JVM_MORE = /^\s*\.\.\. \d+ (?:more|common frames omitted|lines matching cause stack trace)/;
const JVM_CAUSE = /^(?:\s*Caused by: |\s+Suppressed: |\s+\[cause\]: )/;
const NODE_TRAILER = /^Node\.js v\d/;
const PY_EXCEPTION = /^[A-Za-z_][\w.]*(?::|$)/;
const PY_CHAIN = /^(?:During handling of the above exception, another exception occurred:|The above exception was the direct cause of the following exception:)$/;
const GO_GOROUTINE = /^goroutine \d+ \[/;
const GO_EXIT = /^exit status (\d+)$/;

function goFunctionLine(msg: string): boolean {
  // main.main(), main.(*Server).handle(0xc0000a6000, {0x6c2f60, 0xc0000a4000}), panic({0x4a1b20?, 0xc00001c030?})
  const paren = msg.indexOf('(');
  if (paren <= 0 || msg.charCodeAt(0) === 32 || msg.charCodeAt(0) === 9) return false;
  const end = msg.endsWith(' ...') ? msg.length - 4 : msg.length;
  return msg.charCodeAt(end - 1) === 41 /* ) */ && msg.lastIndexOf(' ', paren) < 0;
}

interface Held {
  language: Language;
  state: State;
  first: LogLine;
  last: LogLine;
  lines: string[];
  bytes: number;
  /** Lines that continue the trace only if a later one does (blank lines inside a Go panic or chained traceback). */
  tentative: LogLine[];
  exitCode: number;
  /** Wall-clock ms when the last line was taken. */
  heldAt: number;
}

const timeMs = (l: LogLine): number => l.seconds * 1000 + l.nanos / 1e6;

export class StackTraceGrouper {
  private held: Held | undefined;

  constructor(
    private readonly limits: StackTraceLimits,
    private readonly emit: (line: LogLine) => void,
    private readonly now: () => number = Date.now,
  ) {}

  get holding(): boolean {
    return this.held !== undefined;
  }

  /** Takes one complete record (never a piece of a truncated one, never a raw line). */
  offer(line: LogLine): void {
    const held = this.held;
    if (held) {
      if (this.continues(held, line)) return;
      this.flush();
    }
    const language = traceHeader(line.message);
    if (!language || line.message.length > this.limits.maxBytes) {
      this.emit(line);
      return;
    }
    this.held = {
      language,
      state: language === 'python' ? 'python' : language,
      first: line,
      last: line,
      lines: [line.message],
      bytes: line.message.length,
      tentative: [],
      exitCode: 0,
      heldAt: this.now(),
    };
  }

  /** Sends what is held: the trace (if it has more than its header) and then any tentative lines. */
  flush(): void {
    const held = this.held;
    if (!held) return;
    this.held = undefined;
    if (held.lines.length === 1) {
      this.emit(held.first);
    } else {
      const first = held.first;
      const message = held.lines.join('\n');
      first.message = message;
      first.endOffset = held.last.endOffset;
      first.level = 'ERROR';
      first.errorInfo = errorInfoOf(held);
      this.emit(first);
    }
    for (const t of held.tentative) this.emit(t);
  }

  /**
   * When a held trace can be sent although no line followed it: once the wall clock is past the last line's
   * timestamp by the gap plus a margin, no line written from now on can continue it. Bounded to 4 gaps after it
   * was taken, for runtimes whose clock is off.
   */
  flushDeadline(): number | undefined {
    const held = this.held;
    if (!held) return undefined;
    const byTimestamp = timeMs(held.last) + this.limits.maxGapMs + WRITE_MARGIN_MS;
    return Math.min(byTimestamp, held.heldAt + 4 * this.limits.maxGapMs);
  }

  private continues(held: Held, line: LogLine): boolean {
    if (line.stream !== held.first.stream || line.parseError || line.truncated) return false;
    const previous = held.tentative.length > 0 ? held.tentative[held.tentative.length - 1]! : held.last;
    if (timeMs(line) - timeMs(previous) > this.limits.maxGapMs) return false;
    const msg = line.message;
    const next = this.nextState(held, msg);
    if (next === undefined) return false;
    if (next === 'tentative') {
      if (held.tentative.length >= 2) return false;
      held.tentative.push(line);
      return true;
    }
    const added = held.tentative.length + 1;
    let bytes = msg.length + 1;
    for (const t of held.tentative) bytes += t.message.length + 1;
    if (held.lines.length + added > this.limits.maxLines || held.bytes + bytes > this.limits.maxBytes) return false;
    for (const t of held.tentative) held.lines.push(t.message);
    held.tentative = [];
    held.lines.push(msg);
    held.bytes += bytes;
    held.last = line;
    held.state = next;
    if (next === 'end' && held.language === 'go') held.exitCode = Number(GO_EXIT.exec(msg)?.[1] ?? 0);
    held.heldAt = this.now();
    return true;
  }

  /** The state after taking `msg`, 'tentative' for a line kept aside, undefined when the trace ends before it. */
  private nextState(held: Held, msg: string): State | 'tentative' | undefined {
    const onlyHeader = held.lines.length === 1;
    switch (held.state) {
      case 'jvm':
        if (JVM_FRAME.test(msg)) return 'jvm';
        if (onlyHeader) return undefined; // a header without frames is an ordinary line
        if (JVM_MORE.test(msg) || JVM_CAUSE.test(msg)) return 'jvm';
        if (msg === '') return 'tentative'; // Node.js prints a blank line before its version
        if (NODE_TRAILER.test(msg)) return 'end';
        return undefined;
      case 'python': {
        const c = msg.charCodeAt(0);
        if (c === 32 || c === 9) return onlyHeader && !msg.trimStart().startsWith('File ') ? undefined : 'python';
        if (onlyHeader) return undefined;
        return PY_EXCEPTION.test(msg) ? 'python-end' : undefined;
      }
      case 'python-end':
        if (msg === '') return 'tentative';
        return PY_CHAIN.test(msg) && held.tentative.length > 0 ? 'python-chain' : undefined;
      case 'python-chain':
        if (msg === '') return 'tentative';
        return msg.startsWith('Traceback (most recent call last):') ? 'python' : undefined;
      case 'go':
        if (msg === '') return 'tentative';
        if (GO_GOROUTINE.test(msg) || msg.startsWith('[signal ') || msg.trimStart().startsWith('[recovered]')) return 'go';
        if (onlyHeader) return undefined;
        if (msg.charCodeAt(0) === 9 || msg.startsWith('created by ') || goFunctionLine(msg)) return 'go';
        return GO_EXIT.test(msg) ? 'end' : undefined;
      case 'end':
        return undefined;
    }
  }
}

function errorInfoOf(held: Held): ErrorInfo {
  const lines = held.lines;
  const stackTrace = lines.slice(1).join('\n');
  if (held.language === 'go') {
    const header = lines[0]!;
    const colon = header.indexOf(': ');
    return { errorType: header.slice(0, colon), errorMessage: header.slice(colon + 2), stackTrace, exitCode: held.exitCode };
  }
  if (held.language === 'python') {
    // The exception is the last line that is not indented and not a chain marker.
    for (let i = lines.length - 1; i > 0; i--) {
      const l = lines[i]!;
      if (l !== '' && l.charCodeAt(0) !== 32 && l.charCodeAt(0) !== 9 && PY_EXCEPTION.test(l) && !l.startsWith('Traceback')) {
        const colon = l.indexOf(':');
        return colon < 0 ? { errorType: l, errorMessage: '', stackTrace, exitCode: 0 } : { errorType: l.slice(0, colon), errorMessage: l.slice(colon + 1).trim(), stackTrace, exitCode: 0 };
      }
    }
    return { errorType: '', errorMessage: '', stackTrace, exitCode: 0 };
  }
  // JVM and Node.js: `[Exception in thread "main" ]some.Type[ [CODE]]: message`
  let header = lines[0]!;
  const thread = /^Exception in thread "[^"]*" /.exec(header);
  if (thread) header = header.slice(thread[0].length);
  const colon = header.indexOf(': ');
  const type = (colon < 0 ? header : header.slice(0, colon)).trim();
  return { errorType: type, errorMessage: colon < 0 ? '' : header.slice(colon + 2), stackTrace, exitCode: 0 };
}
