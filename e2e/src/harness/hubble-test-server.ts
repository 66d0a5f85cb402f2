// A Hubble Observer test peer: serves observer.Observer/GetFlows (and ServerStatus) from the real observer proto over
// a unix socket (like a node's /var/run/cilium/hubble.sock) and/or TCP (plaintext or TLS, like Relay), through
// grpc-js, so clients speak to it exactly as to Cilium.
//
// Like Hubble it keeps a ring buffer of the newest flows: a follower asking `since` gets what the ring still holds
// from that time and, when flows after that time were already evicted, one lost_events (HUBBLE_RING_BUFFER)
// saying how many; a follower that does not read fast enough has flows dropped and reported as lost_events
// (OBSERVER_EVENTS_QUEUE) once it catches up; `reportLost` sends a lost_events of its own (e.g. "the perf ring
// overflowed"). Every lost event it sends is added to `lostReported`, so a test can check that counts add up:
// what a client counted + what was reported lost = what was emitted.
//
// Like Hubble it honours GetFlowsRequest.field_mask: a follower that names fields gets flows holding only those
// (paths of flow.Flow's proto field names, nested with dots, e.g. `source.namespace`); a path that names no field of
// flow.Flow is refused with INVALID_ARGUMENT, as Hubble refuses it.
//
// With `ringFile`, every emitted flow is appended to that file and a restarted server reloads its ring from it, so a
// kill and restart keeps the history (a real agent restart would lose it; the file lets tests tell the agent's losses
// from the server's).
//
// As a process (for kill -9 tests): `node hubble-test-server.js '<json options>'`; it prints one JSON line
// {"message":"hubble test server listening", ...} and reads JSON-line commands on stdin:
//   {"emit":[<flow.Flow as proto3 JSON>...], "repeat": n}  emits the list n times (time = now when a flow has none)
//   {"lost": n}                                         reports n lost events (PERF_EVENT_RING_BUFFER)
// and after each command prints {"message":"hubble test server state","emitted":..,"lostReported":..,"seq":..}.
import { spawn, type ChildProcess } from 'node:child_process';
import fs from 'node:fs';
import { fileURLToPath } from 'node:url';
import readline from 'node:readline';
import * as grpc from '@grpc/grpc-js';
import { Flow, LostEvent, LostEventSource } from '@kestrel/proto/hubble/flow';
import { GetFlowsRequest, GetFlowsResponse, ServerStatusRequest, ServerStatusResponse } from '@kestrel/proto/hubble/observer';

export interface HubbleTestServerTls {
  cert: Buffer;
  key: Buffer;
  /** Given: client certificates signed by this CA are required (mTLS, as Relay can be set up). */
  clientCa?: Buffer;
}

export interface HubbleTestServerOptions {
  nodeName: string;
  /** A unix socket path (the node socket). */
  unixSocket?: string;
  /** A TCP listener; port 0 picks one (see `tcpPort`). */
  tcp?: { host: string; port: number; tls?: HubbleTestServerTls };
  /** Flows kept for `since` and `number` (Hubble's default is 4095). */
  ringSize?: number;
  ringFile?: string;
  /** Unacknowledged writes a follower may have queued before flows are dropped for it (Hubble's buffer). */
  followerBuffer?: number;
}

interface Follower {
  call: grpc.ServerWritableStream<GetFlowsRequest, GetFlowsResponse>;
  /** GetFlowsRequest.field_mask, when the follower gave one. */
  fieldMask: string[] | undefined;
  /** Flows dropped since the follower stopped draining; reported when it drains. */
  dropping: number;
  firstDropped: Flow['time'];
  lastDropped: Flow['time'];
}

const camel = (name: string) => name.replace(/_([a-z0-9])/g, (_, c: string) => c.toUpperCase());

/** Why `paths` is not a field mask of flow.Flow (only the first segment is checked), or undefined. */
export function fieldMaskProblem(paths: readonly string[]): string | undefined {
  const fields = Flow.fromPartial({});
  for (const p of paths) if (!(camel(p.split('.')[0]!) in fields)) return `invalid fieldmask: ${p} is not a field of flow.Flow`;
  return undefined;
}

