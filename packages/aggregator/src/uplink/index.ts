// The uplink to Kestrel Cloud: one mTLS connection (connection.ts), the five streams on it (cloud-stream.ts), a
// router from record kind to stream with the StreamData fallback (router.ts), PodLogs batching per container
// (log-batcher.ts), the token kept renewed (token-keeper.ts), certificates renewed by the cloud
// (certificate-renewal.ts), answers to the cloud's requests (cloud-requests.ts) and OperatorStats every interval.
// The uplink never knows where a record came from: producers submit records and wait for room (backpressure) and,
// when they need it (the ingest side's acknowledgements), for delivery.
import { Gauge, metricTotal, sleep, type Logger, type Readiness, type Registry } from '@kestrel/core';
import * as grpc from '@grpc/grpc-js';
import type { PodLogs } from '@kestrel/proto/cloud/v1';
import type { FramedEntries } from '@kestrel/proto/cloud/v1/log-entries';
import { inflateSegmentSync } from '@kestrel/proto/ingest/v1/segments';
import { RenewClusterTokenRequest, RenewClusterTokenResponse } from '@kestrel/proto/server/v1';
import { CertificateRenewals } from './certificate-renewal.js';
import { CloudRequests } from './cloud-requests.js';
import { CloudStream, type StreamHooks, type StreamSettings } from './cloud-stream.js';
import { CloudTls, type TlsFiles } from './cloud-tls.js';
import { CloudConnection } from './connection.js';
import type { CertificateWriter, TokenWriter } from './credential-writers.js';
import { Delivery, outMessage, type Accepted } from './delivery.js';
import { UplinkEvents } from './events.js';
import { LogBatcher, type LogBatchLimits, type PodLogsHeader } from './log-batcher.js';
import { OperatorStatsCollector } from './operator-stats.js';
import { encodeRecord, isReplayable, STREAM_NAMES, type StreamName, type UplinkRecord } from './records.js';
import { Router } from './router.js';
import type { ClusterToken } from './token.js';
import { TokenKeeper } from './token-keeper.js';

export type { Accepted } from './delivery.js';
export type { StreamName, UplinkRecord } from './records.js';

export interface UplinkConfig {
  address: string;
  serverName: string | undefined;
  compression: boolean;
  /** zlib level (1-9) of the PodLogs the uplink compresses itself; 6 (zlib's default) when not given. */
  compressionLevel?: number;
  useSystemCas: boolean;
  tokenFile: string;
  /** The token stored in the runtime Secret, mounted (runtime-credentials.ts); undefined: none. */
  runtimeTokenFile?: string | undefined;
  tokenRenewMinFraction: number;
  tokenRenewMaxFraction: number;
  logs: LogBatchLimits;
  stream: StreamSettings;
  operatorStatsIntervalMs: number;
}

export interface UplinkDeps {
  /** The client certificate files (CloudCertificateFiles, or a TlsReloader of one set). */
  tls: TlsFiles;
  registry: Registry;
  logger: Logger;
  tokenWriters: readonly TokenWriter[];
  certificateWriters: readonly CertificateWriter[];
  /** Where cgroup v2 files are (tests point it elsewhere). */
  cgroupRoot?: string;
}

const RENEW_PATH = '/server.v1.AutonpServerService/RenewClusterToken';
/** How long a stream rejected with UNAUTHENTICATED waits for the renewal it asked for before reconnecting anyway. */
const REJECTED_RENEWAL_WAIT_MS = 15_000;
/** A stream reopening after a clean drain still counts as ready for this long. */
const READY_GRACE_MS = 10_000;

export interface StreamView {
  name: StreamName;
  state: string;
  carries: string;
  openedAt: string | null;
  queued: number;
  inWindow: number;
  windowBytes: number;
  sent: number;
  replayed: number;
  reconnects: number;
  lastInbound: string | null;
  lastError: string | null;
}

export interface UplinkView {
  tenant: string;
  connection: number;
  compression: boolean;
  token: { expiresAt: string | null; nextRenewalAt: string; renewals: number; lastRenewalAt: string | null; lastError: string | null };
  certificate: { subject: string; notAfter: string };
  streams: StreamView[];
}

