// Idle cost of tracking many files: the real agent process (bundled, default collection settings) follows
// 2,000 container log files (1,000 pods x 2 containers) that nobody writes to after it has read them, sending to an
// ingest server that acknowledges (real gRPC over TLS). Once the agent has every file acknowledged (its checkpoints
// at the files' ends, from its own `files` view: independent of how the lines travel), it is watched for
// BENCH_IDLE_SECONDS (30 by default) once its start-up work is over: every file parked by a safety poll and, when
// node runs with --expose-gc as in the image, the agent's one GC after the start-up read done (its log line). What the
// start-up took (time, CPU, peak RSS) is printed apart. Watched: its CPU (utime+stime from /proc) as a share of one
// core, its RSS and peak RSS, and where the RSS is (from /proc/<pid>/smaps: the node binary's own pages, V8's heap
// pages, malloc's heap, the rest). It runs once per environment in BENCH_IDLE_RUNS (runs separated by `|`, each
// NAME=VALUE pairs separated by spaces): by default with nothing set, and with the agent image's settings (read from
// images/agent.Dockerfile, so the two cannot drift).
// What keeps it cheap: file-system events wake followers (no timer per file), one slow safety poll and one rescan.
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { adminRequest } from '@kestrel/core';
import { IngestRecorder } from '@kestrel/e2e/harness/ingest-recorder';
import { createInternalPki, startAgent } from '@kestrel/e2e/harness/system';
import { imageEnv } from './image-env.js';

const FILES = Number(process.env.BENCH_IDLE_FILES ?? 2000);
const IDLE_SECONDS = Number(process.env.BENCH_IDLE_SECONDS ?? 30);
const LINES_PER_FILE = 3;
const TICKS = 100; // USER_HZ on Linux

function procStat(pid: number): { cpuSeconds: number; rssMiB: number; peakRssMiB: number } {
  const stat = fs.readFileSync(`/proc/${pid}/stat`, 'utf8');
  const fields = stat.slice(stat.lastIndexOf(')') + 2).split(' ');
  const cpuSeconds = (Number(fields[11]) + Number(fields[12])) / TICKS; // utime, stime
  const status = fs.readFileSync(`/proc/${pid}/status`, 'utf8');
  const kib = (name: string) => Number(new RegExp(`^${name}:\\s+(\\d+) kB`, 'm').exec(status)?.[1] ?? 0);
  return { cpuSeconds, rssMiB: kib('VmRSS') / 1024, peakRssMiB: kib('VmHWM') / 1024 };
}

type FileView = { checkpointOffset: number | null; size: number; state: string };

/** True when the agent tracks every file and each one's checkpoint is at its end (acknowledged by the server). */
async function allAcknowledged(adminSocket: string): Promise<boolean> {
  const files = (await adminRequest(adminSocket, 'files').catch(() => [])) as FileView[];
  return files.length >= FILES && files.every((f) => f.checkpointOffset === f.size);
}

/** True when a safety poll has found nothing new in any file: every follower parked (state `waiting`). */
async function allParked(adminSocket: string): Promise<boolean> {
  const files = (await adminRequest(adminSocket, 'files').catch(() => [])) as FileView[];
  return files.length >= FILES && files.every((f) => f.state === 'waiting');
}

async function until(what: string, check: () => Promise<boolean>, timeoutMs: number): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  // Once a second: the view lists every file, and asking it is work for the agent too.
  while (!(await check())) {
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 1000));
  }
}

/** The agent image's environment as a run (`NAME=VALUE ...`, see parseRun). */
const IMAGE_ENV = Object.entries(imageEnv('agent')).map(([k, v]) => `${k}=${v}`).join(' ');

/** Each run's extra environment, e.g. `NODE_OPTIONS=--max-semi-space-size=8 MALLOC_ARENA_MAX=2`; empty: none. */
function parseRun(text: string): Record<string, string> {
  const env: Record<string, string> = {};
  // NODE_OPTIONS holds spaces itself: a word without `=` belongs to the value before it.
  let last = '';
  for (const word of text.trim().split(/\s+/).filter(Boolean)) {
    const eq = word.indexOf('=');
    if (eq > 0 && /^[A-Z_][A-Z0-9_]*$/.test(word.slice(0, eq))) {
      last = word.slice(0, eq);
      env[last] = word.slice(eq + 1);
    } else if (last) env[last] += ` ${word}`;
    else throw new Error(`BENCH_IDLE_RUNS: expected NAME=VALUE, got ${word}`);
  }
  return env;
}

const RUNS = (process.env.BENCH_IDLE_RUNS ?? `|${IMAGE_ENV}`).split('|').map(parseRun);

for (const env of RUNS) await measure(env);

/**
 * Where the process's RSS is, in MiB, from /proc/<pid>/smaps. The node binary's pages are file-backed and shared
 * with every other process running the same binary, but RSS (and a container's memory) counts them all the same.
 * V8 allocates its heap in 256 KiB anonymous mappings (regular pages); glibc's main malloc arena is [heap]; the rest
 * is other arenas, thread stacks and V8's large objects.
 */
