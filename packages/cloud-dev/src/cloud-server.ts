// Builds the running cloud from its parts: the record store, the mTLS listener, the gRPC server with both
// services, and the refusal servers for connections whose client certificate was not accepted.
//
// Connection routing (see grpc-handlers.ts for why grpc-js directly):
//   TLS listener ──trusted certificate──► gRPC server: StreamService + AutonpServerService (per-call auth)
//                └─no / foreign / expired certificate──► refusal server for that reason: every call UNAUTHENTICATED
// An unauthenticated connection never reaches a service implementation.
import { createPrivateKey, createPublicKey } from 'node:crypto';
import * as grpc from '@grpc/grpc-js';
import { listenTls, type Logger } from '@kestrel/core';
import { AutonpServerServiceDefinition } from '@kestrel/proto/server/v1';
import { StreamServiceDefinition } from '@kestrel/proto/cloud/v1';
import { CallAuthenticator } from './call-auth.js';
import { CertificateRotation } from './cert-rotation.js';
import { clientCertificateRefusal } from './client-certificates.js';
import { RequestConsole } from './request-console.js';
import { startControlSocket } from './control-socket.js';
import { CloudControls } from './controls.js';
import { CloudDevEvents } from './events.js';
import { grpcJsServiceDefinition, refusingImplementation, type ServiceDefinition } from './grpc-handlers.js';
import type { CloudMaterial } from './layout.js';
import { LogReplayFilter, rememberStored } from './log-replays.js';
import { OpenStreams } from './open-streams.js';
import { RecordStore, storeFile, type StreamName } from './record-store.js';
import type { Refusal } from './refusals.js';
import { streamServiceImplementation } from './stream-service.js';
import { tokenServiceImplementation } from './token-service.js';

export interface CloudServerOptions {
  material: CloudMaterial;
  /** host:port; port 0 picks a free port (see RunningCloudServer.address). */
  listen: string;
  dataDir: string;
  heartbeatIntervalMs: number;
  tokenTtlMs: number;
  summaryIntervalMs: number;
  logger: Logger;
  /** How long shutdown waits for streams and sessions to close before cutting them. */
  shutdownGraceMs?: number;
  /** Streams answered with UNIMPLEMENTED from the start. */
  unimplemented?: readonly StreamName[];
  /** End open streams with UNAUTHENTICATED when their token expires. */
  enforceTokenExpiry?: boolean;
  /** Unix socket for runtime controls (control-socket.ts); none when unset. */
  controlSocket?: string;
}

export interface RunningCloudServer {
  /** Sends the operator a request as Kestrel Cloud would and returns its answer. */
  requestConsole: RequestConsole;
  /** host:port actually bound. */
  address: string;
  store: RecordStore;
  events: CloudDevEvents;
  controls: CloudControls;
  openStreams: OpenStreams;
  rotation: CertificateRotation;
  replays: LogReplayFilter;
  /** Cuts every open connection abruptly; returns how many. */
  dropConnections(): number;
  /** Stops accepting, ends open streams with UNAVAILABLE, flushes the store. */
  stop(reason?: string): Promise<void>;
}

// The protocol's limit, both ways (grpc-js's default receive limit is 4 MiB).
const MAX_MESSAGE_BYTES = 10 * 1024 * 1024;
// A refused connection gets answers for a while (so its calls see the reason), then it is closed.
const REFUSED_CONNECTION_LIFETIME_MS = 30_000;

const SERVICES = [StreamServiceDefinition, AutonpServerServiceDefinition] as unknown as ServiceDefinition[];