export class Uplink {
  readonly events: UplinkEvents;
  readonly tls: CloudTls;
  readonly connection: CloudConnection;
  readonly tokens: TokenKeeper;
  readonly streams = new Map<StreamName, CloudStream>();
  readonly router: Router;
  readonly requests: CloudRequests;
  private readonly batcher: LogBatcher;
  private readonly stats: OperatorStatsCollector;
  private readonly spaceWaiters = new Set<() => void>();

  constructor(
    private readonly config: UplinkConfig,
    deps: UplinkDeps,
  ) {
    const { logger } = deps;
    this.events = new UplinkEvents(deps.registry, logger);
    this.tls = new CloudTls(deps.tls, config.useSystemCas);
    this.connection = new CloudConnection(
      {
        address: config.address,
        serverName: config.serverName,
        compression: config.compression,
        compressionLevel: config.compressionLevel ?? 6,
        initialBackoffMs: config.stream.initialBackoffMs,
        maxBackoffMs: config.stream.maxBackoffMs,
        drainTimeoutMs: config.stream.drainTimeoutMs,
      },
      this.tls,
      logger,
    );
    this.tokens = new TokenKeeper(
      {
        tokenFile: config.tokenFile,
        runtimeTokenFile: config.runtimeTokenFile,
        renewMinFraction: config.tokenRenewMinFraction,
        renewMaxFraction: config.tokenRenewMaxFraction,
        retryInitialMs: 1000,
        retryMaxMs: Math.max(config.stream.maxBackoffMs, 60_000),
        fallbackPeriodMs: 3 * 3_600_000,
      },
      { renew: (token) => this.renewToken(token) },
      deps.tokenWriters,
      this.events,
      logger,
    );
    // No stream outlives the token it was opened with: each drains and reopens with the new one.
    this.tokens.on('renewed', () => {
      for (const s of this.streams.values()) s.recycle();
    });
    const hooks: StreamHooks = {
      metadata: () => this.metadata(this.tokens.current),
      onMessage: (stream, bytes) => this.requests.received(stream.name, bytes),
      onUnauthenticated: (stream, details) => {
        this.events.tokenRejected(stream.name, details);
        return this.tokens.rejected(details, REJECTED_RENEWAL_WAIT_MS);
      },
      onUnimplemented: (stream) => this.router.unimplemented(stream),
      mayRetry: (stream) => this.router.mayRetry(stream),
      onSpace: () => {
        for (const wake of [...this.spaceWaiters]) wake();
      },
    };
    for (const name of STREAM_NAMES) this.streams.set(name, new CloudStream(name, this.connection, config.stream, hooks, this.events, logger));
    this.router = new Router(this.streams, this.events);
    // Open batches may take half of the queue's byte bound; beyond that the oldest are sealed early.
    this.batcher = new LogBatcher(
      { maxPendingBytes: Math.floor(config.stream.queueBytes / 2), ...config.logs },
      (message) => this.router.streamFor('podLogs').enqueue(message),
      config.compressionLevel ?? 6,
    );
    const certificates = new CertificateRenewals(this.tls, deps.certificateWriters, this.events);
    this.requests = new CloudRequests(certificates, (on, record) => this.answer(on, record), this.events);
    this.stats = new OperatorStatsCollector(
      {
        dataStreamHealthy: () => this.isOpen('data'),
        controlStreamHealthy: () => (this.router.isFallingBack('control') ? this.isOpen('data') : this.isOpen('control')),
        messagesSent: () => metricTotal(this.events.messagesSent),
        messagesDropped: () => metricTotal(this.events.dropped),
        informers: () => this.informers(),
      },
      deps.cgroupRoot,
    );
    const streams = this.streams;
    new Gauge({
      name: 'kestrel_aggregator_uplink_replay_window_bytes',
      help: 'Bytes written to a cloud stream and kept until proven delivered',
      labelNames: ['stream'],
      registers: [deps.registry],
      collect() {
        for (const s of streams.values()) this.set({ stream: s.name }, s.windowed.bytes);
      },
    });
    new Gauge({
      name: 'kestrel_aggregator_uplink_queue_bytes',
      help: 'Bytes waiting to be written to a cloud stream',
      labelNames: ['stream'],
      registers: [deps.registry],
      collect() {
        for (const s of streams.values()) this.set({ stream: s.name }, s.pendingBytes);
      },
    });
  }

