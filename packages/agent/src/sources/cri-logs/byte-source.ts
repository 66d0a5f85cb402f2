// Where a follower's bytes come from: a plain log file (read at any offset, may grow) or a gzip-compressed rotated
// one (read front to back through zlib, starting at an offset in uncompressed bytes, never grows). Both behind one
// small interface so the follower does not care.
import { fstatSync, readSync } from 'node:fs';
import type { FileHandle } from 'node:fs/promises';
import { createGunzip, type Gunzip } from 'node:zlib';
import { gzipDeclaredSize } from './fingerprint.js';

export interface ByteSource {
  readonly compressed: boolean;
  /** Reads up to `length` bytes of content at `position` into buffer[offset..]; 0 at the current end. */
  read(buffer: Buffer, offset: number, length: number, position: number): Promise<number>;
  /** Size of the content now (uncompressed) and whether the file still has a name (nlink > 0). */
  stat(): Promise<{ size: number; linked: boolean }>;
  /** Reads `length` bytes of content at 0 (the fingerprint region), fewer if the file is shorter. */
  head(length: number): Promise<Buffer>;
  close(): Promise<void>;
}

/**
 * A plain file, read and stat'ed with synchronous calls on its descriptor. The files are on the node's own disk and
 * were just written (page cache): such a call takes microseconds, while the same call through libuv's thread pool
 * cost ~170 us of CPU on a 2-vCPU VM (two thread hand-offs per call), and a busy container's file is read up to a
 * hundred times a second: that was most of the agent's CPU (docs/BENCHMARKS.md, "Latency"). Fluent Bit reads the
 * same way in its event loop. The price: a disk that hangs stalls the agent's loop, not only that file's reads.
 */
export class PlainSource implements ByteSource {
  readonly compressed = false;

  constructor(
    private readonly handle: FileHandle,
    private readonly owned: boolean,
  ) {}

  async read(buffer: Buffer, offset: number, length: number, position: number): Promise<number> {
    return readSync(this.handle.fd, buffer, offset, length, position);
  }

  async stat(): Promise<{ size: number; linked: boolean }> {
    const st = fstatSync(this.handle.fd);
    return { size: st.size, linked: st.nlink > 0 };
  }

  async head(length: number): Promise<Buffer> {
    const buffer = Buffer.alloc(length);
    const { bytesRead } = await this.handle.read(buffer, 0, length, 0);
    return buffer.subarray(0, bytesRead);
  }

  async close(): Promise<void> {
    if (this.owned) await this.handle.close();
  }
}

/**
 * A gzip file read sequentially from `start` (uncompressed offset): the bytes before it are decompressed and
 * skipped. `position` in read() must be where the previous read ended (the follower reads in order).
 */
export class GzipSource implements ByteSource {
  readonly compressed = true;
  private readonly gunzip: Gunzip;
  private readonly input: ReturnType<FileHandle['createReadStream']>;
  private readonly iterator: AsyncIterator<Buffer>;
  private pending: Buffer | undefined;
  /** Uncompressed offset of the next byte the iterator gives (or of pending[0]). */
  private next = 0;
  private done = false;
  /** Content before this offset is skipped (where reading starts). */
  private readonly skipTo: number;

  constructor(
    private readonly handle: FileHandle,
    start: number,
  ) {
    // The handle belongs to the caller: the stream never closes it (autoClose off, and never destroyed here,
    // since destroying a FileHandle stream closes the handle).
    const input = handle.createReadStream({ start: 0, autoClose: false, highWaterMark: 64 * 1024 });
    this.input = input;
    this.gunzip = createGunzip({ chunkSize: 64 * 1024 });
    input.on('error', (err) => this.gunzip.destroy(err));
    input.pipe(this.gunzip);
    this.iterator = (this.gunzip as AsyncIterable<Buffer>)[Symbol.asyncIterator]();
    this.skipTo = start;
  }

  async read(buffer: Buffer, offset: number, length: number, position: number): Promise<number> {
    if (position < this.skipTo) position = this.skipTo;
    for (;;) {
      if (!this.pending) {
        if (this.done) return 0;
        const r = await this.iterator.next();
        if (r.done) {
          this.done = true;
          return 0;
        }
        this.pending = r.value;
      }
      const chunk = this.pending;
      const chunkEnd = this.next + chunk.length;
      if (chunkEnd <= position) {
        // entirely before where we read: skip it
        this.next = chunkEnd;
        this.pending = undefined;
        continue;
      }
      const from = position - this.next;
      const n = Math.min(length, chunk.length - from);
      chunk.copy(buffer, offset, from, from + n);
      if (from + n === chunk.length) {
        this.next = chunkEnd;
        this.pending = undefined;
      } else {
        this.pending = chunk.subarray(from + n);
        this.next = position + n;
      }
      return n;
    }
  }

  async stat(): Promise<{ size: number; linked: boolean }> {
    const st = await this.handle.stat();
    return { size: await gzipDeclaredSize(this.handle), linked: st.nlink > 0 };
  }

  async head(): Promise<Buffer> {
    throw new Error('a compressed file is not fingerprinted again');
  }

  async close(): Promise<void> {
    this.input.unpipe(this.gunzip);
    this.input.pause();
    this.gunzip.destroy();
  }
}
