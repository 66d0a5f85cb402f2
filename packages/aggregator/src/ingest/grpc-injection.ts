// nice-grpc services on a grpc-js server that we feed connections ourselves.
//
// nice-grpc's createServer() only listens through grpc-js's bindAsync, and grpc-js's own TLS cannot tell a call
// which client certificate its connection presented (see @kestrel/core tls-listener.ts). The ingest server therefore
// owns its TLS listener and injects each decrypted connection into a grpc-js Server
// (Server.createConnectionInjector). This file adds nice-grpc service implementations to such a server exactly as
// nice-grpc's Server.listen() does (same handler wrappers, so the same CallContext, request iterables, error and
// cancellation behaviour that IngestService is written against). Those wrappers are nice-grpc internals (marked
// @internal, their typings empty), hence the casts; nice-grpc is pinned (2.1.18) in package.json, and the
// aggregator's ingest tests fail loudly if a version moves them. They are imported, not required at run time, so
// that the aggregator's bundle (scripts/bundle.mjs) carries them with the nice-grpc it is built with.
import type * as grpc from '@grpc/grpc-js';
import type { CompatServiceDefinition, ServiceImplementation } from 'nice-grpc';
import * as bidiStreamingModule from 'nice-grpc/lib/server/handleBidiStreamingCall.js';
import * as clientStreamingModule from 'nice-grpc/lib/server/handleClientStreamingCall.js';
import * as serverStreamingModule from 'nice-grpc/lib/server/handleServerStreamingCall.js';
import * as unaryModule from 'nice-grpc/lib/server/handleUnaryCall.js';
import * as definitionsModule from 'nice-grpc/lib/service-definitions/index.js';

type Handler = grpc.UntypedHandleCall;
type MethodHandlerFactory = (definition: unknown, implementation: (...args: never[]) => unknown, middleware: undefined) => Handler;

/** A CommonJS module's export, as Node's named-export detection or a bundler's interop presents it. */
function commonJsExport<T>(namespace: object, name: string): T {
  const ns = namespace as Record<string, unknown> & { default?: Record<string, unknown> };
  return (ns[name] ?? ns.default?.[name]) as T;
}

const definitions = {
  normalizeServiceDefinition: commonJsExport<(definition: CompatServiceDefinition) => Record<string, { requestStream: boolean; responseStream: boolean }>>(
    definitionsModule, 'normalizeServiceDefinition'),
  toGrpcJsServiceDefinition: commonJsExport<(definition: Record<string, unknown>) => grpc.ServiceDefinition>(
    definitionsModule, 'toGrpcJsServiceDefinition'),
};
const factories = {
  unary: commonJsExport<MethodHandlerFactory>(unaryModule, 'createUnaryMethodHandler'),
  serverStreaming: commonJsExport<MethodHandlerFactory>(serverStreamingModule, 'createServerStreamingMethodHandler'),
  clientStreaming: commonJsExport<MethodHandlerFactory>(clientStreamingModule, 'createClientStreamingMethodHandler'),
  bidiStreaming: commonJsExport<MethodHandlerFactory>(bidiStreamingModule, 'createBidiStreamingMethodHandler'),
};
for (const [name, fn] of Object.entries(definitions)) {
  if (typeof fn !== 'function') throw new Error(`nice-grpc internals moved: no ${name} (see grpc-injection.ts)`);
}
for (const [name, factory] of Object.entries(factories)) {
  if (typeof factory !== 'function') throw new Error(`nice-grpc internals moved: no ${name} method handler factory (see grpc-injection.ts)`);
}

/**
 * Messages a streaming call may hold decoded ahead of its reader. grpc-js's call is an object-mode stream with
 * Node's default read-ahead of 16 messages, which it keeps full whatever the service is doing: with agents' 1 MiB
 * batches (~120 KB compressed) that was ~2-4 MiB per agent stream, most of the aggregator's memory under load
 * (heap snapshot: 1,500 batches waiting in 50 calls' read buffers). With 0, grpc-js decodes the next message when
 * the service asks for it (it pauses the HTTP/2 stream after each message and resumes it on a read): what waits
 * beyond that is in HTTP/2's flow-control window (64 KiB) and at the agent, which keeps its batches until they are
 * acknowledged anyway. 2 held two more batches per agent: about 10 MiB more at the ingest bench's peak, for no
 * throughput (docs/BENCHMARKS.md, "Aggregator ingest", session 10).
 */
export const STREAM_READ_AHEAD = 0;

/** Lowers a grpc-js call's read-ahead (Node keeps it in the readable state; there is no public setter). */
export function limitReadAhead(call: object, messages = STREAM_READ_AHEAD): void {
  const state = (call as { _readableState?: { highWaterMark?: unknown; objectMode?: unknown } })._readableState;
  if (!state || typeof state.highWaterMark !== 'number' || state.objectMode !== true) {
    throw new Error('grpc-js call internals moved: no object-mode readable state to bound (see grpc-injection.ts)');
  }
  state.highWaterMark = messages;
}

/** Adds a nice-grpc service implementation to a grpc-js server, as nice-grpc's own server would. */
export function addNiceGrpcService<Service extends CompatServiceDefinition>(server: grpc.Server, definition: Service, implementation: ServiceImplementation<Service>): void {
  const normalized = definitions.normalizeServiceDefinition(definition);
  const handlers: grpc.UntypedServiceImplementation = {};
  for (const [name, method] of Object.entries(normalized)) {
    const impl = (implementation as Record<string, (...args: never[]) => unknown>)[name];
    if (typeof impl !== 'function') throw new Error(`service implementation has no method ${name}`);
    const bound = impl.bind(implementation);
    const factory = method.requestStream ? (method.responseStream ? factories.bidiStreaming : factories.clientStreaming) : method.responseStream ? factories.serverStreaming : factories.unary;
    const handler = factory(method, bound, undefined) as (call: object, ...rest: unknown[]) => unknown;
    handlers[name] = (
      method.requestStream
        ? (call: object, ...rest: unknown[]) => {
            limitReadAhead(call);
            return handler(call, ...rest);
          }
        : handler
    ) as Handler;
  }
  server.addService(definitions.toGrpcJsServiceDefinition(normalized), handlers);
}
