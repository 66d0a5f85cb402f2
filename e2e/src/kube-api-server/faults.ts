// Test hooks that make the server slow or failing on purpose, for the product's backoff and timeout paths: added
// latency before a request is handled, and injected error answers (429, 500, 503 ...) for the next N matching
// requests. Both match on what authorization sees (verb, resource, user).
import { ApiError } from './status.js';
import type { RequestInfo } from './request-info.js';

export interface RequestMatch {
  verb?: string | string[];
  resource?: string;
  user?: string;
  /** Matches only non-resource paths starting with this. */
  pathPrefix?: string;
}

export interface Fault {
  match?: RequestMatch;
  code: number;
  reason?: string;
  message?: string;
  /** How many matching requests fail; unlimited when absent. */
  times?: number;
}

const REASONS: Record<number, string> = { 429: 'TooManyRequests', 500: 'InternalError', 503: 'ServiceUnavailable', 504: 'Timeout', 409: 'Conflict', 403: 'Forbidden' };

export function matches(match: RequestMatch | undefined, info: RequestInfo, user: string): boolean {
  if (!match) return true;
  if (match.verb !== undefined && !(Array.isArray(match.verb) ? match.verb : [match.verb]).includes(info.verb)) return false;
  if (match.resource !== undefined && info.resource !== match.resource) return false;
  if (match.user !== undefined && user !== match.user) return false;
  if (match.pathPrefix !== undefined && !info.path.startsWith(match.pathPrefix)) return false;
  return true;
}

export class FaultInjector {
  private latency: { ms: number; match?: RequestMatch }[] = [];
  private faults: (Fault & { left: number })[] = [];

  /** Adds latency to matching requests; setLatency(0) removes all added latency. */
  setLatency(ms: number, match?: RequestMatch): void {
    if (ms <= 0) this.latency = [];
    else this.latency.push(match ? { ms, match } : { ms });
  }

  inject(fault: Fault): void {
    this.faults.push({ ...fault, left: fault.times ?? Number.POSITIVE_INFINITY });
  }

  clear(): void {
    this.latency = [];
    this.faults = [];
  }

  delayFor(info: RequestInfo, user: string): number {
    return this.latency.filter((l) => matches(l.match, info, user)).reduce((sum, l) => sum + l.ms, 0);
  }

  /** The injected error for this request, if one applies (and counts it). */
  take(info: RequestInfo, user: string): ApiError | undefined {
    const fault = this.faults.find((f) => f.left > 0 && matches(f.match, info, user));
    if (!fault) return undefined;
    fault.left--;
    const details = fault.code === 429 || fault.code === 503 ? { retryAfterSeconds: 1 } : undefined;
    return new ApiError(fault.code, fault.reason ?? REASONS[fault.code] ?? 'Unknown', fault.message ?? `injected fault (${fault.code})`, details);
  }
}
