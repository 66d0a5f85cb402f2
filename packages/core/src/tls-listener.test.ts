import assert from 'node:assert/strict';
import fs from 'node:fs';
import net from 'node:net';
import os from 'node:os';
import path from 'node:path';
import { after, test } from 'node:test';
import tls, { type TLSSocket } from 'node:tls';
import * as grpc from '@grpc/grpc-js';
import { listenTls, type ClientCertificateVerdict, type TlsListener } from './tls-listener.js';
import { TlsReloader } from './tls-material.js';

const fixture = (name: string) => fs.readFileSync(new URL(`../src/testdata/${name}`, import.meta.url), 'utf8');
const material = { cert: fixture('server.crt'), key: fixture('server.key'), ca: fixture('ca.crt') };

interface Seen {
  verdict: ClientCertificateVerdict | undefined;
  peer: string;
  socket: TLSSocket;
}

const listeners: TlsListener[] = [];
after(() => {
  for (const l of listeners) {
    l.stopAccepting();
    l.dropAll();
  }
});

async function start(options: { requestClientCertificate?: boolean; tls?: TlsReloader } = {}) {
  const seen: Seen[] = [];
  const handshakeErrors: { err: Error; peer: string | undefined }[] = [];
  const listener = await listenTls({
    host: '127.0.0.1',
    port: 0,
    tls: options.tls ?? material,
    ...(options.requestClientCertificate === undefined ? {} : { requestClientCertificate: options.requestClientCertificate }),
    handshakeTimeoutMs: 1000,
    onConnection: (socket, verdict, peer) => seen.push({ verdict, peer, socket }),
    onHandshakeError: (err, peer) => handshakeErrors.push({ err, peer }),
  });
  listeners.push(listener);
  return { listener, seen, handshakeErrors };
}

function connect(address: string, client: { cert?: string; key?: string } = {}): Promise<TLSSocket> {
  const [host, port] = [address.slice(0, address.lastIndexOf(':')), Number(address.slice(address.lastIndexOf(':') + 1))];
  return new Promise((resolve, reject) => {
    const socket = tls.connect({ host, port, servername: 'localhost', ca: material.ca, ALPNProtocols: ['h2'], ...client }, () => resolve(socket));
    socket.once('error', reject);
  });
}

const until = async (condition: () => boolean, what: string) => {
  const deadline = Date.now() + 5000;
  while (!condition()) {
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 10));
  }
};

test('judges each client certificate after a completed handshake and keeps the connection by peer', async () => {
  const { listener, seen } = await start();
  const cases: [string, { cert?: string; key?: string }, Partial<ClientCertificateVerdict>][] = [
    ['node-a', { cert: fixture('node-a.crt'), key: fixture('node-a.key') }, { trusted: true, subject: 'node-a' }],
    ['none', {}, { trusted: false, problem: 'missing' }],
    ['another CA', { cert: fixture('other-ca-node-a.crt'), key: fixture('other-ca-node-a.key') }, { trusted: false, problem: 'untrusted' }],
    ['expired', { cert: fixture('expired-node-a.crt'), key: fixture('expired-node-a.key') }, { trusted: false, problem: 'expired' }],
    ['server usage', { cert: fixture('server-usage-node-a.crt'), key: fixture('server-usage-node-a.key') }, { trusted: false, problem: 'wrong_purpose' }],
  ];
  for (const [name, client, expected] of cases) {
    const socket = await connect(listener.address, client);
    await until(() => seen.length > 0, `the connection with ${name}`);
    const got = seen.shift()!;
    assert.partialDeepStrictEqual(got.verdict, expected, name);
    assert.equal(got.peer, `127.0.0.1:${socket.localPort}`, 'the peer is remoteAddress:remotePort');
    assert.equal(listener.connection(got.peer)?.verdict, got.verdict);
    socket.destroy();
    await until(() => listener.connection(got.peer) === undefined, 'the closed connection to be forgotten');
  }
  assert.equal(listener.openConnections, 0);
});

test('without asking for a certificate, a client without one is served and the verdict is undefined', async () => {
  const { listener, seen } = await start({ requestClientCertificate: false });
  const socket = await connect(listener.address);
  await until(() => seen.length > 0, 'the connection');
  assert.equal(seen[0]!.verdict, undefined);
  assert.equal(socket.alpnProtocol, 'h2');
  socket.destroy();
});

