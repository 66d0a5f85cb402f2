// Log collection throughput: the agent's container log source tails generated CRI logs into a sink that
// acknowledges each chunk at once (so checkpoints advance as in production), and the figures are printed: lines/s,
// MB/s, CPU seconds and cores used (process.cpuUsage of the tailing process: all its threads), peak RSS.
//
// Two inputs:
//   mixed    about 1 GB (BENCH_LOGS_MB) over 4 containers: lines of mixed lengths (mostly 60-400 bytes, some of a
//            few KiB, a few of 20-60 KiB that containerd splits into 16 KiB partial records), stdout and stderr,
//            JSON and text, some stack traces — generated here, deterministically.
//   gen-cri  the input of ../shared/BENCHMARK-ANCHORS.md (python3 ../shared/tools/gen-cri.py FILE 2000000, one
//            file), the one Fluent Bit was measured on, so the figures compare (skipped without python3).
// The tailing runs in a child process (this file with --tail) so that generating does not count in its memory.
import { spawnSync } from 'node:child_process';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import v8 from 'node:v8';
import { createLogger, createRegistry } from '@kestrel/core';
import { CriLogEvents, CriLogSource, type FileChunk, type LogSink } from '@kestrel/agent';

const MB = 1024 * 1024;

interface TailResult {
  lines: number;
  bytes: number;
  wallSeconds: number;
  cpuSeconds: number;
  peakRssMiB: number;
}

// ---- generation (parent) ----

/** xorshift32: deterministic, seeded. */
function rng(seed: number): () => number {
  let x = seed >>> 0 || 1;
  return () => {
    x ^= x << 13;
    x >>>= 0;
    x ^= x >>> 17;
    x ^= x << 5;
    x >>>= 0;
    return x / 0x1_0000_0000;
  };
}

const WORDS = ['GET', 'POST', '/api/v1/users', '/api/v1/orders', '200', '201', '404', '500', 'user_id=', 'latency_ms=', 'request completed', 'cache miss', 'db query', 'upstream timeout', 'connection reset by peer', 'retrying', 'order', 'payment', 'ok'];
const STACK = ['java.lang.IllegalStateException: order has no lines', '\tat com.example.shop.OrderService.total(OrderService.java:87)', '\tat com.example.shop.OrderController.checkout(OrderController.java:41)', '\tat org.springframework.web.servlet.FrameworkServlet.service(FrameworkServlet.java:885)'];

function timestamp(i: number): string {
  const ms = Date.UTC(2024, 4, 1, 12) + Math.floor(i / 50);
  return `${new Date(ms).toISOString().slice(0, 23)}${String((i * 7919) % 1_000_000).padStart(6, '0')}Z`;
}

/** Writes about `bytes` of mixed CRI lines; returns the number of messages (a partial line joined counts once). */
function generateMixed(file: string, bytes: number, seed: number): number {
  const random = rng(seed);
  const fd = fs.openSync(file, 'w');
  let written = 0;
  let messages = 0;
  let i = 0;
  let out = '';
  const flush = () => {
    fs.writeSync(fd, out);
    written += Buffer.byteLength(out);
    out = '';
  };
  const words = (n: number) => {
    let s = WORDS[Math.floor(random() * WORDS.length)]!;
    for (let k = 1; k < n; k++) s += ' ' + WORDS[Math.floor(random() * WORDS.length)]!;
    return s;
  };
  while (written + out.length < bytes) {
    const r = random();
    const stream = r < 0.1 ? 'stderr' : 'stdout';
    const ts = timestamp(i++);
    if (r < 0.0005) {
      // a long line: containerd splits it into 16 KiB partial records
      const length = 20_000 + Math.floor(random() * 40_000);
      const text = 'L'.repeat(length);
      for (let p = 0; p < length; p += 16384) out += `${ts} ${stream} ${p + 16384 < length ? 'P' : 'F'} ${text.slice(p, p + 16384)}\n`;
      messages++;
    } else if (r < 0.001) {
      for (const l of STACK) out += `${ts} stderr F ${l}\n`;
      messages++; // grouped into one record
    } else if (r < 0.02) {
      out += `${ts} ${stream} F ${words(200 + Math.floor(random() * 300))} seq=${i}\n`; // a few KiB
      messages++;
    } else if (r < 0.3) {
      out += `${ts} ${stream} F {"level":"${r < 0.15 ? 'info' : 'warn'}","ts":${i},"msg":"${words(3 + Math.floor(random() * 8))}","seq":${i}}\n`;
      messages++;
    } else {
      out += `${ts} ${stream} F ${r < 0.35 ? 'INFO ' : ''}${words(5 + Math.floor(random() * 25))} seq=${i}\n`;
      messages++;
    }
    if (out.length > 1 << 20) flush();
  }
  flush();
  fs.closeSync(fd);
  return messages;
}

