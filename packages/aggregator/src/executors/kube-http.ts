// One HTTP exchange with the API server, with the operator's own credentials from @kubernetes/client-node's
// KubeConfig (the in-cluster service account in production, a kubeconfig file in tests), a deadline and a cap on
// what is read. The path and query are always ones that api-paths.ts built: never a caller's raw text, and never
// resolved against a base URL (so "//host/..." cannot change the host).
import http from 'node:http';
import https from 'node:https';
import type { KubeConfig } from '@kubernetes/client-node';

export interface KubeHttpRequest {
  method: 'GET' | 'POST' | 'PATCH';
  /** Path and query as built by api-paths.ts (or by yaml-manifests.ts from discovered names). */
  url: string;
  accept: string;
  contentType?: string;
  body?: Buffer | string;
  timeoutMs: number;
  /** Stop reading after this many bytes of body (a function: decided by the answer's content type). */
  maxBytes: number | ((contentType: string) => number);
  userAgent?: string;
  signal?: AbortSignal;
}

export interface KubeHttpResponse {
  status: number;
  contentType: string;
  body: Buffer;
  /** The body was longer than maxBytes: only the first maxBytes were read. */
  truncated: boolean;
}

export class TimeoutError extends Error {
  constructor(readonly timeoutMs: number) {
    super(`no complete answer from the API server within ${Math.round(timeoutMs / 100) / 10}s`);
  }
}

export class KubeHttp {
  private readonly server: URL;

  constructor(private readonly kc: KubeConfig) {
    const cluster = kc.getCurrentCluster();
    if (!cluster) throw new Error('the kubeconfig has no current cluster');
    this.server = new URL(cluster.server);
  }

  async request(req: KubeHttpRequest): Promise<KubeHttpResponse> {
    const options: https.RequestOptions = { headers: {} };
    await this.kc.applyToHTTPSOptions(options);
    const base = this.server.pathname.replace(/\/+$/, '');
    const headers: Record<string, string> = {
      ...(options.headers as Record<string, string>),
      accept: req.accept,
      'user-agent': req.userAgent ?? 'kestrel-operator/investigations',
    };
    if (req.contentType) headers['content-type'] = req.contentType;
    const body = req.body === undefined ? undefined : Buffer.isBuffer(req.body) ? req.body : Buffer.from(req.body);
    if (body) headers['content-length'] = String(body.length);
    const transport = this.server.protocol === 'http:' ? http : https;
    return new Promise<KubeHttpResponse>((resolve, reject) => {
      let settled = false;
      const finish = (err: Error | undefined, value?: KubeHttpResponse) => {
        if (settled) return;
        settled = true;
        clearTimeout(timer);
        req.signal?.removeEventListener('abort', onAbort);
        if (err) reject(err);
        else resolve(value!);
      };
      const request = transport.request(
        {
          ...options,
          protocol: this.server.protocol,
          hostname: this.server.hostname.replace(/^\[|\]$/g, ''),
          port: this.server.port || (this.server.protocol === 'http:' ? 80 : 443),
          method: req.method,
          path: base + req.url,
          headers,
        },
        (res) => {
          const contentType = String(res.headers['content-type'] ?? '');
          const maxBytes = typeof req.maxBytes === 'function' ? req.maxBytes(contentType) : req.maxBytes;
          const chunks: Buffer[] = [];
          let size = 0;
          let truncated = false;
          res.on('data', (chunk: Buffer) => {
            if (truncated) return;
            const room = maxBytes - size;
            if (chunk.length > room) {
              if (room > 0) chunks.push(chunk.subarray(0, room));
              size = maxBytes;
              truncated = true;
              // Stop reading: the rest of the body is not wanted.
              finish(undefined, { status: res.statusCode ?? 0, contentType, body: Buffer.concat(chunks), truncated });
              res.destroy();
              request.destroy();
              return;
            }
            chunks.push(chunk);
            size += chunk.length;
          });
          res.on('end', () => finish(undefined, { status: res.statusCode ?? 0, contentType, body: Buffer.concat(chunks), truncated }));
          res.on('error', (err) => finish(err));
          res.on('aborted', () => finish(new Error('the API server closed the connection before the answer was complete')));
        },
      );
      const timer = setTimeout(() => {
        finish(new TimeoutError(req.timeoutMs));
        request.destroy();
      }, req.timeoutMs);
      const onAbort = () => {
        finish(new Error('cancelled'));
        request.destroy();
      };
      req.signal?.addEventListener('abort', onAbort, { once: true });
      request.on('error', (err) => finish(err));
      request.end(body);
    });
  }
}
