// Latency benchmark: how long a log line takes from its write into a container's log file to its arrival at the
// cloud. Real processes on loopback: cloud-dev, 2 aggregator replicas, 5 agents (each its own node name, pods folder,
// client certificate and state), every agent given both aggregators' addresses (it picks one by rendezvous hashing
// of its node name). A writer process (latency-writer-child.ts) writes 10,000 CRI lines/s per node into the pods'
// files, each line carrying its sequence number and write time (Date.now()); cloud-dev stamps every message it
// reads with `receivedAt` (Date.now()). Per line: receivedAt - write time. Printed: p50, p90, p99, p99.9 and max,
// the count of lines written and stored, missing and duplicated lines, and p99 per slice of the run (stalls).
// Target (printed, not asserted): p99 under 1 s, with the default batching delays (agent flushInterval 200 ms,
// aggregator logsBatchLinger 200 ms), which the ingest benchmark's throughput figures were measured with too.
// As the ingest benchmark warms up before it measures, the writer first writes BENCH_LATENCY_WARMUP_SECONDS (5) at
// the same rate and the bench waits until those lines arrived: the processes' start-up (JIT, first streams, first
// collections on a 2-core machine running nine processes) is printed on its own line and is not in the target's
// figures. Every line of both phases must arrive exactly once.
//
// Settings (environment): BENCH_LATENCY_SECONDS (40: seconds of writing), BENCH_LATENCY_RATE (10000 lines/s per
// node), BENCH_LATENCY_AGENTS (5), BENCH_LATENCY_ADDRESSES ("both": every agent gets both addresses; "alternate":
// agent i gets aggregator i mod 2 only; "N:M", e.g. "4:1": the first N agents get aggregator-0 only, the other M
// aggregator-1 only, so an uneven placement that hashing gives by chance can be measured on purpose),
// BENCH_LATENCY_WARMUP_SECONDS (5; 0: none), BENCH_LATENCY_AGGREGATOR_ENV and BENCH_LATENCY_AGENT_ENV ("K=V,K=V":
// extra settings of the aggregators, of the agents), BENCH_CLOUD_HTTP2_WINDOW=1 (cloud-dev advertises an 8 MiB HTTP/2 window: http2-window.ts), BENCH_PROFILE=1,
// BENCH_LATENCY_KUBE=1 (the agents run as in a cluster: with Kubernetes access to a Kubernetes API test server in the
// bench's process, holding their Nodes and pods, so they load @kubernetes/client-node and run their node and pod
// watches; their memory is then what a node's agent uses; without it they never load the client).
import { spawn } from 'node:child_process';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import readline from 'node:readline';
import { createContainers, type SimulatedContainer } from '@kestrel/e2e/harness/pod-writer';
import type { RunningProcess } from '@kestrel/e2e/harness/process';
import { createInternalPki, startAgent, startAggregator } from '@kestrel/e2e/harness/system';
import { startKubeApiServer, type KubeApiServer } from '@kestrel/e2e/kube-api-server';
import { cloudHttp2Window, startBenchCloud } from './cloud.js';
import { imageEnv, withNodeOptions } from './image-env.js';
import { settingsFrom } from './settings-env.js';
import type { WriterConfig, WriterResult } from './latency-writer-child.js';
import { printProfileSummary, summarizeCpuProfile } from './cpu-profile.js';
import { describeMachine, machineCpu, procStats, StoredEntryCounter } from './proc-stats.js';

