// A thin typed layer over grpc-js's server API for the ts-proto definitions.
//
// Why not nice-grpc's server: it only listens through grpc-js's bindAsync, whose TLS either rejects a bad client
// certificate during the handshake (the client then sees only UNAVAILABLE and a TLS alert) or hides the reason
// (CallContext has no auth context; grpc-js's getAuthContext() is empty for every unverified peer). Owning the
// TLS listener and handing connections to grpc-js's public Server.createConnectionInjector needs the grpc-js
// Server itself. The handlers keep nice-grpc's shape: requests as an async iterable, an AbortSignal, ServerError.
import type { PeerCertificate } from 'node:tls';
import * as grpc from '@grpc/grpc-js';
import { ServerError, Status } from 'nice-grpc-common';

/** The part of a ts-proto message's generated functions this layer uses. */
export interface MessageType<T> {
  encode(message: T): { finish(): Uint8Array };
  decode(input: Uint8Array): T;
  fromPartial(object: never): T;
}

/** The part of a ts-proto generic service definition this layer uses. */
export interface ServiceDefinition {
  fullName: string;
  methods: Record<string, { name: string; requestType: MessageType<never>; responseType: MessageType<never>; requestStream: boolean; responseStream: boolean }>;
}

export interface CallContext {
  metadata: grpc.Metadata;
  /** The client's address as grpc-js reports it ("127.0.0.1:52344"); identifies the HTTP/2 connection. */
  peer: string;
  /** Aborted when the client cancels the call (or goes away). */
  signal: AbortSignal;
  /** The connection's client certificate, present only when TLS verified it against the cloud CA. */
  verifiedClientCertificate: PeerCertificate | undefined;
}

function callContext(call: grpc.ServerUnaryCall<unknown, unknown> | grpc.ServerDuplexStream<unknown, unknown>, signal: AbortSignal): CallContext {
  return { metadata: call.metadata, peer: call.getPeer(), signal, verifiedClientCertificate: call.getAuthContext().sslPeerCertificate };
}

export type UnaryHandler<Req, Res> = (request: Req, context: CallContext) => Promise<Res>;

export interface ResponseSink<Res> {
  /**
   * Sends a message unless the client is not reading (the previous write has not drained) or the call is over;
   * returns whether it was sent. Used for heartbeats, which are better skipped than queued without bound.
   */
  trySend(message: Res): boolean;
  /**
   * Sends a message even when the client is slow to read (grpc-js buffers it); returns false only when the call is
   * over. For rare messages that must not be skipped (requests to the operator).
   */
  push(message: Res): boolean;
}

export type BidiHandler<Req, Res> = (requests: AsyncIterable<Req>, responses: ResponseSink<Res>, context: CallContext) => Promise<void>;

/** grpc-js method definitions (paths, serializers) for a ts-proto service definition. */
export function grpcJsServiceDefinition(definition: ServiceDefinition): grpc.ServiceDefinition {
  const service: Record<string, grpc.MethodDefinition<unknown, unknown>> = {};
  for (const [key, method] of Object.entries(definition.methods)) {
    const requestType = method.requestType as unknown as MessageType<unknown>;
    const responseType = method.responseType as unknown as MessageType<unknown>;
    service[key] = {
      path: `/${definition.fullName}/${method.name}`,
      requestStream: method.requestStream,
      responseStream: method.responseStream,
      requestSerialize: (message: unknown) => Buffer.from(requestType.encode(message).finish()),
      requestDeserialize: (bytes: Buffer) => requestType.decode(bytes),
      // Handlers may return partial messages (ts-proto's DeepPartial); fromPartial fills the defaults encode needs.
      responseSerialize: (message: unknown) => Buffer.from(responseType.encode(responseType.fromPartial(message as never)).finish()),
      responseDeserialize: (bytes: Buffer) => responseType.decode(bytes),
      originalName: method.name,
    };
  }
  return service;
}

/** What goes back to the client when a handler fails: its ServerError, or INTERNAL without internals. */
export function statusOf(err: unknown): grpc.StatusObject {
  if (err instanceof ServerError) return { code: err.code as number as grpc.status, details: err.details, metadata: new grpc.Metadata() };
  return { code: grpc.status.INTERNAL, details: 'internal error', metadata: new grpc.Metadata() };
}

