// Hubble Relay mode through the whole system: the aggregator follows a Hubble test server standing in for Relay over
// TCP with mutual TLS, while an agent on a node also reads its node's Hubble socket. The same flows reach both; the
// cloud must get them once (the agent's Hubble windows are ignored in relay mode), resolved to workloads, and a Relay
// restart must lose nothing Relay still holds.
import assert from 'node:assert/strict';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { after, test } from 'node:test';
import { adminRequest } from '@kestrel/core';
import type { MergerView, RelayView } from '@kestrel/aggregator/flows';
import { PODS, flowAgentEnv, hubbleFlow, readStoredFlows, startFlowsCluster, totalCount, until } from './harness/flows-system.js';
import { HubbleTestServerProcess } from './harness/hubble-test-server.js';
import { createInternalPki, startAgent } from './harness/system.js';

const workDir = fs.mkdtempSync(path.join(os.tmpdir(), 'flows-relay-'));
after(() => fs.rmSync(workDir, { recursive: true, force: true }));

const { web, api } = PODS;

test('in relay mode the leader reads Hubble Relay over mTLS, the agents\' Hubble windows are not counted again, and a Relay restart loses nothing', { timeout: 180_000 }, async () => {
  // Relay's own PKI: its server certificate (for localhost) and a client certificate it requires.
  const relayPki = createInternalPki(path.join(workDir, 'relay-pki'));
  const client = relayPki.agentFor('kestrel-aggregator');
  const relayOptions = (port: number) => ({
    nodeName: 'relay',
    ringFile: path.join(workDir, 'relay-ring.b64'),
    tcp: { host: '127.0.0.1', port, tls: { certFile: relayPki.aggregator.cert, keyFile: relayPki.aggregator.key, clientCaFile: relayPki.ca } },
  });
  let relay = new HubbleTestServerProcess(relayOptions(0));
  const relayPort = (await relay.listening).tcpPort!;
  const cluster = await startFlowsCluster(workDir, {
    KESTREL_AGGREGATOR_FLOWS_HUBBLE_MODE: 'relay',
    KESTREL_AGGREGATOR_FLOWS_RELAY_ADDRESS: `127.0.0.1:${relayPort}`,
    KESTREL_AGGREGATOR_FLOWS_RELAY_CA_FILE: relayPki.ca,
    KESTREL_AGGREGATOR_FLOWS_RELAY_CERT_FILE: client.cert,
    KESTREL_AGGREGATOR_FLOWS_RELAY_KEY_FILE: client.key,
    KESTREL_AGGREGATOR_FLOWS_RELAY_SERVER_NAME: 'localhost',
  });
  const nodeSocket = path.join(workDir, 'hubble-a.sock');
  const node = new HubbleTestServerProcess({ nodeName: 'node-a', unixSocket: nodeSocket });
  await node.listening;
  const podsRoot = path.join(workDir, 'pods');
  fs.mkdirSync(podsRoot);
  const { agent } = startAgent(workDir, 'node-a', podsRoot, cluster.ingestAddress, cluster.pki, flowAgentEnv(cluster, 'node-a', { hubbleSocket: nodeSocket }));
  const view = async () => (await adminRequest(cluster.aggregatorAdminSocket, 'flows')) as { merger: MergerView; relay: RelayView; podIndex: { pods: number } };
  /** web -> api:9090 seen leaving web on node-a: Relay serves it, and so does node-a's own socket. */
  let emitted = 0;
  const emit = async (n: number) => {
    const base = Date.now();
    const flows = Array.from({ length: n }, (_, k) => hubbleFlow({ uuid: `r-${emitted + k}`, atMs: base + k, src: web, dst: api, port: 9090, direction: 'EGRESS', node: 'node-a', named: 'src' }));
    emitted += n;
    await relay.emit(flows);
    await node.emit(flows);
  };
  const atCloud = () => totalCount(readStoredFlows(cluster.dataDir).flows.filter((f) => f.src.name === 'web' && f.dst.name === 'api' && f.port === 9090));
  try {
    await agent.waitFor((l) => l.message === 'connected to aggregator');
    await until('the aggregator to follow Relay and the agent its node', async () => (await relay.state()).clients === 1 && (await node.state()).clients === 1);
    await until('the aggregator to index the pods', async () => (await view()).podIndex.pods === 3);
    await emit(120);
    await until('the flows at the cloud', () => atCloud() >= 120, 60_000);
    await until('the agent\'s windows to have reached the aggregator', async () => (await view()).merger.ignoredWindows > 0, 30_000);

    // Relay restarts (SIGKILL) with its ring; the aggregator resumes from the newest flow it took.
    await relay.kill();
    relay = new HubbleTestServerProcess(relayOptions(relayPort));
    await relay.listening;
    await until('the aggregator to reconnect to Relay', async () => (await relay.state()).clients === 1, 60_000);
    await emit(80);
    await until('the second flows at the cloud', () => atCloud() >= 200, 60_000);
    await new Promise((r) => setTimeout(r, 13_000)); // a second count would arrive within a relay window + bucket + grace

    assert.equal(atCloud(), 200, 'each flow counted once: Relay\'s, not the agent\'s as well');
    const v = await view();
    assert.equal(v.relay.active, true);
    assert.equal(v.relay.tls, true);
    assert.ok(v.relay.reconnects >= 1);
    assert.equal(v.relay.lost, 0);
    const flows = readStoredFlows(cluster.dataDir).flows.filter((f) => f.port === 9090);
    assert.ok(flows.every((f) => f.src.kind === 'Deployment' && f.dst.kind === 'StatefulSet' && f.dst.ns === 'shop'), 'api resolved by the aggregator\'s pod index');
  } finally {
    await agent.stop();
    await node.stop();
    await relay.stop();
    await cluster.stop();
  }
});
