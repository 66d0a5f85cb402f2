// Aggregator ingest benchmark: a real aggregator process (bundled, default settings) and a real cloud-dev
// process; 50 simulated agents in a child process of their own (ingest-agents-child.ts: one TLS connection and
// client certificate per node, batches of 2000 lines / 1 MiB gzip as the agent makes them, 64 batches in flight each,
// a new batch as soon as an Ack frees a place). The aggregator acknowledges a batch once the uplink delivered its
// PodLogs to cloud-dev (written, past the replay window, followed by a heartbeat): cloud-dev heartbeats every 1 s.
//
// Measured over a steady phase (once the agents' windows are full, after a warm-up): records/s acknowledged, the
// aggregator's CPU seconds (utime+stime from /proc: every thread, zlib's pool and GC included) per million records
// acknowledged, and its peak RSS (VmHWM). cloud-dev's store is counted as a cross-check: at the end every line sent
// must be stored once. Targets (printed, not asserted): at most 3 CPU s per million records, peak RSS < 256 MiB.
//
// Settings (environment): BENCH_INGEST_AGENTS (50), BENCH_INGEST_WINDOW (64), BENCH_INGEST_WARMUP (10 s),
// BENCH_INGEST_SECONDS (30 s), BENCH_INGEST_AGGREGATOR_ENV ("K=V,K=V": extra aggregator settings),
// BENCH_INGEST_RATE (records/s offered by all agents together, spread evenly: memory compared at one rate, since the
// replay window holds 5 s of whatever rate the aggregator reaches; the windows then do not fill and are not waited for),
// BENCH_PROFILE=1 (the aggregator runs under node --cpu-prof; the top functions are printed),
// BENCH_CLOUD_HTTP2_WINDOW=1 (cloud-dev advertises an 8 MiB HTTP/2 window instead of 64 KiB: see http2-window.ts).
import { fork } from 'node:child_process';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { adminRequest } from '@kestrel/core';
import { readCloudSummary } from '@kestrel/e2e/harness/delivery-check';
import { createInternalPki, startAggregator } from '@kestrel/e2e/harness/system';
import { cloudHttp2Window, startBenchCloud } from './cloud.js';
import { imageEnv, withNodeOptions } from './image-env.js';
import { settingsFrom } from './settings-env.js';
import type { ChildConfig, ChildMessage } from './ingest-agents-child.js';
import { printProfileSummary, summarizeCpuProfile } from './cpu-profile.js';
import { describeMachine, machineCpu, procStats, StoredEntryCounter } from './proc-stats.js';

const AGENTS = Number(process.env.BENCH_INGEST_AGENTS ?? 50);
const WINDOW = Number(process.env.BENCH_INGEST_WINDOW ?? 64);
const WARMUP_S = Number(process.env.BENCH_INGEST_WARMUP ?? 10);
/** How long to wait, after the first Acks, for the agents' windows to fill before the warm-up starts anyway. */
const FILL_TIMEOUT_S = 120;
const MEASURE_S = Number(process.env.BENCH_INGEST_SECONDS ?? 30);
/** Records/s offered by all agents together (0: as fast as acknowledgements allow, the default). */
const RATE = Number(process.env.BENCH_INGEST_RATE ?? 0);
const PROFILE = process.env.BENCH_PROFILE === '1';
/** The drain gives up when no acknowledgement came for this long. */
const DRAIN_STALL_MS = 60_000;
const HEARTBEAT = '1s';
const TARGET_CPU_PER_M = 3;
const TARGET_PEAK_RSS_MIB = 256;
const extraEnv = settingsFrom('BENCH_INGEST_AGGREGATOR_ENV');

const out = (line: string) => process.stdout.write(line + '\n');
const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));
const fmt = (n: number) => Math.round(n).toLocaleString('en-US');

