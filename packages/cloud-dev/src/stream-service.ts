// cloud.v1.StreamService: the five bidirectional streams an operator keeps open. Each authenticates its caller,
// writes every request message to the record store as one JSON line, and sends a Heartbeat right away and then
// every heartbeat interval (the cloud's only message on the flows/events/logs streams; it keeps load balancers
// from idling the streams out).
import type * as grpc from '@grpc/grpc-js';
import {
  StreamControlRequest,
  StreamDataRequest,
  StreamEventsRequest,
  StreamFlowsRequest,
  StreamLogsRequest,
  type Heartbeat,
  type StreamServiceDefinition,
} from '@kestrel/proto/cloud/v1';
import { CallAuthenticator, CallRefused } from './call-auth.js';
import type { CloudDevEvents, StreamCallInfo } from './events.js';
import { bidiCall, untilAborted, type BidiHandler } from './grpc-handlers.js';
import { CALL_REFUSALS } from './refusals.js';
import type { RecordStore, StoredLine, StreamName } from './record-store.js';
import { toStoredJson } from './stored-json.js';

export interface StreamServiceDeps {
  auth: CallAuthenticator;
  store: RecordStore;
  events: CloudDevEvents;
  heartbeatIntervalMs: number;
  /** Aborted at shutdown: every open stream ends with UNAVAILABLE so clients reconnect elsewhere or later. */
  stopSignal: AbortSignal;
}

/** Every StreamService response type has a `heartbeat` case in its `response` oneof. */
interface HeartbeatResponse {
  response: { $case: 'heartbeat'; value: Heartbeat };
}

interface RequestJson<Req> {
  toJSON(message: Req): unknown;
}

export function streamServiceImplementation(deps: StreamServiceDeps): grpc.UntypedServiceImplementation {
  const hooks = { onUnexpected: (err: unknown) => deps.events.unexpected(err, { service: 'StreamService' }) };
  let lastCallId = 0;
  const nextCallId = () => ++lastCallId;
  const implementation = {
    streamData: bidiCall(recordingStream('data', 'StreamData', StreamDataRequest, deps, nextCallId), hooks),
    streamControl: bidiCall(recordingStream('control', 'StreamControl', StreamControlRequest, deps, nextCallId), hooks),
    streamFlows: bidiCall(recordingStream('flows', 'StreamFlows', StreamFlowsRequest, deps, nextCallId), hooks),
    streamEvents: bidiCall(recordingStream('events', 'StreamEvents', StreamEventsRequest, deps, nextCallId), hooks),
    streamLogs: bidiCall(recordingStream('logs', 'StreamLogs', StreamLogsRequest, deps, nextCallId), hooks),
  } satisfies Record<keyof StreamServiceDefinition['methods'], unknown>;
  return implementation;
}

function recordingStream<Req>(
  stream: StreamName,
  method: string,
  requestType: RequestJson<Req>,
  deps: StreamServiceDeps,
  nextCallId: () => number,
): BidiHandler<Req, HeartbeatResponse> {
  return async (requests, responses, context) => {
    let claims;
    try {
      claims = await deps.auth.authenticate(context);
    } catch (err) {
      if (err instanceof CallRefused) deps.events.refused(err.refusal, { method, peer: context.peer });
      throw err;
    }
    if (deps.stopSignal.aborted) throw new CallRefused(CALL_REFUSALS.shuttingDown);

    const call: StreamCallInfo = {
      callId: nextCallId(),
      stream,
      connectionId: context.peer,
      clusterId: claims.sub,
      tenant: claims.tenant,
      openedAt: Date.now(),
      messages: 0,
    };
    deps.events.streamOpened(call);

    const sendHeartbeat = () => deps.events.heartbeat(responses.trySend(heartbeat()));
    sendHeartbeat();
    const timer = setInterval(sendHeartbeat, deps.heartbeatIntervalMs);
    const done = AbortSignal.any([context.signal, deps.stopSignal]);
    let failed = false;
    try {
      for await (const request of untilAborted(requests, done)) {
        call.messages++;
        deps.events.messageReceived(stream);
        const line: StoredLine = {
          receivedAt: new Date().toISOString(),
          stream,
          connectionId: call.connectionId,
          callId: call.callId,
          clusterId: call.clusterId,
          tenant: call.tenant,
          message: toStoredJson(requestType, request),
        };
        const bufferFull = deps.store.append(stream, JSON.stringify(line));
        // Backpressure: stop reading this stream until the store has caught up.
        if (bufferFull) await bufferFull;
      }
    } catch (err) {
      // A cancelled call's stream is destroyed under the reader; that is the client leaving, not a failure.
      if (!context.signal.aborted) {
        failed = true;
        throw err;
      }
    } finally {
      clearInterval(timer);
      const how = failed ? 'failed' : context.signal.aborted ? 'client cancelled' : deps.stopSignal.aborted ? 'server shutdown' : 'client closed';
      deps.events.streamEnded(call, how);
    }
    if (deps.stopSignal.aborted && !context.signal.aborted) throw new CallRefused(CALL_REFUSALS.shuttingDown);
  };
}

function heartbeat(): HeartbeatResponse {
  const now = Date.now();
  return { response: { $case: 'heartbeat', value: { timestamp: { seconds: Math.floor(now / 1000), nanos: (now % 1000) * 1_000_000 } } } };
}