function rssByKind(pid: number): Record<string, number> {
  const kinds: Record<string, number> = { nodeBinary: 0, otherFiles: 0, v8Pages: 0, mallocHeap: 0, otherAnonymous: 0 };
  const exe = fs.readlinkSync(`/proc/${pid}/exe`);
  let kind = 'otherAnonymous';
  for (const line of fs.readFileSync(`/proc/${pid}/smaps`, 'utf8').split('\n')) {
    const range = /^([0-9a-f]+)-([0-9a-f]+) \S+ \S+ \S+ \S+\s*(.*)$/.exec(line);
    if (range) {
      const name = range[3]!;
      const kib = (parseInt(range[2]!, 16) - parseInt(range[1]!, 16)) / 1024;
      kind = name === exe ? 'nodeBinary' : name === '[heap]' ? 'mallocHeap' : name.startsWith('/') ? 'otherFiles' : name === '' && kib === 256 ? 'v8Pages' : 'otherAnonymous';
      continue;
    }
    const rss = /^Rss:\s+(\d+) kB/.exec(line);
    if (rss) kinds[kind]! += Number(rss[1]) / 1024;
  }
  return Object.fromEntries(Object.entries(kinds).map(([k, v]) => [k, Math.round(v * 10) / 10]));
}

async function measure(env: Record<string, string>): Promise<void> {
  const workDir = fs.mkdtempSync(path.join(os.tmpdir(), 'kestrel-bench-idle-'));
  const podsRoot = path.join(workDir, 'pods');
  const recorder = new IngestRecorder();
  let agent: ReturnType<typeof startAgent>['agent'] | undefined;
  let adminSocket = '';
  try {
    for (let i = 0; i < FILES; i++) {
      const dir = path.join(podsRoot, `idle_pod-${Math.floor(i / 2)}_uid-${Math.floor(i / 2)}`, `c${i % 2}`);
      fs.mkdirSync(dir, { recursive: true });
      let text = '';
      for (let n = 1; n <= LINES_PER_FILE; n++) text += `2024-05-01T12:00:00.${String(n).padStart(9, '0')}Z stdout F idle file ${i} line ${n}\n`;
      fs.writeFileSync(path.join(dir, '0.log'), text);
    }
    const pki = createInternalPki(path.join(workDir, 'pki'));
    await recorder.start(pki);
    const startedAt = Date.now();
    // Default collection settings (a rescan every 60 s, a safety poll every 10 s); only ports and paths are the harness's.
    const started = startAgent(workDir, 'agent', podsRoot, recorder.address, pki, {
      KESTREL_AGENT_SCAN_INTERVAL: '60s',
      KESTREL_AGENT_POLL_INTERVAL: '10s',
      ...env,
    });
    agent = started.agent;
    adminSocket = started.adminSocket;
    await until('every file acknowledged', () => allAcknowledged(adminSocket), 180_000);
    const readSeconds = (Date.now() - startedAt) / 1000;
    // Start-up is over when a safety poll has parked every file and, with --expose-gc, the agent has run its one GC
    // (main.ts, two poll intervals and 5 s after its log source started).
    await until('every file parked', () => allParked(adminSocket), 180_000);
    if (/--expose-gc\b/.test(env['NODE_OPTIONS'] ?? '')) await agent.waitFor((l) => l.message === 'startup memory released', 120_000);
    await new Promise((r) => setTimeout(r, 2000));
    const settledSeconds = (Date.now() - startedAt) / 1000;
    const pid = agent.pid!;
    const before = procStat(pid);
    const t0 = Date.now();
    let rssMax = before.rssMiB;
    for (let s = 0; s < IDLE_SECONDS; s++) {
      await new Promise((r) => setTimeout(r, 1000));
      rssMax = Math.max(rssMax, procStat(pid).rssMiB);
    }
    const after = procStat(pid);
    const byKind = rssByKind(pid);
    const status = (await adminRequest(adminSocket, 'status')) as { memory: Record<string, number>; logs: { files: number; filesByState: Record<string, number> } };
    const wall = (Date.now() - t0) / 1000;
    const cpuPercent = ((after.cpuSeconds - before.cpuSeconds) / wall) * 100;
    const label = Object.keys(env).length ? Object.entries(env).map(([k, v]) => `${k}=${v}`).join(' ') : 'nothing set';
    process.stdout.write(
      `[${label}] ${FILES} files tracked (read and acknowledged in ${readSeconds.toFixed(1)} s; start-up over after ` +
        `${settledSeconds.toFixed(1)} s, CPU ${before.cpuSeconds.toFixed(2)} s until then), then idle for ${wall.toFixed(0)} s: ` +
        `CPU ${cpuPercent.toFixed(2)}% of one core, RSS ${after.rssMiB.toFixed(1)} MiB (at most ${rssMax.toFixed(1)} MiB while idle), ` +
        `peak RSS ${after.peakRssMiB.toFixed(0)} MiB (including the first read of every file); ` +
        `RSS by kind (MiB): ${JSON.stringify(byKind)}; ` +
        `agent's view: ${JSON.stringify(status.memory)}, files ${JSON.stringify(status.logs.filesByState)}\n`,
    );
  } finally {
    await agent?.stop();
    await recorder.stop();
    fs.rmSync(workDir, { recursive: true, force: true });
  }
}
