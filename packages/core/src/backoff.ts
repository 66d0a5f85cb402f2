// Exponential backoff with full jitter (as in the AWS architecture note on backoff): spreads reconnecting
// clients apart so that a restarted server does not see them all in the same second.
export interface BackoffOptions {
  initialMs: number;
  maxMs: number;
  factor?: number;
}

export class Backoff {
  private attempt = 0;

  constructor(private readonly options: BackoffOptions) {}

  /** The next delay: random in [initial/2, min(max, initial * factor^attempt)]. */
  next(): number {
    const factor = this.options.factor ?? 2;
    const ceiling = Math.min(this.options.maxMs, this.options.initialMs * factor ** this.attempt);
    this.attempt++;
    const floor = Math.min(ceiling, this.options.initialMs / 2);
    return floor + Math.random() * (ceiling - floor);
  }

  reset(): void {
    this.attempt = 0;
  }

  get attempts(): number {
    return this.attempt;
  }
}

/** Resolves after ms, or rejects with the signal's reason when aborted first. */
export function sleep(ms: number, signal?: AbortSignal): Promise<void> {
  return new Promise((resolve, reject) => {
    if (signal?.aborted) return reject(signal.reason);
    const timer = setTimeout(() => {
      signal?.removeEventListener('abort', onAbort);
      resolve();
    }, ms);
    const onAbort = () => {
      clearTimeout(timer);
      reject(signal!.reason);
    };
    signal?.addEventListener('abort', onAbort, { once: true });
  });
}
