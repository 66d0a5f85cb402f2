// The Envoy access log receiver: Istio sidecar entries become cloud.v1 L7AccessLog records, aggregated, a request
// logged by both sidecars counted once, nothing of headers or query strings forwarded, bad entries counted.
import assert from 'node:assert/strict';
import { test } from 'node:test';
import * as grpc from '@grpc/grpc-js';
import { createLogger, createRegistry } from '@kestrel/core';
import { L7ProtocolType, type Endpoint, type L7AccessLog } from '@kestrel/proto/cloud/v1';
import { AccessLogType, HTTPAccessLogEntry, TCPAccessLogEntry } from '@kestrel/proto/envoy/data/accesslog/v3';
import { StreamAccessLogsMessage, StreamAccessLogsResponse } from '@kestrel/proto/envoy/service/accesslog/v3';
import type { IpResolver } from '../../flows/pod-ips.js';
import { AlsEvents } from './events.js';
import { AlsReceiver } from './index.js';
import { reporterOf } from './reporter.js';
import { L7Table } from './l7-table.js';
import { httpObservation, tcpObservation } from './to-l7.js';

const T0 = 1_700_000_000_000;
const pods: Record<string, Endpoint> = {
  '10.0.1.5': { ns: 'shop', kind: 'Deployment', name: 'web', labels: [] },
  '10.0.2.7': { ns: 'shop', kind: 'Deployment', name: 'cart', labels: [] },
};
const resolver: IpResolver = { resolve: (ip) => pods[ip] };
const sock = (ip: string, port: number) => ({ address: { $case: 'socketAddress' as const, value: { protocol: 0, address: ip, portSpecifier: { $case: 'portValue' as const, value: port }, resolverName: '', ipv4Compat: false } } });
const node = (ip: string, pod: string, workload: string) => ({
  id: `sidecar~${ip}~${pod}.shop~shop.svc.cluster.local`,
  cluster: `${workload}.shop`,
  metadata: { NAMESPACE: 'shop', NAME: pod, WORKLOAD_NAME: workload, OWNER: `kubernetes://apis/apps/v1/namespaces/shop/deployments/${workload}`, CLUSTER_ID: 'prod-eu' },
  locality: undefined,
  userAgentName: 'envoy',
  userAgentVersionType: undefined,
  clientFeatures: [],
  listeningAddresses: [],
});
const web = reporterOf(node('10.0.1.5', 'web-1', 'web'));
const cart = reporterOf(node('10.0.2.7', 'cart-1', 'cart'));

function http(side: 'inbound' | 'outbound', over: { startMs?: number; path?: string; status?: number; details?: string; bytes?: number } = {}) {
  const startMs = over.startMs ?? T0 + 1000;
  return HTTPAccessLogEntry.fromPartial({
    commonProperties: {
      downstreamRemoteAddress: sock('10.0.1.5', 41000),
      downstreamLocalAddress: side === 'inbound' ? sock('10.0.2.7', 8080) : sock('10.96.0.20', 8080),
      upstreamRemoteAddress: side === 'inbound' ? sock('127.0.0.6', 8080) : sock('10.0.2.7', 8080),
      upstreamCluster: side === 'inbound' ? 'inbound|8080||' : 'outbound|8080||cart.shop.svc.cluster.local',
      startTime: { seconds: Math.floor(startMs / 1000), nanos: (startMs % 1000) * 1e6 },
      duration: { seconds: 0, nanos: 20e6 },
      accessLogType: AccessLogType.DownstreamEnd,
      downstreamWireBytesSent: over.bytes ?? 300,
      streamId: 's1',
    },
    protocolVersion: 2,
    request: { requestMethod: 3, path: over.path ?? '/api/cart?token=secret', authority: 'cart:8080', userAgent: 'curl/8', requestHeaders: { authorization: 'Bearer secret' }, requestBodyBytes: 10 },
    response: { responseCode: over.status ?? 200, responseCodeDetails: over.details ?? 'via_upstream', responseBodyBytes: 100 },
  });
}

test('an inbound HTTP entry names the client and the server workloads, without headers or query string', () => {
  const o = httpObservation(http('inbound'), cart, resolver);
  assert.equal(o.side, 'inbound');
  const r = o.record;
  assert.deepEqual(r.source, { ip: '10.0.1.5', port: 0, namespace: 'shop', kind: 'Deployment', name: 'web', serviceName: '' });
  assert.deepEqual(r.destination, { ip: '10.0.2.7', port: 8080, namespace: 'shop', kind: 'Deployment', name: 'cart', serviceName: '' });
  assert.equal(r.l7Protocol, L7ProtocolType.L7_PROTOCOL_HTTP);
  assert.equal(r.httpData!.method, 'POST');
  assert.equal(r.httpData!.path, '/api/cart');
  assert.equal(r.httpData!.version, 'HTTP/1.1');
  assert.deepEqual(r.httpData!.requestHeaders, {});
  assert.equal(r.durationMs, 20);
  assert.equal(r.clusterName, 'prod-eu');
  assert.equal(r.allowed, true);
  assert.ok(!JSON.stringify(r).includes('secret'));
});

test('an outbound entry takes the service from the upstream cluster and the destination pod from the upstream host', () => {
  const r = httpObservation(http('outbound'), web, resolver).record;
  assert.equal(r.destination!.serviceName, 'cart');
  assert.equal(r.destination!.name, 'cart');
  assert.equal(r.source!.name, 'web');
});

