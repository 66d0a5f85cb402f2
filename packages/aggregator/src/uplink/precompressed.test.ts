import assert from 'node:assert/strict';
import { randomBytes } from 'node:crypto';
import net from 'node:net';
import test from 'node:test';
import zlib from 'node:zlib';
import * as grpc from '@grpc/grpc-js';
import { grpcTakesPrecompressed, gzipForWire, precompressedLength } from './precompressed.js';

const METHOD = '/test.Echo/Stream';
const identity = (b: Buffer) => b;

/**
 * A real grpc-js server that records each message it receives, behind a TCP relay that counts the bytes the client
 * sent (how the messages were framed shows in their size on the wire).
 */
async function server(): Promise<{ port: number; received: Buffer[]; wireBytes: () => number; stop: () => Promise<void> }> {
  const received: Buffer[] = [];
  const s = new grpc.Server();
  s.register<Buffer, Buffer>(
    METHOD,
    (call: grpc.ServerDuplexStream<Buffer, Buffer>) => {
      call.on('data', (bytes: Buffer) => received.push(bytes));
      call.on('end', () => call.end());
    },
    identity,
    identity,
    'bidi',
  );
  const port = await new Promise<number>((resolve, reject) => s.bindAsync('127.0.0.1:0', grpc.ServerCredentials.createInsecure(), (err, p) => (err ? reject(err) : resolve(p))));
  let sent = 0;
  const relay = net.createServer((client) => {
    const upstream = net.connect(port, '127.0.0.1');
    client.on('data', (d) => (sent += d.length));
    client.pipe(upstream).pipe(client);
    client.on('error', () => upstream.destroy());
    upstream.on('error', () => client.destroy());
  });
  await new Promise<void>((resolve) => relay.listen(0, '127.0.0.1', resolve));
  return {
    port: (relay.address() as net.AddressInfo).port,
    received,
    wireBytes: () => sent,
    stop: async () => {
      await new Promise<void>((resolve) => s.tryShutdown(() => resolve()));
      await new Promise<void>((resolve) => relay.close(() => resolve()));
    },
  };
}

async function send(port: number, options: grpc.ChannelOptions, messages: Buffer[]): Promise<void> {
  const client = new grpc.Client(`127.0.0.1:${port}`, grpc.credentials.createInsecure(), options);
  try {
    const call = client.makeBidiStreamRequest<Buffer, Buffer>(METHOD, identity, identity);
    const done = new Promise<void>((resolve, reject) => {
      call.on('data', () => undefined);
      call.on('status', (st: grpc.StatusObject) => (st.code === grpc.status.OK ? resolve() : reject(new Error(st.details))));
      call.on('error', () => undefined);
    });
    for (const m of messages) call.write(m);
    call.end();
    await done;
  } finally {
    client.close();
  }
}

test('the grpc-js in use is the patched one that takes precompressed messages', () => {
  assert.equal(grpcTakesPrecompressed(), true);
});

test('a precompressed message reaches the server as the bytes compressed, framed as gzip and not compressed again', async () => {
  const srv = await server();
  try {
    // Text compresses; random bytes do not: both must arrive as they were before compression.
    const text = Buffer.from('level=info msg="request served" path=/api/v1/orders status=200\n'.repeat(2000));
    const noise = randomBytes(50_000);
    const first = await gzipForWire(text, 1);
    const second = await gzipForWire(noise, 6);
    assert.equal(precompressedLength(first), text.length);
    assert.ok(first.length < text.length / 20, `level 1 of repetitive text: ${first.length} bytes`);
    await send(srv.port, { 'grpc.default_compression_algorithm': grpc.compressionAlgorithms.gzip }, [first, second, Buffer.from('plain')]);
    assert.equal(srv.received.length, 3);
    assert.deepEqual(srv.received[0], text);
    assert.deepEqual(srv.received[1], noise);
    assert.equal(srv.received[2]!.toString(), 'plain');
    // The text went compressed (128 KB as ~2 KB): the whole connection stays far below the text's own size.
    assert.ok(srv.wireBytes() < 50_000 + 20_000, `${srv.wireBytes()} bytes on the wire`);
  } finally {
    await srv.stop();
  }
});

test('a precompressed message on a call that does not send gzip is inflated and sent plain', async () => {
  const srv = await server();
  try {
    const text = Buffer.from('ERROR connection refused to db-0.db:5432\n'.repeat(500));
    await send(srv.port, {}, [await gzipForWire(text, 1)]);
    assert.equal(srv.received.length, 1);
    assert.deepEqual(srv.received[0], text);
    assert.ok(srv.wireBytes() > text.length, `${srv.wireBytes()} bytes on the wire for ${text.length} plain bytes`);
  } finally {
    await srv.stop();
  }
});

test('an unmarked message that happens to be gzip is sent as the bytes it is (only the mark changes how it is framed)', async () => {
  const srv = await server();
  try {
    const gz = zlib.gzipSync(Buffer.from('not marked'));
    await send(srv.port, { 'grpc.default_compression_algorithm': grpc.compressionAlgorithms.gzip }, [gz]);
    assert.deepEqual(srv.received[0], gz);
  } finally {
    await srv.stop();
  }
});

test('a message gzipped for the wire owns exactly its bytes, not the whole output chunk of zlib', async () => {
  const wire = Buffer.from('a small PodLogs message '.repeat(20));
  const out = await gzipForWire(wire, 6);
  assert.equal(out.buffer.byteLength, out.length);
  assert.equal(precompressedLength(out), wire.length);
  assert.deepEqual(zlib.gunzipSync(out), wire);
});
