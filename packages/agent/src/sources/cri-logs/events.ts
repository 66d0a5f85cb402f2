// Every thing worth knowing about container log collection is one named event here, which counts it in
// /metrics and, for problems, logs it (rate-limited). Code in this source reports through these, nowhere else.
import { Counter, Gauge, RateLimitedLog, type Logger, type Registry } from '@kestrel/core';
import type { ContainerLogIdentity } from './pod-path.js';

export class CriLogEvents {
  private readonly lines: Counter<'namespace'>;
  private readonly bytes: Counter<'namespace'>;
  private readonly parseErrors: Counter<'namespace'>;
  private readonly truncations: Counter<'namespace'>;
  private readonly truncatedFiles: Counter<'namespace'>;
  private readonly lostBytes: Counter<'namespace' | 'reason'>;
  private readonly rotations: Counter;
  private readonly checkpointErrors: Counter<'kind'>;
  readonly filesTracked: Gauge;
  private readonly log: RateLimitedLog;

  constructor(registry: Registry, logger: Logger) {
    const registers = [registry];
    this.lines = new Counter({ name: 'kestrel_agent_log_lines_read_total', help: 'Log lines read from container log files', labelNames: ['namespace'], registers });
    this.bytes = new Counter({ name: 'kestrel_agent_log_bytes_read_total', help: 'Bytes of container log files read', labelNames: ['namespace'], registers });
    this.parseErrors = new Counter({ name: 'kestrel_agent_log_parse_errors_total', help: 'Records that matched no log format (forwarded raw)', labelNames: ['namespace'], registers });
    this.truncations = new Counter({ name: 'kestrel_agent_log_truncations_total', help: 'Messages cut at the maximum message size', labelNames: ['namespace'], registers });
    this.truncatedFiles = new Counter({ name: 'kestrel_agent_log_files_truncated_total', help: 'Files that shrank while followed (restarted from 0)', labelNames: ['namespace'], registers });
    this.lostBytes = new Counter({ name: 'kestrel_agent_log_bytes_lost_total', help: 'Bytes deleted or truncated before they were read', labelNames: ['namespace', 'reason'], registers });
    this.rotations = new Counter({ name: 'kestrel_agent_log_rotations_total', help: 'Log files seen rotated away or deleted', registers });
    this.checkpointErrors = new Counter({ name: 'kestrel_agent_checkpoint_errors_total', help: 'Checkpoint state that could not be read or written', labelNames: ['kind'], registers });
    this.filesTracked = new Gauge({ name: 'kestrel_agent_log_files_tracked', help: 'Container log files currently followed', registers });
    this.log = new RateLimitedLog(logger);
  }

  linesRead(c: ContainerLogIdentity, count: number, bytes: number): void {
    this.lines.inc({ namespace: c.namespace }, count);
    this.bytes.inc({ namespace: c.namespace }, bytes);
  }

  parseError(c: ContainerLogIdentity): void {
    this.parseErrors.inc({ namespace: c.namespace });
    this.log.warn(`parse:${c.podUid}/${c.containerName}`, 'log record matches no known format; forwarded as raw text', { ...c });
  }

  truncation(c: ContainerLogIdentity): void {
    this.truncations.inc({ namespace: c.namespace });
  }

  truncated(c: ContainerLogIdentity, unreadBytes: number): void {
    this.truncatedFiles.inc({ namespace: c.namespace });
    if (unreadBytes > 0) this.lostBytes.inc({ namespace: c.namespace, reason: 'truncated' }, unreadBytes);
    this.log.warn(`truncated:${c.podUid}/${c.containerName}`, 'log file shrank while followed; reading it again from the start', { ...c, unreadBytes });
  }

  rotated(): void {
    this.rotations.inc();
  }

  checkpointError(kind: 'read' | 'write', err: unknown): void {
    this.checkpointErrors.inc({ kind });
    this.log.error(`checkpoint:${kind}`, `checkpoint state could not be ${kind === 'read' ? 'read' : 'written'}`, { error: String(err) });
  }
}
