// The connection to Kestrel Cloud: one grpc-js client (one HTTP/2 connection) at a time, numbered by generation.
//
// A new generation replaces the current one when the TLS identity changes (new streams must present the new
// certificate, and a TLS session cannot change its certificate), when a stream found the connection dead (no
// heartbeat: grpc-js would keep sending on a silent TCP connection until its 5-minute keepalive notices), or when
// the cloud does not accept gzip. Streams learn of it through the 'replaced' event: on a graceful replacement
// they drain and reopen on the new client; on an abrupt one they are cancelled (and replay). The old client is
// closed once its streams had time to drain.
//
// Each client gets its own subchannel pool, so a replacement really opens a new TCP connection, and grpc-js's own
// reconnect backoff is capped to the uplink's, so a cloud that is back is used as soon as our backoff says so.
import { EventEmitter } from 'node:events';
import * as grpc from '@grpc/grpc-js';
import type { Logger } from '@kestrel/core';
import type { CloudTls } from './cloud-tls.js';
import { MAX_MESSAGE_BYTES } from './log-batcher.js';
import { grpcTakesPrecompressed } from './precompressed.js';

export interface ConnectionSettings {
  address: string;
  serverName: string | undefined;
  /** gRPC message compression (gzip) when the cloud accepts it. */
  compression: boolean;
  /** zlib level of the PodLogs the uplink compresses itself (precompressed.ts); other messages: grpc-js's level. */
  compressionLevel: number;
  initialBackoffMs: number;
  maxBackoffMs: number;
  /** How long an old client stays open after a graceful replacement. */
  drainTimeoutMs: number;
}

export interface ConnectionEvents {
  replaced: [generation: number, graceful: boolean, reason: string];
}

export class CloudConnection extends EventEmitter<ConnectionEvents> {
  private client: grpc.Client;
  private closing = new Set<NodeJS.Timeout>();
  generation = 1;
  compression: boolean;
  private readonly precompress: boolean;

  constructor(
    private readonly settings: ConnectionSettings,
    private readonly tls: CloudTls,
    private readonly logger: Logger,
  ) {
    super();
    this.setMaxListeners(50);
    this.compression = settings.compression;
    this.precompress = grpcTakesPrecompressed();
    if (settings.compression && !this.precompress) {
      logger.warn('@grpc/grpc-js is not the patched one (patches/): PodLogs are compressed by grpc-js at its default level instead of the configured one');
    }
    this.client = this.create();
    tls.on('change', (material, reason) => this.replace(`${reason}: ${material.subject}`, true));
  }

  /** The level at which the uplink compresses PodLogs itself; undefined when it does not (compression off). */
  get precompressLevel(): number | undefined {
    return this.compression && this.precompress ? this.settings.compressionLevel : undefined;
  }

  current(): { client: grpc.Client; generation: number } {
    return { client: this.client, generation: this.generation };
  }

  /** Opens a new connection for new streams; the old one is closed after streams drained (graceful) or now. */
  replace(reason: string, graceful: boolean): void {
    const old = this.client;
    this.client = this.create();
    this.generation++;
    this.logger.info('new cloud connection', { generation: this.generation, reason, graceful });
    this.emit('replaced', this.generation, graceful, reason);
    if (!graceful) {
      old.close();
      return;
    }
    const timer = setTimeout(() => {
      this.closing.delete(timer);
      old.close();
    }, this.settings.drainTimeoutMs + 1000);
    timer.unref();
    this.closing.add(timer);
  }

  /** A stream found the connection of `generation` dead; replaced unless that already happened. */
  suspect(generation: number, reason: string): void {
    if (generation === this.generation) this.replace(reason, false);
  }

  /** The cloud refused gzip-compressed messages: continue without compression. */
  disableCompression(generation: number, detail: string): void {
    if (!this.compression || generation !== this.generation) return;
    this.compression = false;
    this.logger.warn('the cloud does not accept gzip-compressed messages; sending uncompressed', { detail });
    this.replace('compression disabled', false);
  }

  close(): void {
    for (const timer of this.closing) clearTimeout(timer);
    this.closing.clear();
    this.client.close();
  }

  private create(): grpc.Client {
    const options: grpc.ChannelOptions = {
      'grpc.max_send_message_length': MAX_MESSAGE_BYTES,
      'grpc.max_receive_message_length': MAX_MESSAGE_BYTES,
      // As the published operator: HTTP/2 pings every 5 min, 30 s timeout, allowed without calls.
      'grpc.keepalive_time_ms': 300_000,
      'grpc.keepalive_timeout_ms': 30_000,
      'grpc.keepalive_permit_without_calls': 1,
      'grpc.initial_reconnect_backoff_ms': this.settings.initialBackoffMs,
      'grpc.max_reconnect_backoff_ms': this.settings.maxBackoffMs,
      'grpc.use_local_subchannel_pool': 1,
      // grpc-js stops compressing by itself when the cloud's grpc-accept-encoding does not list gzip.
      ...(this.compression ? { 'grpc.default_compression_algorithm': grpc.compressionAlgorithms.gzip } : {}),
    };
    if (this.settings.serverName) options['grpc.ssl_target_name_override'] = this.settings.serverName;
    return new grpc.Client(this.settings.address, this.tls.credentials(), options);
  }
}