  /** Where OperatorStats reads informer sync state (the cluster watch sets it; none until then). */
  informers: () => { synced: number; total: number } = () => ({ synced: 0, total: 0 });

  get tenant(): string {
    return this.tokens.current.tenant;
  }

  /**
   * Accepts a record once there is room for it (waits while the uplink is full: that is the backpressure the agents
   * feel). The returned `delivered` settles once it is safe: written, and for PodLogs past the replay window.
   */
  async submit(record: UplinkRecord, signal: AbortSignal): Promise<Accepted> {
    const logs = record.$case === 'podLogs';
    for (;;) {
      const stream = this.router.streamFor(record.$case);
      if (stream.hasRoom(logs ? this.batcher.pendingBytes : 0)) break;
      await this.waitForSpace(signal);
    }
    const delivery = new Delivery();
    if (record.$case === 'podLogs') {
      this.batcher.add(record.value, delivery);
    } else {
      delivery.expect(1);
      this.router.streamFor(record.$case).enqueue(outMessage(record.$case, encodeRecord(record), 1, isReplayable(record.$case), [delivery]));
    }
    return { delivered: delivery.promise };
  }

  submitLogs(logs: PodLogs, signal: AbortSignal): Promise<Accepted> {
    return this.submit({ $case: 'podLogs', value: logs }, signal);
  }

  /** Resolves once the stream carrying PodLogs has room (what submitting logs waits for). */
  async waitForLogRoom(signal: AbortSignal): Promise<void> {
    while (!this.router.streamFor('podLogs').hasRoom(this.batcher.pendingBytes)) await this.waitForSpace(signal);
  }

  /** Whether agents' compressed segments go on as they are (the uplink compresses PodLogs itself). */
  takesSegments(): boolean {
    return this.connection.precompressLevel !== undefined;
  }

  /**
   * PodLogs whose entries come framed from the agent (see @kestrel/proto/cloud/v1/log-entries): never decoded here;
   * the agent's compressed segment, when there is one, is sent as it is while the uplink compresses PodLogs itself.
   */
  async submitFramedLogs(header: PodLogsHeader, entries: FramedEntries, signal: AbortSignal, copied?: () => void): Promise<Accepted> {
    await this.waitForLogRoom(signal);
    const delivery = new Delivery();
    // Without compression towards the cloud (or without the patched grpc-js) a segment is of no use here.
    if (entries.segment && !this.takesSegments()) {
      entries = { bytes: entries.bytes.length > 0 || entries.sizes.length === 0 ? entries.bytes : inflateSegmentSync(entries.segment), sizes: entries.sizes, lineNumbers: entries.lineNumbers };
    }
    this.batcher.addFramed(header, entries, delivery, copied);
    return { delivered: delivery.promise };
  }

  /** Queues an answer to a cloud request on the stream it came from (StreamData when that one fell back). */
  answer(on: StreamName, record: UplinkRecord): void {
    const stream = this.router.isFallingBack(on) ? this.router.stream('data') : this.router.stream(on);
    const delivery = new Delivery();
    delivery.expect(1);
    stream.enqueue(outMessage(record.$case, encodeRecord(record), 1, false, [delivery]));
  }

  readiness(): Readiness {
    // Streams that are down, grouped by what they last failed with (usually one cause for all).
    const down = new Map<string, string[]>();
    const now = Date.now();
    for (const s of this.streams.values()) {
      if (s.name !== 'data' && this.router.isFallingBack(s.name)) continue; // its records go on StreamData
      if (s.state === 'open' || s.state === 'draining') continue;
      if (s.state === 'connecting' && now - s.lastReopenAt < READY_GRACE_MS) continue;
      const cause = s.lastError ?? s.state;
      down.set(cause, [...(down.get(cause) ?? []), `${s.name} ${s.state}`]);
    }
    if (down.size === 0) return { ready: true };
    return { ready: false, reason: `cloud streams not open: ${[...down].map(([cause, streams]) => `${streams.join(', ')} (${cause})`).join('; ')}` };
  }

