// The OTLP/gRPC metrics receiver: MetricsService/Export on its own port (4317 by default in the chart), plaintext or
// TLS (the server certificate followed as it is renewed), gzip accepted (grpc-js decompresses what the sender
// compressed). Requests are decoded by otlp-decode.ts (raw bytes reach the handler, so a malformed message is
// answered INVALID_ARGUMENT with the reason instead of a generic INTERNAL), written to the store by ingest.ts, and
// answered with partial success when points were refused. Memory per call is bounded by otlpMaxMessageSize and the
// number of concurrent streams per connection.
import * as grpc from '@grpc/grpc-js';
import { reloadingServerCredentials, type Logger, type TlsReloader } from '@kestrel/core';
import { ExportMetricsServiceResponse } from '@kestrel/proto/otlp/collector/metrics/v1';
import type { MetricsEvents } from './events.js';
import type { MetricsIngest } from './ingest.js';
import { peerAddress } from './kubernetes-context.js';
import { decodeExportRequest } from './otlp-decode.js';

export const EXPORT_PATH = '/opentelemetry.proto.collector.metrics.v1.MetricsService/Export';

const serviceDefinition: grpc.ServiceDefinition = {
  Export: {
    path: EXPORT_PATH,
    requestStream: false,
    responseStream: false,
    requestSerialize: (b: Buffer) => b,
    requestDeserialize: (b: Buffer) => b,
    responseSerialize: (r: ExportMetricsServiceResponse) => Buffer.from(ExportMetricsServiceResponse.encode(r).finish()),
    responseDeserialize: (b: Buffer) => ExportMetricsServiceResponse.decode(b),
  },
};

export interface OtlpReceiverOptions {
  /** host:port; port 0 picks one. */
  listen: string;
  /** TLS material; undefined: plaintext (inside the cluster network, as most collectors send). */
  tls: TlsReloader | undefined;
  maxReceiveMessageBytes: number;
  maxConcurrentStreams: number;
}

/**
 * Counts the calls grpc-js ends itself before the handler runs (a message over otlpMaxMessageSize, an unsupported
 * compression): the status reaches the call's sendStatus without passing through this interceptor's responder,
 * which every status from the handler does. The same grpc-js 1.14 behaviour the ingest transport relies on
 * (ingest/transport.ts); receiver.test.ts checks an oversized message is counted.
 */
function refusedByGrpc(count: (reason: 'message_too_large' | 'refused_by_grpc', peer: string, detail: string) => void): grpc.ServerInterceptor {
  return (_method, call) => {
    let fromHandler = false;
    let counted = false;
    const send = call.sendStatus.bind(call);
    call.sendStatus = (status) => {
      if (!fromHandler && !counted && status.code !== grpc.status.OK) {
        counted = true;
        count(status.code === grpc.status.RESOURCE_EXHAUSTED ? 'message_too_large' : 'refused_by_grpc', call.getPeer(), status.details ?? '');
      }
      send(status);
    };
    return new grpc.ServerInterceptingCall(call, {
      sendStatus(status, next) {
        fromHandler = true;
        next(status);
      },
    });
  };
}

export class OtlpReceiver {
  private readonly server: grpc.Server;
  port = 0;

  constructor(
    private readonly options: OtlpReceiverOptions,
    ingest: MetricsIngest,
    events: MetricsEvents,
    private readonly logger: Logger,
  ) {
    this.server = new grpc.Server({
      'grpc.max_receive_message_length': options.maxReceiveMessageBytes,
      'grpc.max_concurrent_streams': options.maxConcurrentStreams,
      'grpc.keepalive_permit_without_calls': 1,
      interceptors: [refusedByGrpc((reason, peer, detail) => events.request(reason, peer, detail))],
    });
    const handler: grpc.handleUnaryCall<Buffer, ExportMetricsServiceResponse> = (call, callback) => {
      const peer = call.getPeer();
      let decoded;
      try {
        decoded = decodeExportRequest(call.request);
      } catch (err) {
        const detail = `malformed ExportMetricsServiceRequest: ${err instanceof Error ? err.message : String(err)}`;
        events.request('invalid', peer, detail);
        callback({ code: grpc.status.INVALID_ARGUMENT, details: detail });
        return;
      }
      const result = ingest.ingest(decoded, peer, peerAddress(peer));
      events.request(result.rejected > 0 ? 'partial' : 'ok', peer);
      callback(null, result.rejected > 0 ? { partialSuccess: { rejectedDataPoints: result.rejected, errorMessage: result.errorMessage } } : { partialSuccess: undefined });
    };
    this.server.addService(serviceDefinition, { Export: handler });
  }

  async start(): Promise<number> {
    const credentials = this.options.tls ? reloadingServerCredentials(this.options.tls, false) : grpc.ServerCredentials.createInsecure();
    this.port = await new Promise<number>((resolve, reject) => this.server.bindAsync(this.options.listen, credentials, (err, port) => (err ? reject(err) : resolve(port))));
    this.logger.info('OTLP metrics receiver listening', { listen: this.options.listen, port: this.port, tls: Boolean(this.options.tls) });
    return this.port;
  }

  async stop(graceMs = 5000): Promise<void> {
    await new Promise<void>((resolve) => {
      const timer = setTimeout(() => {
        this.server.forceShutdown();
        resolve();
      }, graceMs);
      timer.unref();
      this.server.tryShutdown(() => {
        clearTimeout(timer);
        resolve();
      });
    });
  }
}
