// Every thing worth knowing about container log collection is one named event here, which counts it in
// /metrics and, for problems, logs it. Code in this source reports through these, nowhere else; the debug views
// read the same figures.
import { Counter, Gauge, RateLimitedLog, type Logger, type Registry } from '@kestrel/core';
import type { ContainerIdentity, ContainerLogIdentity } from './pod-path.js';

export type LossReason = 'deleted_before_read' | 'truncated' | 'unreadable';

export interface LossRecord {
  at: string;
  namespace: string;
  pod: string;
  container: string;
  restartCount: number;
  file: string;
  bytes: number;
  reason: LossReason;
}

/** How many recent losses the debug view keeps. */
const RECENT_LOSSES = 100;

export class CriLogEvents {
  private readonly lines: Counter<'namespace'>;
  private readonly bytes: Counter<'namespace'>;
  private readonly parseErrors: Counter<'namespace'>;
  private readonly truncations: Counter<'namespace'>;
  private readonly truncatedFiles: Counter<'namespace'>;
  private readonly lostBytes: Counter<'namespace' | 'pod' | 'container' | 'reason'>;
  private readonly lostFiles: Counter<'reason'>;
  private readonly rotations: Counter<'kind'>;
  private readonly dropped: Counter<'namespace' | 'reason'>;
  private readonly checkpointErrors: Counter<'kind'>;
  private readonly watchErrors: Counter;
  readonly filesTracked: Gauge;
  readonly containersTracked: Gauge;
  private readonly log: RateLimitedLog;
  /** Totals since start, for the debug views. */
  readonly totals = { lostBytes: 0, lostFiles: 0, parseErrors: 0, truncatedFiles: 0, rotations: 0, dropped: 0 };
  readonly recentLosses: LossRecord[] = [];

  constructor(
    registry: Registry,
    private readonly logger: Logger,
  ) {
    const registers = [registry];
    this.lines = new Counter({ name: 'kestrel_agent_log_lines_read_total', help: 'Log lines read from container log files (a joined or grouped message counts once)', labelNames: ['namespace'], registers });
    this.bytes = new Counter({ name: 'kestrel_agent_log_bytes_read_total', help: 'Bytes of container log files read (uncompressed)', labelNames: ['namespace'], registers });
    this.parseErrors = new Counter({ name: 'kestrel_agent_log_parse_errors_total', help: 'Records that matched no log format (forwarded raw, flagged)', labelNames: ['namespace'], registers });
    this.truncations = new Counter({ name: 'kestrel_agent_log_truncations_total', help: 'Messages cut into pieces at the maximum message size', labelNames: ['namespace'], registers });
    this.truncatedFiles = new Counter({ name: 'kestrel_agent_log_files_truncated_total', help: 'Files that shrank while followed (read again from 0)', labelNames: ['namespace'], registers });
    this.lostBytes = new Counter({ name: 'kestrel_agent_log_bytes_lost_total', help: 'Bytes of container logs deleted, truncated or unreadable before they were read', labelNames: ['namespace', 'pod', 'container', 'reason'], registers });
    this.lostFiles = new Counter({ name: 'kestrel_agent_log_files_lost_total', help: 'Log files (or their ends) lost before they were read', labelNames: ['reason'], registers });
    this.rotations = new Counter({ name: 'kestrel_agent_log_rotations_total', help: 'Log file rotations seen: renamed, replaced, compressed, deleted', labelNames: ['kind'], registers });
    this.dropped = new Counter({ name: 'kestrel_agent_log_lines_dropped_total', help: 'Log lines dropped on purpose (per-container rate limit)', labelNames: ['namespace', 'reason'], registers });
    this.checkpointErrors = new Counter({ name: 'kestrel_agent_checkpoint_errors_total', help: 'Checkpoint state that could not be read or written', labelNames: ['kind'], registers });
    this.watchErrors = new Counter({ name: 'kestrel_agent_log_watch_errors_total', help: 'Folders that could not be watched for changes (polled instead)', registers });
    const tracked = () => this.tracked();
    this.filesTracked = new Gauge({
      name: 'kestrel_agent_log_files_tracked',
      help: 'Container log files tracked (followed, queued, or read and kept for their identity)',
      registers,
      collect() {
        this.set(tracked().files);
      },
    });
    this.containersTracked = new Gauge({
      name: 'kestrel_agent_log_containers_tracked',
      help: 'Container instances whose logs are tracked',
      registers,
      collect() {
        this.set(tracked().containers);
      },
    });
    this.log = new RateLimitedLog(logger);
  }

