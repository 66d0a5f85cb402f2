// Idle cost of tracking many files: the real agent process (dist/main.js, default collection settings) follows
// 2,000 container log files (1,000 pods x 2 containers) that nobody writes to after it has read them, sending to an
// ingest server that acknowledges (real gRPC over TLS). After everything arrived, the agent is watched for
// BENCH_IDLE_SECONDS (30 by default): its CPU (utime+stime from /proc) as a share of one core, its RSS and peak RSS.
// It runs twice: with no node options, and with a smaller young generation (BENCH_IDLE_NODE_OPTIONS: runs separated
// by `|`), since V8 grows the young generation for good while the agent reads every file at startup.
// What keeps it cheap: file-system events wake followers (no timer per file), one slow safety poll and one rescan.
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { adminRequest } from '@kestrel/core';
import { IngestRecorder } from '@kestrel/e2e/harness/ingest-recorder';
import { createInternalPki, startAgent } from '@kestrel/e2e/harness/system';

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

async function until(what: string, check: () => boolean, timeoutMs: number): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  while (!check()) {
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 200));
  }
}

/** The agent runs once per set of node options: as it is (none), and with a smaller young generation. */
const RUNS = (process.env.BENCH_IDLE_NODE_OPTIONS ?? '|--max-semi-space-size=8').split('|');

for (const nodeOptions of RUNS) await measure(nodeOptions);

async function measure(nodeOptions: string): Promise<void> {
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
      NODE_OPTIONS: nodeOptions,
    });
    agent = started.agent;
    adminSocket = started.adminSocket;
    await until('every line', () => recorder.lines.length >= FILES * LINES_PER_FILE, 120_000);
    const readSeconds = (Date.now() - startedAt) / 1000;
    await new Promise((r) => setTimeout(r, 2000)); // checkpoints written, startup garbage collected
    const pid = agent.pid!;
    const before = procStat(pid);
    const t0 = Date.now();
    let rssMax = before.rssMiB;
    for (let s = 0; s < IDLE_SECONDS; s++) {
      await new Promise((r) => setTimeout(r, 1000));
      rssMax = Math.max(rssMax, procStat(pid).rssMiB);
    }
    const after = procStat(pid);
    const status = (await adminRequest(adminSocket, 'status')) as { memory: Record<string, number>; logs: { files: number; filesByState: Record<string, number> } };
    const wall = (Date.now() - t0) / 1000;
    const cpuPercent = ((after.cpuSeconds - before.cpuSeconds) / wall) * 100;
    process.stdout.write(
      `${nodeOptions ? `[NODE_OPTIONS=${nodeOptions}] ` : '[no node options] '}${FILES} files tracked (read in ${readSeconds.toFixed(1)} s), then idle for ${wall.toFixed(0)} s: ` +
        `CPU ${cpuPercent.toFixed(2)}% of one core, RSS ${after.rssMiB.toFixed(0)} MiB (at most ${rssMax.toFixed(0)} MiB while idle), ` +
        `peak RSS ${after.peakRssMiB.toFixed(0)} MiB (including the first read of every file); ` +
        `agent's view: ${JSON.stringify(status.memory)}, files ${JSON.stringify(status.logs.filesByState)}\n`,
    );
  } finally {
    await agent?.stop();
    await recorder.stop();
    fs.rmSync(workDir, { recursive: true, force: true });
  }
}
