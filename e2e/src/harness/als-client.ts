// An Envoy access log client, as an Istio sidecar streams its logs to an envoyGrpcAls provider: one client stream
// per log name on envoy.service.accesslog.v3.AccessLogService/StreamAccessLogs, the Identifier (node with Istio's
// metadata, log name) on the first message only, then batches of HTTP or TCP entries; the server answers once, when
// the stream ends. Also builds entries the way an Istio sidecar fills them (inbound and outbound, HTTP and TCP).
//
// grpc-js directly (as ingest-client.ts does), with the generated envoy messages.
import fs from 'node:fs';
import * as grpc from '@grpc/grpc-js';
import type { Node } from '@kestrel/proto/envoy/config/core/v3/base';
import { RequestMethod } from '@kestrel/proto/envoy/config/core/v3/base';
import { AccessLogType, HTTPAccessLogEntry_HTTPVersion, type HTTPAccessLogEntry, type TCPAccessLogEntry } from '@kestrel/proto/envoy/data/accesslog/v3';
import { StreamAccessLogsMessage, StreamAccessLogsResponse } from '@kestrel/proto/envoy/service/accesslog/v3';

const METHOD = '/envoy.service.accesslog.v3.AccessLogService/StreamAccessLogs';

export interface AlsClientOptions {
  /** host:port of the aggregator's ALS listener. */
  address: string;
  /** TLS: the CA the server's certificate chains to (unset: plaintext, Istio's default for envoyGrpcAls). */
  caFile?: string;
  serverName?: string;
}

/** A sidecar's identity the way Istio sets it: node id "sidecar~IP~pod.ns~ns.svc.cluster.local" and metadata. */
export function sidecarNode(p: { ip: string; pod: string; namespace: string; workload: string; kind?: string; cluster?: string }): Node {
  const plural = { Deployment: 'deployments', StatefulSet: 'statefulsets', DaemonSet: 'daemonsets' }[p.kind ?? 'Deployment'] ?? 'deployments';
  return {
    id: `sidecar~${p.ip}~${p.pod}.${p.namespace}~${p.namespace}.svc.cluster.local`,
    cluster: `${p.workload}.${p.namespace}`,
    metadata: {
      NAME: p.pod,
      NAMESPACE: p.namespace,
      WORKLOAD_NAME: p.workload,
      OWNER: `kubernetes://apis/apps/v1/namespaces/${p.namespace}/${plural}/${p.workload}`,
      INSTANCE_IPS: p.ip,
      CLUSTER_ID: p.cluster ?? 'Kubernetes',
    },
    locality: undefined,
    userAgentName: 'envoy',
    userAgentVersionType: { $case: 'userAgentVersion', value: '1.36.0' },
    clientFeatures: [],
    listeningAddresses: [],
  };
}

const address = (ip: string, port: number) => ({ address: { $case: 'socketAddress' as const, value: { protocol: 0, address: ip, portSpecifier: { $case: 'portValue' as const, value: port }, resolverName: '', ipv4Compat: false } } });

export interface HttpExchange {
  /** Client pod IP and server pod IP, the server's port, and the service host for the outbound cluster. */
  clientIp: string;
  serverIp: string;
  port: number;
  serviceHost: string;
  method?: RequestMethod;
  path: string;
  status: number;
  startMs: number;
  durationMs?: number;
  requestBytes?: number;
  responseBytes?: number;
  /** Denied by an AuthorizationPolicy (the server sidecar's RBAC filter answers 403). */
  denied?: boolean;
}

/** The HTTP entry the client's sidecar logs (outbound) or the server's (inbound) for one exchange. */
export function httpEntry(x: HttpExchange, side: 'outbound' | 'inbound'): HTTPAccessLogEntry {
  const inbound = side === 'inbound';
  const duration = x.durationMs ?? 12;
  return {
    commonProperties: {
      ...emptyCommon(),
      downstreamRemoteAddress: address(x.clientIp, 40000 + (x.startMs % 20000)),
      downstreamLocalAddress: inbound ? address(x.serverIp, x.port) : address('10.96.0.20', x.port),
      upstreamRemoteAddress: inbound ? address('127.0.0.6', x.port) : address(x.serverIp, x.port),
      upstreamCluster: inbound ? `inbound|${x.port}||` : `outbound|${x.port}||${x.serviceHost}`,
      startTime: { seconds: Math.floor(x.startMs / 1000), nanos: (x.startMs % 1000) * 1e6 },
      duration: { seconds: Math.floor(duration / 1000), nanos: (duration % 1000) * 1e6 },
      streamId: `stream-${x.startMs}-${side}`,
      accessLogType: AccessLogType.DownstreamEnd,
      downstreamWireBytesSent: (x.responseBytes ?? 100) + 150,
      downstreamWireBytesReceived: (x.requestBytes ?? 0) + 200,
    },
    protocolVersion: HTTPAccessLogEntry_HTTPVersion.HTTP11,
    request: {
      requestMethod: x.method ?? RequestMethod.GET,
      scheme: 'http',
      authority: x.serviceHost.split('.')[0]! + `:${x.port}`,
      port: undefined,
      path: x.path,
      userAgent: 'curl/8.5.0',
      referer: '',
      forwardedFor: '',
      requestId: `req-${x.startMs}`,
      originalPath: '',
      requestHeadersBytes: 200,
      requestBodyBytes: x.requestBytes ?? 0,
      requestHeaders: { authorization: 'Bearer must-never-leave' },
      upstreamHeaderBytesSent: 0,
      downstreamHeaderBytesReceived: 0,
    },
    response: {
      responseCode: x.status,
      responseHeadersBytes: 150,
      responseBodyBytes: x.responseBytes ?? 100,
      responseHeaders: {},
      responseTrailers: {},
      responseCodeDetails: x.denied ? 'rbac_access_denied_matched_policy[ns[shop]-policy[deny-all]-rule[0]]' : 'via_upstream',
      upstreamHeaderBytesReceived: 0,
      downstreamHeaderBytesSent: 0,
    },
  };
}

