// A bounded hand-off between a producer and one async consumer (e.g. a gRPC request stream). `push` waits while
// the queue is full, so a slow consumer slows the producer instead of growing memory; `close` ends iteration
// after what is queued; `fail` ends it with an error.
export class AsyncQueue<T> implements AsyncIterable<T> {
  private readonly items: T[] = [];
  private closed = false;
  private failure: unknown;
  private wakeConsumer: (() => void) | undefined;
  private readonly waitingProducers: (() => void)[] = [];

  constructor(readonly capacity: number) {
    if (capacity < 1) throw new RangeError('capacity must be at least 1');
  }

  get size(): number {
    return this.items.length;
  }

  get isClosed(): boolean {
    return this.closed;
  }

  /** Adds an item, waiting while the queue is full. Returns false when the queue was closed. */
  async push(item: T, signal?: AbortSignal): Promise<boolean> {
    while (this.items.length >= this.capacity && !this.closed) {
      await new Promise<void>((resolve, reject) => {
        const onAbort = () => reject(signal!.reason);
        signal?.addEventListener('abort', onAbort, { once: true });
        this.waitingProducers.push(() => {
          signal?.removeEventListener('abort', onAbort);
          resolve();
        });
      });
    }
    if (this.closed) return false;
    this.items.push(item);
    this.wakeConsumer?.();
    return true;
  }

  /** Adds an item only if there is room; returns false (caller counts the drop) otherwise. */
  tryPush(item: T): boolean {
    if (this.closed || this.items.length >= this.capacity) return false;
    this.items.push(item);
    this.wakeConsumer?.();
    return true;
  }

  close(): void {
    this.closed = true;
    this.wakeConsumer?.();
    this.releaseProducers();
  }

  fail(err: unknown): void {
    this.failure = err ?? new Error('queue failed');
    this.close();
  }

  private releaseProducers(): void {
    for (const wake of this.waitingProducers.splice(0)) wake();
  }

  async *[Symbol.asyncIterator](): AsyncIterator<T> {
    for (;;) {
      if (this.items.length > 0) {
        const item = this.items.shift()!;
        const wake = this.waitingProducers.shift();
        wake?.();
        yield item;
        continue;
      }
      if (this.failure !== undefined) throw this.failure;
      if (this.closed) return;
      await new Promise<void>((resolve) => (this.wakeConsumer = resolve));
      this.wakeConsumer = undefined;
    }
  }
}