function podFolder(root: string, name: string): string {
  const dir = path.join(root, `bench_${name}_${name}-uid`, 'app');
  fs.mkdirSync(dir, { recursive: true });
  return dir;
}

/** Node flags of the tailing process (none by default: the agent runs with none); e.g. '--max-semi-space-size=16'. */
const NODE_FLAGS = (process.env.BENCH_LOGS_NODE_FLAGS ?? '').split(' ').filter(Boolean);

function runTail(root: string, expectedLines: number, label: string, profile: boolean): TailResult {
  const args = [...NODE_FLAGS, ...(profile ? ['--cpu-prof', `--cpu-prof-dir=${path.join(os.tmpdir(), 'kestrel-bench-prof')}`] : []), import.meta.filename, '--tail', root, String(expectedLines)];
  const child = spawnSync(process.execPath, args, { encoding: 'utf8', stdio: ['ignore', 'pipe', 'inherit'] });
  if (child.status !== 0) throw new Error(`${label}: the tailing process failed (${child.status})`);
  return JSON.parse(child.stdout.trim().split('\n').at(-1)!) as TailResult;
}

function report(label: string, r: TailResult): void {
  const cores = r.cpuSeconds / r.wallSeconds;
  process.stdout.write(
    `${label.padEnd(8)} ${r.lines.toLocaleString('en')} lines, ${(r.bytes / 1e6).toFixed(0)} MB in ${r.wallSeconds.toFixed(2)} s: ` +
      `${Math.round(r.lines / r.wallSeconds).toLocaleString('en')} lines/s, ${(r.bytes / 1e6 / r.wallSeconds).toFixed(1)} MB/s; ` +
      `CPU ${r.cpuSeconds.toFixed(2)} s (${cores.toFixed(2)} cores) = ${Math.round(r.lines / r.cpuSeconds).toLocaleString('en')} lines and ${(r.bytes / 1e6 / r.cpuSeconds).toFixed(1)} MB per CPU-second; ` +
      `peak RSS ${r.peakRssMiB.toFixed(0)} MiB\n`,
  );
}

async function main(): Promise<void> {
  const totalMiB = Number(process.env.BENCH_LOGS_MB ?? 1000);
  const profile = process.env.BENCH_PROFILE === '1';
  const base = fs.mkdtempSync(path.join(os.tmpdir(), 'kestrel-bench-logs-'));
  try {
    // mixed: 4 containers
    const root = path.join(base, 'mixed');
    let expected = 0;
    const started = Date.now();
    for (let c = 0; c < 4; c++) expected += generateMixed(path.join(podFolder(root, `mixed-${c}`), '0.log'), (totalMiB * MB) / 4, 1 + c);
    if (NODE_FLAGS.length > 0) process.stdout.write(`node flags of the tailing process: ${NODE_FLAGS.join(' ')}\n`);
    process.stdout.write(`generated ${totalMiB} MiB of mixed CRI logs in 4 files (${expected.toLocaleString('en')} messages) in ${((Date.now() - started) / 1000).toFixed(1)} s\n`);
    report('mixed', runTail(root, expected, 'mixed', profile));
    fs.rmSync(root, { recursive: true, force: true });

    const genCri = path.resolve(import.meta.dirname, '../../../shared/tools/gen-cri.py');
    const lines = Number(process.env.BENCH_LOGS_GEN_CRI_LINES ?? 2_000_000);
    const rootG = path.join(base, 'gen-cri');
    const file = path.join(podFolder(rootG, 'gen-cri'), '0.log');
    const gen = fs.existsSync(genCri) ? spawnSync('python3', [genCri, file, String(lines)], { stdio: 'inherit' }) : undefined;
    if (!gen || gen.status !== 0) {
      process.stdout.write(`gen-cri  skipped (needs python3 and ${genCri})\n`);
      return;
    }
    report('gen-cri', runTail(rootG, lines, 'gen-cri', profile));
  } finally {
    fs.rmSync(base, { recursive: true, force: true });
  }
}

