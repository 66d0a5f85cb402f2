// One gRPC server-streaming call spoken directly over node:http2 (nghttp2): the request is one length-prefixed
// message, the response's DATA frames are cut into messages handed to `onMessage` as they arrive, the trailers give
// the status. Why not grpc-js for the Hubble stream: Hubble sends one GetFlowsResponse per flow, and grpc-js (with
// nice-grpc's async iterator on top) costs ~30 µs of CPU per message on the benchmark machine, ten times what reading
// and aggregating the flow costs; here a DATA chunk carrying dozens of flows costs one event (docs/BENCHMARKS.md).
// The wire is the gRPC HTTP/2 protocol (PROTOCOL-HTTP2.md): POST, content-type application/grpc, te: trailers,
// 5-byte message prefix (compressed flag 0, big-endian length), grpc-status / grpc-message in trailers (or in the
// headers of a trailers-only response).
import http2 from 'node:http2';
import net from 'node:net';
import tls from 'node:tls';

export interface H2Tls {
  ca: Buffer;
  cert?: Buffer | undefined;
  key?: Buffer | undefined;
  serverName?: string | undefined;
}

export class GrpcCallError extends Error {
  constructor(
    readonly code: number,
    details: string,
  ) {
    super(`gRPC status ${code}${details ? `: ${details}` : ''}`);
    this.name = 'GrpcCallError';
  }
}

const MAX_MESSAGE = 16 * 1024 * 1024;
const WINDOW = 1024 * 1024;
const PING_EVERY_MS = 30_000;

function connect(address: string, tlsOptions: H2Tls | undefined): http2.ClientHttp2Session {
  const settings = { initialWindowSize: WINDOW };
  if (address.startsWith('unix://')) {
    const socketPath = address.slice('unix://'.length);
    return http2.connect('http://localhost', { settings, createConnection: () => net.connect(socketPath) });
  }
  const colon = address.lastIndexOf(':');
  const host = address.slice(0, colon).replace(/^\[|\]$/g, '');
  const port = Number(address.slice(colon + 1));
  if (!tlsOptions) return http2.connect(`http://${address}`, { settings });
  return http2.connect(`https://${address}`, {
    settings,
    createConnection: () =>
      tls.connect({ host, port, ca: tlsOptions.ca, cert: tlsOptions.cert, key: tlsOptions.key, servername: tlsOptions.serverName ?? (net.isIP(host) ? undefined : host), ALPNProtocols: ['h2'] }),
  });
}

/**
 * Calls `path` with `request` (an encoded message) and hands every response message to `onMessage` (a view into the
 * received bytes: copy what must outlive the call). Resolves when the server ends the call with status 0; rejects
 * with GrpcCallError for another status, or with the connection's error. Aborting the signal cancels the call.
 */
export function serverStreamingCall(address: string, tlsOptions: H2Tls | undefined, path: string, request: Uint8Array, signal: AbortSignal, onMessage: (message: Buffer) => void): Promise<void> {
  return new Promise<void>((resolve, reject) => {
    if (signal.aborted) return reject(signal.reason);
    const session = connect(address, tlsOptions);
    let settled = false;
    let ping: NodeJS.Timeout | undefined;
    const finish = (err?: unknown) => {
      if (settled) return;
      settled = true;
      clearInterval(ping);
      signal.removeEventListener('abort', onAbort);
      session.destroy();
      if (err === undefined) resolve();
      else reject(err);
    };
    const onAbort = () => finish(signal.reason ?? new Error('aborted'));
    signal.addEventListener('abort', onAbort, { once: true });
    session.on('error', (err) => finish(err));
    session.on('close', () => finish(new Error('the connection closed before the call ended')));
    session.on('connect', () => {
      if (settled || session.destroyed) return;
      session.setLocalWindowSize(WINDOW);
      // A peer that vanished without closing (a Relay behind a dropped NAT entry) shows as a ping without answer.
      ping = setInterval(() => {
        if (settled || session.destroyed) return;
        const sent = session.ping((err) => {
          if (err) finish(new Error(`keepalive ping failed: ${err.message}`));
        });
        if (!sent) finish(new Error('keepalive ping could not be sent'));
      }, PING_EVERY_MS);
      ping.unref();
    });
    const stream = session.request({ ':method': 'POST', ':path': path, 'content-type': 'application/grpc', te: 'trailers', 'user-agent': 'kestrel-flows/0.1' });
    const frame = Buffer.allocUnsafe(5 + request.length);
    frame[0] = 0;
    frame.writeUInt32BE(request.length, 1);
    frame.set(request, 5);
    stream.end(frame);

    let pending: Buffer | undefined;
    let status: number | undefined;
    let details = '';
    const statusFrom = (h: http2.IncomingHttpHeaders) => {
      if (h['grpc-status'] !== undefined) {
        status = Number(h['grpc-status']);
        details = decodeURIComponent(String(h['grpc-message'] ?? ''));
      }
    };
    stream.on('response', (headers) => {
      const code = Number(headers[':status']);
      if (code !== 200) return finish(new GrpcCallError(14, `HTTP status ${code}`));
      statusFrom(headers);
    });
    // 'readable' + read() rather than 'data': a server writes one DATA frame per message, and read() takes every
    // frame that arrived since the last turn of the event loop at once (one event, one loop) instead of one each.
    stream.on('readable', () => {
      for (let chunk = stream.read() as Buffer | null; chunk !== null; chunk = stream.read() as Buffer | null) onChunk(chunk);
    });
    const onChunk = (chunk: Buffer) => {
      const buf = pending ? Buffer.concat([pending, chunk]) : chunk;
      pending = undefined;
      let at = 0;
      while (buf.length - at >= 5) {
        if (buf[at] !== 0) return finish(new GrpcCallError(13, 'compressed message (no compression was offered)'));
        const len = buf.readUInt32BE(at + 1);
        if (len > MAX_MESSAGE) return finish(new GrpcCallError(8, `message of ${len} bytes is over the ${MAX_MESSAGE}-byte limit`));
        if (buf.length - at - 5 < len) break;
        try {
          onMessage(buf.subarray(at + 5, at + 5 + len));
        } catch (err) {
          return finish(err);
        }
        at += 5 + len;
      }
      if (at < buf.length) pending = Buffer.from(buf.subarray(at));
    };
    stream.on('trailers', (trailers) => statusFrom(trailers));
    stream.on('error', (err) => finish(err));
    stream.on('close', () => {
      if (pending && pending.length > 0) return finish(new GrpcCallError(13, 'the stream ended inside a message'));
      if (status === undefined) return finish(new GrpcCallError(14, `the stream ended without a status (HTTP/2 code ${stream.rstCode ?? 0})`));
      if (status !== 0) return finish(new GrpcCallError(status, details));
      finish();
    });
  });
}
