// Agents spread over aggregator replicas by rendezvous hashing, under load, with real processes: 3 aggregator
// replicas and 10 agents on loopback, one replica SIGKILLed, later a new one added. Every line must reach cloud-dev;
// what the killed replica had not acknowledged is resent (cloud-dev drops those replays by line number and counts
// them); its nodes move to their second choices; the new replica takes only the nodes that now rank it first.
import assert from 'node:assert/strict';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { test } from 'node:test';
import { rank } from '@kestrel/agent';
import { adminRequest } from '@kestrel/core';
import { readStoredLogEntries } from './harness/cloud-store.js';
import { readCloudSummary } from './harness/delivery-check.js';
import { eventually } from './harness/in-process-uplink.js';
import { createContainers, messageFor, writeLines, type SimulatedContainer } from './harness/pod-writer.js';
import type { RunningProcess } from './harness/process.js';
import { createInternalPki, startAggregator, startAgent, startCloudDev } from './harness/system.js';

interface Conn {
  replica: string | null;
  state: string;
  inFlight: { batches: number; lines: number };
  failovers: number;
  rebalances: number;
}

const NODES = 10;

test('3 replicas and 10 agents under load: a SIGKILLed replica loses no line, its nodes fail over, a new replica takes only its share', { timeout: 240_000 }, async () => {
  const workDir = fs.mkdtempSync(path.join(os.tmpdir(), 'kestrel-e2e-replicas-'));
  const pki = createInternalPki(path.join(workDir, 'pki'));
  const processes: RunningProcess[] = [];
  const writers: NodeJS.Timeout[] = [];
  try {
    // A 1 s heartbeat and replay window keep acknowledgements quick, so the test sees several cycles of them.
    const cloud = await startCloudDev(workDir, '1s');
    processes.push(cloud.cloud);
    const aggregators = [];
    // The fourth replica runs from the start but is listed only later (as a pod becoming ready in the Service).
    for (let i = 0; i < 4; i++) {
      const a = await startAggregator(workDir, `aggregator-${i}`, cloud.cloudDir, cloud.address, pki, { KESTREL_AGGREGATOR_REPLAY_WINDOW: '1s' });
      processes.push(a.aggregator);
      aggregators.push(a);
    }
    const addresses = aggregators.map((a) => a.ingestAddress);
    const [live3, added] = [addresses.slice(0, 3), addresses[3]!];

    // Node names are picked (from a fixed pool, knowing the addresses) so that every replica starts with nodes and
    // the scale-up moves 2 to 4 of the 10: the statistics of rendezvous hashing are the unit tests' business
    // (forwarder/rendezvous.test.ts, 3,000 nodes); here the processes must do exactly what the ranking says.
    const firstChoice = (node: string, list: string[]) => rank(node, list, (a) => a)[0]!;
    const counts = (nodes: string[], list: string[]) => list.map((a) => nodes.filter((n) => firstChoice(n, list) === a).length);
    const pool = Array.from({ length: 400 }, (_, i) => `node-${String(i).padStart(3, '0')}`);
    let nodes: string[] = [];
    let victim = '';
    for (let start = 0; start + NODES <= pool.length && !victim; start += NODES) {
      const candidate = pool.slice(start, start + NODES);
      if (counts(candidate, live3).some((n) => n < 2)) continue;
      const survivor = live3.filter((a) => a !== live3[0]);
      const moving = candidate.filter((n) => firstChoice(n, [...survivor, added]) === added).length;
      if (moving >= 2 && moving <= 4) [nodes, victim] = [candidate, live3[0]!];
    }
    assert.ok(victim, 'a node set with the wanted spread exists in the pool');

    const addressFile = path.join(workDir, 'aggregators');
    fs.writeFileSync(addressFile, `${live3.join('\n')}\n`);
    const containers = new Map<string, SimulatedContainer[]>();
    const agents = new Map<string, string>(); // node -> admin socket
    for (const node of nodes) {
      const podsRoot = path.join(workDir, node, 'pods');
      containers.set(node, createContainers(podsRoot, [{ namespace: 'shop', pod: `web-${node}`, containers: ['app', 'sidecar'] }]));
      const started = startAgent(workDir, node, podsRoot, { file: addressFile }, pki, {
        KESTREL_AGENT_AGGREGATOR_RESOLVE_INTERVAL: '500ms',
        KESTREL_AGENT_FLUSH_INTERVAL: '100ms',
      });
      processes.push(started.agent);
      agents.set(node, started.adminSocket);
    }
    const conn = async (node: string) => (await adminRequest(agents.get(node)!, 'conn')) as Conn;
    // An agent still starting has no admin socket yet: it counts as on no replica.
    const replicaOf = async () => new Map(await Promise.all(nodes.map(async (n) => [n, await conn(n).then((c) => c.replica, () => null)] as const)));

    // Load: every container writes 20 lines every 50 ms (8,000 lines/s over the 20 containers).
    for (const list of containers.values()) writers.push(setInterval(() => list.forEach((c) => writeLines(c, 20)), 50));

    await eventually('every agent on its first choice', async () => {
      const now = await replicaOf();
      return nodes.every((n) => now.get(n) === firstChoice(n, live3));
    }, 30_000);
    await new Promise((r) => setTimeout(r, 4000));

    // SIGKILL one replica; the Service stops listing it.
    const victimNodes = nodes.filter((n) => firstChoice(n, live3) === victim);
    void aggregators[0]!.aggregator.kill();
    const inFlightAtKill = (await Promise.all(victimNodes.map(conn))).reduce((n, c) => n + c.inFlight.lines, 0);
    const survivors = live3.slice(1);
    fs.writeFileSync(addressFile, `${survivors.join('\n')}\n`);
    await eventually('the killed replica\'s nodes on their next choice, the others unmoved', async () => {
      const now = await replicaOf();
      return nodes.every((n) => now.get(n) === firstChoice(n, survivors));
    }, 30_000);
    for (const n of victimNodes) assert.ok((await conn(n)).failovers >= 1, `${n} counts its failover`);
    await new Promise((r) => setTimeout(r, 4000));

    // Scale up: the new replica is listed.
    const before = await replicaOf();
    const scaled = [...survivors, added];
    fs.writeFileSync(addressFile, `${scaled.join('\n')}\n`);
    const predicted = nodes.filter((n) => firstChoice(n, scaled) === added);
    await eventually('the nodes that now rank the new replica first moved to it', async () => {
      const now = await replicaOf();
      return nodes.every((n) => now.get(n) === firstChoice(n, scaled));
    }, 30_000);
    const after = await replicaOf();
    const moved = nodes.filter((n) => after.get(n) !== before.get(n));
    assert.deepEqual(moved, predicted, 'exactly the nodes that rank the new replica first moved, all to it');
    assert.ok(moved.length <= Math.ceil(NODES / 3) + 1, `about a third of the nodes at most moved (${moved.length} of ${NODES})`);
    for (const n of moved) assert.equal((await conn(n)).rebalances, 1, `${n} moved by a planned rebalance, not a failure`);
    await new Promise((r) => setTimeout(r, 3000));

    for (const w of writers) clearInterval(w);
    const all = [...containers.values()].flat();
    const written = all.reduce((n, c) => n + c.written, 0);
    await eventually('every line stored', () => new Set(readStoredLogEntries(cloud.dataDir).map((e) => e.message)).size >= written, 60_000);
    await new Promise((r) => setTimeout(r, 1500)); // anything extra (a duplicate) lands before judging

    const stored = readStoredLogEntries(cloud.dataDir);
    const seen = new Set(stored.map((e) => e.message));
    const missing = all.flatMap((c) => Array.from({ length: c.written }, (_, i) => messageFor(c, i + 1)).filter((m) => !seen.has(m)));
    assert.deepEqual(missing.slice(0, 5), [], `${missing.length} of ${written} lines missing`);
    const duplicatesStored = stored.length - seen.size;
    const replays = (readCloudSummary(cloud.dataDir)['replays'] as { entries: number } | undefined)?.entries ?? 0;
    console.log(`replicas: ${written} lines from ${NODES} nodes; killed replica had ${victimNodes.length} nodes with ${inFlightAtKill} lines unacknowledged; replays dropped by cloud-dev ${replays}; duplicates stored ${duplicatesStored}; moved at scale-up ${moved.length} (${moved.join(', ')})`);
    assert.equal(duplicatesStored, 0, 'cloud-dev drops replays by line number: nothing is stored twice');
    assert.ok(duplicatesStored + replays <= inFlightAtKill, `duplicates at the cloud (${replays} replays) at most the lines in flight at the kill (${inFlightAtKill})`);
  } finally {
    for (const w of writers) clearInterval(w);
    await Promise.all(processes.reverse().map((p) => p.stop()));
  }
});
