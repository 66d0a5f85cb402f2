// One long-lived bidirectional stream to Kestrel Cloud (any of the five), reconnecting for ever. The same component
// runs StreamData, StreamControl, StreamFlows, StreamEvents and StreamLogs; only the method path and which record
// kinds it may carry differ.
//
// Messages move through three lists:
//   queue    not written yet (bounded: producers wait for room before the uplink accepts a record);
//   inWrite  handed to grpc-js, write not completed;
//   window   written and kept until proven delivered — the replay window.
// A PodLogs message leaves the window (its delivery settles, so the agents' batches can be acknowledged) once it
// was written at least `replayWindowMs` ago AND the cloud sent something on this stream after it was written
// (a heartbeat: proof the stream was alive after the write). The cloud sends no acknowledgement for logs, so that
// is the strongest evidence the protocol offers; `replayWindowBytes` bounds the window (writing pauses when full).
// Every other kind is delivered once written on a stream the cloud accepted (response headers or a message
// arrived): at most once, so flows and events are never counted twice (see docs/uplink.md).
//
// When a stream breaks, the window and whatever was in write go back to the front of the queue and are written
// again first on the next stream: PodLogs are replayed (the receiver drops them by line number), other kinds are
// resent only if the cloud never accepted the stream they were written on. A stream that drains cleanly (we
// half-close, the cloud answers OK after reading everything) confirms its whole window at once — that is how a
// stream is recycled for a new token or certificate without replaying anything.
//
// Liveness: a stream with neither data nor heartbeat for `idleTimeoutMs` is dead; it is cancelled and its
// connection replaced (a silent TCP connection would otherwise hold every stream until grpc-js's 5-minute
// keepalive notices). Reconnects use jittered exponential backoff.
import * as grpc from '@grpc/grpc-js';
import { Backoff, type Logger } from '@kestrel/core';
import { freeOwned } from '@kestrel/proto/buffers';
import type { CloudConnection } from './connection.js';
import { failMessage, settle, type OutMessage } from './delivery.js';
import type { UplinkEvents } from './events.js';
import { MAX_MESSAGE_BYTES } from './log-batcher.js';
import { gunzipWire, gzipForWire, precompressedLength } from './precompressed.js';
import { fieldOn, STREAM_METHODS, unwrapRecord, wrapRecord, type StreamName } from './records.js';

export interface StreamSettings {
  queueMessages: number;
  queueBytes: number;
  replayWindowMs: number;
  replayWindowBytes: number;
  idleTimeoutMs: number;
  drainTimeoutMs: number;
  initialBackoffMs: number;
  maxBackoffMs: number;
}

export interface StreamHooks {
  /** Call metadata (bearer token and tenant), read for every new stream. */
  metadata(): grpc.Metadata;
  /** A message from the cloud (raw bytes; the owner decodes, so a malformed one is counted, not fatal). */
  onMessage(stream: CloudStream, bytes: Buffer): void;
  /** The cloud answered UNAUTHENTICATED: renew the token (bounded wait) before reconnecting. */
  onUnauthenticated(stream: CloudStream, details: string): Promise<void>;
  /** The cloud answered UNIMPLEMENTED for this method: route its kinds elsewhere and take its messages. */
  onUnimplemented(stream: CloudStream): void;
  /** Whether a stream in fallback may be tried again on a new connection. */
  mayRetry(stream: CloudStream): boolean;
  /** Messages left the queue: producers waiting for room may go on. */
  onSpace(): void;
}

export type StreamState = 'connecting' | 'open' | 'draining' | 'backoff' | 'unimplemented' | 'stopped';