export async function startCloudServer(options: CloudServerOptions): Promise<RunningCloudServer> {
  const { material, logger } = options;
  const events = new CloudDevEvents(logger);
  const stopController = new AbortController();
  const controls = new CloudControls(options.tokenTtlMs, options.enforceTokenExpiry ?? false, options.unimplemented ?? []);
  const openStreams = new OpenStreams();
  const requestConsole = new RequestConsole(openStreams);
  const rotation = new CertificateRotation({ certPem: material.caCertPem, keyPem: material.caKeyPem }, material.identity.clusterName, openStreams, controls, events);
  // Replays are recognised across restarts: the marks start from what the files already hold.
  const replays = new LogReplayFilter();
  await rememberStored(replays, [storeFile(options.dataDir, 'logs'), storeFile(options.dataDir, 'data')]);
  const store = await RecordStore.open({
    dir: options.dataDir,
    describe: () => {
      const counts = events.snapshot();
      return {
        openStreams: counts.openStreams,
        streamsOpened: counts.streamsOpened,
        refusals: counts.refusals,
        replays: { ...replays.counts },
        certificateRenewals: { ...rotation.counts },
        tokensIssued: counts.tokensIssued,
        connectionsDropped: counts.connectionsDropped,
        streamsEnded: counts.streamsEnded,
      };
    },
    onWriteError: (file, err, dropped) => events.writeFailed(file, err, dropped),
  });

  const serverOptions: grpc.ServerOptions = {
    'grpc.max_receive_message_length': MAX_MESSAGE_BYTES,
    'grpc.max_send_message_length': MAX_MESSAGE_BYTES,
  };
  const auth = new CallAuthenticator({ signingPublicKey: createPublicKey(material.signingPublicKeyPem), tenant: material.identity.tenant });
  const grpcServer = new grpc.Server(serverOptions);
  grpcServer.addService(
    grpcJsServiceDefinition(StreamServiceDefinition as unknown as ServiceDefinition),
    streamServiceImplementation({
      auth,
      store,
      events,
      heartbeatIntervalMs: options.heartbeatIntervalMs,
      stopSignal: stopController.signal,
      controls,
      openStreams,
      replays,
      rotation,
      console: requestConsole,
    }),
  );
  grpcServer.addService(
    grpcJsServiceDefinition(AutonpServerServiceDefinition as unknown as ServiceDefinition),
    tokenServiceImplementation({
      auth,
      events,
      identity: material.identity,
      signingKey: createPrivateKey(material.signingKeyPem),
      controls,
    }),
  );
  // TLS is already terminated by the listener; grpc-js speaks HTTP/2 over the decrypted socket.
  const services = grpcServer.createConnectionInjector(grpc.ServerCredentials.createInsecure());

  const refusalServers = new Map<string, { server: grpc.Server; injector: grpc.ConnectionInjector }>();
  const refusalInjector = (refusal: Refusal): grpc.ConnectionInjector => {
    let entry = refusalServers.get(refusal.message);
    if (!entry) {
      const server = new grpc.Server(serverOptions);
      for (const definition of SERVICES) {
        server.addService(grpcJsServiceDefinition(definition), refusingImplementation(definition, refusal.code, refusal.message));
      }
      entry = { server, injector: server.createConnectionInjector(grpc.ServerCredentials.createInsecure()) };
      refusalServers.set(refusal.message, entry);
    }
    return entry.injector;
  };

  const [host, port] = splitHostPort(options.listen);
  const listener = await listenTls({
    host,
    port,
    tls: { cert: material.serverCertPem, key: material.serverKeyPem, ca: material.caCertPem },
    onConnection(socket, verdict, peer) {
      if (verdict?.trusted) {
        services.injectConnection(socket);
        return;
      }
      const refusal = clientCertificateRefusal(verdict?.problem ?? 'missing');
      events.refused(refusal, { peer, detail: verdict?.detail ?? 'no certificate asked for' });
      refusalInjector(refusal).injectConnection(socket);
      setTimeout(() => socket.destroy(), REFUSED_CONNECTION_LIFETIME_MS).unref();
    },
    onHandshakeError: (err, peer) => events.tlsHandshakeFailed(err, peer),
  });
  const dropConnections = () => listener.dropAll();
  const controlSocket = options.controlSocket
    ? await startControlSocket(options.controlSocket, { controls, openStreams, rotation, events, dropConnections, requestConsole })
    : undefined;
  events.listening(listener.address);

  const summaryExtra = () => ({ replays: { ...replays.counts }, certificateRenewals: { ...rotation.counts } });
  const summaryTimer = setInterval(() => events.logSummary(store.counts(), store.dropped, summaryExtra()), options.summaryIntervalMs);
  summaryTimer.unref();

  let stopping: Promise<void> | undefined;
  const stop = (reason = 'stop requested') =>
    (stopping ??= (async () => {
      events.stopping(reason);
      const graceMs = options.shutdownGraceMs ?? 5000;
      listener.stopAccepting();
      // GOAWAY on every HTTP/2 session: no new calls, and each session closes its connection once its streams
      // are over. (grpc-js's tryShutdown callback cannot be the signal: Node's Http2Server.close() marks the
      // sessions closed first, so grpc-js reports them closed at once. The connections closing is the signal.)
      grpcServer.tryShutdown(() => undefined);
      for (const { server } of refusalServers.values()) server.tryShutdown(() => undefined);
      // Open streams hand their last message to the store and end with UNAVAILABLE; clients read the status and
      // close their streams; then the sessions close their connections.
      stopController.abort();
      if (!(await listener.connectionsClosed(graceMs))) {
        grpcServer.forceShutdown();
        for (const { server } of refusalServers.values()) server.forceShutdown();
      }
      clearInterval(summaryTimer);
      await controlSocket?.close();
      await store.close();
      events.logSummary(store.counts(), store.dropped, summaryExtra());
    })());

  return { address: listener.address, store, events, controls, openStreams, rotation, replays, dropConnections, requestConsole, stop };
}

function splitHostPort(address: string): [string, number] {
  const colon = address.lastIndexOf(':');
  const host = address.slice(0, colon).replace(/^\[(.*)\]$/, '$1');
  return [host, Number(address.slice(colon + 1))];
}
