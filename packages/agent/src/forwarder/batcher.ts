// Gathers file chunks into batches bounded by lines and bytes, sealed when full or when the oldest line has
// waited flushInterval. Knows nothing of transport: sealed batches go to `onSeal`.
import type { FileChunk } from '../sources/cri-logs/types.js';

export interface BatchLimits {
  maxLines: number;
  maxBytes: number;
  flushIntervalMs: number;
}

export interface OpenBatch {
  chunks: FileChunk[];
  lines: number;
  bytes: number;
}

export class Batcher {
  private open: OpenBatch = { chunks: [], lines: 0, bytes: 0 };
  private timer: NodeJS.Timeout | undefined;

  constructor(
    private readonly limits: BatchLimits,
    private readonly onSeal: (batch: OpenBatch) => void,
  ) {}

  /** Adds a chunk, splitting it over batches so none exceeds the limits. */
  add(chunk: FileChunk): void {
    if (chunk.lines.length === 0) {
      // A chunk without lines (stream_complete, or a resume point after dropped lines) travels as it is.
      this.open.chunks.push(chunk);
      if (!this.timer) this.timer = setTimeout(() => this.seal(), this.limits.flushIntervalMs);
      return;
    }
    let lines = chunk.lines;
    while (lines.length > 0) {
      const roomLines = this.limits.maxLines - this.open.lines;
      let take = 0;
      let bytes = 0;
      while (take < lines.length && take < roomLines) {
        const size = lines[take]!.message.length + 64;
        if (take > 0 && this.open.bytes + bytes + size > this.limits.maxBytes) break;
        if (take === 0 && this.open.lines > 0 && this.open.bytes + size > this.limits.maxBytes) break;
        bytes += size;
        take++;
      }
      if (take === 0) {
        this.seal();
        continue;
      }
      const rest = lines.length - take;
      if (rest === 0) {
        // The chunk's (last) piece: it resumes where the chunk does, and completes the stream if the chunk does.
        this.open.chunks.push({ ...chunk, lines: lines === chunk.lines ? lines : lines.slice(0, take), bytes });
      } else {
        const piece = lines.slice(0, take);
        const last = piece[piece.length - 1]!;
        this.open.chunks.push({ ...chunk, lines: piece, bytes, streamComplete: false, resumeOffset: last.resumeOffset, resumeLine: last.resumeLine });
      }
      this.open.lines += take;
      this.open.bytes += bytes;
      lines = rest === 0 ? [] : lines.slice(take);
      if (this.open.lines >= this.limits.maxLines || this.open.bytes >= this.limits.maxBytes) this.seal();
      else if (!this.timer) this.timer = setTimeout(() => this.seal(), this.limits.flushIntervalMs);
    }
  }

  seal(): void {
    if (this.timer) clearTimeout(this.timer);
    this.timer = undefined;
    if (this.open.chunks.length === 0) return;
    const batch = this.open;
    this.open = { chunks: [], lines: 0, bytes: 0 };
    this.onSeal(batch);
  }

  close(): void {
    if (this.timer) clearTimeout(this.timer);
    this.timer = undefined;
  }
}