interface Session {
  id: number;
  generation: number;
  call: grpc.ClientDuplexStream<Buffer, Buffer>;
  startedAt: number;
  /** When the cloud accepted the stream (response headers or a first message). */
  openedAt: number | undefined;
  halfClosed: boolean;
  writable: boolean;
  ended: boolean;
  stopping: boolean;
  /** Why we cancelled it, if we did ('replaced': a graceful new connection; 'connection lost': an abrupt one). */
  cancelledFor: 'silent' | 'replaced' | 'connection lost' | 'drain timeout' | undefined;
  /** Non-replayable messages written since the cloud last sent something (possibly lost if the stream breaks). */
  unproven: number;
  timers: NodeJS.Timeout[];
}

type Outcome =
  | { kind: 'drained'; confirmed: number }
  | { kind: 'replaced'; clean: boolean }
  | { kind: 'failed' | 'unimplemented' | 'unauthenticated' | 'compression'; code: string; details: string; opened: boolean; replaying: number };

/** What the queue's bounds count: the message's protobuf size, compressed or not (it shrinks while queued). */
const size = (m: OutMessage) => m.plainBytes;
/** What the writes and the replay window count: the bytes the message holds (compressed, once compressed). */
const held = (m: OutMessage) => (m.wire?.gzip ? m.wire.bytes.length : m.plainBytes);

/**
 * Frees a released message's bytes at once (owned-memory.ts): they stayed in the replay window for seconds, so V8
 * would free them only at a full collection, and at ~10 MB/s of PodLogs tens of MB of them waited for one. The bytes
 * are the message's own (records.ts, log-batcher.ts and precompressed.ts allocate them apart), grpc-js copied them
 * into its frame before the write completed, and nothing reads a message once it left the window.
 */
function freeBytes(m: OutMessage): void {
  if (m.wire?.shared) freeOwned(m.wire.bytes);
  m.wire = undefined;
  m.inner = undefined;
}

export class CloudStream {
  private queue: OutMessage[] = [];
  private inWrite: OutMessage[] = [];
  private window: OutMessage[] = [];
  private queuedBytes = 0;
  private inWriteBytes = 0;
  private windowBytes = 0;
  private session: Session | undefined;
  private sessions = 0;
  private wake: (() => void) | undefined;
  /** The queue's head is being compressed and pump() will run again once it is done. */
  private awaitingHead = false;
  state: StreamState = 'connecting';
  lastError: string | undefined;
  openedAt: Date | undefined;
  lastInboundAt = 0;
  reconnects = 0;
  /** When the stream last reopened after a clean drain or a new connection (not a failure). */
  lastReopenAt = 0;
  sent = 0;
  replayed = 0;

  constructor(
    readonly name: StreamName,
    private readonly connection: CloudConnection,
    private readonly settings: StreamSettings,
    private readonly hooks: StreamHooks,
    private readonly events: UplinkEvents,
    private readonly logger: Logger,
  ) {
    connection.on('replaced', (generation, graceful) => {
      const s = this.session;
      if (s && !s.ended && s.generation < generation) {
        if (!graceful) this.cancel(s, 'connection lost');
        else if (s.openedAt !== undefined) this.drain(s);
        else this.cancel(s, 'replaced');
      }
      this.wake?.();
    });
  }

  get path(): string {
    return STREAM_METHODS[this.name];
  }

  get queued(): number {
    return this.queue.length;
  }

  get pendingBytes(): number {
    return this.queuedBytes;
  }

  get windowed(): { messages: number; bytes: number } {
    return { messages: this.window.length + this.inWrite.length, bytes: this.windowBytes + this.inWriteBytes };
  }

  /** True when the queue has room for more (the uplink admits records only then). */
  hasRoom(extraBytes = 0): boolean {
    return this.queue.length < this.settings.queueMessages && this.queuedBytes + extraBytes < this.settings.queueBytes;
  }

  /** True when a message of one of these kinds is waiting, in write, or in the window. */
  holds(match: (m: OutMessage) => boolean): boolean {
    return this.queue.some(match) || this.inWrite.some(match) || this.window.some(match);
  }

