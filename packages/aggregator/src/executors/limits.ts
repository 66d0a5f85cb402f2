// The two limits that protect the cluster from the cloud's enthusiasm: how many calls run at once (a semaphore per
// kind of work) and how many items (API paths, commands, manifests) may start per minute (a token bucket).

/** At most `capacity` holders at once; waiters are served in arrival order. */
export class Semaphore {
  private active = 0;
  private readonly waiting: (() => void)[] = [];

  constructor(private readonly capacity: number) {}

  async run<T>(work: () => Promise<T>): Promise<T> {
    if (this.active >= this.capacity) await new Promise<void>((resolve) => this.waiting.push(resolve));
    else this.active++;
    try {
      return await work();
    } finally {
      const next = this.waiting.shift();
      if (next) next();
      else this.active--;
    }
  }

  get inUse(): number {
    return this.active;
  }
}

/**
 * A token bucket holding up to `perMinute` tokens, refilled continuously at `perMinute` per minute: a burst of a
 * minute's worth is accepted at once, then the steady rate.
 */
export class MinuteRateLimit {
  private tokens: number;
  private last: number;

  constructor(
    private readonly perMinute: number,
    private readonly now: () => number = Date.now,
  ) {
    this.tokens = perMinute;
    this.last = now();
  }

  /** Takes one token; when none is left, how long until one is. */
  take(): { ok: true } | { ok: false; retryAfterMs: number } {
    const t = this.now();
    this.tokens = Math.min(this.perMinute, this.tokens + ((t - this.last) * this.perMinute) / 60_000);
    this.last = t;
    if (this.tokens >= 1) {
      this.tokens -= 1;
      return { ok: true };
    }
    return { ok: false, retryAfterMs: Math.ceil(((1 - this.tokens) * 60_000) / this.perMinute) };
  }
}

/** Runs `work` over `items` with the semaphore, keeping the answers in the order of the items. */
export function inOrder<I, R>(items: readonly I[], semaphore: Semaphore, work: (item: I, index: number) => Promise<R>): Promise<R[]> {
  return Promise.all(items.map((item, i) => semaphore.run(() => work(item, i))));
}
