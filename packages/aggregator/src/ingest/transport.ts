// The ingest server's transport: a TLS listener (the internal CA's server certificate, followed as it is renewed)
// in front of a grpc-js server that serves IngestService on the decrypted connections.
//
//   TLS listener ──handshake failed (not TLS, garbage, timeout)──► closed; counted as tls_handshake
//                ├─agentAuth=certificate, certificate missing / not from the CA / expired / wrong purpose──►
//                │     refusal server: every call UNAUTHENTICATED with the reason, connection closed after a while
//                └─otherwise──► gRPC server: IngestService; after the Hello the identity check decides
//                      (certificate-identity.ts: the connection's certificate CN; token-identity.ts: the Bearer token)
//
// A refused connection never reaches the ingest service. The listener keeps each open connection by its peer
// (host:port, what nice-grpc's CallContext.peer says), which is how the certificate check finds its certificate.
// See docs/transport.md.
import * as grpc from '@grpc/grpc-js';
import { Counter, Gauge, listenTls, RateLimitedLog, type ClientCertificateVerdict, type Logger, type Registry, type TlsListener, type TlsReloader } from '@kestrel/core';
import { IngestServiceDefinition, type IngestServiceImplementation } from '@kestrel/proto/ingest/v1';
import { ServerError, Status } from 'nice-grpc';
import { CERTIFICATE_REFUSALS } from './certificate-identity.js';
import { addNiceGrpcService } from './grpc-injection.js';

export type AgentAuthMode = 'certificate' | 'token';

export interface IngestTransportOptions {
  /** host:port; port 0 picks one (see address). */
  listen: string;
  tls: TlsReloader;
  agentAuth: AgentAuthMode;
  /** grpc.max_receive_message_length: a larger message ends its stream with RESOURCE_EXHAUSTED. */
  maxReceiveMessageBytes: number;
  registry: Registry;
  logger: Logger;
  /** How long a refused connection is kept so that its calls read the reason. */
  refusedConnectionLifetimeMs?: number;
  handshakeTimeoutMs?: number;
  /**
   * A call that grpc-js itself ended before the service could see why: a message over the size limit
   * (message_too_large), one that does not decode (undecodable_message), an unsupported compression … The service
   * only sees such a call cancelled, so this is where it is counted (see callStatusObserver).
   */
  onCallFailed?(reason: string, peer: string, details: string): void;
}

/** A connection refused for its certificate still answers calls (with the reason) for this long, then is closed. */
const REFUSED_CONNECTION_LIFETIME_MS = 10_000;

class TransportEvents {
  readonly connectionsRefused: Counter<'reason'>;
  private readonly log: RateLimitedLog;

  constructor(registry: Registry, logger: Logger, openConnections: () => number) {
    const registers = [registry];
    this.connectionsRefused = new Counter({
      name: 'kestrel_aggregator_ingest_connections_refused_total',
      help: 'Agent connections refused before any call: failed TLS handshakes and, with agentAuth=certificate, client certificates that are missing or not trusted',
      labelNames: ['reason'],
      registers,
    });
    new Gauge({
      name: 'kestrel_aggregator_ingest_connections_open',
      help: 'TLS connections open on the ingest port (agents and refused peers)',
      registers,
      collect() {
        this.set(openConnections());
      },
    });
    this.log = new RateLimitedLog(logger);
  }

  /** Counted every time; logged once per peer host and reason for a while (a misconfigured agent retries). */
  refused(reason: string, peer: string | undefined, detail: string): void {
    this.connectionsRefused.inc({ reason });
    this.log.warn(`connection:${reason}:${peerHost(peer)}`, 'agent connection refused', { reason, peer, detail });
  }
}

export class IngestTransport {
  private listener: TlsListener | undefined;
  private readonly server: grpc.Server;
  private readonly refusalServer: grpc.Server;
  private readonly events: TransportEvents;

  constructor(private readonly options: IngestTransportOptions) {
    const serverOptions: grpc.ServerOptions = {
      'grpc.max_receive_message_length': options.maxReceiveMessageBytes,
      'grpc.keepalive_time_ms': 60_000,
      'grpc.keepalive_permit_without_calls': 1,
      interceptors: options.onCallFailed ? [callStatusObserver(options.onCallFailed)] : [],
    };
    this.server = new grpc.Server(serverOptions);
    this.refusalServer = new grpc.Server(serverOptions);
    this.events = new TransportEvents(options.registry, options.logger, () => this.listener?.openConnections ?? 0);
  }

  /** The verdict on the client certificate of the open connection with this peer (undefined: none known, or not asked). */
  certificateOf(peer: string): ClientCertificateVerdict | undefined {
    return this.listener?.connection(peer)?.verdict;
  }

