// JSON logs on stdout (winston), one object per line, the format every log pipeline in a cluster understands.
import winston from 'winston';

export type Logger = winston.Logger;

export function createLogger(component: string, level: string = process.env.LOG_LEVEL ?? 'info'): Logger {
  return winston.createLogger({
    level,
    defaultMeta: { component },
    format: winston.format.combine(winston.format.timestamp(), winston.format.errors({ stack: false }), winston.format.json()),
    transports: [new winston.transports.Console({ stderrLevels: [] })],
  });
}

/**
 * Logs a recurring problem at most once per interval per key, with how many were suppressed in between, so a
 * flood of bad input costs a log line a minute, not a log line per record. Counting is the metrics' job; this is
 * only for the human reading logs.
 */
export class RateLimitedLog {
  private readonly last = new Map<string, { at: number; suppressed: number }>();

  constructor(
    private readonly logger: Logger,
    private readonly intervalMs = 60_000,
    private readonly maxKeys = 1000,
  ) {}

  warn(key: string, message: string, meta: Record<string, unknown> = {}): void {
    this.log('warn', key, message, meta);
  }

  error(key: string, message: string, meta: Record<string, unknown> = {}): void {
    this.log('error', key, message, meta);
  }

  private log(level: 'warn' | 'error', key: string, message: string, meta: Record<string, unknown>): void {
    const now = Date.now();
    const entry = this.last.get(key);
    if (entry && now - entry.at < this.intervalMs) {
      entry.suppressed++;
      return;
    }
    if (!entry && this.last.size >= this.maxKeys) {
      // Bounded memory: forget the oldest key (Map keeps insertion order).
      const oldest = this.last.keys().next().value;
      if (oldest !== undefined) this.last.delete(oldest);
    }
    const suppressed = entry?.suppressed ?? 0;
    this.last.delete(key);
    this.last.set(key, { at: now, suppressed: 0 });
    this.logger.log(level, message, suppressed > 0 ? { ...meta, suppressedSinceLast: suppressed } : meta);
  }
}
