// The health and metrics endpoint every process serves: /healthz (the process loop is alive), /readyz (it can do
// its job now; the reason is in the body when not), /metrics (Prometheus text format).
import type { AddressInfo } from 'node:net';
import type { Registry } from 'prom-client';

// Not `import http from 'node:http'`: building that ES module namespace reads http.WebSocket and its siblings, which
// loads Node's bundled undici (and worker_threads, assert, web streams) into every process that serves /metrics,
// about 0.7 MiB of memory in the agent (docs/BENCHMARKS.md, "Idle files"). The built-in's object itself does not.
const http = process.getBuiltinModule('node:http');

export interface Readiness {
  ready: boolean;
  reason?: string;
}

export interface HttpServerOptions {
  host: string;
  port: number;
  registry: Registry;
  readiness: () => Readiness;
}

export interface RunningHttpServer {
  address: string;
  close(): Promise<void>;
}

export async function startHttpServer(options: HttpServerOptions): Promise<RunningHttpServer> {
  const server = http.createServer((req, res) => {
    const path = (req.url ?? '/').split('?')[0];
    if (req.method !== 'GET' && req.method !== 'HEAD') {
      res.writeHead(405, { allow: 'GET, HEAD' }).end();
      return;
    }
    if (path === '/healthz') {
      res.writeHead(200, { 'content-type': 'text/plain' }).end('ok\n');
    } else if (path === '/readyz') {
      const state = options.readiness();
      res.writeHead(state.ready ? 200 : 503, { 'content-type': 'text/plain' }).end(state.ready ? 'ready\n' : `not ready: ${state.reason ?? 'starting'}\n`);
    } else if (path === '/metrics') {
      options.registry.metrics().then(
        (text) => res.writeHead(200, { 'content-type': options.registry.contentType }).end(text),
        (err: unknown) => res.writeHead(500).end(String(err)),
      );
    } else {
      res.writeHead(404).end();
    }
  });
  server.keepAliveTimeout = 5_000;
  await new Promise<void>((resolve, reject) => {
    server.once('error', reject);
    server.listen(options.port, options.host, () => resolve());
  });
  const addr = server.address() as AddressInfo;
  return {
    address: `${addr.address}:${addr.port}`,
    close: () =>
      new Promise<void>((resolve) => {
        server.closeAllConnections();
        server.close(() => resolve());
      }),
  };
}
