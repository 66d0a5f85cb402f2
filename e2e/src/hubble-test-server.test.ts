// The Hubble Observer test peer, exercised by the real @kestrel/flows client over real sockets: a unix socket like a
// node's hubble.sock, TCP with mutual TLS like Relay, a SIGKILLed and restarted server process, and a ring buffer
// that evicts what a disconnected client had not read (reported as lost_events).
import assert from 'node:assert/strict';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { after, test } from 'node:test';
import { HubbleFlowStream, HubbleRawFlowStream, hubbleServerStatus, hubbleToRaw, type HubbleTarget, type RawFlow } from '@kestrel/flows';
import * as grpc from '@grpc/grpc-js';
import { Flow, LostEventSource } from '@kestrel/proto/hubble/flow';
import { GetFlowsRequest, GetFlowsResponse } from '@kestrel/proto/hubble/observer';
import { HubbleTestServer, HubbleTestServerProcess } from './harness/hubble-test-server.js';

const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'hubble-test-server-'));
after(() => fs.rmSync(dir, { recursive: true, force: true }));
const testdata = (name: string) => fs.readFileSync(new URL(`../../packages/core/src/testdata/${name}`, import.meta.url));

function flowJson(i: number): Record<string, unknown> {
  return {
    uuid: `flow-${i}`,
    verdict: 'FORWARDED',
    IP: { source: '10.0.1.5', destination: '10.0.2.7', ipVersion: 'IPv4' },
    l4: { TCP: { source_port: 40000 + (i % 1000), destination_port: 8080 } },
    source: { namespace: 'shop', pod_name: 'web-1', labels: ['k8s:app=web'] },
    destination: { namespace: 'shop', pod_name: 'api-0', labels: ['k8s:app=api'] },
    traffic_direction: 'EGRESS',
    node_name: 'node-a',
  };
}

/** Follows `target` and collects what arrives until stopped. */
function follow(target: HubbleTarget, since?: HubbleFlowStream['resumePoint']) {
  const stream = new HubbleFlowStream(target, { since, backoffInitialMs: 50, backoffMaxMs: 200 });
  const uuids: string[] = [];
  const lost: { source: LostEventSource; count: number }[] = [];
  const controller = new AbortController();
  let connects = 0;
  const running = stream.run(controller.signal, {
    flow: (f) => uuids.push(f.uuid),
    lost: (e) => lost.push({ source: e.source, count: e.numEventsLost }),
    connected: () => connects++,
  });
  return {
    stream,
    uuids,
    lost,
    connects: () => connects,
    stop: async () => {
      controller.abort();
      await running;
    },
  };
}

