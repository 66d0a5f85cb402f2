// The record store: every message received on a stream becomes one JSON line in <data-dir>/<stream>.jsonl.
//
// Thousands of messages a second arrive, so lines are buffered and written in batches: one appendFile per stream
// per flush, flushed every flushIntervalMs (100 ms) and at close. Memory is bounded: once maxBufferedBytes are
// waiting, append() returns a promise that settles when the next batch is on disk, and the stream handler awaits
// it before reading the next message, which stops reading from gRPC and lets HTTP/2 flow control slow the sender.
// Nothing is dropped for being slow; a failed write (disk full) drops that batch, counted and reported.
//
// After each flush that changed any count, <data-dir>/summary.json holds the counts (written atomically: temp file
// and rename), so tests and the demo can poll it instead of reading the logs. Counts include lines already in the
// files when the store opened, so they match the files across restarts of cloud-dev.
import { createReadStream } from 'node:fs';
import fs from 'node:fs/promises';
import path from 'node:path';

export const STREAM_NAMES = ['data', 'control', 'flows', 'events', 'logs'] as const;
export type StreamName = (typeof STREAM_NAMES)[number];
export type PerStream<T> = Record<StreamName, T>;

export const perStream = <T>(make: (stream: StreamName) => T): PerStream<T> =>
  Object.fromEntries(STREAM_NAMES.map((s) => [s, make(s)])) as PerStream<T>;

export interface RecordStoreOptions {
  dir: string;
  flushIntervalMs?: number;
  maxBufferedBytes?: number;
  /** Extra fields for summary.json (open streams, refusals …), read at each summary write. */
  describe?: () => Record<string, unknown>;
  /** Called when a batch (or the summary) could not be written; droppedLines is 0 for the summary. */
  onWriteError?: (file: string, err: unknown, droppedLines: number) => void;
}

export interface StoreSummary {
  updatedAt: string;
  /** Lines on disk per stream. */
  messages: PerStream<number>;
  /** Lines lost to failed writes since start. */
  droppedMessages: number;
  [extra: string]: unknown;
}

export const storeFile = (dir: string, stream: StreamName): string => path.join(dir, `${stream}.jsonl`);
export const summaryFile = (dir: string): string => path.join(dir, 'summary.json');

export class RecordStore {
  private pending = new Map<StreamName, string[]>();
  private pendingBytes = 0;
  private droppedLines = 0;
  /** summary.json's content (without updatedAt) as last written; rewritten only when it changes. */
  private lastSummary = '';
  private closed = false;
  private running: Promise<void> | undefined;
  private queued: Promise<void> | undefined;
  private readonly timer: NodeJS.Timeout;
  private readonly maxBufferedBytes: number;

  private constructor(
    private readonly options: RecordStoreOptions,
    private readonly files: PerStream<fs.FileHandle>,
    private readonly written: PerStream<number>,
  ) {
    this.maxBufferedBytes = options.maxBufferedBytes ?? 8 * 1024 * 1024;
    this.timer = setInterval(() => void this.flush(), options.flushIntervalMs ?? 100);
    // The gRPC server keeps the process alive; a store on its own must not.
    this.timer.unref();
  }

  static async open(options: RecordStoreOptions): Promise<RecordStore> {
    await fs.mkdir(options.dir, { recursive: true });
    const written = perStream(() => 0);
    const files: Partial<PerStream<fs.FileHandle>> = {};
    try {
      for (const stream of STREAM_NAMES) {
        const file = storeFile(options.dir, stream);
        const existing = await countLines(file);
        written[stream] = existing.lines;
        const handle = await fs.open(file, 'a', 0o644);
        files[stream] = handle;
        // A crash mid-write can leave a partial last line; end it so the next line starts clean.
        if (!existing.endsWithNewline) {
          await handle.appendFile('\n');
          written[stream]++;
        }
      }
    } catch (err) {
      await Promise.all(Object.values(files).map((h) => h.close()));
      throw err;
    }
    return new RecordStore(options, files as PerStream<fs.FileHandle>, written);
  }

  /**
   * Queues one line (a JSON text without its newline). Returns undefined normally; a promise to await before
   * appending more when the buffer is full.
   */
  append(stream: StreamName, line: string): Promise<void> | undefined {
    if (this.closed) throw new Error('record store is closed');
    let lines = this.pending.get(stream);
    if (!lines) this.pending.set(stream, (lines = []));
    lines.push(line + '\n');
    this.pendingBytes += line.length + 1;
    return this.pendingBytes >= this.maxBufferedBytes ? this.flush() : undefined;
  }

