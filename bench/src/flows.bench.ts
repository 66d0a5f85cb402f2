// Flow aggregation on the node (the agent's side), in one process on one core, with the code the agent runs:
//  1. raw flows/s into the window table (RawFlow already built: the aggregation alone),
//  2. Hubble flows/s from decoded flow.Flow objects (hubbleToRaw, endpoint lookup for what Hubble left out, table),
//  3. Hubble flows/s from GetFlowsResponse bytes as they come off hubble.sock, read by hubble-wire.ts as the agent
//     does (and, for comparison, by the generated decoder + hubbleToRaw),
//  4. VPC CNI flow log lines/s (parseVpcCniLine, endpoint lookup, direction, table),
// then the wire cost: windows of BENCH_FLOWS_WINDOW raw flows encoded as the agent sends them (BatchContent with
// FlowWindows, gzip level 1 as sealBatch does) -> bytes per raw flow, against the bytes Hubble itself uses per flow.
// The mix: BENCH_FLOWS_CONVERSATIONS distinct conversations (source workload, destination, port, verdict, direction)
// picked with a skewed (Zipf-like) distribution, client ports random, 1 in 20 flows with no Hubble endpoint for the
// destination (resolved from the node's pods), 1 in 10 a reply. Target: 200,000 raw flows/s into the aggregation.
// Last, the real agent process (its bundle, run as its image runs it) follows a Hubble stand-in on a unix socket
// while BENCH_FLOWS_PROCESS flows are sent as fast as the stand-in can: the agent's CPU per flow from /proc (all its
// threads), what it counted, and what the server had to drop for it (reported to it as lost_events). Two stand-ins
// (BENCH_FLOWS_FEEDS): `burst` writes frames as Cilium's Go server does under load (one flow per DATA frame, 32 KiB
// writes), fast enough to keep the agent busy; `grpc-js` is the e2e tests' test server, which sends ~20,000 flows/s
// here, so the agent reads a trickle (a few flows per socket read) and pays its per-read and per-window costs more.
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { gzipSync } from 'node:zlib';
import { adminRequest } from '@kestrel/core';
import type { FlowsView } from '@kestrel/agent';
import { HubbleTestServer, maskFlow } from '@kestrel/e2e/harness/hubble-test-server';
import { HubbleBurstServer } from '@kestrel/e2e/harness/hubble-test-server-burst';
import { IngestRecorder } from '@kestrel/e2e/harness/ingest-recorder';
import { createInternalPki, startAgent } from '@kestrel/e2e/harness/system';
import { FlowWindowTable, hubbleToRaw, parseVpcCniLine, readGetFlowsResponse, type RawFlow } from '@kestrel/flows';
import type { Endpoint } from '@kestrel/proto/cloud/v1';
import { Flow, TrafficDirection, Verdict } from '@kestrel/proto/hubble/flow';
import { GetFlowsRequest, GetFlowsResponse } from '@kestrel/proto/hubble/observer';
import { BatchContent, FlowSource, type FlowWindow } from '@kestrel/proto/ingest/v1';
import { imageEnv, withNodeOptions } from './image-env.js';
import { describeMachine, machineCpu, procStats } from './proc-stats.js';

const CONVERSATIONS = Number(process.env.BENCH_FLOWS_CONVERSATIONS ?? 2000);
const FLOWS = Number(process.env.BENCH_FLOWS ?? 2_000_000);
const WINDOW = Number(process.env.BENCH_FLOWS_WINDOW ?? 100_000);
const SAMPLES = 4096;

// Deterministic pseudo-random numbers, so runs compare.
let seed = 42;
const rand = () => ((seed = (seed * 1103515245 + 12345) & 0x7fffffff) / 0x7fffffff);
/** Skewed pick in [0, n): a few conversations carry most flows, as on a real node. */
const zipf = (n: number) => Math.min(n - 1, Math.floor(n * rand() ** 3));

