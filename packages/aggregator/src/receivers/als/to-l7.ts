// One Envoy access log entry (HTTP or TCP) as one observation of an L7 exchange: its key (what two observations of
// the same kind of exchange share), the side that reported it, and the cloud.v1 L7AccessLog it stands for.
//
// Sides: a sidecar logs the requests leaving its pod (upstream cluster "outbound|…": it is the source) and those
// entering it ("inbound|…": it is the destination). With sidecars on both pods, one request is logged twice; the
// key leaves the side out so that the aggregation (l7-table.ts) can count it once.
//
// What is never forwarded: request and response headers (they may hold credentials), the query string of paths and
// referers (tokens travel there), TLS session details.
import type { Address } from '@kestrel/proto/envoy/config/core/v3/address';
import { requestMethodToJSON } from '@kestrel/proto/envoy/config/core/v3/base';
import {
  accessLogTypeToJSON,
  HTTPAccessLogEntry_HTTPVersion,
  type AccessLogCommon,
  type HTTPAccessLogEntry,
  type ResponseFlags,
  type TCPAccessLogEntry,
} from '@kestrel/proto/envoy/data/accesslog/v3';
import { L7ProtocolType, type L7AccessLog, type L7Endpoint } from '@kestrel/proto/cloud/v1';
import { timestampMs, timestampOf } from '@kestrel/core';
import type { IpResolver } from '../../flows/pod-ips.js';
import type { Reporter } from './reporter.js';

export type Side = 'outbound' | 'inbound' | 'other';

export interface Observation {
  key: string;
  side: Side;
  /** The record for this one entry (count 1). */
  record: L7AccessLog;
  startMs: number;
  /**
   * False for an entry Envoy logs while a request or connection is still going on (start, periodic, pool ready):
   * the final entry of the same exchange comes later and carries the totals, so these are counted and not merged.
   */
  final: boolean;
}

const NOT_FINAL = new Set(['DownstreamStart', 'DownstreamPeriodic', 'UpstreamPoolReady', 'UpstreamPeriodic', 'DownstreamTunnelSuccessfullyEstablished', 'TcpUpstreamConnected', 'TcpPeriodic', 'TcpConnectionStart', 'UdpTunnelUpstreamConnected', 'UdpPeriodic']);

export class EntryError extends Error {
  constructor(
    readonly reason: string,
    message: string,
  ) {
    super(message);
  }
}

const VERSIONS: Record<number, string> = {
  [HTTPAccessLogEntry_HTTPVersion.HTTP10]: 'HTTP/1.0',
  [HTTPAccessLogEntry_HTTPVersion.HTTP11]: 'HTTP/1.1',
  [HTTPAccessLogEntry_HTTPVersion.HTTP2]: 'HTTP/2',
  [HTTPAccessLogEntry_HTTPVersion.HTTP3]: 'HTTP/3',
};

/** Envoy's short names for response flags (%RESPONSE_FLAGS%), in ResponseFlags field order. */
const FLAG_NAMES: [keyof ResponseFlags, string][] = [
  ['failedLocalHealthcheck', 'LH'],
  ['noHealthyUpstream', 'UH'],
  ['upstreamRequestTimeout', 'UT'],
  ['localReset', 'LR'],
  ['upstreamRemoteReset', 'UR'],
  ['upstreamConnectionFailure', 'UF'],
  ['upstreamConnectionTermination', 'UC'],
  ['upstreamOverflow', 'UO'],
  ['noRouteFound', 'NR'],
  ['delayInjected', 'DI'],
  ['faultInjected', 'FI'],
  ['rateLimited', 'RL'],
  ['unauthorizedDetails', 'UAEX'],
  ['rateLimitServiceError', 'RLSE'],
  ['downstreamConnectionTermination', 'DC'],
  ['upstreamRetryLimitExceeded', 'URX'],
  ['streamIdleTimeout', 'SI'],
  ['invalidEnvoyRequestHeaders', 'IH'],
  ['downstreamProtocolError', 'DPE'],
  ['upstreamMaxStreamDurationReached', 'UMSDR'],
  ['responseFromCacheFilter', 'RFCF'],
  ['noFilterConfigFound', 'NFCF'],
  ['durationTimeout', 'DT'],
  ['upstreamProtocolError', 'UPE'],
  ['noClusterFound', 'NC'],
  ['overloadManager', 'OM'],
  ['dnsResolutionFailure', 'DF'],
  ['downstreamRemoteReset', 'DR'],
];