/** The flow with only the fields `paths` names (proto field names, dot-separated), the rest at their defaults. */
export function maskFlow(flow: Flow, paths: readonly string[]): Flow {
  const out: Record<string, unknown> = {};
  for (const p of paths) {
    const keys = p.split('.').map(camel);
    let from: unknown = flow;
    let to = out;
    for (let i = 0; i < keys.length && from !== undefined && from !== null; i++) {
      const k = keys[i]!;
      from = (from as Record<string, unknown>)[k];
      if (from === undefined) break;
      if (i === keys.length - 1) to[k] = from;
      else to = (to[k] ??= {}) as Record<string, unknown>;
    }
  }
  return Flow.fromPartial(out as Partial<Flow>);
}

const ns = (t: Flow['time']): bigint => (t ? BigInt(t.seconds) * 1_000_000_000n + BigInt(t.nanos) : 0n);

function nowTimestamp(): { seconds: number; nanos: number } {
  const ms = Date.now();
  return { seconds: Math.floor(ms / 1000), nanos: (ms % 1000) * 1_000_000 };
}

export class HubbleTestServer {
  readonly server = new grpc.Server();
  tcpPort = 0;
  emitted = 0;
  lostReported = 0;
  /** Flows restored from the ring file at start. */
  restored = 0;
  private ring: Flow[] = [];
  /** Times (ns) of flows evicted from the ring, oldest first: what a `since` in the past can no longer get. */
  private readonly evicted: bigint[] = [];
  private readonly followers = new Set<Follower>();
  private lastTimeNs = 0n;
  private ringFd: number | undefined;
  private readonly startedAt = Date.now();

  private constructor(private readonly options: HubbleTestServerOptions) {}

  static async start(options: HubbleTestServerOptions): Promise<HubbleTestServer> {
    const s = new HubbleTestServer(options);
    s.restore();
    s.server.addService(observerService(), {
      GetFlows: (call: grpc.ServerWritableStream<GetFlowsRequest, GetFlowsResponse>) => s.getFlows(call),
      ServerStatus: (_call: grpc.ServerUnaryCall<ServerStatusRequest, ServerStatusResponse>, cb: grpc.sendUnaryData<ServerStatusResponse>) => cb(null, s.status()),
    });
    if (options.unixSocket) {
      fs.rmSync(options.unixSocket, { force: true });
      await bind(s.server, `unix://${options.unixSocket}`, grpc.ServerCredentials.createInsecure());
    }
    if (options.tcp) {
      const tls = options.tcp.tls;
      const creds = tls ? grpc.ServerCredentials.createSsl(tls.clientCa ?? null, [{ cert_chain: tls.cert, private_key: tls.key }], tls.clientCa !== undefined) : grpc.ServerCredentials.createInsecure();
      s.tcpPort = await bind(s.server, `${options.tcp.host}:${options.tcp.port}`, creds);
    }
    return s;
  }

  get ringSize(): number {
    return this.options.ringSize ?? 4095;
  }

  /** Followers connected now. */
  get clients(): number {
    return this.followers.size;
  }

  /** Adds a flow to the ring and sends it to every follower. A flow without a time gets now (never before the last). */
  emit(flow: Flow): void {
    let t = ns(flow.time);
    if (!flow.time) {
      const now = nowTimestamp();
      t = ns(now);
      if (t <= this.lastTimeNs) t = this.lastTimeNs + 1n;
      flow = { ...flow, time: { seconds: Number(t / 1_000_000_000n), nanos: Number(t % 1_000_000_000n) } };
    }
    if (t > this.lastTimeNs) this.lastTimeNs = t;
    this.emitted++;
    this.append(flow, true);
    const response: GetFlowsResponse = { responseTypes: { $case: 'flow', value: flow }, nodeName: this.options.nodeName, time: flow.time };
    for (const f of this.followers) this.send(f, f.fieldMask ? this.flowResponse(flow, f.fieldMask) : response, flow);
  }

