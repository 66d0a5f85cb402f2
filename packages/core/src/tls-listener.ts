// A TLS listener to put in front of a grpc-js server, for servers that must know each connection's client
// certificate (grpc-js's own TLS either aborts the handshake on a bad certificate, so the client sees only a TLS
// alert, or hides why it was refused).
//
// It completes the handshake whatever certificate the client sends (requestCert without rejectUnauthorized), judges
// the certificate afterwards (judgeClientCertificate) and hands the decrypted connection on with the verdict; the
// caller injects it into a grpc-js server (Server.createConnectionInjector with insecure credentials, TLS being done
// here), or into one that refuses every call with the reason. Open connections are kept by peer (the string
// grpc-js's call.getPeer() gives for them), so a call handler can find its connection's certificate.
// TLS 1.2 or newer, HTTP/2 only (ALPN "h2"), as gRPC requires. Given a TlsReloader, new connections use its current
// material (certificate, key and the CA client certificates must chain to) without a restart.
import tls, { type TLSSocket } from 'node:tls';
import type { TlsReloader } from './tls-material.js';

/** Why a client certificate is not trusted. */
export type ClientCertificateProblem = 'missing' | 'untrusted' | 'expired' | 'not_yet_valid' | 'wrong_purpose';

export type ClientCertificateVerdict =
  | { trusted: true; /** The subject's CN. */ subject: string; fingerprint256: string }
  | { trusted: false; problem: ClientCertificateProblem; /** OpenSSL's verify error, for logs. */ detail: string };

/**
 * What a connection's client certificate is worth, once the handshake is done. Node has verified the chain against
 * the CA (and, as OpenSSL does for a server, the clientAuth purpose); this only reads the outcome.
 */
export function judgeClientCertificate(socket: TLSSocket): ClientCertificateVerdict {
  const certificate = socket.getPeerCertificate();
  // Without a client certificate, Node returns an empty object (and reports UNABLE_TO_GET_ISSUER_CERT).
  if (!certificate || !certificate.raw) return { trusted: false, problem: 'missing', detail: 'no certificate presented' };
  if (socket.authorized) {
    const cn = certificate.subject?.CN;
    return { trusted: true, subject: (Array.isArray(cn) ? cn.join(',') : cn) ?? '', fingerprint256: certificate.fingerprint256 };
  }
  const error = String(socket.authorizationError ?? 'unknown verify error');
  return { trusted: false, problem: problemOf(error), detail: error };
}

function problemOf(code: string): ClientCertificateProblem {
  switch (code) {
    case 'CERT_HAS_EXPIRED':
      return 'expired';
    case 'CERT_NOT_YET_VALID':
      return 'not_yet_valid';
    case 'INVALID_PURPOSE':
      return 'wrong_purpose';
    default:
      // UNABLE_TO_VERIFY_LEAF_SIGNATURE, UNABLE_TO_GET_ISSUER_CERT_LOCALLY, DEPTH_ZERO_SELF_SIGNED_CERT,
      // SELF_SIGNED_CERT_IN_CHAIN, CERT_SIGNATURE_FAILURE, …: the chain does not lead to the CA.
      return 'untrusted';
  }
}

/** A connection's peer as grpc-js reports it for calls on it (call.getPeer(), nice-grpc's CallContext.peer). */
export function peerOf(socket: { remoteAddress?: string | undefined; remotePort?: number | undefined }): string | undefined {
  if (!socket.remoteAddress) return undefined;
  return socket.remotePort ? `${socket.remoteAddress}:${socket.remotePort}` : socket.remoteAddress;
}

export interface StaticTlsMaterial {
  cert: string | Buffer;
  key: string | Buffer;
  /** The CA client certificates must chain to. */
  ca: string | Buffer;
}

