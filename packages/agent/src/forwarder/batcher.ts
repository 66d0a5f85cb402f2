// Gathers file chunks into batches bounded by lines and bytes, sealed when full or when the oldest line has
// waited flushInterval. Knows nothing of transport: sealed batches go to `onSeal`.
//
// A busy container's file is read many times a second (each write wakes its follower), a chunk per read: a batch
// would carry hundreds of chunks of a dozen lines, each with its container, file identity and owners again, and the
// aggregator would handle each on its own. So a chunk that goes on where the same file's last chunk in the batch
// ends joins it: one chunk per file per batch in the common case, committing the later resume point.
import type { ChunkOwner, FileChunk } from '../sources/cri-logs/types.js';

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
  /** The open batch's last chunk of each file (by owner): where the file's next lines may join. */
  private latest = new Map<ChunkOwner, FileChunk>();
  /** Chunks of the open batch whose lines array the batcher made (lines may be appended to it). */
  private owned = new WeakSet<FileChunk>();

  constructor(
    private readonly limits: BatchLimits,
    private readonly onSeal: (batch: OpenBatch) => void,
  ) {}

  /** Adds a chunk, splitting it over batches so none exceeds the limits. */
  add(chunk: FileChunk): void {
    if (chunk.lines.length === 0) {
      // A chunk without lines (stream_complete, or a resume point after dropped lines) travels as it is.
      this.open.chunks.push(chunk);
      this.latest.delete(chunk.owner); // later lines of the file come after it, not joined to a chunk before it
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
        this.place({ ...chunk, lines: lines === chunk.lines ? lines : lines.slice(0, take), bytes });
      } else {
        const piece = lines.slice(0, take);
        const last = piece[piece.length - 1]!;
        this.place({ ...chunk, lines: piece, bytes, streamComplete: false, resumeOffset: last.resumeOffset, resumeLine: last.resumeLine });
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
    this.latest.clear();
    this.owned = new WeakSet();
    this.onSeal(batch);
  }

  /** Puts a piece with lines into the open batch: joined to its file's last chunk there when it goes on from it. */
  private place(piece: FileChunk): void {
    const prev = this.latest.get(piece.owner);
    if (prev && follows(prev, piece)) {
      if (this.owned.has(prev)) for (const l of piece.lines) prev.lines.push(l);
      else {
        prev.lines = prev.lines.concat(piece.lines);
        this.owned.add(prev);
      }
      prev.bytes += piece.bytes;
      prev.path = piece.path;
      prev.resumeOffset = piece.resumeOffset;
      prev.resumeLine = piece.resumeLine;
      prev.streamComplete = piece.streamComplete;
      return;
    }
    this.open.chunks.push(piece);
    this.latest.set(piece.owner, piece);
  }

  close(): void {
    if (this.timer) clearTimeout(this.timer);
    this.timer = undefined;
  }
}

/**
 * True when `next` continues `prev` exactly: the same file under the same identity, prev not the end of its stream,
 * and next's first line starting where prev's last one ended (no gap, e.g. lines dropped by the rate limit).
 */
function follows(prev: FileChunk, next: FileChunk): boolean {
  const a = prev.file;
  const b = next.file;
  const last = prev.lines[prev.lines.length - 1];
  const first = next.lines[0];
  return (
    !prev.streamComplete &&
    last !== undefined &&
    first !== undefined &&
    first.offset === last.endOffset &&
    first.lineNumber === last.lineNumber + 1 &&
    a.device === b.device &&
    a.inode === b.inode &&
    a.fingerprint === b.fingerprint &&
    a.fingerprintLength === b.fingerprintLength &&
    prev.previousContainer === next.previousContainer
  );
}