  /** Sends a lost_events to every follower (counted in lostReported once per follower that got it). */
  reportLost(count: number, source: LostEventSource = LostEventSource.PERF_EVENT_RING_BUFFER): void {
    const now = nowTimestamp();
    for (const f of this.followers) {
      if (this.write(f, lostResponse(this.options.nodeName, { source, numEventsLost: count, first: now, last: now }))) this.lostReported += count;
    }
  }

  async stop(): Promise<void> {
    for (const f of this.followers) f.call.end();
    this.followers.clear();
    await new Promise<void>((resolve) => this.server.tryShutdown(() => resolve()));
    if (this.ringFd !== undefined) fs.closeSync(this.ringFd);
    this.ringFd = undefined;
  }

  private status(): ServerStatusResponse {
    const uptimeMs = Date.now() - this.startedAt;
    return ServerStatusResponse.fromPartial({ numFlows: this.ring.length, maxFlows: this.ringSize, seenFlows: this.emitted + this.restored, uptimeNs: uptimeMs * 1e6, version: 'kestrel-hubble-test-server', flowsRate: uptimeMs > 0 ? (this.emitted * 1000) / uptimeMs : 0 });
  }

  private flowResponse(flow: Flow, fieldMask: string[] | undefined): GetFlowsResponse {
    return { responseTypes: { $case: 'flow', value: fieldMask ? maskFlow(flow, fieldMask) : flow }, nodeName: this.options.nodeName, time: flow.time };
  }

  private getFlows(call: grpc.ServerWritableStream<GetFlowsRequest, GetFlowsResponse>): void {
    const req = call.request;
    const node = this.options.nodeName;
    const fieldMask = req.fieldMask && req.fieldMask.length > 0 ? req.fieldMask : undefined;
    const problem = fieldMask && fieldMaskProblem(fieldMask);
    if (problem) {
      call.emit('error', { code: grpc.status.INVALID_ARGUMENT, details: problem });
      return;
    }
    let backlog: Flow[];
    if (req.since) {
      const since = ns(req.since);
      backlog = this.ring.filter((f) => ns(f.time) >= since);
      // Flows after `since` that the ring no longer has: said with a lost_events. Strictly after: a client resuming
      // from `since` already has the flows at that instant (that is where it stopped).
      let gone = 0;
      for (let i = this.evicted.length - 1; i >= 0 && this.evicted[i]! > since; i--) gone++;
      if (gone > 0) {
        call.write(lostResponse(node, { source: LostEventSource.HUBBLE_RING_BUFFER, numEventsLost: gone, first: req.since, last: this.ring[0]?.time }));
        this.lostReported += gone;
      }
    } else if (req.number > 0) {
      backlog = this.ring.slice(-req.number);
    } else {
      backlog = [];
    }
    for (const f of backlog) call.write(this.flowResponse(f, fieldMask));
    if (!req.follow) {
      call.end();
      return;
    }
    const follower: Follower = { call, fieldMask, dropping: 0, firstDropped: undefined, lastDropped: undefined };
    this.followers.add(follower);
    call.on('drain', () => this.drained(follower));
    call.on('cancelled', () => this.followers.delete(follower));
    call.on('close', () => this.followers.delete(follower));
    call.on('error', () => this.followers.delete(follower));
  }

  private send(f: Follower, response: GetFlowsResponse, flow: Flow): void {
    if (f.dropping > 0 || f.call.writableLength >= (this.options.followerBuffer ?? 1 << 20)) {
      if (f.dropping === 0) f.firstDropped = flow.time;
      f.dropping++;
      f.lastDropped = flow.time;
      return;
    }
    this.write(f, response);
  }

