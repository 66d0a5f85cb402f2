// cloud.v1.StreamService: the five bidirectional streams an operator keeps open. Each authenticates its caller,
// writes every request message to the record store as one JSON line, and sends a Heartbeat right away and then
// every heartbeat interval (the cloud's only message on the flows/events/logs streams; it keeps load balancers
// from idling the streams out).
//
// What the controls (controls.ts) change: a stream switched to UNIMPLEMENTED answers as a cloud without that method
// (before authentication, as a real server's method lookup would); a revoked token or certificate is refused; with
// enforceTokenExpiry a stream ends with UNAUTHENTICATED when the token it was opened with expires. PodLogs (on
// StreamLogs or as StreamData.pod_logs) go through the replay filter (log-replays.ts) before the store, and a
// CertificateRenewalResponse (StreamControl or StreamData) is handed to the rotation that waits for it.
import type * as grpc from '@grpc/grpc-js';
import {
  StreamControlRequest,
  StreamDataRequest,
  StreamEventsRequest,
  StreamFlowsRequest,
  StreamLogsRequest,
  type CertificateRenewalResponse,
  type Heartbeat,
  type PodLogs,
  type StreamServiceDefinition,
} from '@kestrel/proto/cloud/v1';
import { CallAuthenticator, CallRefused } from './call-auth.js';
import type { CertificateRotation } from './cert-rotation.js';
import { ANSWER_KINDS, type RequestConsole } from './request-console.js';
import type { CloudControls } from './controls.js';
import type { CloudDevEvents, StreamCallInfo } from './events.js';
import { bidiCall, untilAborted, type BidiHandler } from './grpc-handlers.js';
import type { LogReplayFilter } from './log-replays.js';
import type { OpenStreams } from './open-streams.js';
import { CALL_REFUSALS, CLIENT_CERTIFICATE_REFUSALS, tokenRefusal, unimplementedRefusal, type Refusal } from './refusals.js';
import type { RecordStore, StoredLine, StreamName } from './record-store.js';
import { toStoredJson } from './stored-json.js';

export interface StreamServiceDeps {
  auth: CallAuthenticator;
  store: RecordStore;
  events: CloudDevEvents;
  heartbeatIntervalMs: number;
  /** Aborted at shutdown: every open stream ends with UNAVAILABLE so clients reconnect elsewhere or later. */
  stopSignal: AbortSignal;
  controls: CloudControls;
  openStreams: OpenStreams;
  replays: LogReplayFilter;
  rotation: CertificateRotation;
  console: RequestConsole;
}

/** Every StreamService response type has a `heartbeat` case in its `response` oneof. */
interface HeartbeatResponse {
  response: { $case: 'heartbeat'; value: Heartbeat };
}

interface RequestJson<Req> {
  toJSON(message: Req): unknown;
}

/** The request oneof every StreamService request type has; the cases this file looks at. */
type AnyRequest = { request?: { $case: string; value: unknown } | undefined };

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

function recordingStream<Req extends AnyRequest>(
  stream: StreamName,
  method: string,
  requestType: RequestJson<Req>,
  deps: StreamServiceDeps,
  nextCallId: () => number,
): BidiHandler<Req, HeartbeatResponse> {
  const refuse = (refusal: Refusal, peer: string): never => {
    deps.events.refused(refusal, { method, peer });
    throw new CallRefused(refusal);
  };
  return async (requests, responses, context) => {
    if (deps.controls.unimplemented.has(stream)) refuse(unimplementedRefusal(`/cloud.v1.StreamService/${method}`), context.peer);
    let claims;
    try {
      claims = await deps.auth.authenticate(context);
    } catch (err) {
      if (err instanceof CallRefused) deps.events.refused(err.refusal, { method, peer: context.peer });
      throw err;
    }
    const fingerprint = context.verifiedClientCertificate?.fingerprint256;
    if (fingerprint && deps.controls.revokedCertificates.has(fingerprint)) refuse(CLIENT_CERTIFICATE_REFUSALS.revoked, context.peer);
    if (deps.controls.isTokenRevoked(claims.iat)) refuse(CALL_REFUSALS.tokenRevoked, context.peer);
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

    // The cloud can end this stream itself (a switch, the token expiring or being revoked).
    const ended = new AbortController();
    let endedWith: Refusal | undefined;
    deps.openStreams.add({
      callId: call.callId,
      stream,
      clusterId: claims.sub,
      tenant: claims.tenant,
      tokenIssuedAt: claims.iat,
      certificateFingerprint: fingerprint,
      push: (message) => responses.push(message as HeartbeatResponse),
      end(refusal) {
        endedWith ??= refusal;
        ended.abort();
      },
    });
    let expiry: NodeJS.Timeout | undefined;
    if (deps.controls.enforceTokenExpiry) {
      // setTimeout's limit is about 24.8 days; longer-lived tokens are not enforced on open streams.
      const inMs = Math.max(0, claims.exp * 1000 - Date.now());
      if (inMs < 2 ** 31 - 1) {
        expiry = setTimeout(() => {
          endedWith ??= tokenRefusal('bearer token', 'expired');
          ended.abort();
        }, inMs);
      }
    }

    const sendHeartbeat = () => deps.events.heartbeat(responses.trySend(heartbeat()));
    sendHeartbeat();
    const timer = setInterval(sendHeartbeat, deps.heartbeatIntervalMs);
    const done = AbortSignal.any([context.signal, deps.stopSignal, ended.signal]);
    let failed = false;
    try {
      for await (const received of untilAborted(requests, done)) {
        call.messages++;
        deps.events.messageReceived(stream);
        const request = admit(received, deps);
        if (request === undefined) continue; // every entry was a replay
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
      clearTimeout(expiry);
      deps.openStreams.remove(call.callId);
      const how = failed ? 'failed' : context.signal.aborted ? 'client cancelled' : deps.stopSignal.aborted ? 'server shutdown' : endedWith ? 'ended by the cloud' : 'client closed';
      deps.events.streamEnded(call, how);
    }
    if (deps.stopSignal.aborted && !context.signal.aborted) throw new CallRefused(CALL_REFUSALS.shuttingDown);
    if (endedWith && !context.signal.aborted) {
      deps.events.streamEndedByCloud(call, endedWith);
      throw new CallRefused(endedWith);
    }
  };
}

/**
 * What of a received message goes to the store: PodLogs without the entries already stored (undefined when nothing
 * is left); a CertificateRenewalResponse is also handed to the rotation waiting for it.
 */
function admit<Req extends AnyRequest>(request: Req, deps: StreamServiceDeps): Req | undefined {
  const oneof = request.request;
  if (oneof?.$case === 'podLogs') {
    const verdict = deps.replays.admit(oneof.value as PodLogs);
    if (verdict.keep === undefined) return undefined;
    if (verdict.replayed > 0) return { ...request, request: { $case: 'podLogs', value: verdict.keep } };
  } else if (oneof?.$case === 'certificateRenewalResponse') {
    const response = oneof.value as CertificateRenewalResponse;
    if (!deps.rotation.responded(response)) deps.events.unexpectedRenewalResponse(response.requestId);
  } else if (oneof && ANSWER_KINDS.has(oneof.$case)) {
    deps.console.responded(oneof as { $case: string; value: unknown });
  }
  return request;
}

function heartbeat(): HeartbeatResponse {
  const now = Date.now();
  return { response: { $case: 'heartbeat', value: { timestamp: { seconds: Math.floor(now / 1000), nanos: (now % 1000) * 1_000_000 } } } };
}
