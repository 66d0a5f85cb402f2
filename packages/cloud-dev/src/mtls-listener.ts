// The TLS listener in front of the gRPC server.
//
// It asks every client for a certificate and finishes the handshake whatever the client sends, then hands the
// decrypted connection on together with the verdict on its certificate (client-certificates.ts). The caller routes
// trusted connections to the real services and the others to a server that refuses every call with the reason.
// TLS 1.2 or newer, and HTTP/2 only (ALPN "h2"), as gRPC requires.
import tls, { type TLSSocket } from 'node:tls';
import { judgeClientCertificate, type ClientCertificateVerdict } from './client-certificates.js';

export interface MtlsListenerOptions {
  host: string;
  port: number;
  serverCertPem: string;
  serverKeyPem: string;
  /** Client certificates must chain to this CA. */
  clientCaPem: string;
  onConnection(socket: TLSSocket, verdict: ClientCertificateVerdict): void;
  onHandshakeError(err: Error, peer: string | undefined): void;
}

export interface MtlsListener {
  /** host:port actually bound (port 0 resolved). */
  address: string;
  /** Stops accepting connections; open ones stay. */
  stopAccepting(): void;
  /**
   * Waits up to graceMs for every open connection to close by itself (a gracefully closing HTTP/2 session ends
   * its connection once its streams are over), then destroys the rest. Resolves true when none had to be cut.
   */
  connectionsClosed(graceMs: number): Promise<boolean>;
  /** Cuts every open connection at once (no GOAWAY, no status): what a network failure looks like. Returns how many. */
  dropAll(): number;
}

export function peerOf(socket: { remoteAddress?: string | undefined; remotePort?: number | undefined }): string | undefined {
  if (!socket.remoteAddress) return undefined;
  return socket.remoteAddress.includes(':') ? `[${socket.remoteAddress}]:${socket.remotePort}` : `${socket.remoteAddress}:${socket.remotePort}`;
}

export async function listenMtls(options: MtlsListenerOptions): Promise<MtlsListener> {
  const connections = new Set<TLSSocket>();
  const server = tls.createServer({
    cert: options.serverCertPem,
    key: options.serverKeyPem,
    ca: options.clientCaPem,
    requestCert: true,
    // The verdict is taken after the handshake and answered as a gRPC status; see client-certificates.ts.
    rejectUnauthorized: false,
    ALPNProtocols: ['h2'],
    minVersion: 'TLSv1.2',
    // HTTP/2 sends small frames (WINDOW_UPDATE, PING acks, heartbeats) that Nagle's algorithm would hold back
    // until the peer's delayed ACK, stalling a fast sender on flow control.
    noDelay: true,
  });
  server.on('secureConnection', (socket) => {
    connections.add(socket);
    socket.once('close', () => connections.delete(socket));
    // Errors on an established connection (reset by peer …) end it; grpc-js sees the close.
    socket.on('error', () => undefined);
    options.onConnection(socket, judgeClientCertificate(socket));
  });
  server.on('tlsClientError', (err, socket) => options.onHandshakeError(err, peerOf(socket)));

  await new Promise<void>((resolve, reject) => {
    server.once('error', reject);
    server.listen({ host: options.host, port: options.port }, () => {
      server.off('error', reject);
      resolve();
    });
  });
  const bound = server.address();
  if (bound === null || typeof bound === 'string') throw new Error('TLS listener has no TCP address');
  const address = bound.family === 'IPv6' ? `[${bound.address}]:${bound.port}` : `${bound.address}:${bound.port}`;

  return {
    address,
    stopAccepting() {
      // Immediate for new connections; close()'s callback would wait for every open one to end, so none is used.
      server.close();
    },
    dropAll() {
      const open = [...connections];
      for (const socket of open) socket.destroy();
      return open.length;
    },
    async connectionsClosed(graceMs) {
      const open = [...connections];
      const closed = Promise.all(open.map((socket) => new Promise((resolve) => (socket.closed ? resolve(undefined) : socket.once('close', resolve)))));
      let timer: NodeJS.Timeout | undefined;
      const timedOut = new Promise<true>((resolve) => (timer = setTimeout(() => resolve(true), graceMs)));
      const cut = await Promise.race([closed.then(() => false), timedOut]);
      clearTimeout(timer);
      if (cut) for (const socket of open) socket.destroy();
      return !cut;
    },
  };
}
