// The Kubernetes API as remediation actions use it: JSON in and out, the operator's own credentials (the in-cluster
// service account, a kubeconfig in tests), the request's timeout as an AbortSignal, and Kubernetes errors turned into
// KubeError carrying the HTTP code and the Status message the API server wrote (e.g. `rollouts.argoproj.io "x" not
// found`), which is what the cloud gets back as error_message.
import http from 'node:http';
import https from 'node:https';
import type { KubeConfig } from '@kubernetes/client-node';

export type Json = Record<string, unknown>;

export class KubeError extends Error {
  constructor(
    readonly code: number,
    message: string,
    readonly reason: string = '',
  ) {
    super(message);
  }
}

export const MERGE_PATCH = 'application/merge-patch+json';

export interface KubeCall {
  method: 'GET' | 'POST' | 'PATCH' | 'PUT' | 'DELETE';
  path: string;
  query?: Record<string, string>;
  body?: unknown;
  contentType?: string;
  signal: AbortSignal;
}

/** Answers larger than this are not read to the end (a list of every object of a kind is the largest we ask for). */
const MAX_ANSWER_BYTES = 64 * 1024 * 1024;

export class RemediationKube {
  private readonly server: URL;

  constructor(private readonly kc: KubeConfig) {
    const cluster = kc.getCurrentCluster();
    if (!cluster) throw new Error('the kubeconfig has no current cluster');
    this.server = new URL(cluster.server);
  }

  /** One call; resolves to the parsed JSON body of a 2xx answer, rejects with KubeError otherwise. */
  async call(c: KubeCall): Promise<Json> {
    const options: https.RequestOptions = { headers: {} };
    await this.kc.applyToHTTPSOptions(options);
    const query = c.query && Object.keys(c.query).length > 0 ? `?${new URLSearchParams(c.query).toString()}` : '';
    const body = c.body === undefined ? undefined : Buffer.from(JSON.stringify(c.body));
    const headers: Record<string, string> = { ...(options.headers as Record<string, string>), accept: 'application/json', 'user-agent': 'kestrel-operator/remediation' };
    if (body) {
      headers['content-type'] = c.contentType ?? 'application/json';
      headers['content-length'] = String(body.length);
    }
    const transport = this.server.protocol === 'http:' ? http : https;
    const base = this.server.pathname.replace(/\/+$/, '');
    c.signal.throwIfAborted();
    const { status, text } = await new Promise<{ status: number; text: string }>((resolve, reject) => {
      const req = transport.request(
        {
          ...options,
          protocol: this.server.protocol,
          hostname: this.server.hostname.replace(/^\[|\]$/g, ''),
          port: this.server.port || (this.server.protocol === 'http:' ? 80 : 443),
          method: c.method,
          path: base + c.path + query,
          headers,
          signal: c.signal,
        },
        (res) => {
          const chunks: Buffer[] = [];
          let size = 0;
          res.on('data', (chunk: Buffer) => {
            size += chunk.length;
            if (size > MAX_ANSWER_BYTES) {
              req.destroy(new KubeError(500, `the API server's answer to ${c.method} ${c.path} exceeds ${MAX_ANSWER_BYTES} bytes`));
              return;
            }
            chunks.push(chunk);
          });
          res.on('end', () => resolve({ status: res.statusCode ?? 0, text: Buffer.concat(chunks).toString('utf8') }));
          res.on('error', reject);
        },
      );
      req.on('error', reject);
      req.end(body);
    });
    let parsed: unknown;
    try {
      parsed = text === '' ? {} : JSON.parse(text);
    } catch {
      parsed = undefined;
    }
    if (status >= 200 && status < 300) {
      if (parsed === undefined || typeof parsed !== 'object' || parsed === null) throw new KubeError(500, `the API server answered ${c.method} ${c.path} with something that is not JSON`);
      return parsed as Json;
    }
    const statusObject = (parsed ?? {}) as { message?: unknown; reason?: unknown };
    const message = typeof statusObject.message === 'string' && statusObject.message ? statusObject.message : `the API server answered ${c.method} ${c.path} with HTTP ${status}`;
    throw new KubeError(status, message, typeof statusObject.reason === 'string' ? statusObject.reason : '');
  }
}

/** Where a resource lives: `/apis/<group>/<version>[/namespaces/<ns>]/<plural>[/<name>[/<sub>]]` (core group: /api/v1). */
export interface ResourceRef {
  group: string;
  version: string;
  plural: string;
}

export function resourcePath(r: ResourceRef, namespace?: string, name?: string, subresource?: string): string {
  const root = r.group === '' ? `/api/${r.version}` : `/apis/${r.group}/${r.version}`;
  const ns = namespace ? `/namespaces/${encodeURIComponent(namespace)}` : '';
  const n = name !== undefined ? `/${encodeURIComponent(name)}` : '';
  const sub = subresource ? `/${subresource}` : '';
  return `${root}${ns}/${r.plural}${n}${sub}`;
}

/** The status code a family answers with for an error (section 1: NotFound 404, Forbidden 403, else 500). */
export function statusOf(err: unknown): number {
  if (err instanceof KubeError) return err.code === 404 || err.code === 403 ? err.code : 500;
  return 500;
}

/** The API server's answer for a kind (or version) it does not serve, as opposed to an object it does not have. */
export const kindNotServed = (err: unknown): boolean => err instanceof KubeError && err.code === 404 && /could not find the requested resource/i.test(err.message);