  /** Queues a message (room was checked by the caller; replies and replays never wait). */
  enqueue(message: OutMessage): void {
    if (size(message) + 16 > MAX_MESSAGE_BYTES) {
      this.events.messageDropped('message_too_large', message.kind, `${size(message)} bytes; the cloud accepts at most ${MAX_MESSAGE_BYTES}`);
      failMessage(message, new Error('message larger than the cloud accepts'));
      return;
    }
    this.queue.push(message);
    this.queuedBytes += size(message);
    this.compress(message);
    this.pump();
  }

  /**
   * PodLogs are compressed by the uplink, once, while they wait (precompressed.ts): from then on the message holds
   * only its compressed bytes, in the queue, in write and in the replay window, and a replay is not compressed again.
   */
  private compress(m: OutMessage): void {
    const level = this.connection.precompressLevel;
    if (level === undefined || m.kind !== 'podLogs' || m.compressing || m.wire?.gzip || !m.inner) return;
    const field = fieldOn(this.name, m.kind);
    if (field === undefined) return;
    const stream = this.name;
    const wire = m.wire?.stream === stream ? m.wire.bytes : wrapRecord(field, m.inner);
    m.compressing = gzipForWire(wire, level)
      .then(
        (bytes) => {
          m.wire = { stream, bytes, shared: true, gzip: true };
          m.inner = undefined;
        },
        // Left as it is: grpc-js compresses it when it is written.
        (err: unknown) => this.events.compressionFailed(stream, err),
      )
      .finally(() => {
        m.compressing = undefined;
      });
  }

  /** The inner bytes of a message, inflating them when only the compressed wire bytes are kept. */
  private static innerOf(m: OutMessage): Uint8Array {
    if (m.inner) return m.inner;
    if (!m.wire) throw new Error(`${m.kind} message without bytes`);
    return unwrapRecord(gunzipWire(m.wire.bytes));
  }

  /** Takes over messages of a stream that fell back to this one (kept in their order). */
  adopt(messages: OutMessage[]): void {
    for (const m of messages) {
      this.queue.push(m);
      this.queuedBytes += size(m);
    }
    this.pump();
  }

  /** Hands every waiting message over (the stream is not in a session: it just ended). */
  takeAll(): OutMessage[] {
    const all = this.queue;
    this.queue = [];
    this.queuedBytes = 0;
    this.hooks.onSpace();
    return all;
  }

  /** Drains the open stream and reopens it (new token), or retries now if it is waiting to. */
  recycle(): void {
    const s = this.session;
    if (s && !s.ended) {
      if (s.openedAt !== undefined) this.drain(s);
      else this.cancel(s, 'replaced');
    }
    this.wake?.();
  }

  async run(signal: AbortSignal): Promise<void> {
    const backoff = new Backoff({ initialMs: this.settings.initialBackoffMs, maxMs: this.settings.maxBackoffMs });
    let attempt = 0;
    while (!signal.aborted) {
      if (this.state === 'unimplemented' && this.name !== 'data') {
        const generation = this.connection.generation;
        await this.sleepUntil(() => this.connection.generation !== generation, signal);
        if (signal.aborted) break;
        if (!this.hooks.mayRetry(this)) continue;
        this.events.fallbackEnded(this.name);
      }
      const outcome = await this.runSession(signal);
      if (signal.aborted) break;
      if (outcome.kind === 'drained') {
        this.events.streamDrained(this.name, outcome.confirmed);
        this.lastReopenAt = Date.now();
        backoff.reset();
        attempt = 0;
        continue;
      }
      if (outcome.kind === 'replaced') {
        if (outcome.clean) this.lastReopenAt = Date.now();
        else this.reconnects++;
        continue;
      }
      this.reconnects++;
      this.lastError = `${outcome.code}: ${explain(outcome.details)}`;
      if (outcome.kind === 'unimplemented' && this.name !== 'data') {
        this.state = 'unimplemented';
        this.hooks.onUnimplemented(this);
        continue;
      }
      // StreamData itself not implemented: nothing else can carry its records; keep trying with backoff.
      this.state = 'backoff';
      if (outcome.kind === 'compression') this.connection.disableCompression(this.connection.generation, outcome.details);
      if (outcome.kind === 'unauthenticated') await this.hooks.onUnauthenticated(this, outcome.details);
      if (outcome.opened) {
        backoff.reset();
        attempt = 0;
      }
      attempt++;
      const delay = backoff.next();
      this.events.streamFailed(this.name, outcome.code, explain(outcome.details), attempt, Math.round(delay), outcome.replaying);
      await this.sleepUntil(() => false, signal, delay);
    }
    this.state = 'stopped';
  }