test('a request denied by an AuthorizationPolicy is not allowed', () => {
  const r = httpObservation(http('inbound', { status: 403, details: 'rbac_access_denied_matched_policy[none]' }), cart, resolver).record;
  assert.equal(r.allowed, false);
});

test('the same requests logged by the client and the server sidecar count once; different paths stay apart', () => {
  const table = new L7Table(10_000, 0, 100);
  for (let i = 0; i < 3; i++) {
    table.add(httpObservation(http('outbound', { startMs: T0 + i }), web, resolver), T0);
    table.add(httpObservation(http('inbound', { startMs: T0 + i, bytes: 500 }), cart, resolver), T0);
  }
  table.add(httpObservation(http('inbound', { startMs: T0, path: '/health' }), cart, resolver), T0);
  const [bucket] = table.takeDue(T0 + 20_000);
  const byPath = new Map<string, L7AccessLog>(bucket!.records.map((r) => [r.httpData!.path, r]));
  assert.equal(byPath.get('/api/cart')!.count, 3);
  assert.equal(byPath.get('/api/cart')!.bytesSent, 1500, 'the server side\'s bytes, not both sides added');
  assert.equal(byPath.get('/api/cart')!.httpData!.streamId, '');
  assert.equal(byPath.get('/api/cart')!.destination!.serviceName, 'cart');
  assert.equal(bucket!.records.length, 2);
  assert.equal(byPath.get('/health')!.count, 1);
  assert.equal(bucket!.bothSides, 1);
});

test('TCP connections count when they end; periodic entries of open connections are not merged', () => {
  const entry = (type: AccessLogType) =>
    TCPAccessLogEntry.fromPartial({
      commonProperties: { downstreamRemoteAddress: sock('10.0.1.5', 50000), downstreamLocalAddress: sock('10.0.2.7', 5432), upstreamCluster: 'inbound|5432||', startTime: { seconds: T0 / 1000, nanos: 0 }, accessLogType: type },
      connectionProperties: { receivedBytes: 40, sentBytes: 90 },
    });
  const end = tcpObservation(entry(AccessLogType.TcpConnectionEnd), cart, resolver);
  assert.equal(end.final, true);
  assert.equal(end.record.tcpData!.connectionState, 'closed');
  assert.equal(end.record.l7Protocol, L7ProtocolType.L7_PROTOCOL_TCP);
  assert.equal(tcpObservation(entry(AccessLogType.TcpPeriodic), cart, resolver).final, false);
});

test('entries without a start time or addresses are refused with a reason', () => {
  const bare = HTTPAccessLogEntry.fromPartial({ commonProperties: { upstreamCluster: 'outbound|80||x.y.svc.cluster.local' } });
  assert.throws(() => httpObservation(bare, { ...web, ips: [] }, { resolve: () => undefined }), (e: { reason?: string }) => e.reason === 'no_address');
  const noStart = HTTPAccessLogEntry.fromPartial({ commonProperties: { upstreamCluster: 'inbound|80||', downstreamLocalAddress: sock('10.0.2.7', 80) } });
  assert.throws(() => httpObservation(noStart, cart, resolver), (e: { reason?: string }) => e.reason === 'no_start_time');
});

test('the receiver takes a real gRPC stream (Identifier first) and sends aggregated records to the uplink', async () => {
  const logger = createLogger('test', 'error');
  logger.silent = true;
  const sent: L7AccessLog[] = [];
  let now = T0;
  const receiver = new AlsReceiver(
    { listen: '127.0.0.1:0', tlsCertFile: undefined, tlsKeyFile: undefined, bucketMs: 1000, graceMs: 0, maxRecords: 100, maxMessageBytes: 1 << 20 },
    { submitL7: async (r) => void sent.push(r) },
    resolver,
    new AlsEvents(createRegistry('t', false), logger),
    logger,
    () => now,
  );
  const port = await receiver.start();
  const stop = new AbortController();
  const running = receiver.run(stop.signal);
  const client = new grpc.Client(`127.0.0.1:${port}`, grpc.credentials.createInsecure());
  const answered = new Promise<void>((resolve, reject) => {
    const call = client.makeClientStreamRequest(
      '/envoy.service.accesslog.v3.AccessLogService/StreamAccessLogs',
      (m: StreamAccessLogsMessage) => Buffer.from(StreamAccessLogsMessage.encode(m).finish()),
      (b: Buffer) => StreamAccessLogsResponse.decode(b),
      (err) => (err ? reject(err) : resolve()),
    );
    call.write({ identifier: { node: node('10.0.2.7', 'cart-1', 'cart'), logName: 'als' }, logEntries: { $case: 'httpLogs', value: { logEntry: [http('inbound'), http('inbound')] } } });
    call.write({ logEntries: { $case: 'httpLogs', value: { logEntry: [http('inbound'), HTTPAccessLogEntry.fromPartial({})] } } });
    call.end();
  });
  await answered;
  now = T0 + 10_000;
  for (let i = 0; i < 100 && sent.length === 0; i++) await new Promise((r) => setTimeout(r, 20));
  assert.equal(sent.length, 1);
  assert.equal(sent[0]!.count, 3);
  assert.equal(sent[0]!.nodeId, 'sidecar~10.0.2.7~cart-1.shop~shop.svc.cluster.local');
  assert.deepEqual(receiver.view().dropped, { no_common_properties: 1 });
  client.close();
  stop.abort();
  await running;
  await receiver.stop();
});