const SECONDS = Number(process.env.BENCH_LATENCY_SECONDS ?? 40);
const WARMUP_SECONDS = Number(process.env.BENCH_LATENCY_WARMUP_SECONDS ?? 5);
const RATE = Number(process.env.BENCH_LATENCY_RATE ?? 10_000);
const AGENTS = Number(process.env.BENCH_LATENCY_AGENTS ?? 5);
const ADDRESSES = process.env.BENCH_LATENCY_ADDRESSES ?? 'both';
/** BENCH_LATENCY_ADDRESSES=N:M: how many agents go to aggregator-0 (the rest to aggregator-1). */
const SPLIT = /^(\d+):(\d+)$/.exec(ADDRESSES);
if (SPLIT && Number(SPLIT[1]) + Number(SPLIT[2]) !== AGENTS) throw new Error(`BENCH_LATENCY_ADDRESSES=${ADDRESSES}: the two counts must add up to BENCH_LATENCY_AGENTS (${AGENTS})`);
if (!SPLIT && ADDRESSES !== 'both' && ADDRESSES !== 'alternate') throw new Error(`BENCH_LATENCY_ADDRESSES=${ADDRESSES}: expected both, alternate or N:M (e.g. 4:1)`);
/** The aggregator agent i is given alone, or undefined: both, and the agent picks by hashing. */
const fixedAggregator = (i: number): number | undefined => (SPLIT ? (i < Number(SPLIT[1]) ? 0 : 1) : ADDRESSES === 'alternate' ? i % 2 : undefined);
const HEARTBEAT = '1s';
/** BENCH_LATENCY_AGGREGATOR_ENV="K=V,K=V": extra aggregator settings. */
const aggregatorEnv = settingsFrom('BENCH_LATENCY_AGGREGATOR_ENV');
/** BENCH_LATENCY_AGENT_ENV="K=V,K=V": extra agent settings (e.g. KESTREL_AGENT_READ_INTERVAL=0). */
const agentEnv = settingsFrom('BENCH_LATENCY_AGENT_ENV');
/** BENCH_PROFILE=1: the first agent, the first aggregator and cloud-dev run under node --cpu-prof (slower: latency figures do not count). */
const PROFILE = process.env.BENCH_PROFILE === '1';
/** BENCH_LATENCY_KUBE=1: agents with Kubernetes access (their watches on), as in a cluster. */
const KUBE = process.env.BENCH_LATENCY_KUBE === '1';
const TARGET_P99_MS = 1000;
/** Also shown: the figures for lines written after this many seconds (a start-up transient is excluded). */
const STARTUP_S = 10;
/** Pods per node, and which of them have a second container (an Envoy sidecar). */
const PODS_PER_NODE = 5;

const out = (line: string) => process.stdout.write(line + '\n');
const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));
const fmt = (n: number) => Math.round(n).toLocaleString('en-US');

/** A Ready Node for the agent and its pods (same namespaces, names and uids as their log folders), as its watches see them. */
function addToCluster(kube: KubeApiServer, node: string, containers: readonly SimulatedContainer[]): void {
  kube.create({ apiVersion: 'v1', kind: 'Node', metadata: { name: node }, status: { conditions: [{ type: 'Ready', status: 'True' }] } });
  const pods = new Map<string, SimulatedContainer[]>();
  for (const c of containers) pods.set(c.uid, [...(pods.get(c.uid) ?? []), c]);
  for (const [uid, list] of pods) {
    const { namespace, pod } = list[0]!;
    kube.ensureNamespace(namespace);
    kube.create({ apiVersion: 'v1', kind: 'Pod', metadata: { name: pod, namespace, uid }, spec: { nodeName: node, containers: list.map((c) => ({ name: c.container, image: `${c.container}:1` })) }, status: { phase: 'Running' } });
  }
}

