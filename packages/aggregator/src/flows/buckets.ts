// Conversations grouped by time bucket, bounded in the number of conversations they hold together.
//
// A window goes into the bucket of its start time (aligned to bucketMs on the wall clock, so that windows of
// different nodes covering the same time meet in the same bucket, and both ends of a conversation merge). A bucket
// is due once it has ended and the grace has passed. A window for a bucket already sent (late) or from an agent
// whose clock runs ahead goes into the bucket of now. Each bucket carries the acknowledgements of the windows merged
// into it: they settle when the bucket's Flow records have been taken by the uplink (or fail with it).
import type { Flow } from '@kestrel/proto/cloud/v1';
import { Conversation, conversationKey } from './conversation.js';

export class Bucket {
  readonly conversations = new Map<string, Conversation>();
  readonly delivered: Promise<void>;
  resolve!: () => void;
  reject!: (err: Error) => void;
  rawFlows = 0;
  windows = 0;

  constructor(readonly index: number) {
    this.delivered = new Promise<void>((resolve, reject) => {
      this.resolve = resolve;
      this.reject = reject;
    });
    // A window whose agent went away stops waiting: no unhandled rejection.
    this.delivered.catch(() => undefined);
  }

  add(f: Flow): boolean {
    const key = conversationKey(f);
    let c = this.conversations.get(key);
    const fresh = c === undefined;
    if (!c) {
      c = new Conversation(f);
      this.conversations.set(key, c);
    }
    c.add(f);
    return fresh;
  }
}

export class BucketTable {
  /** Open buckets by index. */
  private readonly open = new Map<number, Bucket>();
  private size_ = 0;
  /** The highest bucket index sent so far (-1: none). */
  private sentThrough = -1;

  constructor(
    private readonly bucketMs: number,
    private readonly graceMs: number,
  ) {}

  /** Conversations held in all open buckets. */
  get size(): number {
    return this.size_;
  }

  get buckets(): number {
    return this.open.size;
  }

  /** The bucket a window starting at startMs goes into, seen at nowMs; `late` when its own bucket was sent already. */
  bucketFor(startMs: number, nowMs: number): { bucket: Bucket; late: boolean } {
    const current = Math.floor(nowMs / this.bucketMs);
    let index = Math.floor(startMs / this.bucketMs);
    let late = false;
    if (index > current) index = current;
    if (index <= this.sentThrough) {
      late = true;
      index = Math.max(current, this.sentThrough + 1);
    }
    let bucket = this.open.get(index);
    if (!bucket) {
      bucket = new Bucket(index);
      this.open.set(index, bucket);
    }
    return { bucket, late };
  }

  /** Adds flows to a bucket (from bucketFor); returns the number of new conversations. */
  add(bucket: Bucket, flows: readonly Flow[]): number {
    let fresh = 0;
    for (const f of flows) if (bucket.add(f)) fresh++;
    this.size_ += fresh;
    return fresh;
  }

  /** Removes and returns the buckets due at nowMs (oldest first); with `oldest`, also the oldest one regardless. */
  takeDue(nowMs: number, oldest = false): Bucket[] {
    const indexes = [...this.open.keys()].sort((a, b) => a - b);
    const due: Bucket[] = [];
    for (const i of indexes) {
      const isDue = (i + 1) * this.bucketMs + this.graceMs <= nowMs;
      if (!isDue && !(oldest && due.length === 0)) break;
      due.push(this.take(i));
    }
    return due;
  }

  takeAll(): Bucket[] {
    return [...this.open.keys()].sort((a, b) => a - b).map((i) => this.take(i));
  }

  private take(index: number): Bucket {
    const b = this.open.get(index)!;
    this.open.delete(index);
    this.size_ -= b.conversations.size;
    if (index > this.sentThrough) this.sentThrough = index;
    return b;
  }
}