export function responseFlagNames(flags: ResponseFlags | undefined): string[] {
  if (!flags) return [];
  return FLAG_NAMES.filter(([field]) => Boolean(flags[field])).map(([, name]) => name);
}

interface Ends {
  side: Side;
  source: L7Endpoint;
  destination: L7Endpoint;
}

function socket(a: Address | undefined): { ip: string; port: number } | undefined {
  if (a?.address?.$case !== 'socketAddress') return undefined;
  const s = a.address.value;
  return { ip: s.address, port: s.portSpecifier?.$case === 'portValue' ? s.portSpecifier.value : 0 };
}

function endpoint(ip: string, port: number, resolver: IpResolver, reporter: Reporter | undefined, serviceName = ''): L7Endpoint {
  // The index knows every pod; the reporter's metadata names its own workload even before the index does.
  const known = ip ? resolver.resolve(ip) : undefined;
  if (known) return { ip, port, namespace: known.ns, kind: known.kind, name: known.name, serviceName };
  if (reporter && reporter.name) return { ip, port, namespace: reporter.namespace, kind: reporter.kind, name: reporter.name, serviceName };
  return { ip, port, namespace: '', kind: '', name: '', serviceName };
}

/** "outbound|9080||reviews.shop.svc.cluster.local" → the service "reviews" (its namespace from the host). */
function serviceOf(cluster: string): { name: string; namespace: string } {
  const host = cluster.split('|')[3] ?? '';
  const m = /^([^.]+)\.([^.]+)\.svc(\.|$)/.exec(host);
  return m ? { name: m[1]!, namespace: m[2]! } : { name: '', namespace: '' };
}

function ends(common: AccessLogCommon, reporter: Reporter, resolver: IpResolver): Ends {
  const cluster = common.upstreamCluster;
  const remote = socket(common.downstreamRemoteAddress) ?? socket(common.downstreamDirectRemoteAddress);
  const local = socket(common.downstreamLocalAddress);
  const upstream = socket(common.upstreamRemoteAddress);
  if (cluster.startsWith('inbound|') || cluster.startsWith('InboundPassthroughCluster')) {
    // Entering the reporter's pod: the client is the downstream peer, the reporter is the destination.
    const dst = local ?? { ip: reporter.ips[0] ?? '', port: 0 };
    return { side: 'inbound', source: endpoint(remote?.ip ?? '', 0, resolver, undefined), destination: endpoint(dst.ip, dst.port, resolver, reporter) };
  }
  const outbound = cluster.startsWith('outbound|');
  const service = outbound ? serviceOf(cluster) : { name: '', namespace: '' };
  // Leaving the reporter's pod: the upstream host it reached (or, without one, the address the app dialled).
  const dst = upstream ?? local ?? { ip: '', port: 0 };
  const destination = endpoint(dst.ip, dst.port, resolver, undefined, service.name);
  if (!destination.namespace && service.namespace) destination.namespace = service.namespace;
  return { side: outbound ? 'outbound' : 'other', source: endpoint(remote?.ip ?? reporter.ips[0] ?? '', 0, resolver, reporter), destination };
}

const identity = (e: L7Endpoint): string => (e.name ? `${e.namespace}/${e.kind}/${e.name}` : `ip:${e.ip}`);
const withoutQuery = (s: string): string => s.split('?')[0]!.split('#')[0]!;

function ms(d: { seconds: number; nanos: number } | undefined): number {
  return d ? d.seconds * 1000 + Math.floor(d.nanos / 1e6) : 0;
}

function base(common: AccessLogCommon | undefined, reporter: Reporter, resolver: IpResolver): { e: Ends; startMs: number; durationMs: number; c: AccessLogCommon } {
  if (!common) throw new EntryError('no_common_properties', 'entry without common_properties');
  const e = ends(common, reporter, resolver);
  if (!e.destination.ip && !e.destination.name) throw new EntryError('no_address', 'entry names no destination address');
  const startMs = common.startTime ? timestampMs(common.startTime) : 0;
  if (startMs <= 0) throw new EntryError('no_start_time', 'entry without start_time');
  const durationMs = ms(common.duration) || ms(common.timeToLastDownstreamTxByte);
  return { e, startMs, durationMs, c: common };
}