// ---- tailing (child) ----

async function tail(root: string, expectedLines: number): Promise<void> {
  const stateDir = fs.mkdtempSync(path.join(os.tmpdir(), 'kestrel-bench-state-'));
  let lines = 0;
  let bytes = 0;
  let done: () => void = () => undefined;
  const finished = new Promise<void>((resolve) => (done = resolve));
  const sink: LogSink = {
    push(chunk: FileChunk): Promise<void> {
      lines += chunk.lines.length;
      bytes += chunk.bytes;
      chunk.owner.commit(chunk.resumeOffset, chunk.resumeLine, chunk.streamComplete);
      if (lines >= expectedLines) done();
      return Promise.resolve();
    },
  };
  const logger = createLogger('bench', 'error');
  const source = new CriLogSource(
    {
      root,
      stateDir,
      startAt: 'beginning',
      onCorruptCheckpoint: 'beginning',
      scanIntervalMs: 10_000,
      pollIntervalMs: 10_000,
      fallbackPollIntervalMs: 250,
      readBufferBytes: 256 * 1024,
      readIntervalMs: 50,
      maxMessageBytes: 256 * 1024,
      readConcurrency: 4,
      checkpointIntervalMs: 500,
      maxDeletedFilesHeld: 5,
      multiline: { enabled: true, maxLines: 1000, maxBytes: 256 * 1024, maxGapMs: 500 },
      filter: { includeNamespaces: [], excludeNamespaces: [], includePods: [], excludePods: [], includeContainers: [], excludeContainers: [], ownPod: undefined },
      rateLimitLines: 0,
    },
    sink,
    new CriLogEvents(createRegistry('bench', false), logger),
    logger,
  );
  const controller = new AbortController();
  const cpu0 = process.cpuUsage();
  const t0 = process.hrtime.bigint();
  await source.start(controller.signal);
  // Also done when every file is read to its end (should the count of messages differ from the expected one).
  const check = setInterval(() => {
    const files = source.files();
    if (files.length > 0 && files.every((f) => f.state === 'waiting' && f.readOffset >= f.size && f.lagBytes === 0)) done();
  }, 250);
  let peak = process.memoryUsage();
  const sampler = process.env.BENCH_VERBOSE
    ? setInterval(() => {
        const m = process.memoryUsage();
        if (m.rss > peak.rss) { peak = m; (peak as unknown as { spaces: unknown }).spaces = v8.getHeapSpaceStatistics().map((s) => `${s.space_name}:${(s.space_size / 1048576).toFixed(1)}/${(s.space_used_size / 1048576).toFixed(1)}`).join(" "); }
      }, 20)
    : undefined;
  await finished;
  clearInterval(check);
  if (sampler) {
    clearInterval(sampler);
    process.stderr.write(`at peak RSS: ${JSON.stringify(peak)}\n`);
  }
  if (lines !== expectedLines) process.stderr.write(`note: ${lines} lines arrived, ${expectedLines} expected\n`);
  const wallSeconds = Number(process.hrtime.bigint() - t0) / 1e9;
  const cpu = process.cpuUsage(cpu0);
  await source.stop();
  fs.rmSync(stateDir, { recursive: true, force: true });
  if (process.env.BENCH_VERBOSE) process.stderr.write(`${JSON.stringify(process.memoryUsage())}\n`);
  const result: TailResult = { lines, bytes, wallSeconds, cpuSeconds: (cpu.user + cpu.system) / 1e6, peakRssMiB: process.resourceUsage().maxRSS / 1024 };
  process.stdout.write(JSON.stringify(result) + '\n');
}

if (process.argv[2] === '--tail') await tail(process.argv[3]!, Number(process.argv[4]));
else if (process.argv[2] === '--generate') {
  // For profiling by hand: --generate DIR MiB, then node [--cpu-prof] logs.bench.js --tail DIR <messages printed>
  let expected = 0;
  for (let c = 0; c < 4; c++) expected += generateMixed(path.join(podFolder(process.argv[3]!, `mixed-${c}`), '0.log'), (Number(process.argv[4]) * MB) / 4, 1 + c);
  process.stdout.write(`${expected}\n`);
} else await main();
