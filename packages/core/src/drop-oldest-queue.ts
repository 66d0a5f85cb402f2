// A bounded queue for records with no file behind them (events, flows, conditions): when full, the oldest item is
// dropped and reported through onDrop so the caller counts it by reason. The consumer takes items with `take`,
// which waits while the queue is empty.
export class DropOldestQueue<T> {
  private readonly items: T[] = [];
  private head = 0;
  private waiter: (() => void) | undefined;
  private closed = false;

  constructor(
    readonly capacity: number,
    private readonly onDrop: (item: T) => void,
  ) {
    if (capacity < 1) throw new RangeError('capacity must be at least 1');
  }

  get size(): number {
    return this.items.length - this.head;
  }

  push(item: T): void {
    if (this.closed) {
      this.onDrop(item);
      return;
    }
    if (this.size >= this.capacity) this.onDrop(this.shift()!);
    this.items.push(item);
    this.waiter?.();
  }

  /** Items still queued, oldest first (for debug views and watermarks). */
  peekAll(): T[] {
    return this.items.slice(this.head);
  }

  /** The oldest item, waiting for one; undefined once closed and empty. */
  async take(signal?: AbortSignal): Promise<T | undefined> {
    while (this.size === 0) {
      if (this.closed || signal?.aborted) return undefined;
      await new Promise<void>((resolve) => {
        this.waiter = resolve;
        signal?.addEventListener('abort', () => resolve(), { once: true });
      });
      this.waiter = undefined;
    }
    return this.shift();
  }

  /** Takes everything queued, oldest first (a consumer that sends in batches). */
  takeAll(): T[] {
    const all = this.items.slice(this.head);
    this.items.length = 0;
    this.head = 0;
    return all;
  }

  /** Drops everything queued (e.g. when leadership is lost), reporting each. */
  clear(): void {
    while (this.size > 0) this.onDrop(this.shift()!);
  }

  close(): void {
    this.closed = true;
    this.waiter?.();
  }

  private shift(): T | undefined {
    if (this.size === 0) return undefined;
    const item = this.items[this.head]!;
    this.head++;
    // Compact now and then so the array does not grow forever.
    if (this.head > 1024 && this.head * 2 > this.items.length) {
      this.items.splice(0, this.head);
      this.head = 0;
    }
    return item;
  }
}
