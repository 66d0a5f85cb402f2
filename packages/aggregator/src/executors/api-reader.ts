// A checked read: one request to the API server for a target that api-paths.ts accepted, its JSON answer redacted
// (redaction.ts) before anyone sees it. Shared by the api_paths executor and the policy proxy kubectl talks to.
// A JSON answer is parsed whole (up to maxCheckedBytes) because it cannot be redacted in pieces; a larger one is
// refused with 413 rather than passed on unchecked. Text answers (pod logs, health) are read only up to what will
// be sent. Anything else (protobuf, which was not asked for) is refused, since it cannot be checked.
import type { ApiTarget } from './api-paths.js';
import { targetUrl } from './api-paths.js';
import type { KubeHttp } from './kube-http.js';
import { redact, type RedactionOptions } from './redaction.js';

export interface CheckedAnswer {
  status: number;
  contentType: string;
  body: Buffer;
  /** A text answer longer than asked for: only the first textLimit bytes were read. */
  truncated: boolean;
  /** Values replaced by the redaction marker. */
  redactions: number;
}

export interface CheckedReadOptions {
  timeoutMs: number;
  /** How much of a text answer to read. */
  textLimit: number;
  accept?: string;
  userAgent?: string;
  signal?: AbortSignal;
}

export const isJson = (contentType: string): boolean => /^application\/([a-z0-9.+-]*\+)?json\b/i.test(contentType.trim());
const isText = (contentType: string): boolean => /^text\//i.test(contentType.trim()) || contentType.trim() === '';

/** A Kubernetes Status object, for answers the operator makes up itself. */
export function statusBody(code: number, reason: string, message: string): Buffer {
  return Buffer.from(JSON.stringify({ kind: 'Status', apiVersion: 'v1', metadata: {}, status: 'Failure', message, reason, code }));
}

export class ApiReader {
  constructor(
    private readonly http: KubeHttp,
    private readonly redaction: RedactionOptions,
    private readonly maxCheckedBytes: number,
  ) {}

  async get(target: ApiTarget, options: CheckedReadOptions): Promise<CheckedAnswer> {
    return this.exchange(target, 'GET', undefined, undefined, options);
  }

  /** POST (self access reviews only: the path policy decides) with the body as given. */
  async post(target: ApiTarget, contentType: string, body: Buffer, options: CheckedReadOptions): Promise<CheckedAnswer> {
    return this.exchange(target, 'POST', contentType, body, options);
  }

  private async exchange(target: ApiTarget, method: 'GET' | 'POST', contentType: string | undefined, body: Buffer | undefined, options: CheckedReadOptions): Promise<CheckedAnswer> {
    const res = await this.http.request({
      method,
      url: targetUrl(target),
      accept: options.accept ?? 'application/json, */*',
      timeoutMs: options.timeoutMs,
      maxBytes: (type) => (isJson(type) ? this.maxCheckedBytes : options.textLimit),
      ...(contentType !== undefined ? { contentType } : {}),
      ...(body !== undefined ? { body } : {}),
      ...(options.userAgent !== undefined ? { userAgent: options.userAgent } : {}),
      ...(options.signal !== undefined ? { signal: options.signal } : {}),
    });
    if (isJson(res.contentType)) {
      if (res.truncated) {
        const message = `the answer is larger than ${this.maxCheckedBytes} bytes, more than the operator will check before sending; narrow it (?limit=, a label or field selector, one namespace)`;
        return { status: 413, contentType: 'application/json', body: statusBody(413, 'RequestEntityTooLarge', message), truncated: false, redactions: 0 };
      }
      let parsed: unknown;
      try {
        parsed = JSON.parse(res.body.toString('utf8'));
      } catch {
        return { status: 502, contentType: 'application/json', body: statusBody(502, 'BadGateway', 'the API server answered with JSON that does not parse'), truncated: false, redactions: 0 };
      }
      const redactions = redact(parsed, this.redaction, target.group === '' && target.resource === 'configmaps');
      return { status: res.status, contentType: res.contentType, body: redactions > 0 ? Buffer.from(JSON.stringify(parsed)) : res.body, truncated: false, redactions };
    }
    if (isText(res.contentType)) return { status: res.status, contentType: res.contentType, body: res.body, truncated: res.truncated, redactions: 0 };
    const message = `the API server answered in ${res.contentType}, which the operator cannot check`;
    return { status: 502, contentType: 'application/json', body: statusBody(502, 'BadGateway', message), truncated: false, redactions: 0 };
  }
}
