// One kestrel.ingest.v1 stream to one aggregator replica. The forwarder decides what to send and when to switch
// replicas; a link only carries messages out, Welcome and Acks in, and says when it ended.
//
// Lifecycle: connecting (opened, no Welcome yet) -> open (Welcome received: batches flow) -> draining (half-closed:
// nothing more is sent, the acknowledgements still owed keep coming until the aggregator ends the call) -> ended.
import fs from 'node:fs';
import { AsyncQueue } from '@kestrel/core';
import { IngestServiceDefinition, type AgentMessage, type Hello } from '@kestrel/proto/ingest/v1';
import { ChannelCredentials, Metadata, createChannel, createClient } from 'nice-grpc';
import type { Endpoint } from './endpoints.js';

export interface LinkCredentials {
  ca: Buffer;
  /** Identity by certificate (local runs). */
  key?: Buffer;
  cert?: Buffer;
  /** Identity by token (in a cluster): read at each connection, since the kubelet rotates it. */
  tokenFile?: string;
}

export interface LinkHandlers {
  welcomed(link: Link, aggregatorId: string): void;
  acknowledged(link: Link, sequence: number): void;
  ended(link: Link, error: string | undefined): void;
}

export type LinkState = 'connecting' | 'open' | 'draining' | 'ended';

let nextLinkId = 1;

export class Link {
  readonly id = nextLinkId++;
  state: LinkState = 'connecting';
  aggregatorId = '';
  openedAt = new Date();
  private readonly queue: AsyncQueue<AgentMessage>;
  private readonly abort = new AbortController();
  private drainTimer: NodeJS.Timeout | undefined;
  private readonly endedWaiters: (() => void)[] = [];

  constructor(
    readonly endpoint: Endpoint,
    hello: Hello,
    credentials: LinkCredentials,
    /** Messages the stream may hold unsent: the forwarder's in-flight bound plus the hello. */
    capacity: number,
    private readonly handlers: LinkHandlers,
  ) {
    this.queue = new AsyncQueue<AgentMessage>(capacity + 1);
    this.queue.tryPush({ message: { $case: 'hello', value: hello } });
    void this.run(credentials);
  }

  /** Queues a message; false when the link cannot take it (not open, or full: the forwarder resends it later). */
  send(message: AgentMessage): boolean {
    if (this.state === 'draining' || this.state === 'ended') return false;
    return this.queue.tryPush(message);
  }

  /** Stops sending; the call ends once the aggregator has answered what it received (or after timeoutMs). */
  drain(timeoutMs: number): void {
    if (this.state === 'ended' || this.state === 'draining') return;
    this.state = 'draining';
    this.queue.close();
    this.drainTimer = setTimeout(() => this.abort.abort(new Error('drain timed out')), timeoutMs);
    this.drainTimer.unref();
  }

  close(): void {
    this.abort.abort(new Error('closed'));
  }

  onEnded(callback: () => void): void {
    this.endedWaiters.push(callback);
  }

  private async run(credentials: LinkCredentials): Promise<void> {
    let error: string | undefined;
    const options: Record<string, string | number> = {
      'grpc.keepalive_time_ms': 30_000,
      'grpc.keepalive_timeout_ms': 10_000,
      'grpc.ssl_target_name_override': this.endpoint.serverName,
      // One replica per link: grpc-js must not retry elsewhere or hide failures behind its own reconnects.
      'grpc.initial_reconnect_backoff_ms': 1000,
      'grpc.max_reconnect_backoff_ms': 1000,
    };
    const channel = createChannel(this.endpoint.address, ChannelCredentials.createSsl(credentials.ca, credentials.key ?? null, credentials.cert ?? null), options);
    try {
      const metadata = Metadata();
      if (credentials.tokenFile) metadata.set('authorization', `Bearer ${fs.readFileSync(credentials.tokenFile, 'utf8').trim()}`);
      const client = createClient(IngestServiceDefinition, channel);
      for await (const reply of client.stream(this.queue, { signal: this.abort.signal, metadata })) {
        const m = reply.message;
        if (m?.$case === 'welcome') {
          if (this.state === 'connecting') this.state = 'open';
          this.aggregatorId = m.value.aggregatorId;
          this.handlers.welcomed(this, m.value.aggregatorId);
        } else if (m?.$case === 'ack') {
          this.handlers.acknowledged(this, m.value.sequence);
        }
      }
      if (this.state !== 'draining') error = 'aggregator closed the stream';
    } catch (err) {
      error = this.abort.signal.aborted ? String((this.abort.signal.reason as Error)?.message ?? this.abort.signal.reason) : err instanceof Error ? err.message : String(err);
    } finally {
      clearTimeout(this.drainTimer);
      this.queue.close();
      channel.close();
      this.state = 'ended';
    }
    this.handlers.ended(this, error);
    for (const wake of this.endedWaiters.splice(0)) wake();
  }
}