  private drained(f: Follower): void {
    if (f.dropping === 0) return;
    const count = f.dropping;
    f.dropping = 0;
    if (this.write(f, lostResponse(this.options.nodeName, { source: LostEventSource.OBSERVER_EVENTS_QUEUE, numEventsLost: count, first: f.firstDropped, last: f.lastDropped }))) this.lostReported += count;
  }

  private write(f: Follower, response: GetFlowsResponse): boolean {
    if (f.call.writableEnded || f.call.destroyed || f.call.cancelled) {
      this.followers.delete(f);
      return false;
    }
    f.call.write(response);
    return true;
  }

  private append(flow: Flow, persist: boolean): void {
    this.ring.push(flow);
    if (this.ring.length > this.ringSize) this.evicted.push(ns(this.ring.shift()!.time));
    if (persist && this.options.ringFile) {
      this.ringFd ??= fs.openSync(this.options.ringFile, 'a');
      fs.writeSync(this.ringFd, Buffer.from(Flow.encode(flow).finish()).toString('base64') + '\n');
    }
  }

  private restore(): void {
    const file = this.options.ringFile;
    if (!file || !fs.existsSync(file)) return;
    for (const line of fs.readFileSync(file, 'utf8').split('\n')) {
      if (!line) continue;
      const flow = Flow.decode(Buffer.from(line, 'base64'));
      this.append(flow, false);
      const t = ns(flow.time);
      if (t > this.lastTimeNs) this.lastTimeNs = t;
      this.restored++;
    }
  }
}

function lostResponse(nodeName: string, lost: Partial<LostEvent>): GetFlowsResponse {
  return { responseTypes: { $case: 'lostEvents', value: LostEvent.fromPartial(lost) }, nodeName, time: lost.last ?? nowTimestamp() };
}

function observerService(): grpc.ServiceDefinition {
  const method = <Req, Res>(name: string, req: { encode(m: Req): { finish(): Uint8Array }; decode(b: Uint8Array): Req }, res: { encode(m: Res): { finish(): Uint8Array }; decode(b: Uint8Array): Res }, responseStream: boolean): grpc.MethodDefinition<Req, Res> => ({
    path: `/observer.Observer/${name}`,
    requestStream: false,
    responseStream,
    requestSerialize: (m: Req) => Buffer.from(req.encode(m).finish()),
    requestDeserialize: (b: Buffer) => req.decode(b),
    responseSerialize: (m: Res) => Buffer.from(res.encode(m).finish()),
    responseDeserialize: (b: Buffer) => res.decode(b),
  });
  return {
    GetFlows: method('GetFlows', GetFlowsRequest, GetFlowsResponse, true),
    ServerStatus: method('ServerStatus', ServerStatusRequest, ServerStatusResponse, false),
  } as grpc.ServiceDefinition;
}

function bind(server: grpc.Server, address: string, creds: grpc.ServerCredentials): Promise<number> {
  return new Promise((resolve, reject) => server.bindAsync(address, creds, (err, port) => (err ? reject(err) : resolve(port))));
}

/** Options of the process form: TLS material as file paths. */
export interface HubbleTestServerProcessOptions extends Omit<HubbleTestServerOptions, 'tcp'> {
  tcp?: { host: string; port: number; tls?: { certFile: string; keyFile: string; clientCaFile?: string } };
}