async function until(what: string, check: () => boolean | Promise<boolean>, timeoutMs = 15_000): Promise<void> {
  const end = Date.now() + timeoutMs;
  while (!(await check())) {
    if (Date.now() > end) throw new Error(`timed out waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 20));
  }
}

test('a follower on the unix socket gets every flow emitted after it connected, in order, with the server status', async () => {
  const socket = path.join(dir, 'hubble.sock');
  const server = await HubbleTestServer.start({ nodeName: 'node-a', unixSocket: socket });
  const target = { address: `unix://${socket}` };
  const client = follow(target);
  try {
    await until('the follower to connect', () => server.clients === 1);
    for (let i = 0; i < 500; i++) server.emit(Flow.fromJSON(flowJson(i)));
    await until('500 flows', () => client.uuids.length === 500);
    assert.deepEqual(client.uuids, Array.from({ length: 500 }, (_, i) => `flow-${i}`));
    const status = await hubbleServerStatus(target);
    assert.deepEqual([status.seenFlows, status.numFlows, status.maxFlows], [500, 500, 4095]);
  } finally {
    await client.stop();
    await server.stop();
  }
});

test('over TCP with mutual TLS a client with a certificate from the CA is served and one without is not', async () => {
  const server = await HubbleTestServer.start({ nodeName: 'node-a', tcp: { host: '127.0.0.1', port: 0, tls: { cert: testdata('server.crt'), key: testdata('server.key'), clientCa: testdata('ca.crt') } } });
  const address = `127.0.0.1:${server.tcpPort}`;
  const good = follow({ address, tls: { ca: testdata('ca.crt'), cert: testdata('node-a.crt'), key: testdata('node-a.key'), serverName: 'localhost' } });
  const anonymous = follow({ address, tls: { ca: testdata('ca.crt'), serverName: 'localhost' } });
  try {
    await until('the client with a certificate to connect', () => server.clients === 1);
    server.emit(Flow.fromJSON(flowJson(1)));
    await until('the flow over TLS', () => good.uuids.length === 1);
    await until('the client without a certificate to fail', () => anonymous.stream.reconnects > 0);
    assert.equal(anonymous.uuids.length, 0);
    assert.equal(server.clients, 1);
  } finally {
    await good.stop();
    await anonymous.stop();
    await server.stop();
  }
});

test('a SIGKILLed server restarted on its ring file serves the reconnected client from where it stopped, without duplicates', async () => {
  const socket = path.join(dir, 'restart.sock');
  const options = { nodeName: 'node-a', unixSocket: socket, ringFile: path.join(dir, 'ring.b64') };
  let server = new HubbleTestServerProcess(options);
  await server.listening;
  const client = follow({ address: `unix://${socket}` });
  try {
    await until('the follower to connect', async () => (await server.state()).clients === 1);
    const flows = Array.from({ length: 100 }, (_, i) => flowJson(i));
    assert.equal((await server.emit(flows)).emitted, 100);
    await until('100 flows', () => client.uuids.length === 100);
    await server.kill();
    server = new HubbleTestServerProcess(options);
    assert.equal((await server.listening).restored, 100);
    // The client reconnects by itself and asks for `since` its last flow; the restored ring holds it again.
    await until('the reconnect', async () => (await server.state()).clients === 1);
    await server.emit(Array.from({ length: 50 }, (_, i) => flowJson(100 + i)));
    await until('150 flows', () => client.uuids.length === 150);
    assert.deepEqual(client.uuids, Array.from({ length: 150 }, (_, i) => `flow-${i}`));
    assert.ok(client.stream.duplicatesSkipped >= 1, 'the flow at the resume instant came again and was recognised');
    assert.deepEqual(client.lost, []);
  } finally {
    await client.stop();
    await server.stop();
  }
});

test('flows evicted from the ring while a client was away are reported lost, so received + lost = emitted', async () => {
  const socket = path.join(dir, 'ring.sock');
  const server = await HubbleTestServer.start({ nodeName: 'node-a', unixSocket: socket, ringSize: 64 });
  const target = { address: `unix://${socket}` };
  const first = follow(target);
  await until('the follower to connect', () => server.clients === 1);
  for (let i = 0; i < 10; i++) server.emit(Flow.fromJSON(flowJson(i)));
  await until('10 flows', () => first.uuids.length === 10);
  await first.stop();
  await until('the server to see it leave', () => server.clients === 0);
  for (let i = 10; i < 210; i++) server.emit(Flow.fromJSON(flowJson(i)));
  const second = follow(target, first.stream.resumePoint);
  try {
    await until('the ring to be served', () => second.uuids.length === 64);
    const lost = second.lost.reduce((n, l) => n + l.count, 0);
    assert.deepEqual(second.lost.map((l) => l.source), [LostEventSource.HUBBLE_RING_BUFFER]);
    assert.equal(first.uuids.length + second.uuids.length + lost, server.emitted);
    assert.equal(lost, server.lostReported);
    assert.equal(second.uuids[0], 'flow-146');
  } finally {
    await second.stop();
    await server.stop();
  }
});

test('reportLost reaches every follower as lost_events', async () => {
  const socket = path.join(dir, 'lost.sock');
  const server = await HubbleTestServer.start({ nodeName: 'node-a', unixSocket: socket });
  const client = follow({ address: `unix://${socket}` });
  try {
    await until('the follower to connect', () => server.clients === 1);
    server.reportLost(12);
    await until('the lost event', () => client.lost.length === 1);
    assert.deepEqual(client.lost, [{ source: LostEventSource.PERF_EVENT_RING_BUFFER, count: 12 }]);
    assert.equal(server.lostReported, 12);
  } finally {
    await client.stop();
    await server.stop();
  }
});

test('a follower that stops reading has flows dropped for it and reported as lost_events once it reads again', async () => {
  const socket = path.join(dir, 'slow.sock');
  const server = await HubbleTestServer.start({ nodeName: 'node-a', unixSocket: socket, followerBuffer: 16 });
  const client = new grpc.Client(`unix://${socket}`, grpc.credentials.createInsecure());
  const call = client.makeServerStreamRequest(
    '/observer.Observer/GetFlows',
    (m: GetFlowsRequest) => Buffer.from(GetFlowsRequest.encode(m).finish()),
    (b: Buffer) => GetFlowsResponse.decode(b),
    GetFlowsRequest.fromPartial({ follow: true }),
  );
  let flows = 0;
  let lost = 0;
  call.on('data', (r: GetFlowsResponse) => {
    if (r.responseTypes?.$case === 'flow') flows++;
    else if (r.responseTypes?.$case === 'lostEvents') lost += r.responseTypes.value.numEventsLost;
  });
  call.on('error', () => undefined);
  try {
    await until('the follower to connect', () => server.clients === 1);
    call.pause();
    // Enough to fill the socket buffers and HTTP/2 windows of a reader that does not read.
    const big = Flow.fromJSON({ ...flowJson(0), Summary: 'x'.repeat(2000) });
    for (let i = 0; i < 20_000; i++) server.emit(big);
    await new Promise((r) => setTimeout(r, 200));
    call.resume();
    await until('everything accounted for', () => flows + lost === 20_000);
    assert.ok(lost > 0, 'flows were dropped for the slow follower');
    assert.equal(lost, server.lostReported);
  } finally {
    call.cancel();
    client.close();
    await server.stop();
  }
});

test('the raw stream (gRPC over node:http2, read by the wire reader) gets what the grpc-js stream gets, on the unix socket and over mutual TLS', async () => {
  const socket = path.join(dir, 'raw.sock');
  const server = await HubbleTestServer.start({ nodeName: 'node-a', unixSocket: socket, tcp: { host: '127.0.0.1', port: 0, tls: { cert: testdata('server.crt'), key: testdata('server.key'), clientCa: testdata('ca.crt') } } });
  const tlsTarget = { address: `127.0.0.1:${server.tcpPort}`, tls: { ca: testdata('ca.crt'), cert: testdata('node-a.crt'), key: testdata('node-a.key'), serverName: 'localhost' } };
  const full = follow({ address: `unix://${socket}` });
  const raws = (target: HubbleTarget) => {
    const stream = new HubbleRawFlowStream(target, { backoffInitialMs: 50, backoffMaxMs: 200 });
    const got: (RawFlow | string)[] = [];
    const lost: number[] = [];
    const controller = new AbortController();
    const running = stream.run(controller.signal, { flow: (f) => got.push(f), lost: (e) => lost.push(e.numEventsLost) });
    return { stream, got, lost, stop: async () => (controller.abort(), await running) };
  };
  const overSocket = raws({ address: `unix://${socket}` });
  const overTls = raws(tlsTarget);
  const anonymous = raws({ address: tlsTarget.address, tls: { ca: testdata('ca.crt'), serverName: 'localhost' } });
  const wrongName = raws({ address: tlsTarget.address, tls: { ...tlsTarget.tls, serverName: 'not-the-server' } });
  try {
    await until('three followers', () => server.clients === 3);
    const emitted = Array.from({ length: 300 }, (_, i) => Flow.fromJSON({ ...flowJson(i), ...(i % 3 === 0 ? { is_reply: true } : {}), ...(i % 7 === 0 ? { l4: undefined } : {}) }));
    for (const f of emitted) server.emit(f);
    server.reportLost(5);
    await until('everything on every stream', () => full.uuids.length === 300 && overSocket.got.length === 300 && overTls.got.length === 300 && overTls.lost.length === 1 && overSocket.lost.length === 1);
    // The server stamped the times: compare with what the grpc-js client decoded, field by field.
    const expected = emitted.map((f, i) => ({ ...f, uuid: full.uuids[i]! })).map((f) => hubbleToRaw(f));
    assert.deepEqual(
      overSocket.got.map((r) => (typeof r === 'string' ? r : { ...r, seconds: 0, nanos: 0 })),
      expected.map((r) => (typeof r === 'string' ? r : { ...r, seconds: 0, nanos: 0 })),
    );
    assert.deepEqual(overTls.got, overSocket.got);
    assert.deepEqual([overSocket.lost, overTls.lost], [[5], [5]]);
    await until('the refused clients to have failed', () => anonymous.stream.reconnects > 0 && wrongName.stream.reconnects > 0);
    assert.deepEqual([anonymous.got.length, wrongName.got.length], [0, 0]);
    assert.match(wrongName.stream.lastError ?? '', /not-the-server|altnames|Hostname/i);
  } finally {
    await Promise.all([full.stop(), overSocket.stop(), overTls.stop(), anonymous.stop(), wrongName.stop()]);
    await server.stop();
  }
});

test('the raw stream resumes after the server is SIGKILLed and restarted, without duplicates', async () => {
  const socket = path.join(dir, 'raw-restart.sock');
  const options = { nodeName: 'node-a', unixSocket: socket, ringFile: path.join(dir, 'raw-ring.b64') };
  let server = new HubbleTestServerProcess(options);
  await server.listening;
  const stream = new HubbleRawFlowStream({ address: `unix://${socket}` }, { backoffInitialMs: 50, backoffMaxMs: 200 });
  const got: string[] = [];
  const controller = new AbortController();
  const running = stream.run(controller.signal, { flow: (f) => got.push(typeof f === 'string' ? f : `${f.srcIp}>${f.dstIp}:${f.port}`), lost: () => assert.fail('nothing is lost') });
  try {
    await until('the follower to connect', async () => (await server.state()).clients === 1);
    await server.emit([flowJson(1)], 100);
    await until('100 flows', () => got.length === 100);
    await server.kill();
    server = new HubbleTestServerProcess(options);
    await server.listening;
    await until('the reconnect', async () => (await server.state()).clients === 1);
    await server.emit([flowJson(2)], 50);
    await until('150 flows', () => got.length === 150);
    await new Promise((r) => setTimeout(r, 300));
    assert.equal(got.length, 150);
    assert.ok(stream.duplicatesSkipped >= 1);
  } finally {
    controller.abort();
    await running;
    await server.stop();
  }
});