  private runSession(signal: AbortSignal): Promise<Outcome> {
    const { client, generation } = this.connection.current();
    const call = client.makeBidiStreamRequest<Buffer, Buffer>(this.path, (b: Buffer) => b, (b: Buffer) => b, this.hooks.metadata(), {});
    const s: Session = {
      id: ++this.sessions,
      generation,
      call,
      startedAt: Date.now(),
      openedAt: undefined,
      halfClosed: false,
      writable: true,
      ended: false,
      stopping: false,
      cancelledFor: undefined,
      unproven: 0,
      timers: [],
    };
    this.session = s;
    this.state = 'connecting';
    this.lastInboundAt = 0;
    return new Promise<Outcome>((resolve) => {
      const onStop = () => this.stop(s);
      signal.addEventListener('abort', onStop, { once: true });
      call.on('metadata', () => this.opened(s));
      call.on('data', (bytes: Buffer) => {
        if (s.ended) return;
        this.opened(s);
        this.lastInboundAt = Date.now();
        s.unproven = 0;
        this.hooks.onMessage(this, bytes);
        this.release();
      });
      // The final status arrives as 'status' (an 'error' event precedes it for non-OK ones).
      call.on('error', () => undefined);
      call.on('status', (status: grpc.StatusObject) => {
        if (s.ended) return;
        s.ended = true;
        for (const t of s.timers) clearTimeout(t);
        signal.removeEventListener('abort', onStop);
        if (this.session === s) this.session = undefined;
        this.openedAt = undefined;
        this.events.streamClosed(this.name);
        resolve(this.outcome(s, status));
      });
      const tick = Math.max(50, Math.min(1000, this.settings.idleTimeoutMs / 4, this.settings.replayWindowMs / 4));
      s.timers.push(setInterval(() => this.check(s), tick));
      this.pump();
    });
  }

  private opened(s: Session): void {
    if (s.openedAt !== undefined || s.ended) return;
    s.openedAt = Date.now();
    this.openedAt = new Date(s.openedAt);
    this.state = s.halfClosed ? 'draining' : 'open';
    this.lastError = undefined;
    this.events.streamOpened(this.name, s.generation);
    // What was written before the cloud accepted the stream is delivered now (unless replayable: the window).
    const keep: OutMessage[] = [];
    for (const m of this.window) {
      if (m.replayable) keep.push(m);
      else {
        this.windowBytes -= held(m);
        settle(m);
      }
    }
    this.window = keep;
  }

