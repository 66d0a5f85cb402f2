// grpc-h2.ts against node:http2's server (nghttp2: its own framing, HPACK with Huffman and the dynamic table, flow
// control), on a real unix socket and over TLS: what arrives is exactly what was sent, in order, however the server
// cuts it into frames and writes.
import assert from 'node:assert/strict';
import fs from 'node:fs';
import http2 from 'node:http2';
import os from 'node:os';
import path from 'node:path';
import { test } from 'node:test';
import { GrpcCallError, serverStreamingCall } from './grpc-h2.js';

type Handler = (stream: http2.ServerHttp2Stream, headers: http2.IncomingHttpHeaders, request: Buffer) => void;

const grpcFrame = (message: Buffer) => {
  const f = Buffer.alloc(5 + message.length);
  f.writeUInt32BE(message.length, 1);
  message.copy(f, 5);
  return f;
};

/** Listens with `handler` for each call (given the whole request body); returns the address and a stop function. */
async function serve(handler: Handler, secure?: { cert: Buffer; key: Buffer }): Promise<{ address: string; stop: () => Promise<void> }> {
  const server = secure ? http2.createSecureServer({ ...secure, allowHTTP1: false }) : http2.createServer();
  server.on('stream', (stream, headers) => {
    const parts: Buffer[] = [];
    stream.on('data', (c: Buffer) => parts.push(c));
    stream.on('end', () => handler(stream, headers, Buffer.concat(parts)));
    stream.on('error', () => {});
  });
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'grpc-h2-'));
  const socket = path.join(dir, 's.sock');
  let address: string;
  if (secure) {
    await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
    address = `localhost:${(server.address() as { port: number }).port}`;
  } else {
    await new Promise<void>((r) => server.listen(socket, r));
    address = `unix://${socket}`;
  }
  return {
    address,
    stop: async () => {
      await new Promise<void>((r) => server.close(() => r()));
      fs.rmSync(dir, { recursive: true, force: true });
    },
  };
}

function call(address: string, request = Buffer.from('req'), signal = new AbortController().signal, tls?: { ca: Buffer }) {
  const messages: Buffer[] = [];
  const done = serverStreamingCall(address, tls, '/test.Service/Follow', request, signal, (buf, start, end) => messages.push(Buffer.from(buf.subarray(start, end))));
  return { messages, done };
}

test('messages arrive whole and in order however the server cuts them: several per frame, split across frames, larger than a frame, beyond the receive window', async () => {
  const sent: Buffer[] = [];
  const { address, stop } = await serve((stream, headers, request) => {
    assert.equal(headers[':path'], '/test.Service/Follow');
    assert.equal(headers['content-type'], 'application/grpc');
    assert.equal(headers['te'], 'trailers');
    assert.deepEqual(request, grpcFrame(Buffer.from('the request')));
    stream.respond({ ':status': 200, 'content-type': 'application/grpc' }, { waitForTrailers: true });
    const small = Array.from({ length: 50 }, (_, i) => Buffer.from(`flow ${i}`));
    sent.push(...small);
    // Fifty messages in one write: a few DATA frames holding many messages each.
    stream.write(Buffer.concat(small.map(grpcFrame)));
    // One message written in three pieces, the 5-byte prefix itself cut in two.
    const split = Buffer.from('split message');
    sent.push(split);
    const f = grpcFrame(split);
    stream.write(f.subarray(0, 3));
    stream.write(f.subarray(3, 9));
    stream.write(f.subarray(9));
    // An empty message and one far larger than a frame.
    const big = Buffer.alloc(100_000, 7);
    sent.push(Buffer.alloc(0), big);
    stream.write(Buffer.concat([grpcFrame(Buffer.alloc(0)), grpcFrame(big)]));
    // 12 MiB more: past the 8 MiB receive windows, so the client must give credit back as it reads.
    for (let i = 0; i < 192; i++) {
      const m = Buffer.alloc(64 * 1024, i);
      sent.push(m);
      stream.write(grpcFrame(m));
    }
    stream.on('wantTrailers', () => stream.sendTrailers({ 'grpc-status': '0' }));
    stream.end();
  });
  try {
    const c = call(address, Buffer.from('the request'));
    await c.done;
    assert.equal(c.messages.length, sent.length);
    for (let i = 0; i < sent.length; i++) assert.ok(c.messages[i]!.equals(sent[i]!), `message ${i}`);
  } finally {
    await stop();
  }
});

test('a non-zero grpc-status in the trailers rejects with that code and the decoded grpc-message', async () => {
  const { address, stop } = await serve((stream) => {
    stream.respond({ ':status': 200, 'content-type': 'application/grpc' }, { waitForTrailers: true });
    stream.write(grpcFrame(Buffer.from('one')));
    stream.on('wantTrailers', () => stream.sendTrailers({ 'grpc-status': '7', 'grpc-message': encodeURIComponent('not allowed: 100% sure') }));
    stream.end();
  });
  try {
    const c = call(address);
    await assert.rejects(c.done, (err: unknown) => err instanceof GrpcCallError && err.code === 7 && err.message === 'gRPC status 7: not allowed: 100% sure');
    assert.deepEqual(c.messages, [Buffer.from('one')]);
  } finally {
    await stop();
  }
});

