// The Envoy Access Log Service v3 receiver (Istio's envoyGrpcAls extension provider): a gRPC server for
// envoy.service.accesslog.v3.AccessLogService/StreamAccessLogs. Each stream names its Envoy in its first message
// (reporter.ts); every HTTP or TCP entry becomes an observation (to-l7.ts), aggregated per time bucket (l7-table.ts)
// and sent as cloud.v1 L7AccessLog on StreamFlows through the uplink. Envoy does not wait for anything from us (the
// response comes when the stream ends), so there is nothing to acknowledge: what cannot be held (table full while
// the uplink is blocked) is dropped and counted by reason. See README.md and docs/istio.md.
import fs from 'node:fs';
import * as grpc from '@grpc/grpc-js';
import { type Logger } from '@kestrel/core';
import type { L7AccessLog } from '@kestrel/proto/cloud/v1';
import { AccessLogServiceDefinition, type AccessLogServiceImplementation } from '@kestrel/proto/envoy/service/accesslog/v3';
import { createServer, type Server } from 'nice-grpc';
import type { IpResolver } from '../../flows/pod-ips.js';
import type { AlsConfig } from './config.js';
import type { AlsEvents } from './events.js';
import { L7Table } from './l7-table.js';
import { reporterOf, type Reporter } from './reporter.js';
import { EntryError, httpObservation, tcpObservation, type Observation } from './to-l7.js';

export interface L7Sink {
  /** Accepts a record once the uplink has room. */
  submitL7(record: L7AccessLog, signal: AbortSignal): Promise<unknown>;
}

export interface AlsView {
  listen: string;
  tls: boolean;
  streamsOpen: number;
  reporters: { nodeId: string; workload: string; entries: number; lastEntryAt: string | null }[];
  entries: number;
  intermediate: number;
  dropped: Record<string, number>;
  recordsHeld: number;
  maxRecords: number;
  recordsSent: number;
  bothSides: number;
}

/** Reporters remembered for the debug view, at most. */
const MAX_REPORTERS = 1000;

export class AlsReceiver {
  private readonly table: L7Table;
  private server: Server | undefined;
  private port = 0;
  private streamsOpen = 0;
  private flushOldest = false;
  private wake: (() => void) | undefined;
  private readonly reporters = new Map<string, AlsView['reporters'][number]>();
  private readonly counts = { entries: 0, intermediate: 0, recordsSent: 0, bothSides: 0, dropped: {} as Record<string, number> };

  constructor(
    private readonly config: AlsConfig,
    private readonly sink: L7Sink,
    private readonly resolver: IpResolver,
    private readonly events: AlsEvents,
    private readonly logger: Logger,
    private readonly now: () => number = Date.now,
  ) {
    this.table = new L7Table(config.bucketMs, config.graceMs, config.maxRecords);
  }

  /** Starts serving; resolves to the port bound. */
  async start(): Promise<number> {
    const server = createServer({ 'grpc.max_receive_message_length': this.config.maxMessageBytes, 'grpc.keepalive_permit_without_calls': 1 });
    server.add(AccessLogServiceDefinition, this.service());
    const credentials =
      this.config.tlsCertFile && this.config.tlsKeyFile
        ? grpc.ServerCredentials.createSsl(null, [{ cert_chain: fs.readFileSync(this.config.tlsCertFile), private_key: fs.readFileSync(this.config.tlsKeyFile) }], false)
        : grpc.ServerCredentials.createInsecure();
    this.port = await server.listen(this.config.listen, credentials);
    this.server = server;
    return this.port;
  }

  async stop(): Promise<void> {
    await this.server?.shutdown();
  }

  /** Sends due buckets until the signal aborts; what is held then is sent at once (there is no one to resend it). */
  async run(signal: AbortSignal): Promise<void> {
    const tick = Math.max(50, Math.min(1000, Math.floor(this.config.bucketMs / 4)));
    while (!signal.aborted) {
      const oldest = this.flushOldest;
      this.flushOldest = false;
      const due = this.table.takeDue(this.now(), oldest);
      if (oldest && due.length > 0) this.events.earlyFlushes.inc({ reason: 'table_full' });
      for (const b of due) await this.send(b.records, b.bothSides, signal);
      if (due.length === 0) {
        await new Promise<void>((resolve) => {
          const timer = setTimeout(resolve, tick);
          const done = () => {
            clearTimeout(timer);
            resolve();
          };
          this.wake = done;
          signal.addEventListener('abort', done, { once: true });
        });
        this.wake = undefined;
      }
    }
    // The uplink drains after this; records it cannot take any more are dropped, counted.
    const held = this.table.takeAll();
    const stopping = AbortSignal.timeout(2000);
    for (const b of held) await this.send(b.records, b.bothSides, stopping);
  }

