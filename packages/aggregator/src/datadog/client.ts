// HTTP calls to the Datadog API: DD-API-KEY / DD-APPLICATION-KEY headers, the request's deadline (an AbortSignal),
// and Datadog's rate limits. A 429 is retried when Retry-After (or X-RateLimit-Reset) says the wait fits in what is
// left of the deadline and in maxRetryWaitMs; a 5xx is retried with a short backoff only for calls that change
// nothing (GETs and the logs search POST). Bodies are read up to a cap, so a huge answer cannot exhaust memory.
// Keys go only into request headers: never into URLs, logs or errors.
import http from 'node:http';
import https from 'node:https';
import type { DatadogKeys } from './keys.js';

export interface DatadogCall {
  method: 'GET' | 'POST';
  path: string;
  query?: Record<string, string>;
  body?: string;
  /** Send the application key (every type except send-event). */
  appKey: boolean;
  /** Safe to send again after a 5xx (reads). */
  idempotent: boolean;
}

export type CallResult =
  | { kind: 'http'; status: number; body: string; retries: number; tooLarge: boolean }
  | { kind: 'failed'; error: string; retries: number };

export interface ClientOptions {
  base: URL;
  /** Extra CA for an https override (PEM). */
  ca: Buffer | undefined;
  maxBodyBytes: number;
  maxRetries: number;
  maxRetryWaitMs: number;
  /** Backoff before retrying a 5xx; doubled each time. */
  retryBackoffMs: number;
}

export interface ClientObserver {
  call(endpoint: string, status: number | 'failed'): void;
  retry(reason: 'rate_limited' | 'server_error'): void;
}

const sleep = (ms: number, signal: AbortSignal) =>
  new Promise<void>((resolve) => {
    if (signal.aborted) return resolve();
    const t = setTimeout(resolve, ms);
    signal.addEventListener('abort', () => (clearTimeout(t), resolve()), { once: true });
  });

/** How long Datadog asks us to wait, in ms: Retry-After (seconds or a date), else X-RateLimit-Reset (seconds). */
export function retryAfterMs(headers: http.IncomingHttpHeaders, now = Date.now()): number | undefined {
  const after = headers['retry-after'];
  if (typeof after === 'string' && after.trim()) {
    const s = Number(after);
    if (Number.isFinite(s)) return Math.max(0, s * 1000);
    const at = Date.parse(after);
    if (Number.isFinite(at)) return Math.max(0, at - now);
  }
  const reset = headers['x-ratelimit-reset'];
  if (typeof reset === 'string' && Number.isFinite(Number(reset))) return Math.max(0, Number(reset) * 1000);
  return undefined;
}

export class DatadogClient {
  constructor(
    private readonly options: ClientOptions,
    private readonly observer: ClientObserver,
  ) {}

  async call(call: DatadogCall, keys: DatadogKeys, signal: AbortSignal): Promise<CallResult> {
    let retries = 0;
    let backoff = this.options.retryBackoffMs;
    for (;;) {
      const result = await this.once(call, keys, signal);
      if (result.kind === 'failed') {
        this.observer.call(call.path, 'failed');
        return { ...result, retries };
      }
      this.observer.call(call.path, result.status);
      const answer: CallResult = { kind: 'http', status: result.status, body: result.body, retries, tooLarge: result.tooLarge };
      if (retries >= this.options.maxRetries || signal.aborted) return answer;
      if (result.status === 429) {
        const wait = retryAfterMs(result.headers);
        if (wait === undefined || wait > this.options.maxRetryWaitMs) return answer;
        retries++;
        this.observer.retry('rate_limited');
        await sleep(wait, signal);
        if (signal.aborted) return answer;
        continue;
      }
      if (result.status >= 500 && call.idempotent) {
        retries++;
        this.observer.retry('server_error');
        await sleep(backoff, signal);
        backoff *= 2;
        if (signal.aborted) return answer;
        continue;
      }
      return answer;
    }
  }

  private once(call: DatadogCall, keys: DatadogKeys, signal: AbortSignal): Promise<(Extract<CallResult, { kind: 'http' }> & { headers: http.IncomingHttpHeaders }) | Extract<CallResult, { kind: 'failed' }>> {
    const url = new URL(call.path.replace(/^\//, ''), this.options.base.href.endsWith('/') ? this.options.base : new URL(this.options.base.href + '/'));
    for (const [k, v] of Object.entries(call.query ?? {})) url.searchParams.set(k, v);
    const headers: Record<string, string> = { Accept: 'application/json', 'DD-API-KEY': keys.apiKey.reveal() };
    if (call.appKey && keys.appKey) headers['DD-APPLICATION-KEY'] = keys.appKey.reveal();
    if (call.body !== undefined) {
      headers['Content-Type'] = 'application/json';
      headers['Content-Length'] = String(Buffer.byteLength(call.body));
    }
    const transport = url.protocol === 'http:' ? http : https;
    const max = this.options.maxBodyBytes;
    return new Promise((resolve) => {
      let settled = false;
      const done = (r: Parameters<typeof resolve>[0]) => {
        if (!settled) {
          settled = true;
          resolve(r);
        }
      };
      const req = transport.request(url, { method: call.method, headers, signal, ...(this.options.ca && url.protocol === 'https:' ? { ca: this.options.ca } : {}) }, (res) => {
        const chunks: Buffer[] = [];
        let size = 0;
        let tooLarge = false;
        res.on('data', (chunk: Buffer) => {
          if (tooLarge) return;
          size += chunk.length;
          if (size > max) {
            tooLarge = true;
            res.destroy();
            done({ kind: 'http', status: res.statusCode ?? 0, body: '', headers: res.headers, retries: 0, tooLarge: true });
            return;
          }
          chunks.push(chunk);
        });
        res.on('end', () => done({ kind: 'http', status: res.statusCode ?? 0, body: Buffer.concat(chunks).toString('utf8'), headers: res.headers, retries: 0, tooLarge: false }));
        res.on('error', (err) => done({ kind: 'failed', error: describe(err, signal), retries: 0 }));
      });
      req.on('error', (err) => done({ kind: 'failed', error: describe(err, signal), retries: 0 }));
      req.end(call.body);
    });
  }
}

function describe(err: Error, signal: AbortSignal): string {
  if (signal.aborted) return 'the request to the Datadog API timed out (timeout_seconds, or 30 s when unset)';
  const code = (err as NodeJS.ErrnoException).code;
  return `request to the Datadog API failed: ${code ? `${code} ` : ''}${err.message}`;
}