  view(): UplinkView {
    const token = this.tokens.current;
    const material = this.tls.current;
    return {
      tenant: token.tenant,
      connection: this.connection.generation,
      compression: this.connection.compression,
      token: {
        expiresAt: token.expiresAt?.toISOString() ?? null,
        nextRenewalAt: this.tokens.nextRenewalAt.toISOString(),
        renewals: this.tokens.renewals,
        lastRenewalAt: this.tokens.lastRenewalAt?.toISOString() ?? null,
        lastError: this.tokens.lastError ?? null,
      },
      certificate: { subject: material.subject, notAfter: material.notAfter.toISOString() },
      streams: [...this.streams.values()].map((s) => ({
        name: s.name,
        state: s.state,
        carries: s.name !== 'data' && this.router.isFallingBack(s.name) ? 'fallback to data' : s.name,
        openedAt: s.openedAt?.toISOString() ?? null,
        queued: s.queued,
        inWindow: s.windowed.messages,
        windowBytes: s.windowed.bytes,
        sent: s.sent,
        replayed: s.replayed,
        reconnects: s.reconnects,
        lastInbound: s.lastInboundAt ? new Date(s.lastInboundAt).toISOString() : null,
        lastError: s.lastError ?? null,
      })),
    };
  }

  /** Runs until the signal aborts, then writes what is batched and drains the streams (bounded by the drain timeout). */
  async run(signal: AbortSignal): Promise<void> {
    const inner = new AbortController();
    const stop = () => {
      // Batches still open go to their streams before the streams drain.
      this.batcher.flushAll();
      inner.abort(signal.reason);
    };
    if (signal.aborted) stop();
    else signal.addEventListener('abort', stop, { once: true });
    await Promise.all([...[...this.streams.values()].map((s) => s.run(inner.signal)), this.tokens.run(inner.signal), this.statsLoop(inner.signal)]);
  }

  close(): void {
    this.stats.close();
    this.connection.close();
  }

  private isOpen(name: StreamName): boolean {
    const state = this.streams.get(name)?.state;
    return state === 'open' || state === 'draining';
  }

  private async statsLoop(signal: AbortSignal): Promise<void> {
    while (!signal.aborted) {
      await sleep(this.config.operatorStatsIntervalMs, signal).catch(() => undefined);
      if (signal.aborted) break;
      const stats = await this.stats.collect();
      this.answer('data', { $case: 'operatorStats', value: stats });
      this.events.operatorStatsSent.inc();
    }
  }

  private waitForSpace(signal: AbortSignal): Promise<void> {
    return new Promise<void>((resolve, reject) => {
      if (signal.aborted) return reject(signal.reason);
      const wake = () => {
        this.spaceWaiters.delete(wake);
        signal.removeEventListener('abort', onAbort);
        resolve();
      };
      const onAbort = () => {
        this.spaceWaiters.delete(wake);
        reject(signal.reason);
      };
      this.spaceWaiters.add(wake);
      signal.addEventListener('abort', onAbort, { once: true });
    });
  }

  private metadata(token: ClusterToken): grpc.Metadata {
    const metadata = new grpc.Metadata();
    metadata.set('authorization', `Bearer ${token.jwt}`);
    metadata.set('autonp-tenantid', token.tenant);
    return metadata;
  }

  private renewToken(current: ClusterToken): Promise<{ accessToken: string; expiresIn: number }> {
    const { client } = this.connection.current();
    return new Promise((resolve, reject) => {
      client.makeUnaryRequest(
        RENEW_PATH,
        (request: RenewClusterTokenRequest) => Buffer.from(RenewClusterTokenRequest.encode(request).finish()),
        (bytes: Buffer) => RenewClusterTokenResponse.decode(bytes),
        { currentToken: current.jwt },
        this.metadata(current),
        { deadline: Date.now() + 30_000 },
        (err, response) => {
          if (err) reject(new Error(`RenewClusterToken: ${grpc.status[err.code] ?? err.code}: ${err.details}`));
          else if (!response?.accessToken) reject(new Error('RenewClusterToken answered without an access token'));
          else resolve(response);
        },
      );
    });
  }
}
