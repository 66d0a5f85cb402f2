// The uplink to Kestrel Cloud: one mTLS channel, the bearer token and tenant on every call, and the streams.
// First cut: StreamLogs. The uplink never knows where a record came from.
import { type Logger, type TlsReloader } from '@kestrel/core';
import { StreamServiceDefinition, type PodLogs, type StreamLogsRequest, type StreamLogsResponse } from '@kestrel/proto/cloud/v1';
import { ChannelCredentials, Metadata, createChannel, createClient, type Channel } from 'nice-grpc';
import { CloudStream } from './cloud-stream.js';
import { readClusterToken, type ClusterToken } from './token.js';

export interface UplinkConfig {
  address: string;
  serverName: string | undefined;
  tokenFile: string;
  queueMessages: number;
  maxBackoffMs: number;
}

/** The cloud's limit is 10 MiB each way. */
export const MAX_MESSAGE_BYTES = 10 * 1024 * 1024;

export class Uplink {
  private token: ClusterToken;
  private channel: Channel;
  readonly logs: CloudStream<StreamLogsRequest, StreamLogsResponse>;
  heartbeats = 0;

  constructor(
    private readonly config: UplinkConfig,
    private readonly tls: TlsReloader,
    private readonly logger: Logger,
  ) {
    this.token = readClusterToken(config.tokenFile);
    this.channel = this.createChannel();
    const client = createClient(StreamServiceDefinition, this.channel);
    this.logs = new CloudStream<StreamLogsRequest, StreamLogsResponse>(
      'logs',
      (requests, options) => client.streamLogs(requests, options),
      () => this.metadata(),
      config.queueMessages,
      config.maxBackoffMs,
      (res) => {
        if (res.response?.$case === 'heartbeat') {
          this.heartbeats++;
          this.logs.lastHeartbeat = new Date();
        }
      },
      logger,
    );
  }

  get tenant(): string {
    return this.token.tenant;
  }

  private createChannel(): Channel {
    const m = this.tls.current;
    const options: Record<string, string | number> = {
      'grpc.max_send_message_length': MAX_MESSAGE_BYTES,
      'grpc.max_receive_message_length': MAX_MESSAGE_BYTES,
      // As the published operator: pings every 5 min, 30 s timeout, allowed without streams.
      'grpc.keepalive_time_ms': 300_000,
      'grpc.keepalive_timeout_ms': 30_000,
      'grpc.keepalive_permit_without_calls': 1,
    };
    if (this.config.serverName) options['grpc.ssl_target_name_override'] = this.config.serverName;
    return createChannel(this.config.address, ChannelCredentials.createSsl(m.ca, m.key, m.cert), options);
  }

  private metadata(): Metadata {
    // Re-read on every new stream: a token renewed into the file is used without a restart.
    try {
      this.token = readClusterToken(this.config.tokenFile);
    } catch (err) {
      this.logger.warn('cannot re-read the cluster token; using the previous one', { error: String(err) });
    }
    return Metadata({ authorization: `Bearer ${this.token.jwt}`, 'autonp-tenantid': this.token.tenant });
  }

  sendLogs(logs: PodLogs, signal: AbortSignal): Promise<void> {
    return this.logs.send({ request: { $case: 'podLogs', value: logs } }, signal);
  }

  run(signal: AbortSignal): Promise<void> {
    return this.logs.run(signal);
  }

  close(): void {
    this.channel.close();
  }
}
