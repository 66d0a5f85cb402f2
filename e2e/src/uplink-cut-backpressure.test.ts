// Backpressure, not a log spool: the uplink (aggregator -> cloud-dev) cut for 60 s under steady load, with real
// processes (cloud-dev, one aggregator, one agent), real TLS, and a TCP proxy between the aggregator and cloud-dev.
//   - The aggregator acknowledges nothing it could not deliver, so the agent's in-flight window fills, its reading
//     stops (read offsets frozen) and the lag that `kestrel-agent debug files` reports grows through the cut.
//   - The aggregator is SIGKILLed during the cut and started again (same settings, same port) still during the cut:
//     the agent reconnects, resends its window, and stays paused.
//   - One container writes far past its rotation budget (kubelet-style: 0.log renamed to 0.log.<time>, at most
//     maxFiles files, the oldest deleted) and the agent holds no deleted file open (maxDeletedFilesHeld=0).
// After the cut every line written is in cloud-dev's store (duplicates allowed, counted and printed), except
// exactly the lines of the files the rotation deleted before the agent had read any of them; the agent's loss
// counter (losses view, status, /metrics) says exactly those files and bytes.
import assert from 'node:assert/strict';
import fs from 'node:fs';
import net from 'node:net';
import os from 'node:os';
import path from 'node:path';
import { test } from 'node:test';
import { adminRequest } from '@kestrel/core';
import { readCloudSummary, readStoredLogs } from './harness/delivery-check.js';
import { KubeletRotatedContainer, type RotatedFile } from './harness/kubelet-rotation.js';
import { messageFor, type SimulatedContainer } from './harness/pod-writer.js';
import { RunningProcess, runToEnd } from './harness/process.js';
import { programs } from './harness/repo.js';
import { StoreTail } from './harness/store-tail.js';
import { createInternalPki, startAgent, startAggregator } from './harness/system.js';
import { TcpProxy } from './harness/tcp-proxy.js';
import { FAST_UPLINK_ENV, SteadyWriter, type AggregatorStatus } from './harness/uplink-system.js';

const NODE = 'node-cut';
const CUT_MS = 60_000;
/** The aggregator is killed this long into the cut, and stays down this long. */
const KILL_AT_MS = 20_000;
const DOWN_MS = 2_000;
const MAX_IN_FLIGHT = 8;
/** Kubelet budget of the rotating container: containerLogMaxSize x containerLogMaxFiles (live file counted). */
const ROTATE_MAX_SIZE = 32 * 1024;
const ROTATE_MAX_FILES = 3;
const STEADY_PODS = [
  { namespace: 'shop', pod: 'checkout-1', containers: ['app', 'envoy'] },
  { namespace: 'payments', pod: 'ledger-0', containers: ['app'] },
];
const ROTATING = { namespace: 'batch', pod: 'report-7f9c', container: 'worker' };

interface FileView {
  path: string;
  namespace: string;
  pod: string;
  container: string;
  device: number;
  inode: number;
  checkpointOffset: number | null;
  readOffset: number;
  size: number;
  lagBytes: number;
  state: string;
}

interface AgentStatus {
  connection: { state: string; connectedSince: string | null; reconnects: number; inFlightBatches: number; inFlightLines: number };
  logs: { lostBytes: number; lostFiles: number };
}

interface LossView {
  pod: string;
  container: string;
  file: string;
  bytes: number;
  reason: string;
}

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

async function until(what: string, check: () => boolean | Promise<boolean>, timeoutMs: number): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  while (Date.now() < deadline) {
    if (await check()) return;
    await sleep(200);
  }
  assert.fail(`timed out after ${timeoutMs} ms waiting for ${what}`);
}

async function freePort(): Promise<number> {
  const server = net.createServer();
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', () => resolve()));
  const port = (server.address() as net.AddressInfo).port;
  await new Promise<void>((resolve) => server.close(() => resolve()));
  return port;
}

/** What the agent's read position and lag are for the steady containers' files, from `kestrel-agent debug files`. */
interface LagSample {
  label: string;
  atMs: number;
  lag: number;
  readOffsets: Map<string, number>;
  inFlightBatches: number;
}

