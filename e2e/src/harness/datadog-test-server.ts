// A Datadog API stand-in for tests: HTTPS on loopback (a certificate from its own CA, written to caFile for the
// client to trust), answering the documented shapes of the endpoints the operator calls
// (https://docs.datadoghq.com/api/latest/): metrics query, events, hosts, logs search, metric list, monitors
// (list, create, mute) and event posting. It checks DD-API-KEY / DD-APPLICATION-KEY like Datadog (403 otherwise),
// records every request, and can be told to answer the next calls to a path with 429 (Retry-After and
// X-RateLimit-* headers) or a 5xx. Monitors' overall_state can be changed to drive the monitor alert poller.
// Reusable by the remediation issue's tests (Datadog writes).
import fs from 'node:fs';
import https from 'node:https';
import path from 'node:path';
import type { AddressInfo } from 'node:net';
import { createCa, issueCertificate } from '@kestrel/cloud-dev';

export interface RecordedRequest {
  method: string;
  path: string;
  query: Record<string, string>;
  body: string;
  /** Whether the keys sent were the right ones (the values themselves are not kept). */
  apiKey: 'valid' | 'invalid' | 'absent';
  appKey: 'valid' | 'invalid' | 'absent';
}

export interface Fault {
  status: number;
  /** Extra headers, e.g. { 'retry-after': '1' }. */
  headers?: Record<string, string>;
  body?: string;
}

export interface TestMonitor {
  id: number;
  name: string;
  type: string;
  query: string;
  message: string;
  tags: string[];
  overall_state: string;
  options?: Record<string, unknown>;
}

export class DatadogTestServer {
  readonly requests: RecordedRequest[] = [];
  readonly monitors: TestMonitor[] = [];
  readonly events: Record<string, unknown>[] = [];
  private readonly faults = new Map<string, Fault[]>();
  private server: https.Server | undefined;
  private nextId = 1000;
  url = '';
  readonly caFile: string;

  constructor(
    dir: string,
    readonly apiKey: string,
    readonly appKey: string,
  ) {
    fs.mkdirSync(dir, { recursive: true });
    const ca = createCa({ commonName: 'datadog test CA' });
    const cert = issueCertificate(ca, { commonName: 'api.datadoghq.test', usage: 'server', hosts: ['localhost', '127.0.0.1'] });
    this.caFile = path.join(dir, 'datadog-ca.crt');
    fs.writeFileSync(this.caFile, ca.certPem);
    this.server = https.createServer({ cert: cert.certPem, key: cert.keyPem }, (req, res) => {
      const chunks: Buffer[] = [];
      req.on('data', (c: Buffer) => chunks.push(c));
      req.on('end', () => this.handle(req, res, Buffer.concat(chunks).toString('utf8')));
    });
  }

  async start(): Promise<string> {
    await new Promise<void>((resolve) => this.server!.listen(0, '127.0.0.1', resolve));
    this.url = `https://127.0.0.1:${(this.server!.address() as AddressInfo).port}`;
    return this.url;
  }

  async stop(): Promise<void> {
    this.server?.closeAllConnections();
    await new Promise<void>((resolve) => this.server?.close(() => resolve()));
  }

  /** The next `times` calls to `path` (e.g. '/api/v1/query') get this answer instead. */
  failNext(p: string, fault: Fault, times = 1): void {
    const list = this.faults.get(p) ?? [];
    for (let i = 0; i < times; i++) list.push(fault);
    this.faults.set(p, list);
  }

  addMonitor(m: Omit<TestMonitor, 'id'> & { id?: number }): TestMonitor {
    const monitor = { ...m, id: m.id ?? this.nextId++ };
    this.monitors.push(monitor);
    return monitor;
  }

  setMonitorState(id: number, state: string): void {
    const m = this.monitors.find((x) => x.id === id);
    if (!m) throw new Error(`no monitor ${id}`);
    m.overall_state = state;
  }

  callsTo(p: string): RecordedRequest[] {
    return this.requests.filter((r) => r.path === p);
  }

