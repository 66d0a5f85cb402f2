// Named, counted events of the uplink (see STYLE.md): each both increments its metric and, where a human should
// know, logs (rate-limited when it can repeat per message). /metrics, the debug views and OperatorStats read the
// same counters.
import { Counter, Gauge, RateLimitedLog, type Logger, type Registry } from '@kestrel/core';
import type { RecordKind, StreamName } from './records.js';

export type DropReason = 'message_too_large' | 'no_stream_for_kind' | 'malformed_from_cloud';

export class UplinkEvents {
  readonly messagesSent: Counter<'stream'>;
  readonly bytesSent: Counter<'stream'>;
  readonly compressedBytesSent: Counter<'stream'>;
  readonly compressionFailures: Counter<'stream'>;
  readonly recordsSent: Counter<'kind'>;
  readonly messagesReplayed: Counter<'stream'>;
  readonly unconfirmed: Counter<'stream'>;
  readonly dropped: Counter<'reason' | 'kind'>;
  readonly streamFailures: Counter<'stream' | 'code'>;
  readonly streamOpen: Gauge<'stream'>;
  readonly fallbacks: Counter<'stream'>;
  readonly tokenRenewals: Counter<'result'>;
  readonly certificateRenewals: Counter<'result'>;
  readonly cloudMessages: Counter<'stream' | 'kind' | 'result'>;
  readonly operatorStatsSent: Counter;
  readonly credentialWrites: Counter<'what' | 'target' | 'result'>;
  private readonly rateLimited: RateLimitedLog;

  constructor(
    registry: Registry,
    private readonly logger: Logger,
  ) {
    const registers = [registry];
    this.messagesSent = new Counter({ name: 'kestrel_aggregator_uplink_messages_sent_total', help: 'Messages written to cloud streams (replays included)', labelNames: ['stream'], registers });
    this.bytesSent = new Counter({ name: 'kestrel_aggregator_uplink_message_bytes_sent_total', help: 'Protobuf bytes of messages written to cloud streams, before gRPC compression', labelNames: ['stream'], registers });
    this.compressedBytesSent = new Counter({ name: 'kestrel_aggregator_uplink_compressed_bytes_sent_total', help: 'Bytes of messages the uplink compressed itself (PodLogs), as written; the same messages count their protobuf size in message_bytes_sent', labelNames: ['stream'], registers });
    this.compressionFailures = new Counter({ name: 'kestrel_aggregator_uplink_compression_failures_total', help: 'PodLogs the uplink failed to compress (sent as they are, grpc-js compresses them)', labelNames: ['stream'], registers });
    this.recordsSent = new Counter({ name: 'kestrel_aggregator_uplink_records_sent_total', help: 'Records written to the cloud the first time (log lines for pod_logs)', labelNames: ['kind'], registers });
    this.messagesReplayed = new Counter({ name: 'kestrel_aggregator_uplink_messages_replayed_total', help: 'PodLogs messages written again after a broken stream (the receiver drops them by line number)', labelNames: ['stream'], registers });
    this.unconfirmed = new Counter({ name: 'kestrel_aggregator_uplink_messages_unconfirmed_total', help: 'Non-replayable messages written to a stream that broke before it proved alive afterwards (possibly lost)', labelNames: ['stream'], registers });
    this.dropped = new Counter({ name: 'kestrel_aggregator_uplink_messages_dropped_total', help: 'Messages the uplink could not send, by reason', labelNames: ['reason', 'kind'], registers });
    this.streamFailures = new Counter({ name: 'kestrel_aggregator_uplink_stream_failures_total', help: 'Cloud streams ended other than by a clean drain, by gRPC status', labelNames: ['stream', 'code'], registers });
    this.streamOpen = new Gauge({ name: 'kestrel_aggregator_uplink_stream_open', help: '1 while a cloud stream is open', labelNames: ['stream'], registers });
    this.fallbacks = new Counter({ name: 'kestrel_aggregator_uplink_fallbacks_total', help: 'Dedicated streams the cloud answered UNIMPLEMENTED; their records went to StreamData', labelNames: ['stream'], registers });
    this.tokenRenewals = new Counter({ name: 'kestrel_aggregator_uplink_token_renewals_total', help: 'RenewClusterToken calls by result', labelNames: ['result'], registers });
    this.certificateRenewals = new Counter({ name: 'kestrel_aggregator_uplink_certificate_renewals_total', help: 'CertificateRenewalRequests from the cloud by result', labelNames: ['result'], registers });
    this.cloudMessages = new Counter({ name: 'kestrel_aggregator_uplink_cloud_messages_total', help: 'Messages received from the cloud, by kind and what was done', labelNames: ['stream', 'kind', 'result'], registers });
    this.operatorStatsSent = new Counter({ name: 'kestrel_aggregator_uplink_operator_stats_sent_total', help: 'OperatorStats messages queued for StreamData', registers });
    this.credentialWrites = new Counter({ name: 'kestrel_aggregator_uplink_credential_writes_total', help: 'Renewed credentials written back (file or Secret), by result', labelNames: ['what', 'target', 'result'], registers });
    this.rateLimited = new RateLimitedLog(logger);
  }