test('uplink cut for 60 s under load: backpressure pauses the agent, an aggregator SIGKILL loses nothing, only what rotation deleted unread is lost, and counted', { timeout: 240_000 }, async () => {
  const startedAt = Date.now();
  const workDir = fs.mkdtempSync(path.join(os.tmpdir(), 'kestrel-e2e-cut-backpressure-'));
  const podsRoot = path.join(workDir, 'pods');
  fs.mkdirSync(podsRoot, { recursive: true });
  const cloudDir = path.join(workDir, 'cloud');
  const dataDir = path.join(workDir, 'cloud-data');
  const pki = createInternalPki(path.join(workDir, 'internal-pki'));
  const processes: RunningProcess[] = [];
  let proxy: TcpProxy | undefined;
  const writer = new SteadyWriter(podsRoot, STEADY_PODS);
  let rotating = false;
  let rotationLoop: Promise<void> = Promise.resolve();

  try {
    // ---- cloud-dev, the proxy, one aggregator on a fixed port (its restart takes the same), one agent ----
    const init = await runToEnd(programs.cloudDev, ['init', cloudDir, '--tenant', 'e2e-tenant', '--cluster-name', 'e2e']);
    assert.equal(init.code, 0, init.stderr);
    const cloud = new RunningProcess('cloud-dev', programs.cloudDev, ['serve', '--dir', cloudDir, '--listen', '127.0.0.1:0', '--data-dir', dataDir, '--heartbeat-interval', '1s', '--summary-interval', '1s'], {}, path.join(workDir, 'cloud-dev.log'));
    processes.push(cloud);
    const listening = await cloud.waitFor((l) => l.message === 'listening' || l.msg === 'listening');
    proxy = await TcpProxy.start(String(listening['address']));
    const operator = path.join(cloudDir, 'operator');
    const aggregatorEnv: Record<string, string> = {
      ...FAST_UPLINK_ENV,
      KESTREL_AGGREGATOR_CLOUD_TOKEN_WRITE_FILE: path.join(operator, 'token'),
      KESTREL_AGGREGATOR_CLOUD_CERT_WRITE_FILES: 'true',
      KESTREL_AGGREGATOR_CLOUD_USE_SYSTEM_CAS: 'false',
      KESTREL_AGGREGATOR_INGEST_LISTEN: `127.0.0.1:${await freePort()}`,
    };
    const first = await startAggregator(workDir, 'aggregator-0', cloudDir, proxy.address, pki, aggregatorEnv);
    let aggregator = first.aggregator;
    processes.push(aggregator);

    const { agent, adminSocket } = startAgent(workDir, NODE, podsRoot, first.ingestAddress, pki, {
      KESTREL_AGENT_MAX_IN_FLIGHT_BATCHES: String(MAX_IN_FLIGHT),
      KESTREL_AGENT_BATCH_MAX_LINES: '1000',
      KESTREL_AGENT_MAX_DELETED_FILES_HELD: '0',
    });
    processes.push(agent);
    const agentStarted = await agent.waitFor((l) => l.message === 'kestrel-agent started', 30_000);
    await agent.waitFor((l) => l.message === 'connected to aggregator', 30_000);
    const agentStatus = () => adminRequest(adminSocket, 'status') as Promise<AgentStatus>;
    const agentFiles = () => adminRequest(adminSocket, 'files') as Promise<FileView[]>;
    /** The files view as the CLI prints it with -o json: `kestrel-agent debug files`. */
    const debugFiles = async (): Promise<FileView[]> => {
      const r = await runToEnd(programs.agent, ['debug', 'files', '-o', 'json', '--socket', adminSocket]);
      assert.equal(r.code, 0, `kestrel-agent debug files: ${r.stderr}`);
      return JSON.parse(r.stdout) as FileView[];
    };

    // ---- load: three steady containers, one container the kubelet rotates ----
    const rot = new KubeletRotatedContainer(podsRoot, ROTATING, ROTATE_MAX_SIZE, ROTATE_MAX_FILES);
    /** Each file the rotation deleted, with what the agent's files view said of it just before. */
    const deletions: { file: RotatedFile; state: string; readOffset: number; checkpointOffset: number | null; duringCut: boolean }[] = [];
    let cutAt = 0;
    writer.start(10, 100);
    rotating = true;
    rotationLoop = (async () => {
      while (rotating) {
        rot.write(10);
        if (rot.needsRotation) {
          for (const f of rot.rotate()) {
            // The kubelet is slower than the agent's discovery (it checks every 10 s); make sure the agent has seen
            // the file, so that what it loses is something it can know of, and note how far it had read it.
            // Inodes are reused: an earlier file deleted with this inode may still be in the view, marked deleted (two
            // clean-clone CI runs failed when such an entry, read and done, was taken for this unread file).
            let seen: FileView | undefined;
            await until(`the agent to track ${f.name}`, async () => {
              seen = (await agentFiles()).find((v) => v.pod === ROTATING.pod && v.device === f.device && v.inode === f.inode && !v.state.endsWith('(deleted)'));
              return seen !== undefined;
            }, 20_000);
            rot.remove(f);
            deletions.push({ file: f, state: seen!.state, readOffset: seen!.readOffset, checkpointOffset: seen!.checkpointOffset, duringCut: cutAt > 0 });
          }
        }
        await sleep(100);
      }
    })();
    rotationLoop.catch(() => undefined); // awaited below

    // Flowing end to end, with the rotating container past its budget once already (a file read, then deleted).
    const tail = new StoreTail(dataDir, true);
    await until('lines flowing to cloud-dev and a rotated file deleted after it was read', () => {
      tail.poll();
      return tail.entries >= 1000 && deletions.length >= 1;
    }, 60_000);
    assert.ok(deletions.every((d) => d.state === 'done'), `before the cut the agent keeps up: ${JSON.stringify(deletions.map((d) => d.state))}`);

    // ---- the cut ----
    const steadyPods = new Set(STEADY_PODS.map((p) => p.pod));
    const sample = async (label: string): Promise<LagSample> => {
      const files = (await debugFiles()).filter((f) => steadyPods.has(f.pod));
      const status = await agentStatus();
      return {
        label,
        atMs: Date.now() - cutAt,
        lag: files.reduce((n, f) => n + f.lagBytes, 0),
        readOffsets: new Map(files.map((f) => [f.path, f.readOffset])),
        inFlightBatches: status.connection.inFlightBatches,
      };
    };
    const samples: LagSample[] = [];
    const sameOffsets = (a: LagSample, b: LagSample) => a.readOffsets.size === b.readOffsets.size && [...a.readOffsets].every(([p, o]) => b.readOffsets.get(p) === o);

    proxy.cut();
    cutAt = Date.now();
    // Nothing can be delivered, so nothing is acknowledged: the window fills and the followers block.
    await until('the agent in-flight window to fill', async () => (await agentStatus()).connection.inFlightBatches >= MAX_IN_FLIGHT, 20_000);
    let early: LagSample | undefined;
    await until('reading to pause (read offsets unchanged over 1.5 s)', async () => {
      const a = await sample('early');
      await sleep(1500);
      const b = await sample('early');
      if (sameOffsets(a, b) && b.lag > a.lag) early = b;
      return early !== undefined;
    }, 20_000);
    samples.push(early!);

    // ---- the aggregator SIGKILLed during the cut, started again (same settings, same port) during the cut ----
    await sleep(Math.max(0, KILL_AT_MS - (Date.now() - cutAt)));
    samples.push(await sample('before kill'));
    await aggregator.kill();
    const killedAtMs = Date.now() - cutAt;
    await sleep(DOWN_MS);
    const restartedAt = Date.now();
    const second = await startAggregator(workDir, 'aggregator-0', cloudDir, proxy.address, pki, aggregatorEnv);
    aggregator = second.aggregator;
    processes.push(aggregator);
    assert.equal(second.ingestAddress, first.ingestAddress, 'the new aggregator listens where the agent connects');
    await until('the agent to reconnect to the new aggregator', async () => {
      const c = (await agentStatus()).connection;
      return c.state === 'connected' && c.connectedSince !== null && Date.parse(c.connectedSince) >= restartedAt;
    }, 30_000);
    const reconnectedAtMs = Date.now() - cutAt;
    await sleep(2000);
    samples.push(await sample('after restart'));

    await sleep(Math.max(0, CUT_MS - 4000 - (Date.now() - cutAt)));
    samples.push(await sample('late'));
    const debugFilesText = (await runToEnd(programs.agent, ['debug', 'files', '--socket', adminSocket])).stdout;
    await sleep(Math.max(0, CUT_MS - 500 - (Date.now() - cutAt)));
    // The rotating container stops at the end of the cut (its writes past the budget are done).
    rotating = false;
    await rotationLoop;
    const cutStatus = await agentStatus();
    proxy.restore();
    const restoredAtMs = Date.now() - cutAt;

    console.log(`cut: lag of the steady containers (kestrel-agent debug files), in-flight batches (max ${MAX_IN_FLIGHT}); aggregator killed at ${killedAtMs} ms, agent reconnected at ${reconnectedAtMs} ms, uplink restored at ${restoredAtMs} ms`);
    for (const s of samples) console.log(`  ${s.label.padEnd(14)} t=${String(s.atMs).padStart(6)} ms  lag ${String(s.lag).padStart(9)} bytes  in flight ${s.inFlightBatches} batches`);
    console.log(debugFilesText);

    const [e, beforeKill, afterRestart, late] = samples as [LagSample, LagSample, LagSample, LagSample];
    for (const s of samples) assert.ok(s.inFlightBatches >= MAX_IN_FLIGHT, `${s.label}: the window is full (${s.inFlightBatches} batches in flight)`);
    for (const s of [beforeKill, afterRestart, late]) {
      assert.ok(sameOffsets(e, s), `${s.label}: reading stays paused where it stopped: ${JSON.stringify([...e.readOffsets])} vs ${JSON.stringify([...s.readOffsets])}`);
    }
    assert.ok(beforeKill.lag > e.lag, `lag grows before the kill (${e.lag} -> ${beforeKill.lag})`);
    assert.ok(afterRestart.lag > beforeKill.lag, `lag grows across the aggregator restart (${beforeKill.lag} -> ${afterRestart.lag})`);
    assert.ok(late.lag > afterRestart.lag, `lag is larger late in the cut than after the restart (${afterRestart.lag} -> ${late.lag})`);
    assert.equal(cutStatus.connection.state, 'connected', 'the agent is connected to the new aggregator at the end of the cut');

    // ---- after the cut: more load, then everything delivered ----
    await sleep(5000);
    writer.stop();

    // Deleted unread: the agent had read nothing of it. Its checkpoint may already list the file at offset 0 (a
    // file known to the container's checkpoint before any of it was read): that is still unread. (A clean-clone CI
    // run failed here with 260 lines "missing", exactly one such file, which the agent counted as lost.)
    const deletedUnread = deletions.filter((d) => d.readOffset === 0 && (d.checkpointOffset ?? 0) === 0);
    const deletedRead = deletions.filter((d) => !deletedUnread.includes(d));
    const lostSeqs = new Set<number>();
    for (const d of deletedUnread) for (let seq = d.file.from; seq <= d.file.to; seq++) lostSeqs.add(seq);
    const containers: SimulatedContainer[] = [...writer.containers, rot.c];
    const expected = new Set<string>();
    for (const c of containers) for (let seq = 1; seq <= c.written; seq++) if (c !== rot.c || !lostSeqs.has(seq)) expected.add(messageFor(c, seq));
    let missing = expected.size;
    try {
      await until('every line not deleted unread to be stored', () => {
        tail.poll();
        missing = 0;
        for (const m of expected) if (!tail.seen.has(m)) missing++;
        return missing === 0;
      }, 90_000);
    } catch (err) {
      // Where the flow stopped (seen twice in full-suite runs, never alone): both sides' own views, in the failure.
      const views = await Promise.allSettled([agentStatus(), adminRequest(second.adminSocket, 'status'), adminRequest(second.adminSocket, 'agents'), adminRequest(adminSocket, 'losses')]);
      const shown = views.map((v) => (v.status === 'fulfilled' ? JSON.stringify(v.value) : String(v.reason)));
      // Which lines: per container the missing sequence numbers as ranges, and what the test saw of each deleted file.
      const gaps: string[] = [];
      for (const c of containers) {
        const seqs: number[] = [];
        for (let seq = 1; seq <= c.written; seq++) if (expected.has(messageFor(c, seq)) && !tail.seen.has(messageFor(c, seq))) seqs.push(seq);
        const ranges: string[] = [];
        for (let i = 0; i < seqs.length; i++) {
          let j = i;
          while (j + 1 < seqs.length && seqs[j + 1] === seqs[j]! + 1) j++;
          ranges.push(i === j ? `${seqs[i]}` : `${seqs[i]}-${seqs[j]}`);
          i = j;
        }
        if (ranges.length > 0) gaps.push(`${c.pod}/${c.container}: ${ranges.join(',')}`);
      }
      const seen = deletions.map((d) => `${d.file.name} seq ${d.file.from}-${d.file.to} ${d.state} read ${d.readOffset} checkpoint ${d.checkpointOffset}${d.duringCut ? ' (during the cut)' : ''}`);
      // CI shows the end of what a failure printed: which lines and which files come last.
      throw new Error(
        `${(err as Error).message}\nagent status: ${shown[0]}\naggregator status: ${shown[1]}\naggregator agents: ${shown[2]}\n` +
          `agent losses: ${shown[3]}\ndeleted files as the agent showed them just before: ${seen.join('; ')}\n${missing} lines missing: ${gaps.join('; ')}`,
      );
    }
    // Nothing queued, in flight or in a replay window any more: no further copy can arrive.
    await until('the agent and the aggregator to have nothing left to send', async () => {
      const logs = (await (adminRequest(second.adminSocket, 'status') as Promise<AggregatorStatus>)).uplink.streams.find((s) => s.name === 'logs');
      return (await agentStatus()).connection.inFlightBatches === 0 && logs !== undefined && logs.queued === 0 && logs.inWindow === 0;
    }, 30_000);

    // ---- what the cloud has, line by line ----
    const stored = readStoredLogs(dataDir);
    const byMessage = new Map<string, typeof stored>();
    for (const s of stored) {
      const list = byMessage.get(s.message);
      if (list) list.push(s);
      else byMessage.set(s.message, [s]);
    }
    const problems: string[] = [];
    let duplicates = 0;
    let linesWritten = 0;
    for (const c of containers) {
      for (let seq = 1; seq <= c.written; seq++) {
        linesWritten++;
        const found = byMessage.get(messageFor(c, seq)) ?? [];
        byMessage.delete(messageFor(c, seq));
        const lost = c === rot.c && lostSeqs.has(seq);
        if (lost && found.length > 0) problems.push(`${c.pod}/${c.container} seq=${seq} was in ${rot.fileOf(seq)?.name}, deleted unread, yet it is stored`);
        if (!lost && found.length === 0) problems.push(`${c.pod}/${c.container} seq=${seq} (${c === rot.c ? `in ${rot.fileOf(seq)?.name}${rot.fileOf(seq)?.deleted ? ', deleted after it was read' : ''}` : '0.log'}) is missing`);
        if (found.length > 1) duplicates += found.length - 1;
        for (const f of found) {
          if (f.podUid !== c.uid || f.container !== c.container) problems.push(`${c.pod}/${c.container} seq=${seq} stored as ${f.podUid}/${f.container}`);
          // Line numbers count the lines of the container instance; the rotating one's go on after a gap.
          if (c !== rot.c && f.lineNumber !== seq) problems.push(`${c.pod}/${c.container} seq=${seq} stored as line ${f.lineNumber}`);
        }
      }
    }
    for (const [message] of byMessage) problems.push(`stored but never written: ${message.slice(0, 80)}`);

    // ---- the loss, as the agent counts it ----
    const losses = ((await adminRequest(adminSocket, 'losses')) as LossView[]).filter((l) => l.reason === 'deleted_before_read');
    const status = await agentStatus();
    const metrics = await (await fetch(`http://${String(agentStarted['http'])}/metrics`)).text();
    const metricLostBytes = [...metrics.matchAll(/^kestrel_agent_log_bytes_lost_total\{([^}]*)\} (\d+)/gm)]
      .filter((m) => m[1]!.includes(`container="${ROTATING.container}"`) && m[1]!.includes('reason="deleted_before_read"'))
      .reduce((n, m) => n + Number(m[2]), 0);
    const metricAllLostBytes = [...metrics.matchAll(/^kestrel_agent_log_bytes_lost_total\{[^}]*\} (\d+)/gm)].reduce((n, m) => n + Number(m[1]), 0);
    const metricLostFiles = [...metrics.matchAll(/^kestrel_agent_log_files_lost_total\{([^}]*)\} (\d+)/gm)]
      .filter((m) => m[1]!.includes('reason="deleted_before_read"'))
      .reduce((n, m) => n + Number(m[2]), 0);
    const expectedLostBytes = deletedUnread.reduce((n, d) => n + d.file.size, 0);
    const replays = readCloudSummary(dataDir)['replays'] as { messages: number; entries: number } | undefined;

    console.log(
      [
        `lines written ${linesWritten} (steady ${writer.written}, rotating ${rot.c.written}); stored entries ${stored.length}; duplicates stored ${duplicates}; replays dropped by cloud-dev ${replays?.entries ?? 0} entries in ${replays?.messages ?? 0} messages`,
        `rotation: ${rot.rotations} rotations, ${deletions.length} files deleted (${deletions.filter((d) => d.duringCut).length} during the cut): ${deletedUnread.length} unread (${lostSeqs.size} lines, ${expectedLostBytes} bytes), ${deletedRead.length} read before or while deleted (${deletedRead.map((d) => d.state).join(', ')})`,
        `agent losses: view ${losses.length} files / ${losses.reduce((n, l) => n + l.bytes, 0)} bytes; status lostBytes ${status.logs.lostBytes} lostFiles ${status.logs.lostFiles}; /metrics bytes ${metricLostBytes} files ${metricLostFiles}`,
        `run time ${Math.round((Date.now() - startedAt) / 1000)} s`,
      ].join('\n'),
    );

    assert.deepEqual(problems.slice(0, 30), [], `${problems.length} problems`);
    assert.ok(deletedUnread.length >= 3, `the rotation deleted several files the agent had not read (${deletedUnread.length})`);
    assert.ok(deletions.some((d) => d.state === 'done'), 'a deleted file that had been read is not missing');
    assert.ok(
      deletions.some((d) => d.duringCut && d.readOffset > 0 && d.state !== 'done'),
      'a file deleted while the agent was part way through it (paused) is held open and delivered in full',
    );
    // The agent's count: exactly the unread deleted files, each with its whole size.
    assert.deepEqual(
      losses.map((l) => ({ file: path.basename(l.file), bytes: l.bytes, pod: l.pod, container: l.container })).sort((a, b) => a.file.localeCompare(b.file)),
      deletedUnread.map((d) => ({ file: d.file.name, bytes: d.file.size, pod: ROTATING.pod, container: ROTATING.container })).sort((a, b) => a.file.localeCompare(b.file)),
      'the losses view lists exactly the files deleted unread, with their sizes',
    );
    assert.equal(status.logs.lostBytes, expectedLostBytes, 'the status view counts exactly the bytes deleted unread');
    assert.equal(status.logs.lostFiles, deletedUnread.length, 'and exactly those files');
    assert.equal(metricLostBytes, expectedLostBytes, '/metrics kestrel_agent_log_bytes_lost_total counts exactly the bytes deleted unread');
    assert.equal(metricAllLostBytes, expectedLostBytes, 'and no other loss anywhere');
    assert.equal(metricLostFiles, deletedUnread.length, '/metrics kestrel_agent_log_files_lost_total counts exactly the files deleted unread');
    for (const p of [cloud, agent, aggregator]) assert.equal(p.pid !== undefined && isAlive(p.pid), true, `${p.name} still runs`);
  } finally {
    rotating = false;
    writer.stop();
    await rotationLoop.catch(() => undefined);
    proxy?.restore();
    for (const p of [...processes].reverse()) await p.stop();
    await proxy?.close();
  }
});

function isAlive(pid: number): boolean {
  try {
    process.kill(pid, 0);
    return true;
  } catch {
    return false;
  }
}