  /** Writes queued messages while the stream takes them and the window has room. */
  private pump(): void {
    const s = this.session;
    if (!s || s.ended || s.halfClosed || !s.writable || s.cancelledFor !== undefined) return;
    let took = false;
    while (this.queue.length > 0) {
      const head = this.queue[0]!;
      if (head.compressing) {
        // Written in order: the head is written once its compression is done, and what follows it after.
        if (!this.awaitingHead) {
          this.awaitingHead = true;
          void head.compressing.then(() => {
            this.awaitingHead = false;
            this.pump();
          });
        }
        break;
      }
      const busy = this.window.length + this.inWrite.length > 0;
      if (busy && this.windowBytes + this.inWriteBytes >= this.settings.replayWindowBytes) break;
      const m = this.queue.shift()!;
      this.queuedBytes -= size(m);
      took = true;
      const field = fieldOn(this.name, m.kind);
      if (field === undefined) {
        this.events.messageDropped('no_stream_for_kind', m.kind, `${this.name} cannot carry ${m.kind}`);
        failMessage(m, new Error(`no stream for ${m.kind}`));
        continue;
      }
      if (m.wire?.stream !== this.name) {
        // A message moved from another stream (a fallback): wrapped again for this one, uncompressed.
        m.inner = CloudStream.innerOf(m);
        m.wire = { stream: this.name, bytes: wrapRecord(field, m.inner) };
      }
      this.inWrite.push(m);
      this.inWriteBytes += held(m);
      const more = s.call.write(m.wire.bytes, () => this.written(s, m));
      if (!more) {
        s.writable = false;
        s.call.once('drain', () => {
          s.writable = true;
          this.pump();
        });
        break;
      }
    }
    if (took) this.hooks.onSpace();
    if (s.stopping && this.queue.length === 0 && this.inWrite.length === 0) this.drain(s);
  }

  /** grpc-js completed a write. */
  private written(s: Session, m: OutMessage): void {
    const i = this.inWrite.indexOf(m);
    if (i === -1 || s.ended) return; // the session ended first: the message was requeued
    this.inWrite.splice(i, 1);
    this.inWriteBytes -= held(m);
    m.sends++;
    m.writtenAt = Date.now();
    this.sent++;
    this.events.messagesSent.inc({ stream: this.name });
    const plain = m.wire ? precompressedLength(m.wire.bytes) : undefined;
    if (plain !== undefined) this.events.compressedBytesSent.inc({ stream: this.name }, m.wire!.bytes.length);
    this.events.bytesSent.inc({ stream: this.name }, plain ?? m.wire?.bytes.length ?? size(m));
    // The stream-wrapped copy is not kept once written: in the replay window it would double the memory of every
    // message (the window counts the inner bytes only). A replay wraps the inner bytes again (a header and a copy).
    // Wrapped bytes that the inner bytes are a view into cost nothing more and are kept.
    if (!m.wire?.shared) m.wire = undefined;
    if (m.sends === 1) this.events.recordsSent.inc({ kind: m.kind }, m.records);
    else if (m.replayable) {
      this.replayed++;
      this.events.messagesReplayed.inc({ stream: this.name });
    }
    if (m.replayable || s.openedAt === undefined) {
      this.window.push(m);
      this.windowBytes += held(m);
    } else {
      settle(m);
      s.unproven++;
    }
    this.pump();
  }

  /** Releases PodLogs that stayed healthy past the replay window. */
  private release(): void {
    const now = Date.now();
    let freed = false;
    while (this.window.length > 0) {
      const head = this.window[0]!;
      if (!head.replayable || now - head.writtenAt < this.settings.replayWindowMs || this.lastInboundAt <= head.writtenAt) break;
      this.window.shift();
      this.windowBytes -= held(head);
      settle(head);
      freeBytes(head);
      freed = true;
    }
    if (freed) this.pump();
  }

  private check(s: Session): void {
    if (s.ended) return;
    this.release();
    const since = this.lastInboundAt || s.startedAt;
    const silentMs = Date.now() - since;
    if (silentMs >= this.settings.idleTimeoutMs && s.cancelledFor === undefined) {
      this.events.streamSilent(this.name, silentMs);
      this.cancel(s, 'silent');
      this.connection.suspect(s.generation, `${this.name} stream silent for ${silentMs} ms`);
    }
  }

  /** Half-closes: the cloud reads everything written and ends with OK, which confirms the window. */
  private drain(s: Session): void {
    if (s.ended || s.halfClosed) return;
    s.halfClosed = true;
    this.state = 'draining';
    s.call.end();
    s.timers.push(setTimeout(() => this.cancel(s, 'drain timeout'), this.settings.drainTimeoutMs));
  }