  /** Starts serving; resolves to the port bound. */
  async start(service: IngestServiceImplementation): Promise<number> {
    const { options, events } = this;
    addNiceGrpcService(this.server, IngestServiceDefinition, service);
    const certificateOf = (peer: string) => this.certificateOf(peer);
    addNiceGrpcService(this.refusalServer, IngestServiceDefinition, {
      // Every call on a refused connection ends at once with the reason its certificate was refused.
      async *stream(_requests, context) {
        const verdict = certificateOf(context.peer);
        throw new ServerError(Status.UNAUTHENTICATED, CERTIFICATE_REFUSALS[verdict && !verdict.trusted ? verdict.problem : 'missing'].message);
      },
    });
    // TLS is terminated by the listener; grpc-js speaks HTTP/2 over the decrypted socket.
    const services = this.server.createConnectionInjector(grpc.ServerCredentials.createInsecure());
    const refusals = this.refusalServer.createConnectionInjector(grpc.ServerCredentials.createInsecure());
    const requestCert = options.agentAuth === 'certificate';
    const lifetime = options.refusedConnectionLifetimeMs ?? REFUSED_CONNECTION_LIFETIME_MS;
    const { host, port } = splitHostPort(options.listen);
    this.listener = await listenTls({
      host,
      port,
      tls: options.tls,
      requestClientCertificate: requestCert,
      ...(options.handshakeTimeoutMs === undefined ? {} : { handshakeTimeoutMs: options.handshakeTimeoutMs }),
      onConnection(socket, verdict, peer) {
        if (!requestCert || verdict?.trusted) {
          services.injectConnection(socket);
          return;
        }
        const refusal = CERTIFICATE_REFUSALS[verdict?.problem ?? 'missing'];
        events.refused(refusal.reason, peer, verdict?.detail ?? 'no certificate');
        refusals.injectConnection(socket);
        setTimeout(() => socket.destroy(), lifetime).unref();
      },
      onHandshakeError: (err, peer) => events.refused('tls_handshake', peer, err.message),
      onReloadError: (err) => options.logger.warn('ingest TLS material reloaded but cannot be used by the listener; keeping the previous one', { error: err.message }),
    });
    return this.listener.port;
  }

  /**
   * Stops accepting, asks every HTTP/2 session to end (GOAWAY: agents move to another replica), waits up to graceMs
   * for the connections to close, then cuts the rest.
   */
  async stop(graceMs: number): Promise<void> {
    const listener = this.listener;
    if (!listener) return;
    listener.stopAccepting();
    // (tryShutdown's callback cannot be the signal for injected connections: the listener's connections are.)
    this.server.tryShutdown(() => undefined);
    this.refusalServer.tryShutdown(() => undefined);
    if (!(await listener.connectionsClosed(graceMs))) {
      this.server.forceShutdown();
      this.refusalServer.forceShutdown();
    }
  }
}

/**
 * Sees the statuses grpc-js sends on its own, which reach no handler: when a message is over
 * grpc.max_receive_message_length (grpc-js refuses it from its 5-byte length prefix, before buffering it) or does not
 * deserialize, grpc-js answers RESOURCE_EXHAUSTED or INTERNAL itself and the service only sees its call cancelled.
 * grpc-js gives the first server interceptor its innermost call, and ends such calls through that object's
 * sendStatus; a status from the service passes through this interceptor's responder first, so whatever reaches
 * sendStatus without it came from grpc-js. (grpc-js 1.14 internals, pinned in package.json; transport.test.ts
 * checks that an oversized message is reported.)
 */
function callStatusObserver(onCallFailed: (reason: string, peer: string, details: string) => void): grpc.ServerInterceptor {
  return (_method, call) => {
    let fromService = false;
    let reported = false;
    const send = call.sendStatus.bind(call);
    call.sendStatus = (status) => {
      // Once per call: grpc-js may try again for data that was already in flight (the call is over by then).
      if (!fromService && !reported && status.code !== grpc.status.OK) {
        reported = true;
        onCallFailed(reasonOf(status.code), call.getPeer(), status.details ?? '');
      }
      send(status);
    };
    return new grpc.ServerInterceptingCall(call, {
      sendStatus(status, next) {
        fromService = true;
        next(status);
      },
    });
  };
}

function reasonOf(code: grpc.status): string {
  switch (code) {
    case grpc.status.RESOURCE_EXHAUSTED:
      return 'message_too_large';
    case grpc.status.INTERNAL:
      return 'undecodable_message';
    case grpc.status.UNIMPLEMENTED:
      return 'unsupported_encoding';
    default:
      return (grpc.status[code] ?? 'unknown').toLowerCase();
  }
}

function splitHostPort(address: string): { host: string; port: number } {
  const i = address.lastIndexOf(':');
  return { host: address.slice(0, i).replace(/^\[|\]$/g, ''), port: Number(address.slice(i + 1)) };
}

/** The peer without its port: a reconnecting agent gets a new port each time but is the same peer. */
const peerHost = (peer: string | undefined): string => (peer === undefined ? 'unknown' : peer.lastIndexOf(':') > 0 ? peer.slice(0, peer.lastIndexOf(':')) : peer);
