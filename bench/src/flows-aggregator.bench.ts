// Flow merging on the aggregator, in one process on one core, with the code the aggregator runs (flows/merger.ts):
// FlowWindows as agents send them (decoded from their ingest bytes, as the ingest service gets them) from
// BENCH_FLOWS_AGG_NODES nodes, each window holding the conversations its node saw in that window; half of the
// pod-to-pod conversations are seen on both ends (egress on one node, ingress on another), 1 in 5 far endpoints left
// for the aggregator's pod IP index to resolve. Printed:
//  - windows/s and flow entries/s merged (submitWindow: replay check, resolution, bucket placement, merge),
//  - raw flows/s those entries stand for (FlowWindow.raw_flows),
//  - the cost of sending a bucket: cloud.v1 Flow records built and encoded per second,
//  - wire bytes: StreamFlows bytes (Flow records) per raw flow, and per agent FlowWindow entry.
import { createLogger, createRegistry, timestampOf } from '@kestrel/core';
import { FlowEvents, FlowMerger } from '@kestrel/aggregator/flows';
import { Flow as CloudFlow, type Endpoint, type Flow } from '@kestrel/proto/cloud/v1';
import { BatchContent, FlowSource, type FlowWindow } from '@kestrel/proto/ingest/v1';

const NODES = Number(process.env.BENCH_FLOWS_AGG_NODES ?? 50);
const WINDOWS_PER_NODE = Number(process.env.BENCH_FLOWS_AGG_WINDOWS ?? 40);
const ENTRIES = Number(process.env.BENCH_FLOWS_AGG_ENTRIES ?? 400);
const RAW_PER_ENTRY = Number(process.env.BENCH_FLOWS_AGG_RAW_PER_ENTRY ?? 25);


const workloads = Array.from({ length: Number(process.env.BENCH_FLOWS_AGG_WORKLOADS ?? 5000) }, (_, i) => ({ ns: `ns-${i % 12}`, kind: i % 7 === 0 ? 'StatefulSet' : 'Deployment', name: `svc-${i}` }));
const ipOf = (w: number) => `10.${(w >> 8) & 255}.${w & 255}.${(w % 200) + 10}`;
const pods = new Map<string, Endpoint>(workloads.map((w, i) => [ipOf(i), { ns: w.ns, kind: w.kind, name: w.name, labels: [`app=${w.name}`, `tier=${i % 3}`] }]));
const empty: Endpoint = { ns: '', kind: '', name: '', labels: [] };

/**
 * The windows of one node. Conversation c goes from workload c % W to workload (7c + 3) % W; a node observes the
 * conversations whose source runs on it (egress) and those whose destination runs on it (ingress), so every
 * pod-to-pod conversation is seen on both ends, by two nodes, as in a cluster where every node has Hubble.
 */
function nodeWindows(node: number, t0: number): FlowWindow[] {
  const W = workloads.length;
  const mine: { c: number; ingress: boolean }[] = [];
  for (let c = 0; mine.length < ENTRIES; c++) {
    if (c % W % NODES === node) mine.push({ c, ingress: false });
    if (((7 * c + 3) % W) % NODES === node && mine.length < ENTRIES) mine.push({ c, ingress: true });
  }
  const out: FlowWindow[] = [];
  for (let w = 0; w < WINDOWS_PER_NODE; w++) {
    const start = t0 + w * 1000;
    const flows: Flow[] = [];
    let raw = 0;
    for (const [e, { c, ingress }] of mine.entries()) {
      const src = c % W;
      const dst = (7 * c + 3) % W;
      const count = 1 + ((c * 31 + w) % (RAW_PER_ENTRY * 2));
      raw += count;
      flows.push({
        srcIp: ipOf(src),
        dstIp: ipOf(dst),
        // The node knows its own pod; 1 in 5 far ends are left for the aggregator to resolve.
        src: ingress && e % 5 === 0 ? empty : pods.get(ipOf(src)),
        dst: !ingress && e % 5 === 0 ? empty : pods.get(ipOf(dst)),
        direction: ingress ? 'ingress' : 'egress',
        port: [80, 443, 5432, 8080][c % 4]!,
        protocol: 'TCP',
        allowed: c % 17 !== 0,
        count,
        firstSeen: timestampOf(start + (c % 1000)),
        lastSeen: timestampOf(start + 999),
        ingressAllowedBy: [],
        egressAllowedBy: [],
      });
    }
    out.push({ source: FlowSource.FLOW_SOURCE_HUBBLE, windowStart: timestampOf(start), windowEnd: timestampOf(start + 1000), flows, sourceLost: 0, agentDropped: 0, rawFlows: raw });
  }
  return out;
}