const workDir = fs.mkdtempSync(path.join(os.tmpdir(), 'kestrel-bench-latency-'));
const profileOptions = (name: string): string | undefined => (PROFILE ? `--cpu-prof --cpu-prof-dir=${path.join(workDir, `profile-${name}`)}` : undefined);
const profileEnv = (name: string): Record<string, string> => withNodeOptions({}, profileOptions(name));
/** The agents and aggregators run as their images run them (NODE_OPTIONS, MALLOC_ARENA_MAX of images/*.Dockerfile). */
const agentImage = imageEnv('agent');
const aggregatorImage = imageEnv('aggregator');
const pki = createInternalPki(path.join(workDir, 'pki'));
const processes: RunningProcess[] = [];
let kube: KubeApiServer | undefined;
let exitCode = 0;
try {
  /** With BENCH_LATENCY_KUBE=1: what each agent adds to its settings to reach the Kubernetes API test server. */
  let kubeEnv: Record<string, string> = {};
  if (KUBE) {
    kube = await startKubeApiServer();
    kubeEnv = { KESTREL_AGENT_KUBECONFIG: kube.writeKubeconfig(path.join(workDir, 'kubeconfig')), KESTREL_AGENT_NODE_WATCH: 'on' };
  }
  const { cloud, cloudDir, dataDir, address } = await startBenchCloud(workDir, HEARTBEAT, profileEnv('cloud-dev'));
  processes.push(cloud);
  const aggregators = [];
  for (let i = 0; i < 2; i++) {
    const a = await startAggregator(workDir, `aggregator-${i}`, cloudDir, address, pki, { ...withNodeOptions(aggregatorImage, i === 0 ? profileOptions('aggregator-0') : undefined), ...aggregatorEnv });
    processes.push(a.aggregator);
    aggregators.push(a);
  }
  const nodes: { name: string; containers: SimulatedContainer[]; agent: RunningProcess }[] = [];
  for (let i = 0; i < AGENTS; i++) {
    const name = `lat-node-${i}`;
    const podsRoot = path.join(workDir, `pods-${i}`);
    const containers = createContainers(
      podsRoot,
      Array.from({ length: PODS_PER_NODE }, (_, p) => ({ namespace: ['shop', 'payments', 'search'][p % 3]!, pod: `app-${i}-${p}`, containers: p % 2 === 0 ? ['app', 'envoy'] : ['app'] })),
    );
    if (kube) addToCluster(kube, name, containers);
    const fixed = fixedAggregator(i);
    const addresses = fixed !== undefined ? aggregators[fixed]!.ingestAddress : aggregators.map((a) => a.ingestAddress).join(',');
    const { agent } = startAgent(workDir, name, podsRoot, addresses, pki, {
      // The agent's defaults, stated (the harness shortens scan and poll for tests): inotify drives reading.
      KESTREL_AGENT_SCAN_INTERVAL: '60s',
      KESTREL_AGENT_POLL_INTERVAL: '10s',
      KESTREL_AGENT_FLUSH_INTERVAL: '200ms',
      KESTREL_AGENT_BATCH_MAX_LINES: '2000',
      KESTREL_AGENT_BATCH_MAX_SIZE: '1MiB',
      KESTREL_AGENT_READ_INTERVAL: '50ms',
      ...withNodeOptions(agentImage, i === 0 ? profileOptions(name) : undefined),
      ...kubeEnv,
      ...agentEnv,
    });
    processes.push(agent);
    nodes.push({ name, containers, agent });
  }
  const placement = new Map<string, string>();
  for (const n of nodes) {
    const line = await n.agent.waitFor((l) => l.message === 'connected to aggregator', 30_000);
    const addr = String(line['address']);
    placement.set(n.name, aggregators.find((a) => a.ingestAddress === addr) ? `aggregator-${aggregators.findIndex((a) => a.ingestAddress === addr)}` : addr);
  }
  const files = nodes.reduce((n, x) => n + x.containers.length, 0);
  out(
    `${AGENTS} agents (${files} container files, ${(files / AGENTS).toFixed(0)} per node), 2 aggregators, cloud-dev (heartbeat ${HEARTBEAT}); ` +
      `addresses: ${SPLIT ? `one per agent, ${ADDRESSES}` : ADDRESSES === 'alternate' ? 'one per agent, alternating' : 'both, rendezvous hashing'}; placement: ${[...placement].map(([n, a]) => `${n}->${a}`).join(' ')}`,
  );
  out(`writing ${fmt(RATE)} lines/s per node for ${SECONDS} s${WARMUP_SECONDS > 0 ? ` after a warm-up of ${WARMUP_SECONDS} s` : ''}; agent readInterval 50 ms, flushInterval 200 ms, batches 2000 lines / 1 MiB; aggregator logsBatchLinger 200 ms, replay window 5 s (defaults); as the images run them: agents ${JSON.stringify(agentImage)}, aggregators ${JSON.stringify(aggregatorImage)}${Object.keys(aggregatorEnv).length ? `; aggregators also ${JSON.stringify(aggregatorEnv)}` : ''}${Object.keys(agentEnv).length ? `; agents also ${JSON.stringify(agentEnv)}` : ''}${cloudHttp2Window ? '; cloud-dev with a larger HTTP/2 receive window (http2-window.ts)' : ''}${kube ? '; agents with Kubernetes access, node and pod watches on (BENCH_LATENCY_KUBE=1)' : ''}`);

  const store = new StoredEntryCounter(dataDir);
  /** Runs the writer child for `seconds`, each file's lines numbered on from `seqFrom` (its last line so far). */
  const runWriter = async (seconds: number, seqFrom: Map<string, number>): Promise<WriterResult> => {
    const writerConfig: WriterConfig = {
      nodes: nodes.map((n) => ({ files: n.containers.map((c) => ({ file: c.file, pod: c.pod, container: c.container, seqFrom: seqFrom.get(c.file) ?? 0 })) })),
      linesPerSecondPerNode: RATE,
      seconds,
    };
    const writer = spawn(process.execPath, [path.join(import.meta.dirname, 'latency-writer-child.js'), JSON.stringify(writerConfig)], { stdio: ['ignore', 'pipe', 'inherit'] });
    let writerOut = '';
    writer.stdout.on('data', (d: Buffer) => (writerOut += d.toString()));
    const writerCode = await new Promise<number | null>((resolve) => writer.on('exit', resolve));
    if (writerCode !== 0) throw new Error(`the writer failed (exit ${writerCode})`);
    return JSON.parse(writerOut.trim().split('\n').at(-1)!) as WriterResult;
  };
  const lineCount = (w: WriterResult) => w.files.reduce((n, f) => n + f.lines, 0);
  /** Waits while lines keep arriving, until `total` are stored or 30 s pass without progress (the rest: missing). */
  const waitForArrival = async (total: number) => {
    let lastCount = store.poll();
    let lastProgress = Date.now();
    while (lastCount < total && Date.now() - lastProgress < 30_000) {
      await sleep(250);
      const count = store.poll();
      if (count > lastCount) lastProgress = Date.now();
      lastCount = count;
    }
  };

  // Warm-up: the same rate through the same processes, drained before the measured phase starts.
  const warmLast = new Map<string, number>();
  if (WARMUP_SECONDS > 0) {
    const warm = await runWriter(WARMUP_SECONDS, warmLast);
    for (const f of warm.files) warmLast.set(f.file, f.lines);
    await waitForArrival(lineCount(warm));
    out(`warm-up: ${fmt(lineCount(warm))} lines in ${warm.seconds.toFixed(1)} s, arrived: ${fmt(store.poll())}; then measuring`);
  }

  const before = processes.map((p) => procStats(p.pid!));
  const m0 = machineCpu();
  const written = await runWriter(SECONDS, warmLast);
  const after = processes.map((p) => procStats(p.pid!));
  const m1 = machineCpu();
  const totalWritten = lineCount(written);
  const warmWritten = [...warmLast.values()].reduce((n, x) => n + x, 0);
  out(`written: ${fmt(totalWritten - warmWritten)} lines in ${written.seconds.toFixed(1)} s (writer at most ${fmt(written.maxBehindLines)} lines behind schedule per node, longest tick gap ${written.maxTickGapMs} ms)`);

  // Wait for the rest while it keeps arriving; lines not there after 30 s without progress count as missing.
  await waitForArrival(totalWritten);
  await sleep(1000);
  store.poll();

  const byFile = new Map<string, { c: SimulatedContainer; lines: number }>();
  for (const n of nodes) for (const c of n.containers) byFile.set(`${c.uid}|${c.container}`, { c, lines: written.files.find((f) => f.file === c.file)?.lines ?? 0 });
  const seen = new Map<string, Uint8Array>();
  /** uid|container -> the container's file (warmLast is by file). */
  const byKey = new Map<string, string>();
  for (const [k, v] of byFile) byKey.set(k, v.c.file);
  for (const [k, v] of byFile) seen.set(k, new Uint8Array(v.lines + 1));
  /** Per line of the measured phase arrived: its write time, its arrival at cloud-dev, and when the aggregator took its batch. */
  const writeTimes: number[] = [];
  const latencies: number[] = [];
  const toAggregator: number[] = [];
  /** Lines of the warm-up: write to arrival. */
  const warmLatencies: number[] = [];
  let duplicates = 0;
  let foreign = 0;
  const reader = readline.createInterface({ input: fs.createReadStream(path.join(dataDir, 'logs.jsonl')), crlfDelay: Infinity });
  for await (const line of reader) {
    if (!line) continue;
    const record = JSON.parse(line) as { receivedAt: string; message?: { podLogs?: { podUid?: string; containerName?: string; collectionTimestamp?: string; logEntries?: { message?: string }[] } } };
    const logs = record.message?.podLogs;
    if (!logs) continue;
    const received = Date.parse(record.receivedAt);
    // The aggregator stamps collection_timestamp when it turns an agent's batch into PodLogs (toPodLogs).
    const collected = logs.collectionTimestamp ? Date.parse(logs.collectionTimestamp) : NaN;
    const marks = seen.get(`${logs.podUid}|${logs.containerName}`);
    for (const e of logs.logEntries ?? []) {
      const m = / seq=(\d+) wt=(\d+)$/.exec(e.message ?? '');
      if (!m || !marks) {
        foreign++;
        continue;
      }
      const seq = Number(m[1]);
      if (marks[seq]) {
        duplicates++;
        continue;
      }
      marks[seq] = 1;
      const wt = Number(m[2]);
      if (seq <= (warmLast.get(byKey.get(`${logs.podUid}|${logs.containerName}`)!) ?? 0)) {
        warmLatencies.push(received - wt);
        continue;
      }
      writeTimes.push(wt);
      latencies.push(received - wt);
      toAggregator.push(collected - wt);
    }
  }
  let missing = 0;
  const missingWhere: string[] = [];
  for (const [k, marks] of seen) {
    let m = 0;
    for (let s = 1; s < marks.length; s++) if (!marks[s]) m++;
    if (m > 0) missingWhere.push(`${byFile.get(k)!.c.pod}/${byFile.get(k)!.c.container}: ${m}`);
    missing += m;
  }
  const quantiles = (xs: ArrayLike<number>) => {
    const sorted = Float64Array.from(xs).sort();
    return (p: number) => sorted[Math.min(sorted.length - 1, Math.floor(p * sorted.length))] ?? NaN;
  };
  const q = quantiles(latencies);
  const qa = quantiles(toAggregator);
  const qc = quantiles(latencies.map((l, i) => l - toAggregator[i]!));
  const p99 = q(0.99);
  out('');
  if (WARMUP_SECONDS > 0) {
    const qw = quantiles(warmLatencies);
    out(`warm-up (first ${WARMUP_SECONDS} s of writing, processes cold; not in the figures below): ${fmt(warmLatencies.length)} lines, p50 ${qw(0.5).toFixed(0)} ms  p99 ${qw(0.99).toFixed(0)} ms  max ${qw(1).toFixed(0)} ms`);
  }
  out(`lines (both phases): ${fmt(totalWritten)} written, ${fmt(latencies.length + warmLatencies.length)} arrived at cloud-dev, ${fmt(missing)} missing, ${fmt(duplicates)} duplicated${foreign ? `, ${foreign} not ours` : ''}${missingWhere.length ? ` (missing: ${missingWhere.slice(0, 10).join(', ')})` : ''}`);
  out(`write -> cloud-dev receivedAt: p50 ${q(0.5).toFixed(0)} ms  p90 ${q(0.9).toFixed(0)} ms  p99 ${p99.toFixed(0)} ms  p99.9 ${q(0.999).toFixed(0)} ms  max ${q(1).toFixed(0)} ms  target p99 < ${TARGET_P99_MS} ms: ${p99 < TARGET_P99_MS && missing === 0 ? 'MET' : 'NOT MET'}`);
  out(`  of which write -> aggregator (its PodLogs collection_timestamp): p50 ${qa(0.5).toFixed(0)} ms  p99 ${qa(0.99).toFixed(0)} ms;  aggregator -> cloud-dev: p50 ${qc(0.5).toFixed(0)} ms  p99 ${qc(0.99).toFixed(0)} ms`);
  // Stalls: p99 per 5 s of writing; and the figures without the first STARTUP_S s (connections, JIT, first batches).
  const firstWrite = writeTimes.reduce((m, x) => Math.min(m, x), Infinity);
  const qs = quantiles(latencies.filter((_, i) => writeTimes[i]! - firstWrite >= STARTUP_S * 1000));
  out(`  lines written after the measured phase's first ${STARTUP_S} s: p50 ${qs(0.5).toFixed(0)} ms  p90 ${qs(0.9).toFixed(0)} ms  p99 ${qs(0.99).toFixed(0)} ms  max ${qs(1).toFixed(0)} ms`);
  // Per slice also its two parts' p99 (write -> aggregator / aggregator -> cloud-dev): where a slow slice waited.
  const slices = new Map<number, number[]>();
  for (let i = 0; i < writeTimes.length; i++) {
    const slice = Math.floor((writeTimes[i]! - firstWrite) / 5000);
    const list = slices.get(slice);
    if (list) list.push(i);
    else slices.set(slice, [i]);
  }
  const sliceFigures = [...slices]
    .sort((a, b) => a[0] - b[0])
    .map(([k, idx]) => {
      const p = (xs: number[]) => quantiles(xs)(0.99).toFixed(0);
      return `${k * 5}s: ${p(idx.map((i) => latencies[i]!))} (${p(idx.map((i) => toAggregator[i]!))} / ${p(idx.map((i) => latencies[i]! - toAggregator[i]!))})`;
    });
  out(`p99 per 5 s of writing, ms (write -> aggregator / aggregator -> cloud-dev): ${sliceFigures.join(', ')}`);
  const names = processes.map((p) => p.name);
  out(`CPU while writing (cores): ${names.map((n, i) => `${n} ${((after[i]!.cpuSeconds - before[i]!.cpuSeconds) / written.seconds).toFixed(2)}`).join(', ')}; peak RSS (MiB): ${names.map((n, i) => `${n} ${after[i]!.peakRssMiB.toFixed(0)}`).join(', ')}`);
  out(`while writing, ${describeMachine(m0, m1, written.seconds)}`);
  if (kube) {
    // The watches' evidence is the API server's: every agent listed or watched its Node and the pods on its node
    // (one field selector per node each).
    const selectors = (resource: string) => new Set(kube!.audit.find({ verb: ['list', 'watch'], resource }).map((e) => new URLSearchParams(e.query).get('fieldSelector') ?? ''));
    const nodeSelectors = selectors('nodes');
    const podSelectors = selectors('pods');
    out(`Kubernetes access: ${nodeSelectors.size} node selectors listed/watched, ${podSelectors.size} pod selectors (${[...podSelectors].join(' ')})`);
    if (nodeSelectors.size < AGENTS || podSelectors.size < AGENTS) exitCode = 1;
  }
  if (missing > 0) exitCode = 1;
} catch (err) {
  out(`latency bench failed: ${err instanceof Error ? err.stack : String(err)}`);
  exitCode = 1;
} finally {
  for (const p of [...processes].reverse()) await p.stop(15_000);
  await kube?.stop();
}
if (PROFILE) {
  for (const name of ['lat-node-0', 'aggregator-0', 'cloud-dev']) {
    const dir = path.join(workDir, `profile-${name}`);
    for (const f of fs.existsSync(dir) ? fs.readdirSync(dir) : []) {
      const kept = path.join(os.tmpdir(), `kestrel-latency-${name}-${Date.now()}.cpuprofile`);
      fs.copyFileSync(path.join(dir, f), kept);
      out(`\n${name} CPU profile: ${kept}`);
      printProfileSummary(summarizeCpuProfile(kept, 25), out);
    }
  }
}
if (process.env.BENCH_KEEP === '1') out(`work dir kept: ${workDir}`);
else fs.rmSync(workDir, { recursive: true, force: true });
process.exit(exitCode);