  streamOpened(stream: StreamName, generation: number): void {
    this.streamOpen.set({ stream }, 1);
    this.logger.info('cloud stream open', { stream, connection: generation });
  }

  streamClosed(stream: StreamName): void {
    this.streamOpen.set({ stream }, 0);
  }

  streamFailed(stream: StreamName, code: string, error: string, attempt: number, retryInMs: number, replaying: number): void {
    this.streamFailures.inc({ stream, code });
    this.logger.warn('cloud stream failed; reconnecting with backoff', { stream, code, error, attempt, retryInMs, replaying });
  }

  streamSilent(stream: StreamName, silentMs: number): void {
    this.logger.warn('cloud stream silent (no heartbeat or data); treating it and its connection as dead', { stream, silentMs });
  }

  streamDrained(stream: StreamName, confirmed: number): void {
    this.logger.info('cloud stream drained and closed cleanly', { stream, confirmed });
  }

  fallback(stream: StreamName, moved: number): void {
    this.fallbacks.inc({ stream });
    this.logger.warn('the cloud does not implement this stream; its records go to StreamData', { stream, moved });
  }

  fallbackEnded(stream: StreamName): void {
    this.logger.info('retrying the dedicated stream on the new connection', { stream });
  }

  compressionFailed(stream: StreamName, err: unknown): void {
    this.compressionFailures.inc({ stream });
    this.rateLimited.error(`compress:${stream}`, 'uplink could not compress a message; it is sent uncompressed', { stream, error: err instanceof Error ? err.message : String(err) });
  }

  messageDropped(reason: DropReason, kind: RecordKind | 'unknown', detail: string): void {
    this.dropped.inc({ reason, kind });
    this.rateLimited.error(`drop:${reason}:${kind}`, 'uplink message dropped', { reason, kind, detail });
  }

  tokenRenewed(expiresAt: Date | undefined, nextRenewalAt: Date): void {
    this.tokenRenewals.inc({ result: 'ok' });
    this.logger.info('cluster token renewed', { expiresAt: expiresAt?.toISOString(), nextRenewalAt: nextRenewalAt.toISOString() });
  }

  tokenRenewalFailed(error: string, attempt: number, retryInMs: number, expired: boolean): void {
    this.tokenRenewals.inc({ result: 'failed' });
    if (expired) {
      this.logger.error('cluster token expired and could not be renewed; streams cannot authenticate until a valid token is in place (onboard the cluster again or put a new token in the token Secret/file)', { error, attempt, retryInMs });
    } else {
      this.logger.warn('cluster token renewal failed; retrying with backoff', { error, attempt, retryInMs });
    }
  }

  tokenRejected(stream: StreamName, details: string): void {
    this.logger.warn('the cloud rejected the cluster token; renewing it before reconnecting', { stream, details });
  }

  tokenFromFile(reason: string): void {
    this.logger.info('using the cluster token from the token file', { reason });
  }

  credentialWritten(what: 'token' | 'certificate', target: string): void {
    this.credentialWrites.inc({ what, target, result: 'ok' });
    this.logger.info('renewed credentials written', { what, target });
  }

  credentialWriteFailed(what: 'token' | 'certificate', target: string, error: string): void {
    this.credentialWrites.inc({ what, target, result: 'failed' });
    this.logger.error('could not write renewed credentials; a restart would use the older ones', { what, target, error });
  }

  certificateApplied(requestId: string, subject: string, notAfter: Date): void {
    this.certificateRenewals.inc({ result: 'applied' });
    this.logger.info('client certificate renewed by the cloud; new streams use it', { requestId, subject, notAfter: notAfter.toISOString() });
  }

  certificateRefused(requestId: string, error: string): void {
    this.certificateRenewals.inc({ result: 'refused' });
    this.logger.error('certificate renewal from the cloud not applied', { requestId, error });
  }

  cloudMessage(stream: StreamName, kind: string, result: 'handled' | 'answered_unsupported' | 'unsupported_no_answer' | 'unknown' | 'malformed' | 'handler_failed', detail = ''): void {
    this.cloudMessages.inc({ stream, kind, result });
    if (result === 'handled') return;
    this.rateLimited.warn(`cloud:${stream}:${kind}:${result}`, 'message from the cloud not handled by this operator version', { stream, kind, result, detail });
  }
}
