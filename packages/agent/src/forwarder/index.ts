// The forwarder: takes file chunks (backpressure through push), batches them, sends the batches to the
// aggregator on one kestrel.ingest.v1 stream, and advances file checkpoints only when a batch is acknowledged.
// Unacknowledged batches are kept (bounded by maxInFlightBatches) and sent again after a reconnect.
import { AsyncQueue, Backoff, sleep, type Logger, type TlsReloader } from '@kestrel/core';
import { IngestServiceDefinition, type AgentMessage, type Batch } from '@kestrel/proto/ingest/v1';
import { ChannelCredentials, createChannel, createClient, type Channel } from 'nice-grpc';
import type { FileChunk, LogSink } from '../sources/cri-logs/types.js';
import { Batcher, type BatchLimits, type OpenBatch } from './batcher.js';
import type { ForwarderEvents } from './events.js';

export interface ForwarderConfig extends BatchLimits {
  nodeName: string;
  agentVersion: string;
  instanceId: string;
  aggregatorAddress: string;
  serverName: string | undefined;
  maxInFlightBatches: number;
  compression: boolean;
}

interface SentBatch {
  sequence: number;
  batch: OpenBatch;
  message: AgentMessage;
  acked: boolean;
  sends: number;
}

export type ConnectionState = 'connecting' | 'connected' | 'backoff' | 'stopped';

export class Forwarder implements LogSink {
  private nextSequence = 1;
  private readonly window = new Map<number, SentBatch>();
  private readonly batcher: Batcher;
  private readonly spaceWaiters: (() => void)[] = [];
  private stream: AsyncQueue<AgentMessage> | undefined;
  state: ConnectionState = 'connecting';
  lastAckAt: Date | undefined;
  lastError: string | undefined;
  connectedSince: Date | undefined;
  reconnects = 0;

  constructor(
    private readonly config: ForwarderConfig,
    private readonly tls: TlsReloader,
    private readonly events: ForwarderEvents,
    private readonly logger: Logger,
  ) {
    this.batcher = new Batcher(config, (batch) => this.sealed(batch));
  }

  async push(chunk: FileChunk, signal: AbortSignal): Promise<void> {
    while (this.window.size >= this.config.maxInFlightBatches) {
      signal.throwIfAborted();
      await new Promise<void>((resolve) => this.spaceWaiters.push(resolve));
    }
    this.batcher.add(chunk);
  }

  get inFlight(): { batches: number; lines: number } {
    let lines = 0;
    for (const b of this.window.values()) lines += b.batch.lines;
    return { batches: this.window.size, lines };
  }

  private sealed(batch: OpenBatch): void {
    const sequence = this.nextSequence++;
    const message: AgentMessage = { message: { $case: 'batch', value: toBatch(sequence, batch) } };
    const sent: SentBatch = { sequence, batch, message, acked: false, sends: 0 };
    this.window.set(sequence, sent);
    this.events.batchSealed(batch.lines);
    if (!this.stream) return; // sent when the next stream opens
    if (this.stream.tryPush(message)) sent.sends++;
    else this.stream.fail(new Error('send queue full; reconnecting to resend')); // never happens while the window holds

  }

  /** Connects, sends, reconnects with backoff until the signal aborts. */
  async run(signal: AbortSignal): Promise<void> {
    const backoff = new Backoff({ initialMs: 250, maxMs: 30_000 });
    while (!signal.aborted) {
      this.state = 'connecting';
      const channel = this.channel();
      try {
        await this.session(channel, signal, backoff);
      } catch (err) {
        if (signal.aborted) break;
        this.lastError = err instanceof Error ? err.message : String(err);
        this.events.connectionError(this.lastError);
      } finally {
        this.stream?.close();
        this.stream = undefined;
        this.connectedSince = undefined;
        channel.close();
      }
      if (signal.aborted) break;
      this.state = 'backoff';
      this.reconnects++;
      await sleep(backoff.next(), signal).catch(() => undefined);
    }
    this.state = 'stopped';
    this.batcher.close();
  }

