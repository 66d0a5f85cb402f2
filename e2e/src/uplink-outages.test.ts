// The uplink under steady load through outages of the cloud and of the network: cloud-dev killed and started
// again, and the network between aggregator and cloud cut for 30 s. Afterwards every line written is in cloud-dev's
// store exactly once (what the aggregator sent again from its replay window was recognised and counted, not stored
// twice) and neither the aggregator nor the agent restarted. Real processes, real TLS, a TCP proxy for the cut.
import assert from 'node:assert/strict';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { test } from 'node:test';
import { exactlyOnceProblems, readCloudSummary, readStoredLogs, waitForStored } from './harness/delivery-check.js';
import { startUplinkSystem, SteadyWriter, type UplinkSystem } from './harness/uplink-system.js';

const PODS = [
  { namespace: 'shop', pod: 'checkout-1', containers: ['app', 'envoy'] },
  { namespace: 'payments', pod: 'ledger-0', containers: ['app'] },
  { namespace: 'search', pod: 'indexer-2', containers: ['worker'] },
];

async function until(what: string, check: () => boolean | Promise<boolean>, timeoutMs: number): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  while (Date.now() < deadline) {
    if (await check()) return;
    await new Promise((r) => setTimeout(r, 250));
  }
  assert.fail(`timed out after ${timeoutMs} ms waiting for ${what}`);
}

/** Stops writing, waits for every line and for the aggregator to have nothing left to send, then checks the store. */
async function assertEveryLineOnce(system: UplinkSystem, writer: SteadyWriter): Promise<void> {
  writer.stop();
  const total = writer.written;
  const stored = await waitForStored(system.dataDir, total, 90_000);
  assert.ok(stored >= total, `only ${stored} of ${total} lines arrived`);
  // Nothing queued or in a replay window any more: no further copy can arrive.
  await until(
    'the aggregator to have nothing left to send',
    async () => (await system.aggregatorStatus()).uplink.streams.every((s) => s.state === 'open'),
    30_000,
  );
  await until('the logs replay window to empty', async () => {
    const status = await system.aggregatorStatus();
    const logs = status.uplink.streams.find((s) => s.name === 'logs')!;
    return logs.queued === 0 && logs.inWindow === 0;
  }, 30_000);
  const problems = exactlyOnceProblems(writer.containers, readStoredLogs(system.dataDir));
  assert.deepEqual(problems.slice(0, 20), [], `${problems.length} problems`);
}

function assertStillRunning(system: UplinkSystem): void {
  for (const p of [system.aggregator, system.agent]) {
    assert.equal(p.pid !== undefined && isAlive(p.pid), true, `${p.name} is still the process started at the beginning`);
  }
  assert.equal(system.aggregator.lines.filter((l) => l.message === 'kestrel-aggregator started').length, 1, 'the aggregator started once');
}

function isAlive(pid: number): boolean {
  try {
    process.kill(pid, 0);
    return true;
  } catch {
    return false;
  }
}

test('cloud-dev killed and restarted under load: every line stored exactly once, replays counted, no operator restart', { timeout: 180_000 }, async () => {
  const workDir = fs.mkdtempSync(path.join(os.tmpdir(), 'kestrel-e2e-restart-'));
  const system = await startUplinkSystem({ workDir, nodeName: 'node-restart' });
  const writer = new SteadyWriter(system.podsRoot, PODS);
  try {
    writer.start(10);
    assert.ok((await waitForStored(system.dataDir, 1000, 30_000)) >= 1000);
    await system.restartCloud('kill');
    const before = writer.written;
    await waitForStored(system.dataDir, before + 1000, 60_000);
    await assertEveryLineOnce(system, writer);
    const replays = readCloudSummary(system.dataDir)['replays'] as { entries: number };
    assert.ok(replays.entries > 0, 'cloud-dev saw lines it already had (the replay window) and did not store them again');
    const logs = (await system.aggregatorStatus()).uplink.streams.find((s) => s.name === 'logs')!;
    assert.ok(logs.replayed > 0, 'the aggregator replayed its window on the new stream');
    assertStillRunning(system);
  } finally {
    writer.stop();
    await system.stop();
  }
});

test('the network cut for 30 s under load: readiness drops, liveness holds, then every line stored exactly once', { timeout: 240_000 }, async () => {
  const workDir = fs.mkdtempSync(path.join(os.tmpdir(), 'kestrel-e2e-cut-'));
  const system = await startUplinkSystem({ workDir, nodeName: 'node-cut' });
  const writer = new SteadyWriter(system.podsRoot, PODS);
  const started = await system.aggregator.waitFor((l) => l.message === 'kestrel-aggregator started');
  const http = `http://${String(started['http'])}`;
  try {
    writer.start(10);
    assert.ok((await waitForStored(system.dataDir, 1000, 30_000)) >= 1000);
    assert.equal((await fetch(`${http}/readyz`)).status, 200);
    // The partition begins one way: lines still reach cloud-dev and are stored, but its heartbeats no longer reach
    // the aggregator, so nothing written from now on can leave the replay window. Without this, whether the cloud
    // already had part of the window at the cut depends on where the cut falls between two heartbeats.
    system.proxy.silenceTarget();
    const cutAt = Date.now();
    const storedAtSilence = readStoredLogs(system.dataDir).length;
    assert.ok(
      (await waitForStored(system.dataDir, storedAtSilence + 100, 4_000)) >= storedAtSilence + 100,
      'lines written after the last heartbeat the aggregator heard reached cloud-dev',
    );
    system.proxy.cut();
    // The streams hear nothing for the idle timeout (5 s here), are declared dead, and readiness says so.
    await until('/readyz to report the uplink down', async () => (await fetch(`${http}/readyz`)).status === 503, 25_000);
    assert.match(await (await fetch(`${http}/readyz`)).text(), /cloud streams not open/);
    assert.equal((await fetch(`${http}/healthz`)).status, 200, 'liveness is not affected by an outage');
    await new Promise((r) => setTimeout(r, Math.max(0, 30_000 - (Date.now() - cutAt))));
    assert.equal((await fetch(`${http}/healthz`)).status, 200);
    system.proxy.restore();
    await until('/readyz to report the uplink up again', async () => (await fetch(`${http}/readyz`)).status === 200, 30_000);
    const before = writer.written;
    await waitForStored(system.dataDir, before, 60_000);
    await assertEveryLineOnce(system, writer);
    const replays = readCloudSummary(system.dataDir)['replays'] as { entries: number };
    assert.ok(replays.entries > 0, 'cloud-dev saw again the lines stored after the last heartbeat, and did not store them twice');
    assertStillRunning(system);
  } finally {
    writer.stop();
    system.proxy.restore();
    await system.stop();
  }
});