  private async send(records: L7AccessLog[], bothSides: number, signal: AbortSignal): Promise<void> {
    this.events.bothSides.inc(bothSides);
    this.counts.bothSides += bothSides;
    for (let i = 0; i < records.length; i++) {
      try {
        await this.sink.submitL7(records[i]!, signal);
      } catch (err) {
        this.dropCount('uplink_stopped', records.length - i, err instanceof Error ? err.message : String(err));
        return;
      }
      this.events.recordsSent.inc();
      this.counts.recordsSent++;
    }
  }

  private dropCount(reason: string, n: number, detail: string, meta: Record<string, unknown> = {}): void {
    this.events.drop(reason, n, detail, meta);
    this.counts.dropped[reason] = (this.counts.dropped[reason] ?? 0) + n;
  }

  private service(): AccessLogServiceImplementation {
    return {
      streamAccessLogs: async (requests, context) => {
        let reporter: Reporter | undefined;
        this.streamsOpen++;
        this.events.streamsOpen.inc();
        try {
          for await (const m of requests) {
            // Envoy sends the Identifier on the first message of a stream only.
            if (m.identifier) reporter = reporterOf(m.identifier.node);
            const entries = m.logEntries;
            if (!entries) continue;
            if (!reporter) {
              this.dropCount('no_identifier', entries.value.logEntry.length, 'entries before any Identifier on the stream', { peer: context.peer });
              continue;
            }
            const r = reporter;
            if (entries.$case === 'httpLogs') for (const e of entries.value.logEntry) this.observe('http', r, () => httpObservation(e, r, this.resolver));
            else for (const e of entries.value.logEntry) this.observe('tcp', r, () => tcpObservation(e, r, this.resolver));
          }
          this.events.streams.inc({ outcome: 'ended' });
        } catch (err) {
          // Envoy closing its stream (a restart, a config push) shows as a cancellation: not an error of ours.
          this.events.streams.inc({ outcome: context.signal.aborted ? 'cancelled' : 'failed' });
          if (!context.signal.aborted) this.logger.warn('access log stream failed', { peer: context.peer, error: err instanceof Error ? err.message : String(err) });
        } finally {
          this.streamsOpen--;
          this.events.streamsOpen.dec();
        }
        return {};
      },
    };
  }

  private observe(kind: 'http' | 'tcp', reporter: Reporter, convert: () => Observation): void {
    let o: Observation;
    try {
      o = convert();
    } catch (err) {
      if (!(err instanceof EntryError)) throw err;
      this.dropCount(err.reason, 1, err.message, { node: reporter.nodeId });
      return;
    }
    this.counts.entries++;
    this.seen(reporter);
    if (!o.final) {
      this.counts.intermediate++;
      this.events.entries.inc({ kind, outcome: 'intermediate' });
      return;
    }
    if (!this.table.add(o, this.now())) {
      this.flushOldest = true;
      this.wake?.();
      this.dropCount('table_full', 1, `more than ${this.config.maxRecords} aggregates held (the uplink is not taking them)`);
      return;
    }
    this.events.entries.inc({ kind, outcome: 'merged' });
  }

  private seen(r: Reporter): void {
    let v = this.reporters.get(r.nodeId);
    if (!v) {
      if (this.reporters.size >= MAX_REPORTERS) this.reporters.delete(this.reporters.keys().next().value!);
      v = { nodeId: r.nodeId, workload: r.name ? `${r.namespace}/${r.kind}/${r.name}` : '', entries: 0, lastEntryAt: null };
      this.reporters.set(r.nodeId, v);
    }
    v.entries++;
    v.lastEntryAt = new Date(this.now()).toISOString();
  }

  view(): AlsView {
    return {
      listen: `${this.config.listen.slice(0, this.config.listen.lastIndexOf(':'))}:${this.port}`,
      tls: Boolean(this.config.tlsCertFile),
      streamsOpen: this.streamsOpen,
      reporters: [...this.reporters.values()].map((r) => ({ ...r })),
      entries: this.counts.entries,
      intermediate: this.counts.intermediate,
      dropped: { ...this.counts.dropped },
      recordsHeld: this.table.size,
      maxRecords: this.config.maxRecords,
      recordsSent: this.counts.recordsSent,
      bothSides: this.counts.bothSides,
    };
  }
}
