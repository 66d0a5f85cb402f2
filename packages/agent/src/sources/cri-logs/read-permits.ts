// Bounds the memory of reading, whatever the number of files: a follower reads only while it holds a permit, and
// each permit owns one read buffer. A follower keeps its permit until the forwarder took the lines it read, so at
// most `count` chunks wait for the forwarder at any time; the others wait here, first come first served, which also
// shares reading fairly between busy files.
export class ReadPermits {
  private readonly free: Buffer[] = [];
  private readonly waiters: { resolve: (b: Buffer) => void; reject: (e: unknown) => void; signal: AbortSignal; onAbort: () => void }[] = [];

  constructor(
    readonly count: number,
    readonly bufferBytes: number,
  ) {
    if (count < 1) throw new RangeError('at least one read permit is needed');
    // Allocated once and reused for the life of the process (allocUnsafeSlow: not from the shared pool).
    for (let i = 0; i < count; i++) this.free.push(Buffer.allocUnsafeSlow(bufferBytes));
  }

  get available(): number {
    return this.free.length;
  }

  acquire(signal: AbortSignal): Promise<Buffer> {
    signal.throwIfAborted();
    const buffer = this.free.pop();
    if (buffer) return Promise.resolve(buffer);
    return new Promise<Buffer>((resolve, reject) => {
      const waiter = {
        resolve,
        reject,
        signal,
        onAbort: () => {
          const i = this.waiters.indexOf(waiter);
          if (i >= 0) this.waiters.splice(i, 1);
          reject(signal.reason);
        },
      };
      signal.addEventListener('abort', waiter.onAbort, { once: true });
      this.waiters.push(waiter);
    });
  }

  release(buffer: Buffer): void {
    const next = this.waiters.shift();
    if (next) {
      next.signal.removeEventListener('abort', next.onAbort);
      next.resolve(buffer);
      return;
    }
    this.free.push(buffer);
  }
}