  private handle(req: import('node:http').IncomingMessage, res: import('node:http').ServerResponse, body: string): void {
    const url = new URL(req.url ?? '/', 'https://x');
    const keyState = (header: string, want: string): RecordedRequest['apiKey'] => {
      const got = req.headers[header];
      return got === undefined ? 'absent' : got === want ? 'valid' : 'invalid';
    };
    const recorded: RecordedRequest = {
      method: req.method ?? '',
      path: url.pathname,
      query: Object.fromEntries(url.searchParams),
      body,
      apiKey: keyState('dd-api-key', this.apiKey),
      appKey: keyState('dd-application-key', this.appKey),
    };
    this.requests.push(recorded);
    const send = (status: number, value: unknown, headers: Record<string, string> = {}) => {
      const text = typeof value === 'string' ? value : JSON.stringify(value);
      res.writeHead(status, { 'content-type': 'application/json', ...headers });
      res.end(text);
    };
    const fault = this.faults.get(url.pathname)?.shift();
    if (fault) {
      const headers = fault.status === 429 ? { 'x-ratelimit-limit': '100', 'x-ratelimit-period': '60', 'x-ratelimit-remaining': '0', ...fault.headers } : { ...fault.headers };
      return send(fault.status, fault.body ?? { errors: [fault.status === 429 ? 'Rate limit exceeded' : 'Internal Server Error'] }, headers);
    }
    // Datadog: a missing or wrong key is 403 {"errors":["Forbidden"]}; events intake needs the API key only.
    const needsApp = !(req.method === 'POST' && url.pathname === '/api/v1/events');
    if (recorded.apiKey !== 'valid' || (needsApp && recorded.appKey !== 'valid')) return send(403, { errors: ['Forbidden'] });
    const q = recorded.query;
    const route = `${req.method} ${url.pathname}`;
    const mute = /^\/api\/v1\/monitor\/([^/]+)\/mute$/.exec(url.pathname);
    if (req.method === 'POST' && mute) {
      const m = this.monitors.find((x) => String(x.id) === decodeURIComponent(mute[1]!));
      if (!m) return send(404, { errors: ['Monitor not found'] });
      m.options = { ...(m.options ?? {}), silenced: { '*': null } };
      return send(200, m);
    }
    switch (route) {
      case 'GET /api/v1/query': {
        if (!q['query']) return send(400, { errors: ['Missing query parameter'] });
        const from = Number(q['from']) * 1000;
        const to = Number(q['to']) * 1000;
        return send(200, {
          status: 'ok',
          res_type: 'time_series',
          resp_version: 1,
          query: q['query'],
          from_date: from,
          to_date: to,
          series: [{ metric: q['query'].split('{')[0]!.replace(/^\w+:/, ''), display_name: q['query'], expression: q['query'], scope: 'kube_namespace:shop', tag_set: ['kube_namespace:shop'], pointlist: [[from, 1.5], [to, 2.5]], length: 2, interval: 60, start: from, end: to, unit: null }],
          group_by: [],
          message: '',
        });
      }
      case 'GET /api/v1/events':
        return send(200, { status: 'ok', events: [{ id: 1, title: 'Deployment shop/cart rolled out', text: 'v42', date_happened: Number(q['start'] ?? 0) + 1, source_type_name: q['sources'] ?? 'kubernetes', tags: ['kube_namespace:shop'], alert_type: 'info', priority: 'normal' }] });
      case 'GET /api/v1/hosts':
        return send(200, { host_list: [{ name: 'node-1', id: 1, up: true, apps: ['agent'], sources: ['agent'], host_name: 'node-1', meta: {} }], total_matching: 1, total_returned: 1 });
      case 'GET /api/v1/metrics':
        return send(200, { metrics: ['kubernetes.cpu.usage.total', 'trace.http.request.errors'], from: q['from'] ?? '' });
      case 'POST /api/v2/logs/events/search': {
        let parsed: { filter?: { query?: string } } = {};
        try {
          parsed = JSON.parse(body) as typeof parsed;
        } catch {
          return send(400, { errors: ['Invalid JSON'] });
        }
        return send(200, { data: [{ id: 'AAAA', type: 'log', attributes: { message: 'payment failed: timeout', service: 'pay', status: 'error', timestamp: '2026-11-26T03:00:00Z', tags: ['kube_namespace:shop'] } }], links: {}, meta: { page: {}, status: 'done', elapsed: 12, request_id: 'r', echo_query: parsed.filter?.query ?? '' } });
      }
      case 'GET /api/v1/monitor':
        return send(200, this.monitors);
      case 'POST /api/v1/monitor': {
        let m: Partial<TestMonitor>;
        try {
          m = JSON.parse(body) as Partial<TestMonitor>;
        } catch {
          return send(400, { errors: ['Invalid JSON'] });
        }
        if (!m.type || !m.query) return send(400, { errors: ['The value provided for parameter \'query\' is invalid'] });
        return send(200, this.addMonitor({ name: m.name ?? '', type: m.type, query: m.query, message: m.message ?? '', tags: m.tags ?? [], overall_state: 'No Data' }));
      }
      case 'POST /api/v1/events': {
        let e: Record<string, unknown>;
        try {
          e = JSON.parse(body) as Record<string, unknown>;
        } catch {
          return send(400, { errors: ['Invalid JSON'] });
        }
        const event = { ...e, id: this.nextId++ };
        this.events.push(event);
        return send(202, { status: 'ok', event });
      }
      default:
        return send(404, { errors: ['Not found'] });
    }
  }
}
