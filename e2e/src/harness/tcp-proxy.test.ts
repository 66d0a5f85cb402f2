// The proxy's failure modes are what the outage tests rely on, so they are checked here on plain sockets: a
// one-way silence lets the client's bytes through and holds the target's, a cut holds both, restore releases all
// of it in order.
import assert from 'node:assert/strict';
import net from 'node:net';
import { afterEach, beforeEach, describe, it } from 'node:test';
import { eventually } from './eventually.js';
import { TcpProxy } from './tcp-proxy.js';

/** Everything a socket has received so far, as text. */
function collect(socket: net.Socket): () => string {
  let text = '';
  socket.on('data', (chunk: Buffer) => (text += chunk.toString()));
  return () => text;
}

const quiet = () => new Promise((r) => setTimeout(r, 300));

describe('TcpProxy', () => {
  let target: net.Server;
  let accepted: Promise<net.Socket>;
  let proxy: TcpProxy;
  let client: net.Socket;

  beforeEach(async () => {
    let onAccept: (s: net.Socket) => void = () => {};
    accepted = new Promise((r) => (onAccept = r));
    // Closing the proxy resets its connections: the resets are expected, not errors of the test.
    target = net.createServer((s) => onAccept(s.on('error', () => undefined)));
    await new Promise<void>((r) => target.listen(0, '127.0.0.1', () => r()));
    proxy = await TcpProxy.start(`127.0.0.1:${(target.address() as net.AddressInfo).port}`);
    client = net.connect({ host: '127.0.0.1', port: Number(proxy.address.split(':')[1]) }).on('error', () => undefined);
    await new Promise<void>((r) => client.once('connect', () => r()));
  });

  afterEach(async () => {
    client.destroy();
    await proxy.close();
    await new Promise<void>((r) => target.close(() => r()));
  });

  it('silenceTarget passes what the client sends and holds what the target answers until restore', async () => {
    const server = await accepted;
    const atTarget = collect(server);
    const atClient = collect(client);
    proxy.silenceTarget();
    client.write('data');
    await eventually('the client bytes at the target', () => atTarget() === 'data');
    server.write('heartbeat');
    await quiet();
    assert.equal(atClient(), '', 'nothing from the target reaches the client while silenced');
    proxy.restore();
    await eventually('the held answer at the client', () => atClient() === 'heartbeat');
  });

  it('cut holds both directions, and restore delivers what waited, in order', async () => {
    const server = await accepted;
    const atTarget = collect(server);
    const atClient = collect(client);
    client.write('a');
    await eventually('a first byte through', () => atTarget() === 'a');
    proxy.cut();
    client.write('b');
    server.write('x');
    await quiet();
    assert.equal(atTarget(), 'a');
    assert.equal(atClient(), '');
    proxy.restore();
    await eventually('both held writes', () => atTarget() === 'ab' && atClient() === 'x');
  });

  it('a connection opened while silenced reaches the target but hears nothing back', async () => {
    const first = await accepted;
    first.destroy();
    let onAccept: (s: net.Socket) => void = () => {};
    const second = new Promise<net.Socket>((r) => (onAccept = r));
    target.removeAllListeners('connection');
    target.on('connection', (s: net.Socket) => onAccept(s.on('error', () => undefined)));
    proxy.silenceTarget();
    const late = net.connect({ host: '127.0.0.1', port: Number(proxy.address.split(':')[1]) }).on('error', () => undefined);
    const atLate = collect(late);
    try {
      late.write('hello');
      const server = await second;
      const atTarget = collect(server);
      await eventually('the new client bytes at the target', () => atTarget() === 'hello');
      server.write('answer');
      await quiet();
      assert.equal(atLate(), '');
      proxy.restore();
      await eventually('the answer after restore', () => atLate() === 'answer');
    } finally {
      late.destroy();
    }
  });
});