  /** Process shutdown: write what is queued, then drain (bounded by the drain timeout). */
  private stop(s: Session): void {
    s.stopping = true;
    s.timers.push(setTimeout(() => this.cancel(s, 'drain timeout'), this.settings.drainTimeoutMs));
    if (s.openedAt === undefined) this.cancel(s, 'replaced');
    else this.pump();
  }

  private cancel(s: Session, why: NonNullable<Session['cancelledFor']>): void {
    if (s.ended) return;
    s.cancelledFor ??= why;
    s.call.cancel();
  }

  private outcome(s: Session, status: grpc.StatusObject): Outcome {
    if (status.code === grpc.status.OK && s.halfClosed) {
      // The cloud read everything we wrote before it answered OK.
      const confirmed = this.window.length + this.inWrite.length;
      for (const m of [...this.window, ...this.inWrite]) settle(m);
      this.window = [];
      this.inWrite = [];
      this.windowBytes = 0;
      this.inWriteBytes = 0;
      return { kind: 'drained', confirmed };
    }
    const replaying = this.requeue(s);
    if (s.cancelledFor === 'replaced' || s.cancelledFor === 'connection lost') return { kind: 'replaced', clean: s.cancelledFor === 'replaced' };
    const code = grpc.status[status.code] ?? String(status.code);
    // grpc-js appends an empty "Resolution note:" to some connection errors.
    const details =
      s.cancelledFor === 'silent'
        ? `no heartbeat or data for ${this.settings.idleTimeoutMs} ms`
        : status.code === grpc.status.OK
          ? 'the cloud ended the stream'
          : status.details.replace(/\s*Resolution note:\s*$/, '');
    const opened = s.openedAt !== undefined;
    if (status.code === grpc.status.UNIMPLEMENTED) {
      return { kind: /compress|encoding|decompressor/i.test(status.details) ? 'compression' : 'unimplemented', code, details, opened, replaying };
    }
    if (status.code === grpc.status.UNAUTHENTICATED) return { kind: 'unauthenticated', code, details, opened, replaying };
    return { kind: 'failed', code, details, opened, replaying };
  }

  /** After a break: the window and unfinished writes go back to the front of the queue, in order. */
  private requeue(s: Session): number {
    if (s.openedAt !== undefined && s.unproven > 0) this.events.unconfirmed.inc({ stream: this.name }, s.unproven);
    const back = [...this.window, ...this.inWrite];
    this.window = [];
    this.inWrite = [];
    this.windowBytes = 0;
    this.inWriteBytes = 0;
    for (const m of back) this.queuedBytes += size(m);
    this.queue.unshift(...back);
    return back.length;
  }

  /** Waits until the condition holds, the timeout passes, the stream is woken (recycle, new connection) or stop. */
  private sleepUntil(done: () => boolean, signal: AbortSignal, timeoutMs?: number): Promise<void> {
    return new Promise((resolve) => {
      let timer: NodeJS.Timeout | undefined;
      const finish = () => {
        clearTimeout(timer);
        signal.removeEventListener('abort', finish);
        this.wake = undefined;
        resolve();
      };
      if (signal.aborted || done()) return resolve();
      if (timeoutMs !== undefined) timer = setTimeout(finish, timeoutMs);
      this.wake = () => {
        if (timeoutMs !== undefined || done()) finish();
      };
      signal.addEventListener('abort', finish, { once: true });
    });
  }
}

/** grpc-js's connection errors made readable: what is wrong and what to check. */
export function explain(details: string): string {
  if (/certificate|self.signed|unable to verify|CERT_|unable to get local issuer/i.test(details)) {
    return `${details} — the cloud's server certificate is not trusted: it is not signed by the CA in the cloud CA file (nor, unless disabled, by a system CA), or it does not name the cloud address/server name`;
  }
  if (/ECONNREFUSED/.test(details)) return `${details} — nothing listens at the cloud address`;
  if (/ENOTFOUND|EAI_AGAIN/.test(details)) return `${details} — the cloud address does not resolve`;
  return details;
}