const workloads = Array.from({ length: 60 }, (_, i) => ({ ns: `ns-${i % 6}`, name: `svc-${i}`, kind: i % 5 === 0 ? 'StatefulSet' : 'Deployment' }));
const ipOf = (w: number) => `10.0.${w >> 4}.${(w & 15) + 10}`;
const pods = new Map<string, Endpoint>(workloads.map((w, i) => [ipOf(i), { ns: w.ns, kind: w.kind, name: w.name, labels: [`app=${w.name}`] }]));
const resolve = (ip: string) => pods.get(ip);

interface Conversation {
  src: number;
  dst: number;
  port: number;
  dropped: boolean;
}
const conversations: Conversation[] = Array.from({ length: CONVERSATIONS }, (_, i) => ({ src: i % 60, dst: Math.floor(i / 60) % 60, port: [80, 443, 5432, 6379, 8080, 9090][Math.floor(i / 3600) % 6]!, dropped: i % 23 === 0 }));

function hubbleEndpoint(w: number) {
  const x = workloads[w]!;
  return { ID: w, identity: 1000 + w, clusterName: 'default', namespace: x.ns, labels: [`k8s:app=${x.name}`, `k8s:io.kubernetes.pod.namespace=${x.ns}`], podName: `${x.name}-7d4b9c-abcde`, workloads: [{ name: x.name, kind: x.kind }] };
}

function sampleFlow(i: number): Flow {
  const c = conversations[zipf(CONVERSATIONS)]!;
  const reply = i % 10 === 0;
  const client = { ip: ipOf(c.src), port: 32768 + Math.floor(rand() * 28000), ep: hubbleEndpoint(c.src) };
  const server = { ip: ipOf(c.dst), port: c.port, ep: i % 20 === 0 ? undefined : hubbleEndpoint(c.dst) };
  const [from, to] = reply ? [server, client] : [client, server];
  const ms = 1_700_000_000_000 + i;
  return Flow.fromPartial({
    time: { seconds: Math.floor(ms / 1000), nanos: (ms % 1000) * 1e6 },
    uuid: `0b6f3c2e-${String(i).padStart(4, '0')}-4d1e-9a7b-5c2f1e0d3b4a`,
    verdict: c.dropped ? Verdict.DROPPED : Verdict.FORWARDED,
    IP: { source: from.ip, destination: to.ip, ipVersion: 1 },
    l4: { protocol: { $case: 'TCP', value: { sourcePort: from.port, destinationPort: to.port, flags: { ACK: true, PSH: !reply } } } },
    source: from.ep,
    destination: to.ep,
    Type: 1,
    nodeName: 'node-a',
    isReply: reply,
    trafficDirection: reply ? TrafficDirection.INGRESS : TrafficDirection.EGRESS,
    traceObservationPoint: 101,
    eventType: { type: 4, subType: 0 },
    Summary: 'TCP Flags: ACK',
  });
}

const flows = Array.from({ length: SAMPLES }, (_, i) => sampleFlow(i));
const responses = flows.map((f) => Buffer.from(GetFlowsResponse.encode({ responseTypes: { $case: 'flow', value: f }, nodeName: 'node-a', time: f.time }).finish()));
const raws = flows.map((f) => {
  const r = hubbleToRaw(f) as RawFlow;
  r.src ??= resolve(r.srcIp);
  r.dst ??= resolve(r.dstIp);
  return r;
});
const vpcLines = Array.from({ length: SAMPLES }, (_, i) => {
  const c = conversations[zipf(CONVERSATIONS)]!;
  return JSON.stringify({ level: 'info', ts: new Date(1_700_000_000_000 + i).toISOString(), logger: 'ebpf-client', caller: 'events/events.go:193', msg: 'Flow Info: ', 'Src IP': ipOf(c.src), 'Src Port': 32768 + (i % 28000), 'Dest IP': ipOf(c.dst), 'Dest Port': c.port, Proto: 'TCP', Verdict: c.dropped ? 'DENY' : 'ACCEPT' });
});

