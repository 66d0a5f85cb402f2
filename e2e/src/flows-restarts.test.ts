// Issue 7, "Done when" 2, through the whole system: the Hubble test server of a node and then the node's agent are
// SIGKILLed and started again while flows keep coming. What reaches cloud-dev as aggregated Flow counts, plus what
// Hubble itself reported lost (its ring overflowed while the agent was down), must be exactly what was emitted: no
// count lost beyond that, none counted twice, and the loss visible in the aggregator (debug flows, /metrics).
import assert from 'node:assert/strict';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { after, test } from 'node:test';
import { adminRequest } from '@kestrel/core';
import type { MergerView } from '@kestrel/aggregator/flows';
import { PODS, flowAgentEnv, hubbleFlow, readStoredFlows, startFlowsCluster, totalCount, until } from './harness/flows-system.js';
import { HubbleTestServerProcess } from './harness/hubble-test-server.js';
import { startAgent } from './harness/system.js';

const workDir = fs.mkdtempSync(path.join(os.tmpdir(), 'flows-restarts-'));
after(() => fs.rmSync(workDir, { recursive: true, force: true }));

const { web, cart } = PODS;

test('killing and restarting the Hubble server and the agent loses no flow count beyond what Hubble reports lost, and that loss is reported', { timeout: 240_000 }, async () => {
  const cluster = await startFlowsCluster(workDir);
  const socket = path.join(workDir, 'hubble.sock');
  const hubbleOptions = { nodeName: 'node-a', unixSocket: socket, ringFile: path.join(workDir, 'ring.b64'), ringSize: 1000 };
  let hubble = new HubbleTestServerProcess(hubbleOptions);
  await hubble.listening;
  const podsRoot = path.join(workDir, 'pods');
  fs.mkdirSync(podsRoot);
  const env = flowAgentEnv(cluster, 'node-a', { hubbleSocket: socket });
  let { agent } = startAgent(workDir, 'node-a', podsRoot, cluster.ingestAddress, cluster.pki, env);
  const checkpointFile = path.join(workDir, 'node-a-state', 'hubble-checkpoint.json');
  let emitted = 0;
  let dropped = 0;
  /** Emits n flows web -> cart:8080 (every tenth DROPPED), each at its own instant. */
  const emit = async (n: number) => {
    const base = Date.now();
    const flows = Array.from({ length: n }, (_, k) => {
      const i = emitted + k;
      if (i % 10 === 0) dropped++;
      return hubbleFlow({ uuid: `h-${i}`, atMs: base + k, src: web, dst: cart, port: 8080, direction: 'EGRESS', verdict: i % 10 === 0 ? 'DROPPED' : 'FORWARDED', node: 'node-a', named: 'src' });
    });
    emitted += n;
    await hubble.emit(flows);
  };
  const cloudCounts = () => {
    const { flows } = readStoredFlows(cluster.dataDir);
    const ours = flows.filter((f) => f.src.name === 'web' && f.dst.name === 'cart' && f.port === 8080);
    return { allowed: totalCount(ours.filter((f) => f.allowed)), denied: totalCount(ours.filter((f) => !f.allowed)) };
  };
  const merger = async () => ((await adminRequest(cluster.aggregatorAdminSocket, 'flows')) as { merger: MergerView }).merger;
  const reportedLost = async () => (await merger()).sources.filter((s) => s.node === 'node-a').reduce((n, s) => n + s.sourceLost, 0);
  /** Until the agent saved the point after everything emitted (it does so once the aggregator acknowledged). */
  const acknowledged = () => until('the agent checkpoint to cover every flow emitted', () => fs.existsSync(checkpointFile) && (JSON.parse(fs.readFileSync(checkpointFile, 'utf8')) as { uuids: string[] }).uuids.includes(`h-${emitted - 1}`), 60_000);
  try {
    await agent.waitFor((l) => l.message === 'connected to aggregator');
    await until('the agent to follow Hubble', async () => (await hubble.state()).clients === 1);
    await until('the aggregator to index the pods', async () => ((await adminRequest(cluster.aggregatorAdminSocket, 'flows')) as { podIndex: { pods: number } }).podIndex.pods === 3);

    // Phase 1: steady.
    await emit(400);
    await acknowledged();
    // Acknowledged means written to the cloud: cloud-dev has it on disk within its flush interval.
    await until('phase 1 at the cloud', () => cloudCounts().allowed + cloudCounts().denied === 400, 5000);

    // Phase 2: Hubble is SIGKILLed and comes back with its ring; the agent resumes from where it was.
    await hubble.kill();
    hubble = new HubbleTestServerProcess(hubbleOptions);
    await hubble.listening;
    await until('the agent to reconnect to Hubble', async () => (await hubble.state()).clients === 1);
    await emit(300);
    await acknowledged();

    // Phase 3: the agent is SIGKILLed; Hubble emits more than its ring holds meanwhile; the agent comes back.
    await agent.kill();
    await emit(1500);
    ({ agent } = startAgent(workDir, 'node-a', podsRoot, cluster.ingestAddress, cluster.pki, env));
    await agent.waitFor((l) => l.message === 'connected to aggregator');
    await until('the restarted agent to follow Hubble', async () => (await hubble.state()).clients === 1);
    await emit(200);
    const lostByHubble = (await hubble.state()).lostReported;
    assert.ok(lostByHubble > 0, 'the ring overflowed while the agent was down');

    await until('every flow to be counted at the cloud or reported lost', async () => {
      const c = cloudCounts();
      return c.allowed + c.denied + (await reportedLost()) >= emitted;
    }, 90_000);
    // Anything counted twice would arrive within a bucket and its grace (7 s): wait it out.
    await new Promise((r) => setTimeout(r, 8000));

    const c = cloudCounts();
    const lost = await reportedLost();
    assert.equal(lost, lostByHubble, 'the aggregator reports exactly the loss Hubble reported');
    assert.equal(c.allowed + c.denied + lost, emitted, 'counted at the cloud + reported lost = emitted');
    // The lost ones are the oldest of phase 3 (evicted from the ring): h-700 .. h-700+lost-1.
    let lostDropped = 0;
    for (let i = 700; i < 700 + lost; i++) if (i % 10 === 0) lostDropped++;
    assert.equal(c.denied, dropped - lostDropped, 'the verdicts add up too');
    const metrics = await (await fetch(`http://${(await cluster.aggregator.waitFor((l) => l.message === 'kestrel-aggregator started'))['http']}/metrics`)).text();
    const line = metrics.split('\n').find((l) => l.startsWith('kestrel_aggregator_flow_upstream_lost_total') && l.includes('source="hubble"') && l.includes('where="source"'));
    assert.ok(line && Number(line.split(' ').pop()) === lost, `the loss is in /metrics: ${line}`);
  } finally {
    await agent.stop();
    await hubble.stop();
    await cluster.stop();
  }
});
