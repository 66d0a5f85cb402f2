// How many agents' batches may be open (inflated, decoded, being submitted) at once, over all agents. A batch waits
// its turn still compressed (~120 KB for an agent's 1 MiB batch): without this bound the aggregator's memory grew
// with the number of agents while the uplink was slow, one inflated batch per agent waiting for room.
//
// Turns are first come, first served, so no agent starves. A holder never waits for another turn: what it waits for
// (uplink room, an earlier submission of the same file, which only runs inside a turn) frees independently.
export class OpenGate {
  private free: number;
  private readonly waiting: (() => void)[] = [];

  constructor(readonly size: number) {
    if (!Number.isInteger(size) || size < 1) throw new Error(`open batches: expected a positive integer, got ${size}`);
    this.free = size;
  }

  /** Batches open now. */
  get open(): number {
    return this.size - this.free;
  }

  /** Batches waiting for a turn. */
  get queued(): number {
    return this.waiting.length;
  }

  /** Resolves to the function that ends the turn; rejects if the signal aborts first. */
  acquire(signal: AbortSignal): Promise<() => void> {
    if (signal.aborted) return Promise.reject(signal.reason);
    if (this.free > 0) {
      this.free--;
      return Promise.resolve(this.releaser());
    }
    return new Promise((resolve, reject) => {
      const grant = () => {
        signal.removeEventListener('abort', onAbort);
        resolve(this.releaser());
      };
      const onAbort = () => {
        const i = this.waiting.indexOf(grant);
        if (i !== -1) this.waiting.splice(i, 1);
        reject(signal.reason);
      };
      this.waiting.push(grant);
      signal.addEventListener('abort', onAbort, { once: true });
    });
  }

  private releaser(): () => void {
    let done = false;
    return () => {
      if (done) return;
      done = true;
      const next = this.waiting.shift();
      if (next) next(); // the turn passes on: `free` stays as it is
      else this.free++;
    };
  }
}