function run(name: string, perFlow: (i: number, table: FlowWindowTable) => void): void {
  // Warm up, then measure FLOWS flows; the table is drained every WINDOW flows, as windows close on the node.
  const table = new FlowWindowTable({ source: FlowSource.FLOW_SOURCE_HUBBLE, maxEntries: 50_000 });
  for (let i = 0; i < 200_000; i++) perFlow(i, table);
  table.drain();
  globalThis.gc?.();
  const cpu0 = process.cpuUsage();
  const t0 = process.hrtime.bigint();
  for (let i = 0; i < FLOWS; i++) {
    perFlow(i, table);
    if (i % WINDOW === WINDOW - 1) table.drain();
  }
  const seconds = Number(process.hrtime.bigint() - t0) / 1e9;
  const cpu = process.cpuUsage(cpu0);
  const cpuSeconds = (cpu.user + cpu.system) / 1e6;
  process.stdout.write(`${name.padEnd(58)} ${Math.round(FLOWS / seconds).toLocaleString('en-US').padStart(12)} flows/s   (${(cpuSeconds / seconds).toFixed(2)} cores, ${((cpuSeconds / FLOWS) * 1e9).toFixed(0)} ns CPU per flow)\n`);
}

process.stdout.write(`mix: ${CONVERSATIONS} conversations (skewed), ${FLOWS.toLocaleString('en-US')} flows per run, windows of ${WINDOW.toLocaleString('en-US')} flows\n`);
run('aggregation only (RawFlow -> window table)', (i, t) => void t.add(raws[i & (SAMPLES - 1)]!));
run('Hubble flow.Flow -> raw -> resolve -> table', (i, t) => {
  const r = hubbleToRaw(flows[i & (SAMPLES - 1)]!);
  if (typeof r === 'string') return;
  r.src ??= resolve(r.srcIp);
  r.dst ??= resolve(r.dstIp);
  t.add(r);
});
run('Hubble bytes -> wire reader -> resolve -> table (the agent)', (i, t) => {
  const e = readGetFlowsResponse(responses[i & (SAMPLES - 1)]!);
  if (e.kind !== 'flow' || typeof e.flow === 'string') return;
  const r = e.flow;
  r.src ??= resolve(r.srcIp);
  r.dst ??= resolve(r.dstIp);
  t.add(r);
});
run('Hubble bytes -> generated decode -> raw -> table (for comparison)', (i, t) => {
  const m = GetFlowsResponse.decode(responses[i & (SAMPLES - 1)]!);
  if (m.responseTypes?.$case !== 'flow') return;
  const r = hubbleToRaw(m.responseTypes.value);
  if (typeof r === 'string') return;
  r.src ??= resolve(r.srcIp);
  r.dst ??= resolve(r.dstIp);
  t.add(r);
});
run('VPC CNI log line -> parse -> resolve -> table', (i, t) => {
  const p = parseVpcCniLine(vpcLines[i & (SAMPLES - 1)]!);
  if (p.kind !== 'flow') return;
  p.flow.src = resolve(p.flow.srcIp);
  p.flow.dst = resolve(p.flow.dstIp);
  p.flow.direction = p.flow.src ? 'egress' : p.flow.dst ? 'ingress' : '';
  t.add(p.flow);
});

// Wire cost: what leaves the node per raw flow, for windows of WINDOW flows.
const table = new FlowWindowTable({ source: FlowSource.FLOW_SOURCE_HUBBLE, maxEntries: 50_000 });
const windows: FlowWindow[] = [];
const WIRE_FLOWS = Math.min(FLOWS, 1_000_000);
for (let i = 0; i < WIRE_FLOWS; i++) {
  table.add(raws[i & (SAMPLES - 1)]!);
  if (i % WINDOW === WINDOW - 1) windows.push(table.drain());
}
let encoded = 0;
let compressed = 0;
let conversationsSent = 0;
for (const w of windows) {
  const bytes = BatchContent.encode({ logs: [], nodeConditions: [], flows: [w] }).finish();
  encoded += bytes.length;
  compressed += gzipSync(bytes, { level: 1 }).length;
  conversationsSent += w.flows.length;
}
const rawFlowsSent = windows.reduce((n, w) => n + w.rawFlows, 0);
const hubbleBytes = responses.reduce((n, b) => n + b.length, 0) / responses.length;
process.stdout.write(
  `\nwire: ${windows.length} windows of ${WINDOW.toLocaleString('en-US')} raw flows -> ${Math.round(conversationsSent / windows.length)} conversations each\n` +
    `  ${(encoded / rawFlowsSent).toFixed(3)} bytes per raw flow encoded, ${(compressed / rawFlowsSent).toFixed(3)} bytes per raw flow gzip-1 (as batches go)\n` +
    `  ${(encoded / conversationsSent).toFixed(1)} bytes per conversation; Hubble's own GetFlowsResponse: ${hubbleBytes.toFixed(0)} bytes per raw flow\n`,
);