const workDir = fs.mkdtempSync(path.join(os.tmpdir(), 'kestrel-bench-ingest-'));
const profileDir = path.join(workDir, 'profile');
const pki = createInternalPki(path.join(workDir, 'pki'));
const { cloud, dataDir, cloudDir, address: cloudAddress } = await startBenchCloud(workDir, HEARTBEAT);
/** How the aggregator image runs it (images/aggregator.Dockerfile: NODE_OPTIONS, MALLOC_ARENA_MAX). */
const aggregatorImage = imageEnv('aggregator');
const started = await startAggregator(workDir, 'aggregator-0', cloudDir, cloudAddress, pki, {
  // What the aggregator image sets (read from images/aggregator.Dockerfile); BENCH_INGEST_AGGREGATOR_ENV overrides it.
  ...withNodeOptions(aggregatorImage, PROFILE ? `--cpu-prof --cpu-prof-dir=${profileDir}` : undefined),
  ...extraEnv,
}).catch(async (err: unknown) => {
  await cloud.stop();
  throw err;
});
const aggregator = started.aggregator;
const httpAddress = String(aggregator.lines.find((l) => l.message === 'kestrel-aggregator started')?.['http'] ?? '');
/** The aggregator's own count of log lines received from agents (its /metrics). */
async function linesReceived(): Promise<number> {
  try {
    const text = await (await fetch(`http://${httpAddress}/metrics`)).text();
    return Number(/^kestrel_aggregator_ingest_lines_received_total(?:\{[^}]*\})? (\S+)$/m.exec(text)?.[1] ?? NaN);
  } catch {
    return NaN;
  }
}
const aggregatorPid = aggregator.pid!;
const cloudPid = cloud.pid!;
await sleep(1000);
/** The aggregator connected to the cloud, before any agent: what it costs idle. */
const idleRssMiB = procStats(aggregatorPid).rssMiB;

const childConfig: ChildConfig = {
  address: started.ingestAddress,
  caFile: pki.ca,
  agents: Array.from({ length: AGENTS }, (_, i) => {
    const node = `bench-node-${String(i).padStart(2, '0')}`;
    const id = pki.agentFor(node);
    return { node, certFile: id.cert, keyFile: id.key };
  }),
  window: WINDOW,
  batchLines: 2000,
  batchBytes: 1024 * 1024,
  chunkLines: 250,
  podsPerAgent: 8,
  ring: 512,
  legacyLines: process.env.BENCH_INGEST_LEGACY_LINES === '1',
  rate: RATE,
};
const child = fork(path.join(import.meta.dirname, 'ingest-agents-child.js'), [JSON.stringify(childConfig)], { execArgv: [], stdio: ['ignore', 'inherit', 'inherit', 'ipc'] });
const waiters = new Map<string, (m: ChildMessage) => void>();
child.on('message', (m: ChildMessage) => {
  const w = waiters.get(m.type) ?? (m.type === 'drain-timeout' ? waiters.get('drained') : undefined);
  if (w) {
    waiters.delete(m.type === 'drain-timeout' ? 'drained' : m.type);
    w(m);
  }
});
const childExited = new Promise<number | null>((resolve) => child.on('exit', resolve));
const next = <T extends ChildMessage['type']>(type: T, timeoutMs: number): Promise<Extract<ChildMessage, { type: T }>> =>
  new Promise((resolve, reject) => {
    const timer = setTimeout(() => reject(new Error(`no ${type} from the agents' process within ${timeoutMs} ms`)), timeoutMs);
    waiters.set(type, (m) => {
      clearTimeout(timer);
      resolve(m as Extract<ChildMessage, { type: T }>);
    });
    void childExited.then((code) => reject(new Error(`the agents' process exited (${code}) before ${type}`)));
  });
const sample = async () => {
  const reply = next('sample', 30_000);
  child.send({ type: 'sample' });
  const s = await reply;
  for (const e of s.errors) out(`  agents: ${e}`);
  return s;
};

const store = new StoredEntryCounter(dataDir);