/** The TCP entry a sidecar logs when a connection ends. */
export function tcpEntry(x: { clientIp: string; serverIp: string; port: number; serviceHost: string; startMs: number; sent: number; received: number }, side: 'outbound' | 'inbound'): TCPAccessLogEntry {
  const inbound = side === 'inbound';
  return {
    commonProperties: {
      ...emptyCommon(),
      downstreamRemoteAddress: address(x.clientIp, 50000 + (x.startMs % 10000)),
      downstreamLocalAddress: inbound ? address(x.serverIp, x.port) : address('10.96.0.30', x.port),
      upstreamRemoteAddress: inbound ? address('127.0.0.6', x.port) : address(x.serverIp, x.port),
      upstreamCluster: inbound ? `inbound|${x.port}||` : `outbound|${x.port}||${x.serviceHost}`,
      startTime: { seconds: Math.floor(x.startMs / 1000), nanos: (x.startMs % 1000) * 1e6 },
      duration: { seconds: 2, nanos: 0 },
      accessLogType: AccessLogType.TcpConnectionEnd,
    },
    connectionProperties: { receivedBytes: x.received, sentBytes: x.sent },
  };
}

function emptyCommon() {
  return {
    sampleRate: 1,
    downstreamRemoteAddress: undefined,
    downstreamLocalAddress: undefined,
    tlsProperties: undefined,
    startTime: undefined,
    timeToLastRxByte: undefined,
    timeToFirstUpstreamTxByte: undefined,
    timeToLastUpstreamTxByte: undefined,
    timeToFirstUpstreamRxByte: undefined,
    timeToLastUpstreamRxByte: undefined,
    timeToFirstDownstreamTxByte: undefined,
    timeToLastDownstreamTxByte: undefined,
    upstreamRemoteAddress: undefined,
    upstreamLocalAddress: undefined,
    upstreamCluster: '',
    responseFlags: undefined,
    metadata: undefined,
    upstreamTransportFailureReason: '',
    routeName: '',
    downstreamDirectRemoteAddress: undefined,
    filterStateObjects: {},
    customTags: {},
    duration: undefined,
    upstreamRequestAttemptCount: 1,
    connectionTerminationDetails: '',
    streamId: '',
    intermediateLogEntry: false,
    downstreamTransportFailureReason: '',
    downstreamWireBytesSent: 0,
    downstreamWireBytesReceived: 0,
    upstreamWireBytesSent: 0,
    upstreamWireBytesReceived: 0,
    accessLogType: AccessLogType.NotSet,
  };
}

/** One open access log stream, as one Envoy log name keeps open. */
export class AlsStream {
  private readonly call: grpc.ClientWritableStream<StreamAccessLogsMessage>;
  private first = true;
  /** Resolves when the server answers (the stream ended), rejects with its error. */
  readonly done: Promise<void>;

  constructor(
    private readonly client: grpc.Client,
    private readonly node: Node,
    private readonly logName = 'envoy_accesslog_service',
  ) {
    let call!: grpc.ClientWritableStream<StreamAccessLogsMessage>;
    this.done = new Promise<void>((resolve, reject) => {
      call = client.makeClientStreamRequest(
        METHOD,
        (m: StreamAccessLogsMessage) => Buffer.from(StreamAccessLogsMessage.encode(m).finish()),
        (b: Buffer) => StreamAccessLogsResponse.decode(b),
        (err) => (err ? reject(err) : resolve()),
      );
    });
    this.done.catch(() => undefined);
    this.call = call;
  }

  /** Sends a batch of HTTP entries (Envoy flushes its buffer every second or when full). */
  http(entries: HTTPAccessLogEntry[]): Promise<void> {
    return this.write({ identifier: this.identifier(), logEntries: { $case: 'httpLogs', value: { logEntry: entries } } });
  }

  tcp(entries: TCPAccessLogEntry[]): Promise<void> {
    return this.write({ identifier: this.identifier(), logEntries: { $case: 'tcpLogs', value: { logEntry: entries } } });
  }

  /** Ends the stream (what Envoy does on shutdown) and waits for the answer. */
  async end(): Promise<void> {
    this.call.end();
    await this.done;
  }

  private identifier() {
    if (!this.first) return undefined;
    this.first = false;
    return { node: this.node, logName: this.logName };
  }

  private write(m: StreamAccessLogsMessage): Promise<void> {
    return new Promise<void>((resolve, reject) => this.call.write(m, (err: unknown) => (err ? reject(err) : resolve())));
  }
}

export class AlsClient {
  private readonly client: grpc.Client;

  constructor(options: AlsClientOptions) {
    const credentials = options.caFile ? grpc.credentials.createSsl(fs.readFileSync(options.caFile)) : grpc.credentials.createInsecure();
    const channelOptions: grpc.ChannelOptions = { 'grpc.use_local_subchannel_pool': 1 };
    if (options.serverName) channelOptions['grpc.ssl_target_name_override'] = options.serverName;
    this.client = new grpc.Client(options.address, credentials, channelOptions);
  }

  stream(node: Node, logName?: string): AlsStream {
    return new AlsStream(this.client, node, logName);
  }

  close(): void {
    this.client.close();
  }
}