async function main(): Promise<void> {
  const o = JSON.parse(process.argv[2] ?? '{}') as HubbleTestServerProcessOptions;
  const tls = o.tcp?.tls;
  const server = await HubbleTestServer.start({
    ...o,
    tcp: o.tcp ? { host: o.tcp.host, port: o.tcp.port, tls: tls ? { cert: fs.readFileSync(tls.certFile), key: fs.readFileSync(tls.keyFile), clientCa: tls.clientCaFile ? fs.readFileSync(tls.clientCaFile) : undefined } : undefined } : undefined,
  } as HubbleTestServerOptions);
  const print = (line: Record<string, unknown>) => process.stdout.write(JSON.stringify(line) + '\n');
  print({ message: 'hubble test server listening', unixSocket: o.unixSocket ?? null, tcpPort: server.tcpPort || null, restored: server.restored });
  let seq = 0;
  readline.createInterface({ input: process.stdin }).on('line', (line) => {
    if (!line.trim()) return;
    seq++;
    try {
      const cmd = JSON.parse(line) as { emit?: unknown[]; repeat?: number; lost?: number };
      if (cmd.emit) for (let r = 0; r < (cmd.repeat ?? 1); r++) for (const f of cmd.emit) server.emit(Flow.fromJSON(f));
      if (cmd.lost) server.reportLost(cmd.lost);
      print({ message: 'hubble test server state', seq, emitted: server.emitted, lostReported: server.lostReported, clients: server.clients });
    } catch (err) {
      print({ message: 'hubble test server command failed', seq, error: err instanceof Error ? err.message : String(err) });
    }
  });
  const stop = () => void server.stop().then(() => process.exit(0));
  process.on('SIGTERM', stop);
  process.on('SIGINT', stop);
}

export interface HubbleTestServerState {
  emitted: number;
  lostReported: number;
  clients: number;
}

/** The test server as a child process, driven over its stdin (so a test can SIGKILL it and start it again). */
export class HubbleTestServerProcess {
  private readonly child: ChildProcess;
  private readonly waiters = new Map<number, { resolve: (s: HubbleTestServerState) => void; reject: (e: Error) => void }>();
  private seq = 0;
  readonly listening: Promise<{ tcpPort: number | null; restored: number }>;
  readonly exited: Promise<number | null>;

  constructor(readonly options: HubbleTestServerProcessOptions) {
    this.child = spawn(process.execPath, [fileURLToPath(import.meta.url), JSON.stringify(options)], { stdio: ['pipe', 'pipe', 'inherit'] });
    this.exited = new Promise((resolve) => this.child.on('exit', (code) => resolve(code)));
    let onListening: (v: { tcpPort: number | null; restored: number }) => void = () => {};
    this.listening = new Promise((resolve, reject) => {
      onListening = resolve;
      void this.exited.then((code) => reject(new Error(`hubble test server exited with ${code} before listening`)));
    });
    readline.createInterface({ input: this.child.stdout! }).on('line', (text) => {
      const line = JSON.parse(text) as Record<string, unknown>;
      if (line['message'] === 'hubble test server listening') onListening({ tcpPort: line['tcpPort'] as number | null, restored: line['restored'] as number });
      const waiter = this.waiters.get(line['seq'] as number);
      if (!waiter) return;
      this.waiters.delete(line['seq'] as number);
      if (line['message'] === 'hubble test server state') waiter.resolve({ emitted: line['emitted'] as number, lostReported: line['lostReported'] as number, clients: line['clients'] as number });
      else waiter.reject(new Error(String(line['error'])));
    });
    void this.exited.then(() => {
      for (const w of this.waiters.values()) w.reject(new Error('hubble test server exited'));
      this.waiters.clear();
    });
  }

  /** Emits the flows (proto3 JSON of flow.Flow) `repeat` times; resolves with the server's counters after. */
  emit(flows: unknown[], repeat = 1): Promise<HubbleTestServerState> {
    return this.command({ emit: flows, repeat });
  }

  reportLost(count: number): Promise<HubbleTestServerState> {
    return this.command({ lost: count });
  }

  state(): Promise<HubbleTestServerState> {
    return this.command({});
  }

  kill(): Promise<number | null> {
    this.child.kill('SIGKILL');
    return this.exited;
  }

  stop(): Promise<number | null> {
    this.child.kill('SIGTERM');
    return this.exited;
  }

  private command(cmd: Record<string, unknown>): Promise<HubbleTestServerState> {
    const seq = ++this.seq;
    return new Promise((resolve, reject) => {
      this.waiters.set(seq, { resolve, reject });
      this.child.stdin!.write(JSON.stringify(cmd) + '\n');
    });
  }
}

if (process.argv[1] === fileURLToPath(import.meta.url)) await main();