  private channel(): Channel {
    const options: Record<string, string | number> = { 'grpc.keepalive_time_ms': 30_000, 'grpc.keepalive_timeout_ms': 10_000 };
    if (this.config.serverName) options['grpc.ssl_target_name_override'] = this.config.serverName;
    if (this.config.compression) options['grpc.default_compression_algorithm'] = 2; // gzip
    const creds = ChannelCredentials.createSsl(this.tls.current.ca, this.tls.current.key, this.tls.current.cert);
    return createChannel(this.config.aggregatorAddress, creds, options);
  }

  private async session(channel: Channel, signal: AbortSignal, backoff: Backoff): Promise<void> {
    const client = createClient(IngestServiceDefinition, channel);
    // Room for the hello, every unacknowledged batch and the ones sealed while we resend.
    // The window bounds what can be queued (one chunk may seal a few batches beyond it, hence the margin).
    const queue = new AsyncQueue<AgentMessage>(this.config.maxInFlightBatches * 4 + 16);
    queue.tryPush({ message: { $case: 'hello', value: { nodeName: this.config.nodeName, agentVersion: this.config.agentVersion, instanceId: this.config.instanceId } } });
    for (const sent of this.window.values()) {
      if (sent.acked) continue;
      queue.tryPush(sent.message);
      if (sent.sends > 0) this.events.batchResent();
      sent.sends++;
    }
    this.stream = queue;
    for await (const reply of client.stream(queue, { signal })) {
      const m = reply.message;
      if (m?.$case === 'welcome') {
        this.state = 'connected';
        this.connectedSince = new Date();
        this.lastError = undefined;
        backoff.reset();
        this.logger.info('connected to aggregator', { address: this.config.aggregatorAddress, aggregator: m.value.aggregatorId });
      } else if (m?.$case === 'ack') {
        this.acknowledged(m.value.sequence);
      }
    }
    throw new Error('aggregator closed the stream');
  }

  private acknowledged(sequence: number): void {
    const sent = this.window.get(sequence);
    if (!sent) return; // an ack for a batch already settled (after a resend): nothing to do
    sent.acked = true;
    this.lastAckAt = new Date();
    // Checkpoints advance in order: only through the oldest batches that are all acknowledged.
    for (const [seq, b] of this.window) {
      if (!b.acked) break;
      for (const chunk of b.batch.chunks) chunk.owner.commit(chunk.resumeOffset, chunk.resumeLine, chunk.streamComplete);
      this.events.batchAcked(b.batch.lines);
      this.window.delete(seq);
    }
    for (const wake of this.spaceWaiters.splice(0)) wake();
  }

  /** Seals what is open so it gets sent (used at shutdown and by tests). */
  flush(): void {
    this.batcher.seal();
  }
}

function toBatch(sequence: number, batch: OpenBatch): Batch {
  return {
    sequence,
    nodeConditions: [],
    logs: batch.chunks.map((c) => ({
      namespace: c.container.namespace,
      podName: c.container.podName,
      podUid: c.container.podUid,
      containerName: c.container.containerName,
      restartCount: c.container.restartCount,
      file: { device: c.file.device, inode: c.file.inode, fingerprint: c.file.fingerprint },
      lines: c.lines.map((l) => ({
        timestamp: { seconds: l.seconds, nanos: l.nanos },
        stream: l.stream,
        message: l.message,
        offset: l.offset,
        endOffset: l.endOffset,
        lineNumber: l.lineNumber,
        parseError: l.parseError,
        truncated: l.truncated,
        level: l.level,
        errorInfo: l.errorInfo,
      })),
      previousContainer: c.previousContainer,
      streamComplete: c.streamComplete,
      lastLineNumber: c.lines.length > 0 ? c.lines[c.lines.length - 1]!.lineNumber : c.resumeLine,
      ownerReferences: [],
    })),
  };
}