export function httpObservation(entry: HTTPAccessLogEntry, reporter: Reporter, resolver: IpResolver): Observation {
  const { e, startMs, durationMs, c } = base(entry.commonProperties, reporter, resolver);
  const req = entry.request;
  const res = entry.response;
  const code = res?.responseCode ?? 0;
  const details = res?.responseCodeDetails ?? '';
  const grpc = (req?.requestHeaders['content-type'] ?? '').startsWith('application/grpc') || res?.responseTrailers['grpc-status'] !== undefined;
  const flags = responseFlagNames(c.responseFlags);
  // Denied by an Istio AuthorizationPolicy (RBAC filter) or an external authorizer.
  const allowed = !(details.startsWith('rbac_access_denied') || (code === 403 && flags.includes('UAEX')));
  const method = req ? requestMethodToJSON(req.requestMethod) : '';
  const record: L7AccessLog = {
    timestamp: timestampOf(startMs),
    source: e.source,
    destination: e.destination,
    protocol: 'TCP',
    l7Protocol: grpc ? L7ProtocolType.L7_PROTOCOL_GRPC : L7ProtocolType.L7_PROTOCOL_HTTP,
    httpData: {
      method: method === 'METHOD_UNSPECIFIED' ? '' : method,
      path: withoutQuery(req?.path ?? ''),
      version: VERSIONS[entry.protocolVersion] ?? '',
      host: req?.authority ?? '',
      userAgent: req?.userAgent ?? '',
      requestHeaders: {},
      responseCode: code,
      responseHeaders: {},
      requestSize: req?.requestBodyBytes ?? 0,
      responseSize: res?.responseBodyBytes ?? 0,
      referer: withoutQuery(req?.referer ?? ''),
      responseFlags: flags,
      connectionTerminationDetails: c.connectionTerminationDetails,
      upstreamTransportFailureReason: c.upstreamTransportFailureReason,
      downstreamTransportFailureReason: c.downstreamTransportFailureReason,
      accessLogType: accessLogTypeToJSON(c.accessLogType),
      streamId: c.streamId,
      upstreamRequestAttemptCount: c.upstreamRequestAttemptCount,
    },
    tcpData: undefined,
    durationMs,
    bytesSent: c.downstreamWireBytesSent || res?.responseBodyBytes || 0,
    bytesReceived: c.downstreamWireBytesReceived || req?.requestBodyBytes || 0,
    allowed,
    nodeId: reporter.nodeId,
    clusterName: reporter.clusterName,
    count: 1,
    firstSeen: timestampOf(startMs),
    lastSeen: timestampOf(startMs + durationMs),
  };
  const h = record.httpData!;
  const key = ['http', identity(e.source), identity(e.destination), e.destination.port, record.l7Protocol, allowed, h.method, h.path, h.version, h.host, code, flags.join(',')].join('|');
  return { key, side: e.side, record, startMs, final: !c.intermediateLogEntry && !NOT_FINAL.has(h.accessLogType) };
}

export function tcpObservation(entry: TCPAccessLogEntry, reporter: Reporter, resolver: IpResolver): Observation {
  const { e, startMs, durationMs, c } = base(entry.commonProperties, reporter, resolver);
  const type = accessLogTypeToJSON(c.accessLogType);
  const allowed = !c.connectionTerminationDetails.startsWith('rbac_access_denied');
  const sent = entry.connectionProperties?.sentBytes ?? 0;
  const received = entry.connectionProperties?.receivedBytes ?? 0;
  const final = !c.intermediateLogEntry && !NOT_FINAL.has(type);
  const record: L7AccessLog = {
    timestamp: timestampOf(startMs),
    source: e.source,
    destination: e.destination,
    protocol: 'TCP',
    l7Protocol: L7ProtocolType.L7_PROTOCOL_TCP,
    httpData: undefined,
    tcpData: {
      // Only final entries are merged: the connection is over.
      connectionState: final ? 'closed' : 'open',
      receivedBytes: received,
      sentBytes: sent,
      connectionTerminationDetails: c.connectionTerminationDetails,
      upstreamTransportFailureReason: c.upstreamTransportFailureReason,
      downstreamTransportFailureReason: c.downstreamTransportFailureReason,
      accessLogType: type,
      streamId: c.streamId,
      upstreamRequestAttemptCount: c.upstreamRequestAttemptCount,
    },
    durationMs,
    bytesSent: sent,
    bytesReceived: received,
    allowed,
    nodeId: reporter.nodeId,
    clusterName: reporter.clusterName,
    count: 1,
    firstSeen: timestampOf(startMs),
    lastSeen: timestampOf(startMs + durationMs),
  };
  const key = ['tcp', identity(e.source), identity(e.destination), e.destination.port, allowed, responseFlagNames(c.responseFlags).join(',')].join('|');
  return { key, side: e.side, record, startMs, final };
}