export interface TlsListenerOptions {
  host: string;
  port: number;
  /** The server's certificate and key and the client CA: fixed, or followed as a TlsReloader reloads them. */
  tls: TlsReloader | StaticTlsMaterial;
  /** Ask every client for a certificate (judged after the handshake, never refused by it). Default true. */
  requestClientCertificate?: boolean;
  /** A client that has not completed the handshake by then is dropped (a handshake error). Default 10 s. */
  handshakeTimeoutMs?: number;
  /** A connection whose handshake completed; `verdict` is undefined when no certificate was asked for. */
  onConnection(socket: TLSSocket, verdict: ClientCertificateVerdict | undefined, peer: string): void;
  /** The handshake failed (not TLS at all, no common protocol or version, timed out …); the socket is closed. */
  onHandshakeError(err: Error, peer: string | undefined): void;
  /** The reloader's new material could not be installed; the previous one stays in use. */
  onReloadError?(err: Error): void;
}

export interface TlsConnection {
  socket: TLSSocket;
  verdict: ClientCertificateVerdict | undefined;
}

export interface TlsListener {
  /** host:port actually bound (port 0 resolved). */
  address: string;
  port: number;
  /** The open connection with this peer (as grpc-js reports it), if any. */
  connection(peer: string): TlsConnection | undefined;
  /** How many connections are open. */
  readonly openConnections: number;
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

const isReloader = (source: TlsReloader | StaticTlsMaterial): source is TlsReloader => typeof (source as TlsReloader).on === 'function';

export async function listenTls(options: TlsListenerOptions): Promise<TlsListener> {
  const connections = new Map<string, TlsConnection>();
  const sockets = new Set<TLSSocket>();
  const requestCert = options.requestClientCertificate ?? true;
  const material = (): StaticTlsMaterial => {
    const m = isReloader(options.tls) ? options.tls.current : options.tls;
    return { cert: m.cert, key: m.key, ca: m.ca };
  };
  // minVersion belongs to the secure context: it is given again whenever the context is replaced.
  const context = () => ({ ...material(), minVersion: 'TLSv1.2' as const });
  const server = tls.createServer({
    ...context(),
    requestCert,
    // The verdict is taken after the handshake (judgeClientCertificate), so a refusal can say why.
    rejectUnauthorized: false,
    ALPNProtocols: ['h2'],
    handshakeTimeout: options.handshakeTimeoutMs ?? 10_000,
    // HTTP/2 sends small frames (WINDOW_UPDATE, PING acks, heartbeats) that Nagle's algorithm would hold back
    // until the peer's delayed ACK, stalling a fast sender on flow control.
    noDelay: true,
  });
  const onChange = () => {
    try {
      server.setSecureContext(context());
    } catch (err) {
      options.onReloadError?.(err as Error);
    }
  };
  if (isReloader(options.tls)) options.tls.on('change', onChange);

  server.on('secureConnection', (socket) => {
    // Errors on an established connection (reset by peer …) end it; grpc-js sees the close.
    socket.on('error', () => undefined);
    const peer = peerOf(socket);
    if (peer === undefined) {
      // Closed before we got here: nothing to serve.
      socket.destroy();
      return;
    }
    const entry: TlsConnection = { socket, verdict: requestCert ? judgeClientCertificate(socket) : undefined };
    sockets.add(socket);
    connections.set(peer, entry);
    socket.once('close', () => {
      sockets.delete(socket);
      if (connections.get(peer) === entry) connections.delete(peer);
    });
    options.onConnection(socket, entry.verdict, peer);
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
    port: bound.port,
    connection: (peer) => connections.get(peer),
    get openConnections() {
      return sockets.size;
    },
    stopAccepting() {
      if (isReloader(options.tls)) options.tls.off('change', onChange);
      // Immediate for new connections; close()'s callback would wait for every open one to end, so none is used.
      server.close();
    },
    dropAll() {
      const open = [...sockets];
      for (const socket of open) socket.destroy();
      return open.length;
    },
    async connectionsClosed(graceMs) {
      const open = [...sockets];
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