export interface CallHooks {
  /** A handler failed with something other than a ServerError: a bug, reported as INTERNAL. */
  onUnexpected(err: unknown): void;
}

export function unaryCall<Req, Res>(handler: UnaryHandler<Req, Res>, hooks: CallHooks): grpc.handleUnaryCall<Req, Res> {
  return (call, callback) => {
    const controller = new AbortController();
    call.on('cancelled', () => controller.abort());
    const context = callContext(call, controller.signal);
    handler(call.request, context).then(
      (response) => callback(null, response),
      (err: unknown) => {
        if (!(err instanceof ServerError)) hooks.onUnexpected(err);
        callback(statusOf(err));
      },
    );
  };
}

export function bidiCall<Req, Res>(handler: BidiHandler<Req, Res>, hooks: CallHooks): grpc.handleBidiStreamingCall<Req, Res> {
  return (call) => {
    const controller = new AbortController();
    // grpc-js emits 'cancelled' when the client cancels or goes away, and also once the call's status is sent;
    // either way nothing more can be written.
    call.on('cancelled', () => controller.abort());
    const context = callContext(call, controller.signal);
    const responses: ResponseSink<Res> = {
      trySend(message) {
        if (controller.signal.aborted || call.writableEnded || call.destroyed || call.writableNeedDrain) return false;
        call.write(message);
        return true;
      },
      push(message) {
        if (controller.signal.aborted || call.writableEnded || call.destroyed) return false;
        call.write(message);
        return true;
      },
    };
    // The server duplex is a Readable in object mode: iterating it reads one message at a time, and while the
    // handler awaits (e.g. a full store buffer) grpc-js stops reading, so HTTP/2 flow control slows the client.
    handler(call as AsyncIterable<Req>, responses, context).then(
      () => {
        if (!controller.signal.aborted && !call.writableEnded) call.end();
      },
      (err: unknown) => {
        if (controller.signal.aborted || call.writableEnded) return;
        if (!(err instanceof ServerError)) hooks.onUnexpected(err);
        // grpc-js turns an 'error' event on a server stream into the call's status.
        call.emit('error', statusOf(err));
      },
    );
  };
}

/** Every method of the given services answers with this status; for connections that must not be served. */
export function refusingImplementation(definition: ServiceDefinition, code: Status, message: string): grpc.UntypedServiceImplementation {
  const implementation: grpc.UntypedServiceImplementation = {};
  const status: Partial<grpc.StatusObject> = { code: code as number as grpc.status, details: message };
  for (const [key, method] of Object.entries(definition.methods)) {
    // Unary and client-streaming handlers answer through a callback; the others end their stream with an error.
    implementation[key] = method.responseStream
      ? (call: grpc.ServerWritableStream<unknown, unknown> | grpc.ServerDuplexStream<unknown, unknown>) => {
          call.emit('error', status);
        }
      : (_call: unknown, callback: grpc.sendUnaryData<unknown>) => callback(status);
  }
  return implementation;
}

/**
 * Yields from source until signal aborts, then returns without waiting for the next message. A bidi stream can be
 * idle for minutes; a shutdown must not wait for the client to speak.
 */
export async function* untilAborted<T>(source: AsyncIterable<T>, signal: AbortSignal): AsyncGenerator<T> {
  if (signal.aborted) return;
  const iterator = source[Symbol.asyncIterator]();
  // One listener for the whole stream that wakes whichever read is pending (racing each read against one
  // long-lived promise would pile up a reaction per message on it).
  let wake: ((result: 'aborted') => void) | undefined;
  const onAbort = () => wake?.('aborted');
  signal.addEventListener('abort', onAbort, { once: true });
  try {
    for (;;) {
      const next = iterator.next();
      // If we stop waiting on it, its eventual rejection (stream destroyed) must not become an unhandled rejection.
      next.catch(() => undefined);
      const result = await new Promise<IteratorResult<T> | 'aborted'>((resolve, reject) => {
        wake = resolve;
        if (signal.aborted) resolve('aborted');
        next.then(resolve, reject);
      });
      wake = undefined;
      if (result === 'aborted' || result.done) return;
      yield result.value;
    }
  } finally {
    signal.removeEventListener('abort', onAbort);
  }
}
