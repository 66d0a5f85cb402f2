// The policy proxy: kubectl never holds the operator's credentials. Each command gets its own loopback HTTP listener
// (an ephemeral port, open only while that command runs) and a kubeconfig that points at it; the proxy checks every
// request kubectl makes with the same path policy as api_paths (api-paths.ts), sends the allowed ones with the
// operator's credentials, and redacts the answers (api-reader.ts). So whatever kubectl is asked (a resource spelling
// the argv check missed, `get --raw`, `get all`, describe's follow-up lists), it can only GET what the allowlist
// serves, never a Secret, never a write; the one exception is the SelfSubjectAccessReview POST of
// `kubectl auth can-i`, for that command only. (A listener per command rather than one shared listener with a
// token: client-go sends no bearer token over plain HTTP, and `get --raw` drops any path prefix of the server URL.)
import fs from 'node:fs';
import http from 'node:http';
import type { AddressInfo } from 'node:net';
import path from 'node:path';
import { checkApiPath, targetUrl } from './api-paths.js';
import { statusBody, type ApiReader } from './api-reader.js';
import type { ExecutorEvents } from './events.js';
import { TimeoutError } from './kube-http.js';
import { refusalText, refuse } from './refusal.js';

export interface ProxySessionOptions {
  allowSelfAccessReviews: boolean;
  timeoutMs: number;
  /** How much of a text answer (logs) to pass on. */
  textLimit: number;
  maxCalls: number;
  userAgent: string;
  /** The run's own folder, where the session kubeconfig is written. */
  dir: string;
}

export interface ProxySession {
  readonly kubeconfigPath: string;
  /** "GET /api/v1/namespaces/x/pods 200", one per call, refused ones included (403). */
  readonly calls: string[];
  /** Refused calls' codes, for the audit. */
  readonly refusedCodes: Set<string>;
  close(): Promise<void>;
}

interface OpenSession extends ProxySession {
  options: ProxySessionOptions;
  abort: AbortController;
}

const MAX_REQUEST_BODY = 64 * 1024;

/** kubectl asks for protobuf first for some calls; the proxy takes JSON only (it cannot redact protobuf). */
function jsonAccept(accept: string | undefined): string {
  const kept = (accept ?? '')
    .split(',')
    .map((s) => s.trim())
    .filter((s) => /^(application\/json|text\/|\*\/\*)/i.test(s));
  return kept.length > 0 ? kept.join(', ') : 'application/json';
}

export class PolicyProxy {
  private readonly sessions = new Set<OpenSession>();
  private stopped = false;

  constructor(
    private readonly reader: ApiReader,
    private readonly events: ExecutorEvents,
  ) {}

  /** Closes every open session (running kubectl calls fail) and refuses new ones. */
  async stop(): Promise<void> {
    this.stopped = true;
    await Promise.all([...this.sessions].map((s) => s.close()));
  }

  /** A session for one kubectl run: its own listener and kubeconfig file, gone at close. */
  async open(options: ProxySessionOptions): Promise<ProxySession> {
    if (this.stopped) throw new Error('the policy proxy is stopped');
    const abort = new AbortController();
    const kubeconfigPath = path.join(options.dir, 'kubeconfig');
    let closing: Promise<void> | undefined;
    const session: OpenSession = {
      kubeconfigPath,
      calls: [],
      refusedCodes: new Set(),
      options,
      abort,
      close: () => {
        closing ??= (async () => {
          this.sessions.delete(session);
          abort.abort();
          server.closeAllConnections();
          await new Promise<void>((resolve) => server.close(() => resolve()));
          fs.rmSync(kubeconfigPath, { force: true });
        })();
        return closing;
      },
    };
    const server = http.createServer((req, res) => void this.serve(session, req, res));
    await new Promise<void>((resolve, reject) => {
      server.once('error', reject);
      server.listen(0, '127.0.0.1', () => resolve());
    });
    this.sessions.add(session);
    const port = (server.address() as AddressInfo).port;
    const kubeconfig = [
      'apiVersion: v1',
      'kind: Config',
      'clusters:',
      '- name: operator',
      '  cluster:',
      `    server: http://127.0.0.1:${port}`,
      'users:',
      '- name: operator',
      '  user: {}',
      'contexts:',
      '- name: operator',
      '  context:',
      '    cluster: operator',
      '    user: operator',
      '    namespace: default',
      'current-context: operator',
      '',
    ].join('\n');
    fs.writeFileSync(kubeconfigPath, kubeconfig, { mode: 0o600 });
    return session;
  }

  private async serve(session: OpenSession, req: http.IncomingMessage, res: http.ServerResponse): Promise<void> {
    const send = (status: number, contentType: string, body: Buffer) => {
      if (res.headersSent) return;
      res.writeHead(status, { 'content-type': contentType, 'content-length': body.length });
      res.end(body);
    };
    const method = req.method ?? 'GET';
    const raw = req.url ?? '/';
    const record = (status: number, shown: string, decision: 'allowed' | 'refused' | 'rate_limited' = 'allowed') => {
      session.calls.push(`${method} ${shown} ${status}`);
      this.events.proxiedCalls.inc({ decision });
    };
    if (session.calls.length >= session.options.maxCalls) {
      req.resume();
      const r = refuse('rate_limited', `kubectl made more than ${session.options.maxCalls} API calls for one command`);
      session.refusedCodes.add(r.code);
      record(429, raw, 'rate_limited');
      send(429, 'application/json', statusBody(429, 'TooManyRequests', refusalText(r)));
      return;
    }
    const target = method === 'GET' || method === 'POST' ? checkApiPath(raw, { method, allowSelfAccessReviews: session.options.allowSelfAccessReviews }) : refuse('method', `${method} is not served; only reads`);
    if ('refused' in target) {
      req.resume();
      session.refusedCodes.add(target.code);
      record(403, raw, 'refused');
      send(403, 'application/json', statusBody(403, 'Forbidden', refusalText(target)));
      return;
    }
    try {
      const options = { timeoutMs: session.options.timeoutMs, textLimit: session.options.textLimit, accept: jsonAccept(req.headers.accept), userAgent: session.options.userAgent, signal: session.abort.signal };
      let answer;
      if (method === 'POST') {
        const body = await readBody(req);
        if (!body) {
          send(413, 'application/json', statusBody(413, 'RequestEntityTooLarge', 'request body too large'));
          record(413, targetUrl(target));
          return;
        }
        answer = await this.reader.post(target, String(req.headers['content-type'] ?? 'application/json'), body, options);
      } else {
        req.resume();
        answer = await this.reader.get(target, options);
      }
      record(answer.status, targetUrl(target));
      send(answer.status, answer.contentType || 'application/json', answer.body);
    } catch (err) {
      const timedOut = err instanceof TimeoutError;
      record(timedOut ? 504 : 502, targetUrl(target));
      send(timedOut ? 504 : 502, 'application/json', statusBody(timedOut ? 504 : 502, timedOut ? 'Timeout' : 'BadGateway', err instanceof Error ? err.message : String(err)));
    }
  }
}

function readBody(req: http.IncomingMessage): Promise<Buffer | undefined> {
  return new Promise((resolve) => {
    const chunks: Buffer[] = [];
    let size = 0;
    req.on('data', (c: Buffer) => {
      size += c.length;
      if (size > MAX_REQUEST_BODY) {
        resolve(undefined);
        req.destroy();
        return;
      }
      chunks.push(c);
    });
    req.on('end', () => resolve(Buffer.concat(chunks)));
    req.on('error', () => resolve(undefined));
  });
}
