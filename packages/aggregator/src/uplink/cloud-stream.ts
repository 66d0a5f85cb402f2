// One long-lived bidirectional stream to Kestrel Cloud (StreamLogs here; the other streams follow the same shape).
// Messages wait in a bounded queue; `send` resolves once gRPC has taken the message for the wire (the request
// iterator is pulled only after the previous write drained), which is when the ingest side may acknowledge.
// The stream reconnects with jittered backoff; what was still queued goes out on the next stream.
import { Backoff, sleep, type Logger } from '@kestrel/core';
import { Metadata } from 'nice-grpc';

export interface StreamOpener<Req, Res> {
  (requests: AsyncIterable<Req>, options: { signal: AbortSignal; metadata: Metadata }): AsyncIterable<Res>;
}

interface Pending<Req> {
  message: Req;
  taken: () => void;
}

export type StreamState = 'connecting' | 'open' | 'backoff' | 'stopped';

export class CloudStream<Req, Res> {
  private readonly queue: Pending<Req>[] = [];
  private readonly spaceWaiters: (() => void)[] = [];
  private wakeSender: (() => void) | undefined;
  /** The message handed to gRPC whose write has not been confirmed by the next pull. */
  private inWrite: Pending<Req> | undefined;
  state: StreamState = 'connecting';
  lastError: string | undefined;
  lastHeartbeat: Date | undefined;
  openedAt: Date | undefined;
  sent = 0;
  reconnects = 0;

  constructor(
    readonly name: string,
    private readonly open: StreamOpener<Req, Res>,
    private readonly metadata: () => Metadata,
    private readonly capacity: number,
    private readonly maxBackoffMs: number,
    private readonly onResponse: (res: Res) => void,
    private readonly logger: Logger,
  ) {}

  get queued(): number {
    return this.queue.length;
  }

  /** Queues a message (waiting while the queue is full); resolves when gRPC has taken it for the wire. */
  async send(message: Req, signal: AbortSignal): Promise<void> {
    while (this.queue.length >= this.capacity) {
      signal.throwIfAborted();
      await new Promise<void>((resolve) => this.spaceWaiters.push(resolve));
    }
    await new Promise<void>((taken) => {
      this.queue.push({ message, taken });
      this.wakeSender?.();
    });
  }

  async run(signal: AbortSignal): Promise<void> {
    const backoff = new Backoff({ initialMs: 500, maxMs: this.maxBackoffMs });
    while (!signal.aborted) {
      this.state = 'connecting';
      const call = new AbortController();
      const stop = () => call.abort(signal.reason);
      signal.addEventListener('abort', stop, { once: true });
      try {
        const responses = this.open(this.requests(call.signal), { signal: call.signal, metadata: this.metadata() });
        this.state = 'open';
        this.openedAt = new Date();
        for await (const res of responses) {
          backoff.reset();
          this.onResponse(res);
        }
        throw new Error('cloud closed the stream');
      } catch (err) {
        if (signal.aborted) break;
        this.lastError = err instanceof Error ? err.message : String(err);
        this.logger.warn('cloud stream failed; reconnecting with backoff', { stream: this.name, error: this.lastError });
      } finally {
        call.abort();
        signal.removeEventListener('abort', stop);
        // A write not confirmed when the stream broke may not have reached the cloud: send it again first.
        if (this.inWrite) this.queue.unshift(this.inWrite);
        this.inWrite = undefined;
        this.openedAt = undefined;
      }
      this.state = 'backoff';
      this.reconnects++;
      await sleep(backoff.next(), signal).catch(() => undefined);
    }
    this.state = 'stopped';
  }

  private async *requests(signal: AbortSignal): AsyncGenerator<Req> {
    while (!signal.aborted) {
      const next = this.queue.shift();
      if (!next) {
        await new Promise<void>((resolve) => {
          this.wakeSender = resolve;
          signal.addEventListener('abort', () => resolve(), { once: true });
        });
        this.wakeSender = undefined;
        continue;
      }
      this.spaceWaiters.shift()?.();
      this.inWrite = next;
      yield next.message;
      // Resumed: gRPC wrote the message and wants the next one.
      this.inWrite = undefined;
      this.sent++;
      next.taken();
    }
  }
}