  private tracked: () => { files: number; containers: number } = () => ({ files: 0, containers: 0 });

  /** Where the tracked gauges read their values when /metrics is scraped. */
  trackedBy(fn: () => { files: number; containers: number }): void {
    this.tracked = fn;
  }

  read(c: ContainerIdentity, lines: number, bytes: number): void {
    if (lines > 0) this.lines.inc({ namespace: c.namespace }, lines);
    if (bytes > 0) this.bytes.inc({ namespace: c.namespace }, bytes);
  }

  parseError(c: ContainerIdentity): void {
    this.parseErrors.inc({ namespace: c.namespace });
    this.totals.parseErrors++;
    this.log.warn(`parse:${c.podUid}/${c.containerName}`, 'log record matches no known format; forwarded as raw text', { namespace: c.namespace, pod: c.podName, container: c.containerName });
  }

  truncation(c: ContainerIdentity): void {
    this.truncations.inc({ namespace: c.namespace });
  }

  fileTruncated(c: ContainerLogIdentity, path: string, unreadBytes: number): void {
    this.truncatedFiles.inc({ namespace: c.namespace });
    this.totals.truncatedFiles++;
    this.log.warn(`truncated:${c.podUid}/${c.containerName}`, 'log file shrank while followed; reading it again from the start', { namespace: c.namespace, pod: c.podName, container: c.containerName, file: path, unreadBytes });
    if (unreadBytes > 0) this.lost(c, path, unreadBytes, 'truncated');
  }

  /** Log data that can no longer be read. Every loss is logged (they are rare, and each one matters). */
  lost(c: ContainerLogIdentity, path: string, bytes: number, reason: LossReason): void {
    this.lostFiles.inc({ reason });
    this.totals.lostFiles++;
    if (bytes > 0) {
      this.lostBytes.inc({ namespace: c.namespace, pod: c.podName, container: c.containerName, reason }, bytes);
      this.totals.lostBytes += bytes;
    }
    const record: LossRecord = { at: new Date().toISOString(), namespace: c.namespace, pod: c.podName, container: c.containerName, restartCount: c.restartCount, file: path, bytes, reason };
    this.recentLosses.push(record);
    if (this.recentLosses.length > RECENT_LOSSES) this.recentLosses.shift();
    this.logger.warn('log data lost before it was read', { ...record });
  }

  rotated(kind: 'renamed' | 'replaced' | 'compressed' | 'deleted'): void {
    this.rotations.inc({ kind });
    this.totals.rotations++;
  }

  rateLimited(c: ContainerIdentity, lines: number): void {
    this.dropped.inc({ namespace: c.namespace, reason: 'rate_limit' }, lines);
    this.totals.dropped += lines;
    this.log.warn(`rate:${c.podUid}/${c.containerName}`, 'container writes more lines than its rate limit; dropping (counted)', { namespace: c.namespace, pod: c.podName, container: c.containerName });
  }

  watchFailed(dir: string, err: unknown): void {
    this.watchErrors.inc();
    this.log.warn(`watch:${dir}`, 'cannot watch a log folder for changes; polling it instead', { dir, error: String(err) });
  }

  checkpointError(kind: 'read' | 'write', err: unknown): void {
    this.checkpointErrors.inc({ kind });
    this.log.error(`checkpoint:${kind}`, `checkpoint state could not be ${kind === 'read' ? 'read' : 'written'}`, { error: String(err) });
  }

  info(message: string, meta: Record<string, unknown>): void {
    this.logger.info(message, meta);
  }

  error(key: string, message: string, meta: Record<string, unknown>): void {
    this.log.error(key, message, meta);
  }
}
