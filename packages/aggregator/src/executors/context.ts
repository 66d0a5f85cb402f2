// What every executor is given: settings, the checked API reader, the limits, the audit. Built once in index.ts.
import type { ApiReader } from './api-reader.js';
import type { ExecutorsConfig } from './config.js';
import type { AuditItem, ExecutorEvents } from './events.js';
import type { MinuteRateLimit, Semaphore } from './limits.js';
import { refuse, type Refusal } from './refusal.js';

export interface ExecutorContext {
  config: ExecutorsConfig;
  reader: ApiReader;
  apiCalls: Semaphore;
  commands: Semaphore;
  rateLimit: MinuteRateLimit;
  events: ExecutorEvents;
  now: () => number;
}

/** The checks every request gets before its items: the answer's global_error_message when it fails them. */
export function malformed(config: ExecutorsConfig, requestId: string, items: readonly unknown[], what: string): string | undefined {
  if (typeof requestId !== 'string' || requestId.trim() === '') return 'malformed request: request_id is missing';
  if (requestId.length > 256) return 'malformed request: request_id is longer than 256 characters';
  if (!Array.isArray(items) || items.length === 0) return `malformed request: no ${what}`;
  if (items.length > config.maxItemsPerRequest) return `malformed request: ${items.length} ${what}, more than the ${config.maxItemsPerRequest} one request may carry; split it`;
  return undefined;
}

/** Takes a token for one item, or says how long to wait. */
export function rateLimited(ctx: ExecutorContext): Refusal | undefined {
  const taken = ctx.rateLimit.take();
  if (taken.ok) return undefined;
  return refuse('rate_limited', `more than ${ctx.config.itemsPerMinute} items per minute; retry in ${Math.ceil(taken.retryAfterMs / 1000)}s`);
}

/** The audit item of a refused or rate-limited item. */
export function refusedItem(item: string, r: Refusal, extra: Partial<AuditItem> = {}): AuditItem {
  return { item, decision: r.code === 'rate_limited' ? 'rate_limited' : 'refused', code: r.code, reason: r.reason, bytes: 0, durationMs: 0, ...extra };
}