test('a trailers-only response (status in the headers) and an HTTP error status reject with their codes', async () => {
  const { address, stop } = await serve((stream, headers) => {
    if (headers[':path'] === '/test.Service/Follow') stream.respond({ ':status': 200, 'content-type': 'application/grpc', 'grpc-status': '12', 'grpc-message': 'unimplemented' }, { endStream: true });
    else stream.respond({ ':status': 503 }, { endStream: true });
  });
  try {
    await assert.rejects(call(address).done, (err: unknown) => err instanceof GrpcCallError && err.code === 12 && /unimplemented/.test(err.message));
    await assert.rejects(serverStreamingCall(address, undefined, '/other', Buffer.alloc(0), new AbortController().signal, () => {}), (err: unknown) => err instanceof GrpcCallError && err.code === 14 && /HTTP status 503/.test(err.message));
  } finally {
    await stop();
  }
});

test('a stream that ends inside a message, without a status, or is reset, is an error', async () => {
  const { address, stop } = await serve((stream, headers) => {
    stream.respond({ ':status': 200, 'content-type': 'application/grpc' }, { waitForTrailers: headers[':path'] === '/cut' });
    if (headers[':path'] === '/cut') {
      stream.write(grpcFrame(Buffer.from('whole')).subarray(0, 7));
      stream.on('wantTrailers', () => stream.sendTrailers({ 'grpc-status': '0' }));
      stream.end();
    } else if (headers[':path'] === '/no-status') {
      stream.end(grpcFrame(Buffer.from('x')));
    } else {
      // Destroyed with an error: RST_STREAM (INTERNAL_ERROR) without an end of stream.
      stream.write(grpcFrame(Buffer.from('x')), () => stream.destroy(new Error('server failure')));
    }
  });
  const signal = new AbortController().signal;
  try {
    await assert.rejects(serverStreamingCall(address, undefined, '/cut', Buffer.alloc(0), signal, () => {}), (err: unknown) => err instanceof GrpcCallError && err.code === 13 && /inside a message/.test(err.message));
    await assert.rejects(serverStreamingCall(address, undefined, '/no-status', Buffer.alloc(0), signal, () => {}), (err: unknown) => err instanceof GrpcCallError && err.code === 14 && /without a status/.test(err.message));
    await assert.rejects(serverStreamingCall(address, undefined, '/reset', Buffer.alloc(0), signal, () => {}), (err: unknown) => err instanceof GrpcCallError && err.code === 14 && /HTTP\/2 code 2/.test(err.message));
  } finally {
    await stop();
  }
});

test('aborting cancels the call: it rejects with the reason and the server sees the stream go', async () => {
  let closed!: () => void;
  const serverSawClose = new Promise<void>((r) => (closed = r));
  const { address, stop } = await serve((stream) => {
    stream.respond({ ':status': 200, 'content-type': 'application/grpc' });
    stream.write(grpcFrame(Buffer.from('first')));
    stream.on('close', () => closed());
  });
  try {
    const controller = new AbortController();
    const c = call(address, Buffer.from('r'), controller.signal);
    while (c.messages.length === 0) await new Promise((r) => setTimeout(r, 10));
    controller.abort(new Error('stopping'));
    await assert.rejects(c.done, /stopping/);
    await serverSawClose;
  } finally {
    await stop();
  }
});

test('an error thrown by the message handler ends the call with that error', async () => {
  const { address, stop } = await serve((stream) => {
    stream.respond({ ':status': 200, 'content-type': 'application/grpc' });
    stream.write(grpcFrame(Buffer.from('bad bytes')));
  });
  try {
    const done = serverStreamingCall(address, undefined, '/x', Buffer.alloc(0), new AbortController().signal, () => {
      throw new RangeError('not a GetFlowsResponse');
    });
    await assert.rejects(done, /not a GetFlowsResponse/);
  } finally {
    await stop();
  }
});

test('over TLS the server certificate is checked against the CA and HTTP/2 is negotiated with ALPN', async () => {
  const fixture = (name: string) => fs.readFileSync(new URL(`../../core/src/testdata/${name}`, import.meta.url));
  const { address, stop } = await serve(
    (stream) => {
      stream.respond({ ':status': 200, 'content-type': 'application/grpc' }, { waitForTrailers: true });
      stream.write(grpcFrame(Buffer.from('over tls')));
      stream.on('wantTrailers', () => stream.sendTrailers({ 'grpc-status': '0' }));
      stream.end();
    },
    { cert: fixture('server.crt'), key: fixture('server.key') },
  );
  try {
    const c = call(address, Buffer.from('r'), new AbortController().signal, { ca: fixture('ca.crt') });
    await c.done;
    assert.deepEqual(c.messages, [Buffer.from('over tls')]);
    // Another CA: the handshake fails, nothing is read.
    const other = call(address, Buffer.from('r'), new AbortController().signal, { ca: fixture('other-ca-node-a.crt') });
    await assert.rejects(other.done, /certificate/);
    assert.deepEqual(other.messages, []);
  } finally {
    await stop();
  }
});

test('a socket that cannot be reached rejects with the connection error', async () => {
  await assert.rejects(call('unix:///nonexistent/hubble.sock').done, /ENOENT/);
});
