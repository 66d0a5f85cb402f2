// Drops lines an agent sends again (after a reconnect, a failover or an agent restart) by (node, file identity,
// byte offset): per file we remember where the last forwarded line ended; a line that ends at or before it was
// already forwarded. Bounded: beyond maxFiles the least recently seen files are forgotten, which can only let a
// replay through (a duplicate at the cloud, whose stream_offset lets it drop it), never drop a new line.
import type { FileIdentity } from '@kestrel/proto/ingest/v1';

export class ReplayFilter {
  private readonly highWater = new Map<string, number>();

  constructor(private readonly maxFiles: number) {}

  static key(node: string, file: FileIdentity | undefined): string {
    return `${node}|${file?.device ?? 0}|${file?.inode ?? 0}|${file?.fingerprint ?? 0}`;
  }

  /** True when the line (ending at endOffset) is new for this file. */
  isNew(key: string, endOffset: number): boolean {
    const seen = this.highWater.get(key);
    return seen === undefined || endOffset > seen;
  }

  /** Records that lines of this file up to endOffset were forwarded. */
  advance(key: string, endOffset: number): void {
    const seen = this.highWater.get(key);
    if (seen !== undefined && seen >= endOffset) return;
    this.highWater.delete(key); // re-insert: Map order becomes least recently advanced first
    this.highWater.set(key, endOffset);
    if (this.highWater.size > this.maxFiles) {
      const oldest = this.highWater.keys().next().value;
      if (oldest !== undefined) this.highWater.delete(oldest);
    }
  }

  get size(): number {
    return this.highWater.size;
  }
}