test('garbage instead of a handshake is a handshake error with the peer; the listener keeps serving', async () => {
  const { listener, seen, handshakeErrors } = await start();
  const port = Number(listener.address.split(':')[1]);
  const raw = net.connect({ host: '127.0.0.1', port });
  await new Promise((resolve) => raw.once('connect', resolve));
  const rawPort = raw.localPort;
  raw.write('GET / HTTP/1.1\r\nHost: x\r\n\r\n');
  await until(() => handshakeErrors.length > 0, 'the handshake error');
  assert.equal(handshakeErrors[0]!.peer, `127.0.0.1:${rawPort}`);
  raw.destroy();
  // Silence also ends, at the handshake timeout.
  const silent = net.connect({ host: '127.0.0.1', port });
  await until(() => handshakeErrors.length > 1, 'the handshake timeout');
  assert.match(handshakeErrors[1]!.err.message, /timed? ?out/i);
  silent.destroy();
  const socket = await connect(listener.address, { cert: fixture('node-b.crt'), key: fixture('node-b.key') });
  await until(() => seen.length > 0, 'a good connection after the garbage');
  socket.destroy();
});

test('follows a TlsReloader: new connections get the new server certificate', async () => {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'tls-listener-'));
  const files = { certFile: path.join(dir, 'tls.crt'), keyFile: path.join(dir, 'tls.key'), caFile: path.join(dir, 'ca.crt') };
  fs.writeFileSync(files.certFile, fixture('server.crt'));
  fs.writeFileSync(files.keyFile, fixture('server.key'));
  fs.writeFileSync(files.caFile, fixture('ca.crt'));
  const reloader = new TlsReloader(files);
  try {
    const { listener } = await start({ tls: reloader });
    const before = await connect(listener.address);
    assert.equal(before.getPeerCertificate().subject.CN, 'kestrel-aggregator');
    fs.writeFileSync(files.certFile, fixture('server-2.crt'));
    fs.writeFileSync(files.keyFile, fixture('server-2.key'));
    assert.equal(reloader.reload(), true);
    const later = await connect(listener.address);
    assert.equal(later.getPeerCertificate().subject.CN, 'kestrel-aggregator-2');
    before.destroy();
    later.destroy();
  } finally {
    reloader.close();
    fs.rmSync(dir, { recursive: true, force: true });
  }
});

test("the peer it keeps connections by is what grpc-js's call.getPeer() says for an injected connection", async () => {
  const grpcServer = new grpc.Server();
  const peers: string[] = [];
  grpcServer.addService(
    { echo: { path: '/test.Echo/Echo', requestStream: false, responseStream: false, requestSerialize: (b: Buffer) => b, requestDeserialize: (b: Buffer) => b, responseSerialize: (b: Buffer) => b, responseDeserialize: (b: Buffer) => b } },
    {
      echo: (call: grpc.ServerUnaryCall<Buffer, Buffer>, callback: grpc.sendUnaryData<Buffer>) => {
        peers.push(call.getPeer());
        callback(null, call.request);
      },
    },
  );
  const injector = grpcServer.createConnectionInjector(grpc.ServerCredentials.createInsecure());
  const keyed: string[] = [];
  const listener = await listenTls({
    host: '127.0.0.1',
    port: 0,
    tls: material,
    onConnection: (socket, _verdict, peer) => {
      keyed.push(peer);
      injector.injectConnection(socket);
    },
    onHandshakeError: () => undefined,
  });
  listeners.push(listener);
  const credentials = grpc.credentials.createSsl(Buffer.from(material.ca), Buffer.from(fixture('node-a.key')), Buffer.from(fixture('node-a.crt')));
  const client = new grpc.Client(listener.address, credentials, { 'grpc.ssl_target_name_override': 'localhost' });
  try {
    const answer = await new Promise<Buffer>((resolve, reject) =>
      client.makeUnaryRequest('/test.Echo/Echo', (b: Buffer) => b, (b: Buffer) => b, Buffer.from('hi'), (err, value) => (err ? reject(err) : resolve(value!))),
    );
    assert.equal(answer.toString(), 'hi');
    assert.deepEqual(peers, keyed);
    assert.equal(listener.connection(peers[0]!)?.verdict?.trusted, true);
  } finally {
    client.close();
    grpcServer.forceShutdown();
  }
});
