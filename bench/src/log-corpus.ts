// A realistic, deterministic application-log corpus: many pods in several namespaces, each container writing in
// the style of a real stack — Go services with zap JSON, Node services with pino JSON, Spring Boot text logs,
// nginx and Envoy access logs, Python workers, logfmt — with request ids, trace ids, IPs, user agents, durations
// and status codes that vary from line to line the way they do in production, and the odd stack trace line.
//
// Choices follow production's skew rather than a uniform draw: most responses are 200, a few routes and clients
// carry most traffic (Zipf-like ranks), probes are frequent, ids are unique per request (random hex/UUIDs, which
// no compressor can shrink below their entropy), timestamps carry nanoseconds. Same seed, same corpus: figures
// from different runs compare.

/** mulberry32: a small, fast, seedable PRNG. */
export function prng(seed: number): () => number {
  let a = seed >>> 0;
  return () => {
    a = (a + 0x6d2b79f5) >>> 0;
    let t = a;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}

export interface CorpusLine {
  /** Nanoseconds since the epoch, as a CRI timestamp would carry. */
  seconds: number;
  nanos: number;
  stream: 'stdout' | 'stderr';
  message: string;
  level: string;
}

export interface CorpusContainer {
  namespace: string;
  pod: string;
  podUid: string;
  container: string;
  style: Style;
  lineNumber: number;
  next(): CorpusLine;
}

type Style = 'zap' | 'pino' | 'spring' | 'nginx' | 'envoy' | 'python' | 'logfmt';

const NAMESPACES = ['shop', 'payments', 'search', 'identity', 'platform', 'data'];
const SERVICES = ['checkout', 'cart', 'catalog', 'orders', 'ledger', 'billing', 'indexer', 'query', 'auth', 'users', 'gateway', 'notifier', 'ingest', 'reports'];
const PATHS = ['/api/v1/products', '/healthz', '/api/v1/cart', '/api/v2/search', '/api/v1/orders', '/metrics', '/api/v1/users', '/api/v1/sessions', '/api/v1/payments', '/graphql'];
const METHODS = ['GET', 'POST', 'PUT', 'DELETE', 'PATCH'];
/** Status codes with production-like weights (per mille). */
const STATUSES: [number, number][] = [[200, 860], [201, 30], [204, 20], [304, 30], [400, 15], [401, 10], [404, 20], [409, 5], [500, 6], [503, 4]];
const AGENTS = [
  'okhttp/4.12.0',
  'Mozilla/5.0 (Windows NT 10.0; Win64; x64) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/124.0.0.0 Safari/537.36',
  'kube-probe/1.29',
  'Go-http-client/1.1',
  'Mozilla/5.0 (iPhone; CPU iPhone OS 17_4 like Mac OS X) AppleWebKit/605.1.15 (KHTML, like Gecko) Version/17.4 Mobile/15E148 Safari/604.1',
  'python-requests/2.31.0',
  'Prometheus/2.51.0',
];
const MESSAGES = [
  'request completed',
  'cache miss',
  'cache hit',
  'db query',
  'upstream request failed, retrying',
  'order created',
  'payment authorized',
  'session refreshed',
  'rate limit exceeded',
  'published event',
  'consumer lag',
  'connection reset by peer',
];
const REQUEST_MESSAGES = new Set(['request completed', 'upstream request failed, retrying', 'order created', 'payment authorized', 'session refreshed', 'rate limit exceeded']);
const CALLERS = ['server/handler.go:142', 'store/postgres.go:88', 'cache/redis.go:51', 'queue/kafka.go:203', 'api/middleware.go:67'];
const CLASSES = ['c.e.shop.OrderController', 'c.e.shop.PaymentService', 'o.s.web.servlet.DispatcherServlet', 'c.z.hikari.pool.HikariPool', 'c.e.shop.InventoryClient'];
const EXCEPTIONS = [
  '\tat com.example.shop.InventoryClient.reserve(InventoryClient.java:118)',
  '\tat org.springframework.web.client.RestTemplate.doExecute(RestTemplate.java:791)',
  'java.net.SocketTimeoutException: Read timed out',
  'Caused by: org.postgresql.util.PSQLException: ERROR: deadlock detected',
];

export interface CorpusOptions {
  /**
   * true (production): every request carries its own random id (request ids, UUIDs, trace ids). false: ids come from
   * a small recurring set, to show how much of the wire cost is the unique ids (a sensitivity figure, not the target).
   */
  uniqueIds: boolean;
}

export function createCorpus(seed: number, pods: number, options: CorpusOptions = { uniqueIds: true }): CorpusContainer[] {
  const random = prng(seed);
  const pick = <T>(xs: readonly T[]): T => xs[Math.floor(random() * xs.length)]!;
  /** Zipf-like: the item of rank r is chosen with probability proportional to 1/r. */
  const zipf = <T>(xs: readonly T[]): T => {
    const total = xs.reduce((sum, _, i) => sum + 1 / (i + 1), 0);
    let x = random() * total;
    for (let i = 0; i < xs.length; i++) {
      x -= 1 / (i + 1);
      if (x <= 0) return xs[i]!;
    }
    return xs[xs.length - 1]!;
  };
  const weighted = (xs: readonly [number, number][]): number => {
    let x = random() * 1000;
    for (const [value, weight] of xs) {
      x -= weight;
      if (x <= 0) return value;
    }
    return xs[0]![0];
  };
  /** An entity id: a hot set takes most traffic, the rest is spread wide. */
  const entityId = () => (random() < 0.7 ? 1000 + Math.floor(random() * 500) : Math.floor(random() * 100_000));
  const hex = (n: number) => {
    let s = '';
    for (let i = 0; i < n; i++) s += Math.floor(random() * 16).toString(16);
    return s;
  };
  const freshUuid = () => `${hex(8)}-${hex(4)}-4${hex(3)}-${'89ab'[Math.floor(random() * 4)]}${hex(3)}-${hex(12)}`;
  const idPool = Array.from({ length: 16 }, () => ({ uuid: freshUuid(), hex: hex(32) }));
  const uuid = () => (options.uniqueIds ? freshUuid() : pick(idPool).uuid);
  const id = (n: number) => (options.uniqueIds ? hex(n) : pick(idPool).hex.slice(0, n));
  const ip = () => `10.244.${Math.floor(random() * 32)}.${Math.floor(random() * 250) + 2}`;
  // Pods talk to a handful of peers: a small set of client and upstream addresses per cluster.
  const clients = Array.from({ length: 40 }, ip);
  const upstreams = Array.from({ length: 60 }, ip);
  const clientIp = () => zipf(clients);
  const upstreamIp = () => zipf(upstreams);
  const styles: Style[] = ['zap', 'pino', 'spring', 'nginx', 'envoy', 'python', 'logfmt'];
  const containers: CorpusContainer[] = [];
  let clock = Date.UTC(2024, 4, 1, 12, 0, 0);
  for (let p = 0; p < pods; p++) {
    const namespace = NAMESPACES[p % NAMESPACES.length]!;
    const service = SERVICES[p % SERVICES.length]!;
    const pod = `${service}-${hex(9).slice(0, 9)}-${hex(5)}`;
    const podUid = freshUuid();
    const podIp = ip();
    const main = styles[p % styles.length]!;
    const spec: [string, Style][] = [[service, main]];
    if (p % 3 === 0) spec.push(['envoy', 'envoy']);
    for (const [container, style] of spec) {
      let ms = clock + Math.floor(random() * 1000);
      const c: CorpusContainer = {
        namespace,
        pod,
        podUid,
        container,
        style,
        lineNumber: 0,
        next() {
          c.lineNumber++;
          ms += Math.floor(random() * 40);
          const nanos = (ms % 1000) * 1_000_000 + Math.floor(random() * 1_000_000);
          const seconds = Math.floor(ms / 1000);
          const iso = new Date(ms).toISOString();
          const status = weighted(STATUSES);
          const level = status >= 500 ? 'error' : status >= 400 ? 'warn' : random() < 0.05 ? 'debug' : 'info';
          const duration = (random() * (status >= 500 ? 3000 : 120)).toFixed(1);
          const route = zipf(PATHS);
          const path = `${route}${route.startsWith('/api') && random() < 0.5 ? `/${entityId()}` : ''}`;
          const method = route === '/healthz' || route === '/metrics' ? 'GET' : zipf(METHODS);
          let message: string;
          let stream: 'stdout' | 'stderr' = 'stdout';
          switch (style) {
            case 'zap':
              {
                // Request logs carry the request's context; background work (caches, queues) does not.
                const msg = zipf(MESSAGES);
                message = REQUEST_MESSAGES.has(msg)
                  ? JSON.stringify({ level, ts: ms / 1000, caller: pick(CALLERS), msg, method, path, status, duration_ms: Number(duration), request_id: id(16), ...(random() < 0.3 ? { user_id: entityId() } : {}) })
                  : JSON.stringify({ level, ts: ms / 1000, caller: pick(CALLERS), msg, duration_ms: Number(duration) });
              }
              break;
            case 'pino':
              message = JSON.stringify({ level: level === 'error' ? 50 : level === 'warn' ? 40 : 30, time: ms, pid: 1, hostname: pod, reqId: `req-${id(6)}`, req: { method, url: path }, res: { statusCode: status }, responseTime: Number(duration), msg: zipf(MESSAGES) });
              break;
            case 'spring':
              if (level === 'error' && random() < 0.5) {
                message = pick(EXCEPTIONS);
                stream = 'stderr';
              } else {
                message = `${iso.replace('T', ' ').slice(0, 23)} ${level.toUpperCase().padStart(5)} 1 --- [nio-8080-exec-${Math.floor(random() * 10) + 1}] ${zipf(CLASSES).padEnd(40)} : ${zipf(MESSAGES)} order=${entityId()} customer=${entityId()} took ${Math.floor(Number(duration))} ms`;
              }
              break;
            case 'nginx':
              message = `${clientIp()} - - [${new Date(ms).toUTCString().slice(5, 25).replace(' ', '/').replace(' ', '/')} +0000] "${method} ${path} HTTP/1.1" ${status} ${Math.floor(random() * 20000)} "-" "${zipf(AGENTS)}" ${(Number(duration) / 1000).toFixed(3)} ${(Number(duration) / 1000).toFixed(3)}`;
              break;
            case 'envoy':
              message = `[${iso}] "${method} ${path} HTTP/1.1" ${status} - via_upstream - "-" 0 ${Math.floor(random() * 20000)} ${Math.floor(Number(duration))} ${Math.floor(Number(duration) * 0.9)} "${clientIp()}" "${zipf(AGENTS)}" "${uuid()}" "${service}.${namespace}.svc.cluster.local:8080" "${upstreamIp()}:8080" outbound|8080||${service}.${namespace}.svc.cluster.local ${podIp}:${40000 + Math.floor(random() * 20000)} ${upstreamIp()}:8080 ${clientIp()}:${40000 + Math.floor(random() * 20000)} - default`;
              break;
            case 'python':
              if (level === 'error') stream = 'stderr';
              message = `${iso.replace('T', ' ').slice(0, 19)},${String(ms % 1000).padStart(3, '0')} ${level.toUpperCase()} [worker.tasks] ${zipf(MESSAGES)} job_id=${uuid()} queue=default attempt=${Math.floor(random() * 3) + 1} elapsed=${(Number(duration) / 100).toFixed(2)}s`;
              break;
            case 'logfmt':
              message = `time=${iso} level=${level} msg="${zipf(MESSAGES)}" component=${service} method=${method} path=${path} status=${status} latency=${duration}ms${random() < 0.5 ? ` trace_id=${id(32)}` : ''}`;
              break;
          }
          return { seconds, nanos, stream, message, level };
        },
      };
      containers.push(c);
    }
    clock += 7;
  }
  return containers;
}

/** The CRI line the kubelet would have written for it (containerd style, nanosecond timestamp). */
export function criLine(line: CorpusLine): string {
  const iso = new Date(line.seconds * 1000).toISOString().slice(0, 19);
  return `${iso}.${String(line.nanos).padStart(9, '0')}Z ${line.stream} F ${line.message}\n`;
}