  /** Writes what is buffered; settles when it is on disk. Concurrent calls share at most one queued flush. */
  flush(): Promise<void> {
    if (!this.running) {
      this.running = this.writeBatch().finally(() => (this.running = undefined));
      return this.running;
    }
    this.queued ??= this.running.then(() => {
      this.queued = undefined;
      return this.flush();
    });
    return this.queued;
  }

  counts(): PerStream<number> {
    return { ...this.written };
  }

  get dropped(): number {
    return this.droppedLines;
  }

  summary(): StoreSummary {
    return { updatedAt: new Date().toISOString(), messages: this.counts(), droppedMessages: this.droppedLines, ...this.options.describe?.() };
  }

  /** Flushes everything, writes the final summary and closes the files. */
  async close(): Promise<void> {
    if (this.closed) return;
    this.closed = true;
    clearInterval(this.timer);
    while (this.running || this.queued || this.pendingBytes > 0) await this.flush();
    await this.writeSummary(true);
    await Promise.all(Object.values(this.files).map((h) => h.close()));
  }

  private async writeBatch(): Promise<void> {
    const batch = this.pending;
    this.pending = new Map();
    this.pendingBytes = 0;
    for (const [stream, lines] of batch) {
      try {
        await this.files[stream].appendFile(lines.join(''));
        this.written[stream] += lines.length;
      } catch (err) {
        this.droppedLines += lines.length;
        this.options.onWriteError?.(storeFile(this.options.dir, stream), err, lines.length);
      }
    }
    await this.writeSummary(false);
  }

  private async writeSummary(always: boolean): Promise<void> {
    const { updatedAt, ...content } = this.summary();
    const key = JSON.stringify(content);
    if (!always && key === this.lastSummary) return;
    const file = summaryFile(this.options.dir);
    const temp = `${file}.tmp`;
    try {
      await fs.writeFile(temp, JSON.stringify({ updatedAt, ...content }) + '\n');
      await fs.rename(temp, file);
      this.lastSummary = key;
    } catch (err) {
      this.options.onWriteError?.(file, err, 0);
    }
  }
}

/** Reads a store file's summary.json (for tests, the demo and other processes). */
export async function readStoreSummary(dir: string): Promise<StoreSummary | undefined> {
  try {
    return JSON.parse(await fs.readFile(summaryFile(dir), 'utf8')) as StoreSummary;
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code === 'ENOENT') return undefined;
    throw err;
  }
}

/** Reads and parses every line of a stream's file (for tests: small files only). */
export async function readStoreLines(dir: string, stream: StreamName): Promise<StoredLine[]> {
  let text: string;
  try {
    text = await fs.readFile(storeFile(dir, stream), 'utf8');
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code === 'ENOENT') return [];
    throw err;
  }
  return text
    .split('\n')
    .filter((line) => line.trim() !== '')
    .map((line) => JSON.parse(line) as StoredLine);
}

/** One line of <stream>.jsonl. */
export interface StoredLine {
  /** When cloud-dev read the message (ISO 8601). */
  receivedAt: string;
  stream: StreamName;
  /** The client's address; all streams multiplexed on one HTTP/2 connection share it. */
  connectionId: string;
  /** Unique per stream call within one cloud-dev process. */
  callId: number;
  /** Cluster id and tenant of the token the stream was opened with. */
  clusterId: string;
  tenant: string;
  /** The request message in proto3 JSON (the generated toJSON, timestamps kept to the nanosecond: stored-json.ts). */
  message: Record<string, unknown>;
}

async function countLines(file: string): Promise<{ lines: number; endsWithNewline: boolean }> {
  let lines = 0;
  let last = 0x0a;
  try {
    for await (const chunk of createReadStream(file, { highWaterMark: 1024 * 1024 }) as AsyncIterable<Buffer>) {
      for (let i = chunk.indexOf(0x0a); i !== -1; i = chunk.indexOf(0x0a, i + 1)) lines++;
      if (chunk.length > 0) last = chunk[chunk.length - 1]!;
    }
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code === 'ENOENT') return { lines: 0, endsWithNewline: true };
    throw err;
  }
  return { lines, endsWithNewline: last === 0x0a };
}