async function main(): Promise<void> {
  const logger = createLogger('bench', 'error');
  logger.silent = true;
  const t0 = 1_700_000_000_000;
  // Windows as the ingest service gets them: decoded from the bytes an agent sends.
  const encoded = Array.from({ length: NODES }, (_, n) => nodeWindows(n, t0).map((w) => BatchContent.encode({ logs: [], nodeConditions: [], flows: [w] }).finish()));
  const windows = encoded.map((ws) => ws.map((b) => BatchContent.decode(b).flows[0]!));
  const agentWireBytes = encoded.flat().reduce((n, b) => n + b.length, 0);
  const totalWindows = NODES * WINDOWS_PER_NODE;
  const totalEntries = totalWindows * ENTRIES;
  const totalRaw = windows.flat().reduce((n, w) => n + w.rawFlows, 0);

  let wireBytes = 0;
  let records = 0;
  let now = t0;
  const merger = new FlowMerger(
    { hubbleMode: 'agents', hubbleCountAt: 'either', bucketMs: 10_000, graceMs: 5_000, maxConversations: 10_000_000, maxRememberedWindows: 1_000_000, maxIndexedPods: 1_000_000, relay: { address: 'x:1', caFile: undefined, certFile: undefined, keyFile: undefined, serverName: undefined } },
    {
      async submitFlow(f) {
        wireBytes += CloudFlow.encode(f).finish().length + 3; // + the StreamFlowsRequest field tag and length
        records++;
        return { delivered: Promise.resolve() };
      },
    },
    { resolve: (ip) => pods.get(ip) },
    new FlowEvents(createRegistry('bench', false), logger),
    logger,
    () => now,
  );
  const signal = new AbortController().signal;

  // Merge: windows of all nodes interleaved in time order, as they arrive.
  const mergeStart = process.hrtime.bigint();
  for (let w = 0; w < WINDOWS_PER_NODE; w++) {
    now = t0 + w * 1000 + 1000;
    for (let n = 0; n < NODES; n++) await merger.submitWindow(`node-${n}`, windows[n]![w]!, signal);
  }
  const mergeSeconds = Number(process.hrtime.bigint() - mergeStart) / 1e9;
  const held = merger.view().conversationsHeld;


  // Send: every bucket due, Flow records built and encoded.
  const stop = new AbortController();
  now = t0 + WINDOWS_PER_NODE * 1000 + 60_000;
  const sendStart = process.hrtime.bigint();
  const running = merger.run(stop.signal);
  while (merger.view().conversationsHeld > 0 || records < held) await new Promise((r) => setImmediate(r));
  const sendSeconds = Number(process.hrtime.bigint() - sendStart) / 1e9;
  stop.abort();
  await running;

  const v = merger.view();
  const f = (n: number) => Math.round(n).toLocaleString('en-US');
  process.stdout.write(`${NODES} nodes x ${WINDOWS_PER_NODE} windows x ${ENTRIES} entries (${f(totalRaw)} raw flows)\n`);
  process.stdout.write(`merge: ${f(totalWindows / mergeSeconds)} windows/s, ${f(totalEntries / mergeSeconds)} entries/s, ${f(totalRaw / mergeSeconds)} raw flows/s (one core)\n`);
  process.stdout.write(`held: ${f(held)} conversations in open buckets before sending\n`);
  process.stdout.write(`send: ${f(records)} Flow records built and encoded, ${f(records / sendSeconds)} records/s; both ends merged ${f(v.bothEnds)}\n`);
  process.stdout.write(`wire: agents -> aggregator ${(agentWireBytes / totalRaw).toFixed(2)} B per raw flow (uncompressed FlowWindows); aggregator -> cloud ${(wireBytes / totalRaw).toFixed(3)} B per raw flow, ${(wireBytes / records).toFixed(0)} B per Flow record\n`);
}

await main();