// The real agent process on a real socket, fed by each Hubble stand-in in turn (BENCH_FLOWS_FEEDS).
const PROCESS_FLOWS = Number(process.env.BENCH_FLOWS_PROCESS ?? 600_000);
const FEEDS = (process.env.BENCH_FLOWS_FEEDS ?? 'burst,grpc-js').split(',').map((f) => f.trim()).filter(Boolean) as Feed[];
type Feed = 'burst' | 'grpc-js';
if (PROCESS_FLOWS > 0) for (const feed of FEEDS) await agentProcess(feed);

/** Something that serves GetFlows on the node socket and can be told to send flows. */
interface Feeder {
  clients(): number;
  /** Resolves once the feeder has handed all flows to the socket. */
  send(count: number): Promise<void>;
  lostReported(): number;
  stop(): Promise<void>;
}

async function startFeeder(feed: Feed, socket: string): Promise<Feeder> {
  if (feed === 'burst') {
    // Written as Cilium's Go gRPC server writes under load: one frame per flow, 32 KiB per socket write.
    const server = await HubbleBurstServer.start(socket);
    return {
      clients: () => server.clients,
      send: (count) => {
        // As Hubble does, only the fields the agent asked for (field_mask) are sent.
        const request = server.request();
        const mask = request ? GetFlowsRequest.decode(request).fieldMask : undefined;
        const sent = mask?.length ? flows.map((f) => Buffer.from(GetFlowsResponse.encode({ responseTypes: { $case: 'flow', value: maskFlow(f, mask) }, nodeName: 'node-a', time: f.time }).finish())) : responses;
        process.stdout.write(`\n  (field_mask asked by the agent: ${mask?.length ? mask.join(',') : 'none'}; ${(sent.reduce((n, b) => n + b.length, 0) / sent.length).toFixed(0)} bytes per GetFlowsResponse)`);
        return server.send(sent, count);
      },
      lostReported: () => 0,
      stop: () => server.stop(),
    };
  }
  // The grpc-js test server buffers everything for the agent (no drop): the figure is the agent's cost per flow.
  const server = await HubbleTestServer.start({ nodeName: 'node-a', unixSocket: socket, followerBuffer: PROCESS_FLOWS + 1 });
  return {
    clients: () => server.clients,
    send: async (count) => {
      for (let i = 0; i < count; i++) {
        // Without a time the server stamps each flow with now (the samples repeat; their own times would repeat too).
        server.emit({ ...flows[i & (SAMPLES - 1)]!, time: undefined });
        // Let grpc-js write between bursts (the server runs on this process's event loop).
        if (i % 2000 === 1999) await new Promise((r) => setImmediate(r));
      }
    },
    lostReported: () => server.lostReported,
    stop: () => server.stop(),
  };
}

