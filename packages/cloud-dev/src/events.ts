// Everything worth knowing that happens in cloud-dev, as named events that both count and log, so a refusal or a
// dropped line is never only a log line or only a number. The counts feed the periodic summary log and
// summary.json.
import { RateLimitedLog, type Logger } from '@kestrel/core';
import type { Refusal } from './refusals.js';
import { perStream, STREAM_NAMES, type PerStream, type StreamName } from './record-store.js';

export interface StreamCallInfo {
  callId: number;
  stream: StreamName;
  connectionId: string;
  clusterId: string;
  tenant: string;
  openedAt: number;
  messages: number;
}

export interface CloudDevCounts {
  /** Messages read per stream since start. */
  received: PerStream<number>;
  /** Stream calls currently open, per stream. */
  openStreams: PerStream<number>;
  /** Stream calls accepted since start, per stream. */
  streamsOpened: PerStream<number>;
  /** Refused calls and connections since start, by refusal message. */
  refusals: Record<string, number>;
  tokensIssued: number;
  heartbeatsSent: number;
  /** Heartbeats not sent because the client was not reading. */
  heartbeatsSkipped: number;
  tlsHandshakeFailures: number;
  /** Connections cut by `cloud-dev drop-connections`. */
  connectionsDropped: number;
  /** Streams the cloud ended itself (a switch, an expired or revoked token), by status message. */
  streamsEnded: Record<string, number>;
  /** CertificateRenewalResponses whose request_id no rotation was waiting for. */
  unexpectedRenewalResponses: number;
}

export class CloudDevEvents {
  private readonly counts: CloudDevCounts = {
    received: perStream(() => 0),
    openStreams: perStream(() => 0),
    streamsOpened: perStream(() => 0),
    refusals: {},
    tokensIssued: 0,
    heartbeatsSent: 0,
    heartbeatsSkipped: 0,
    tlsHandshakeFailures: 0,
    connectionsDropped: 0,
    streamsEnded: {},
    unexpectedRenewalResponses: 0,
  };
  private readonly rateLimited: RateLimitedLog;

  constructor(private readonly logger: Logger) {
    this.rateLimited = new RateLimitedLog(logger, 10_000);
  }

  snapshot(): CloudDevCounts {
    return structuredClone(this.counts);
  }

  listening(address: string): void {
    // The line tests and other processes wait for: {"msg":"listening","address":"127.0.0.1:NNNN", …}.
    this.logger.info('listening', { msg: 'listening', address });
  }

  stopping(reason: string): void {
    this.logger.info('stopping', { reason });
  }

  streamOpened(call: StreamCallInfo): void {
    this.counts.openStreams[call.stream]++;
    this.counts.streamsOpened[call.stream]++;
    this.logger.info('stream opened', { ...describeCall(call) });
  }

  messageReceived(stream: StreamName): void {
    this.counts.received[stream]++;
  }

  streamEnded(call: StreamCallInfo, how: 'client closed' | 'client cancelled' | 'server shutdown' | 'failed' | 'ended by the cloud'): void {
    this.counts.openStreams[call.stream]--;
    this.logger.info('stream ended', { ...describeCall(call), how, messages: call.messages, durationMs: Date.now() - call.openedAt });
  }

  heartbeat(sent: boolean): void {
    if (sent) this.counts.heartbeatsSent++;
    else this.counts.heartbeatsSkipped++;
  }

  /** A call or a connection refused; rate-limited per reason, since a misconfigured client retries in a loop. */
  refused(refusal: Refusal, facts: { method?: string; peer?: string; detail?: string }): void {
    this.counts.refusals[refusal.message] = (this.counts.refusals[refusal.message] ?? 0) + 1;
    this.rateLimited.warn(`refused:${refusal.message}`, 'refused', { reason: refusal.message, code: refusal.code, ...facts });
  }

  tokenIssued(kind: 'onboarding' | 'renewal', clusterId: string, expiresInSeconds: number): void {
    this.counts.tokensIssued++;
    this.logger.info('token issued', { kind, clusterId, expiresInSeconds });
  }

  /** The cloud ended a stream with a status of its own (switch turned on, token expired or revoked). */
  streamEndedByCloud(call: StreamCallInfo, refusal: Refusal): void {
    this.counts.streamsEnded[refusal.message] = (this.counts.streamsEnded[refusal.message] ?? 0) + 1;
    this.logger.info('stream ended by the cloud', { ...describeCall(call), code: refusal.code, reason: refusal.message });
  }

  connectionsDropped(count: number): void {
    this.counts.connectionsDropped += count;
    this.logger.info('connections dropped', { count });
  }

  controlsChanged(change: Record<string, unknown>): void {
    this.logger.info('controls changed', change);
  }

  certificateRenewalRequested(clusterId: string, requestId: string, stream: string, serialNumber: string): void {
    this.logger.info('certificate renewal requested', { clusterId, requestId, stream, serialNumber });
  }

  certificateRenewalAnswered(clusterId: string, requestId: string, success: boolean, errorMessage: string): void {
    this.logger.log(success ? 'info' : 'warn', 'certificate renewal answered', { clusterId, requestId, success, errorMessage });
  }

  unexpectedRenewalResponse(requestId: string): void {
    this.counts.unexpectedRenewalResponses++;
    this.rateLimited.warn('unexpected-renewal-response', 'CertificateRenewalResponse for no pending request', { requestId });
  }

  tlsHandshakeFailed(err: Error, peer: string | undefined): void {
    this.counts.tlsHandshakeFailures++;
    this.rateLimited.warn(`tls:${err.message}`, 'TLS handshake failed', { error: err.message, peer });
  }

  writeFailed(file: string, err: unknown, droppedLines: number): void {
    this.rateLimited.error(`write:${file}`, 'store write failed', { file, error: String(err), droppedLines });
  }

  /** A bug: a handler failed with something other than a refusal. */
  unexpected(err: unknown, context: Record<string, unknown> = {}): void {
    this.rateLimited.error(`unexpected:${String(err)}`, 'unexpected error', { ...context, error: err instanceof Error ? err.stack : String(err) });
  }

  /** The periodic summary line (and the last one at shutdown). */
  logSummary(stored: PerStream<number>, droppedMessages: number, extra: Record<string, unknown> = {}): void {
    const c = this.counts;
    this.logger.info('summary', {
      received: c.received,
      stored,
      droppedMessages,
      openStreams: c.openStreams,
      streamsOpened: STREAM_NAMES.reduce((sum, s) => sum + c.streamsOpened[s], 0),
      refusals: c.refusals,
      tokensIssued: c.tokensIssued,
      heartbeatsSent: c.heartbeatsSent,
      heartbeatsSkipped: c.heartbeatsSkipped,
      tlsHandshakeFailures: c.tlsHandshakeFailures,
      connectionsDropped: c.connectionsDropped,
      streamsEnded: c.streamsEnded,
      ...extra,
    });
  }
}

const describeCall = (call: StreamCallInfo) => ({
  callId: call.callId,
  stream: call.stream,
  connectionId: call.connectionId,
  clusterId: call.clusterId,
  tenant: call.tenant,
});