/** Where the backlog is, in the aggregator's own view: batches taken from the agents' streams and not acknowledged, and the logs stream's queue and replay window. */
async function aggregatorView(): Promise<string> {
  try {
    const v = (await adminRequest(started.adminSocket, 'status')) as { agents: { unacknowledged: number }[]; uplink: { streams: { name: string; queued: number; inWindow: number; windowBytes: number; sent: number }[] } };
    const logs = v.uplink.streams.find((x) => x.name === 'logs');
    const taken = v.agents.reduce((n, a) => n + a.unacknowledged, 0);
    return `[aggregator: ${taken} batches taken, not acknowledged; logs stream: ${logs?.sent ?? '?'} messages written, ${logs?.queued ?? '?'} queued, ${logs?.inWindow ?? '?'} in the replay window (${((logs?.windowBytes ?? 0) / 2 ** 20).toFixed(0)} MiB)]`;
  } catch (err) {
    return `[aggregator status unavailable: ${err instanceof Error ? err.message : String(err)}]`;
  }
}
let exitCode = 0;
try {
  const ready = await next('ready', 60_000);
  out(
    `${AGENTS} simulated agents connected (aggregator ${ready.aggregators.join(', ')}); batches of ${childConfig.batchLines} lines / 1 MiB, gzip (sealBatch), ` +
      `chunks of ${childConfig.chunkLines} lines per container, ${childConfig.podsPerAgent} pods per node, ${WINDOW} batches in flight per agent; cloud-dev heartbeat ${HEARTBEAT}; ` +
      `aggregator defaults (replay window 5 s, logs linger 200 ms) as its image runs it (${Object.entries(aggregatorImage).map(([k, v]) => `${k}=${v}`).join(' ')})${Object.keys(extraEnv).length ? ` + ${JSON.stringify(extraEnv)}` : ''}${PROFILE ? ', under --cpu-prof' : ''}${cloudHttp2Window ? '; cloud-dev with a larger HTTP/2 receive window (http2-window.ts)' : ''}`,
  );
  const t0 = Date.now();
  for (;;) {
    const s = await sample();
    if (s.ackedLines > 0) break;
    if (Date.now() - t0 > 120_000) throw new Error('no acknowledgement within 120 s');
    await sleep(250);
  }
  out(`first acknowledgements after ${((Date.now() - t0) / 1000).toFixed(1)} s`);
  // Steady means the agents' windows are full: from then on they send only as fast as Acks come back (before, the
  // agents' process sends several times faster and takes CPU the aggregator would have had).
  const full = Math.floor(0.95 * AGENTS * WINDOW);
  const fillDeadline = Date.now() + FILL_TIMEOUT_S * 1000;
  let filled = await sample();
  while (RATE === 0 && filled.inFlight < full && Date.now() < fillDeadline) {
    await sleep(1000);
    filled = await sample();
  }
  out(
    RATE > 0
      ? `offered ${RATE.toLocaleString('en-US')} records/s in all; warming up ${WARMUP_S} s, then measuring ${MEASURE_S} s`
      : filled.inFlight >= full
      ? `agents' windows full (${filled.inFlight} batches unacknowledged) after ${((Date.now() - t0) / 1000).toFixed(1)} s; warming up ${WARMUP_S} s, then measuring ${MEASURE_S} s`
      : `agents' windows not full after ${FILL_TIMEOUT_S} s (${filled.inFlight} of ${AGENTS * WINDOW} batches unacknowledged: the aggregator keeps up); warming up ${WARMUP_S} s, then measuring ${MEASURE_S} s`,
  );
  await sleep(WARMUP_S * 1000);

  const a0 = procStats(aggregatorPid);
  const c0 = procStats(cloudPid);
  const r0 = await linesReceived();
  const m0 = machineCpu();
  const s0 = await sample();
  const stored0 = store.poll();
  let storedLast = stored0;
  let last = s0;
  let slowest = Infinity;
  let fastest = 0;
  for (let elapsed = 0; elapsed < MEASURE_S; elapsed += 5) {
    await sleep(Math.min(5, MEASURE_S - elapsed) * 1000);
    const s = await sample();
    const rate = (s.ackedLines - last.ackedLines) / ((s.at - last.at) / 1000);
    slowest = Math.min(slowest, rate);
    fastest = Math.max(fastest, rate);
    const p = procStats(aggregatorPid);
    const storedNow = store.poll();
    out(`  +${String(Math.round((s.at - s0.at) / 1000)).padStart(3)} s  acked ${fmt(rate)} records/s  stored ${fmt((storedNow - storedLast) / ((s.at - last.at) / 1000))}/s  agents' unacknowledged ${s.inFlight} batches  aggregator RSS ${p.rssMiB.toFixed(0)} MiB  ${await aggregatorView()}`);
    storedLast = storedNow;
    last = s;
  }
  const s1 = last;
  const a1 = procStats(aggregatorPid);
  const c1 = procStats(cloudPid);
  const r1 = await linesReceived();
  const m1 = machineCpu();
  const stored1 = store.poll();
  const seconds = (s1.at - s0.at) / 1000;
  const acked = s1.ackedLines - s0.ackedLines;
  const sent = s1.sentLines - s0.sentLines;
  const aggCpu = a1.cpuSeconds - a0.cpuSeconds;
  const cpuPerM = (aggCpu / acked) * 1e6;
  const storedInPhase = stored1 - stored0;

  out('\ndraining: no new batches; waiting for every batch sent to be acknowledged');
  const drainStart = Date.now();
  const drainedReply = next('drained', 3_600_000);
  child.send({ type: 'drain', timeoutMs: DRAIN_STALL_MS });
  const drained = (await drainedReply) as Extract<ChildMessage, { type: 'drained' | 'drain-timeout' }>;
  const drainSeconds = (Date.now() - drainStart) / 1000;
  const aEnd = procStats(aggregatorPid);
  const totalSent = drained.sentLines;
  const totalAcked = drained.ackedLines;
  if (drained.type === 'drain-timeout') out(`  STALLED: ${drained.inFlight} batches still unacknowledged, no acknowledgement for ${DRAIN_STALL_MS / 1000} s`);
  else out(`  drained in ${drainSeconds.toFixed(1)} s`);
  // cloud-dev writes its store every 100 ms: give the last writes a moment.
  let storedTotal = store.poll();
  for (let i = 0; i < 50 && storedTotal < totalSent; i++) {
    await sleep(200);
    storedTotal = store.poll();
  }
  const summary = readCloudSummary(dataDir);

  const cpuMet = cpuPerM <= TARGET_CPU_PER_M;
  const rssMet = aEnd.peakRssMiB < TARGET_PEAK_RSS_MIB;
  out('');
  out(`steady phase: ${seconds.toFixed(1)} s`);
  out(`  records/s acknowledged:   ${fmt(acked / seconds)}  (${fmt(acked)} records; 5-s slices ${fmt(slowest)}-${fmt(fastest)}/s; sent ${fmt(sent / seconds)}/s)`);
  out(`  aggregator CPU:           ${cpuPerM.toFixed(2)} s per million records acknowledged (${aggCpu.toFixed(1)} CPU s = ${(aggCpu / seconds).toFixed(2)} cores)  target <= ${TARGET_CPU_PER_M}: ${cpuMet ? 'MET' : 'NOT MET'}`);
  out(`                            ${((aggCpu / (r1 - r0)) * 1e6).toFixed(2)} s per million records received (its lines_received metric: ${fmt((r1 - r0) / seconds)}/s in the phase)`);
  out(`  aggregator peak RSS:      ${aEnd.peakRssMiB.toFixed(0)} MiB (VmHWM over the whole run; RSS now ${aEnd.rssMiB.toFixed(0)} MiB, ${idleRssMiB.toFixed(0)} MiB idle before the agents)  target < ${TARGET_PEAK_RSS_MIB} MiB: ${rssMet ? 'MET' : 'NOT MET'}`);
  out(`  cloud-dev stored:         ${fmt(storedInPhase / seconds)} records/s in the phase (${fmt(storedInPhase)}); cloud-dev CPU ${(((c1.cpuSeconds - c0.cpuSeconds) / storedInPhase) * 1e6).toFixed(2)} s per million, ${((c1.cpuSeconds - c0.cpuSeconds) / seconds).toFixed(2)} cores`);
  out(`  ${describeMachine(m0, m1, seconds)}`);
  out(`  agents' process CPU:      ${(((s1.cpuSeconds - s0.cpuSeconds) / sent) * 1e6).toFixed(2)} s per million records sent, ${((s1.cpuSeconds - s0.cpuSeconds) / seconds).toFixed(2)} cores`);
  const replays = (summary['replays'] as { entries?: number } | undefined)?.entries ?? 0;
  const complete = storedTotal === totalSent && totalAcked === totalSent;
  out(
    `whole run: ${fmt(totalSent)} records sent, ${fmt(totalAcked)} acknowledged, ${fmt(storedTotal)} stored by cloud-dev (replays dropped there: ${replays}): ` +
      (complete ? 'every record arrived once, every batch acknowledged' : `MISMATCH: ${fmt(totalSent - storedTotal)} not stored, ${fmt(totalSent - totalAcked)} not acknowledged`),
  );
  if (!complete) exitCode = 1;
} catch (err) {
  out(`ingest bench failed: ${err instanceof Error ? err.message : String(err)}`);
  exitCode = 1;
} finally {
  if (child.connected) child.send({ type: 'exit' });
  await Promise.race([childExited, sleep(10_000)]);
  child.kill('SIGKILL');
  await aggregator.stop(30_000);
  await cloud.stop();
}
if (PROFILE) {
  const files = fs.existsSync(profileDir) ? fs.readdirSync(profileDir).filter((f) => f.endsWith('.cpuprofile')) : [];
  if (files.length === 0) out('no CPU profile was written');
  for (const f of files) {
    const kept = path.join(os.tmpdir(), `kestrel-ingest-aggregator-${Date.now()}.cpuprofile`);
    fs.copyFileSync(path.join(profileDir, f), kept);
    out(`\naggregator CPU profile: ${kept}`);
    printProfileSummary(summarizeCpuProfile(kept, 30), out);
  }
}
if (process.env.BENCH_KEEP === '1') out(`work dir kept: ${workDir}`);
else fs.rmSync(workDir, { recursive: true, force: true });
process.exit(exitCode);