async function agentProcess(feed: Feed): Promise<void> {
  const workDir = fs.mkdtempSync(path.join(os.tmpdir(), 'kestrel-bench-flows-'));
  const podsRoot = path.join(workDir, 'pods');
  fs.mkdirSync(podsRoot);
  const socket = path.join(workDir, 'hubble.sock');
  const server = await startFeeder(feed, socket);
  const recorder = new IngestRecorder();
  const pki = createInternalPki(path.join(workDir, 'pki'));
  await recorder.start(pki);
  // The agent as its image runs it, plus BENCH_FLOWS_AGENT_NODE_OPTIONS (e.g. --cpu-prof, or a larger semi-space).
  const env = withNodeOptions(imageEnv('agent'), process.env.BENCH_FLOWS_AGENT_NODE_OPTIONS);
  const { agent, adminSocket } = startAgent(workDir, 'node-a', podsRoot, recorder.address, pki, {
    KESTREL_AGENT_FLOWS_HUBBLE: 'on',
    KESTREL_AGENT_HUBBLE_ADDRESS: `unix://${socket}`,
    KESTREL_AGENT_FLOW_WINDOW: '1s',
    KESTREL_AGENT_NODE_WATCH: 'off',
    KESTREL_AGENT_LOG_LEVEL: 'warn',
    ...env,
  });
  try {
    await agent.waitFor((l) => String(l.message).includes('Hubble') || l.message === 'kestrel-agent started', 30_000).catch(() => undefined);
    const deadline = Date.now() + 30_000;
    while (server.clients() === 0 && Date.now() < deadline) await new Promise((r) => setTimeout(r, 50));
    const pid = agent.pid!;
    const before = procStats(pid);
    const machine0 = machineCpu();
    const t0 = Date.now();
    await server.send(PROCESS_FLOWS);
    const view = async () => (await adminRequest(adminSocket, 'flows')) as FlowsView;
    // Every flow sent is counted, reported lost, skipped, or recognised as one already taken: the burst stand-in
    // repeats its samples, so once per round the newest flow's time and UUID come again and are skipped as they would
    // be after a reconnect.
    const duplicates = (v: FlowsView) => v.sources.reduce((n, s) => n + (s.source === 'hubble' ? s.duplicatesSkipped : 0), 0);
    const done = (v: FlowsView) => v.totals.hubble.raw + v.totals.hubble.sourceLost + Object.values(v.totals.hubble.skipped).reduce((a, b) => a + b, 0) + duplicates(v);
    let v = await view();
    const end = Date.now() + 120_000;
    while (done(v) < PROCESS_FLOWS && Date.now() < end) {
      await new Promise((r) => setTimeout(r, 100));
      v = await view();
    }
    const seconds = (Date.now() - t0) / 1000;
    const after = procStats(pid);
    const cpu = after.cpuSeconds - before.cpuSeconds;
    const t = v.totals.hubble;
    process.stdout.write(
      `\nagent process fed by the ${feed === 'burst' ? 'burst Hubble stand-in (frames written as grpc-go writes them)' : 'grpc-js Hubble test server'} (real socket, ${PROCESS_FLOWS.toLocaleString('en-US')} flows in ${seconds.toFixed(1)} s = ${Math.round(t.raw / seconds).toLocaleString('en-US')}/s; NODE_OPTIONS="${env['NODE_OPTIONS']}" MALLOC_ARENA_MAX=${env['MALLOC_ARENA_MAX']}):\n` +
        `  counted ${t.raw.toLocaleString('en-US')}, reported lost by the server ${t.sourceLost.toLocaleString('en-US')} (server total ${server.lostReported().toLocaleString('en-US')}), dropped by the agent ${JSON.stringify(t.dropped)}, repeats skipped ${duplicates(v)}\n` +
        `  agent CPU ${cpu.toFixed(2)} s (${((cpu / Math.max(1, t.raw)) * 1e6).toFixed(2)} µs per counted flow = ${Math.round(t.raw / Math.max(0.01, cpu)).toLocaleString('en-US')} flows per CPU-second, ${(cpu / seconds).toFixed(2)} cores), peak RSS ${after.peakRssMiB.toFixed(0)} MiB\n` +
        `  ${describeMachine(machine0, machineCpu(), seconds)}\n`,
    );
  } finally {
    await agent.stop();
    await recorder.stop();
    await server.stop();
    fs.rmSync(workDir, { recursive: true, force: true });
  }
}
