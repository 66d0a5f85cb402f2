// Network flows and Istio access logs through the whole system (issue 7, "Done when" 1): two agents reading Hubble
// test servers on their node sockets, one agent tailing a VPC CNI flow log that is rotated during the test, Envoy
// access log streams from two sidecars, one aggregator, cloud-dev. What cloud-dev stores on StreamFlows must be the
// aggregated Flow and L7AccessLog records whose counts add up to what the test peers emitted (a conversation seen on
// both ends counted once), with endpoints resolved to workloads by the node or, for the far end, by the aggregator.
import assert from 'node:assert/strict';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { after, test } from 'node:test';
import type { FlowsView } from '@kestrel/agent';
import { adminRequest } from '@kestrel/core';
import { AlsClient, httpEntry, sidecarNode, tcpEntry } from './harness/als-client.js';
import { PODS, flowAgentEnv, hubbleFlow, readStoredFlows, startFlowsCluster, totalCount, until, vpcCniLine, vpcCniOtherLine, type StoredFlow } from './harness/flows-system.js';
import { HubbleTestServerProcess } from './harness/hubble-test-server.js';
import { runToEnd } from './harness/process.js';
import { programs } from './harness/repo.js';
import { startAgent } from './harness/system.js';

const workDir = fs.mkdtempSync(path.join(os.tmpdir(), 'flows-system-'));
after(() => fs.rmSync(workDir, { recursive: true, force: true }));

const { web, cart, api } = PODS;
const external = { ip: '203.0.113.10' };

test('flows from two Hubble nodes and a rotated VPC CNI log, and Istio access logs, reach the cloud aggregated, counted once and resolved to workloads', { timeout: 180_000 }, async () => {
  // ALS over TLS with the aggregator's internal certificate (a mesh without sidecar mTLS towards the aggregator).
  const cluster = await startFlowsCluster(workDir, (pki) => ({ KESTREL_AGGREGATOR_ALS_TLS_CERT_FILE: pki.aggregator.cert, KESTREL_AGGREGATOR_ALS_TLS_KEY_FILE: pki.aggregator.key }));
  const hubbleA = new HubbleTestServerProcess({ nodeName: 'node-a', unixSocket: path.join(workDir, 'hubble-a.sock') });
  const hubbleB = new HubbleTestServerProcess({ nodeName: 'node-b', unixSocket: path.join(workDir, 'hubble-b.sock') });
  await Promise.all([hubbleA.listening, hubbleB.listening]);
  const flowLog = path.join(workDir, 'aws-routed-eni', 'network-policy-agent.log');
  fs.mkdirSync(path.dirname(flowLog));
  fs.writeFileSync(flowLog, vpcCniOtherLine());
  const podsRoot = path.join(workDir, 'pods');
  fs.mkdirSync(podsRoot);
  const agents = [
    startAgent(workDir, 'node-a', podsRoot, cluster.ingestAddress, cluster.pki, flowAgentEnv(cluster, 'node-a', { hubbleSocket: path.join(workDir, 'hubble-a.sock') })),
    startAgent(workDir, 'node-b', podsRoot, cluster.ingestAddress, cluster.pki, flowAgentEnv(cluster, 'node-b', { hubbleSocket: path.join(workDir, 'hubble-b.sock') })),
    startAgent(workDir, 'node-c', podsRoot, cluster.ingestAddress, cluster.pki, flowAgentEnv(cluster, 'node-c', { vpcCniLog: flowLog })),
  ];
  const als = new AlsClient({ address: cluster.alsAddress, caFile: cluster.pki.ca, serverName: 'localhost' });
  try {
    for (const a of agents) await a.agent.waitFor((l) => l.message === 'connected to aggregator');
    await until('both agents to follow Hubble', async () => (await hubbleA.state()).clients === 1 && (await hubbleB.state()).clients === 1);
    await until('the aggregator to index the pods', async () => ((await adminRequest(cluster.aggregatorAdminSocket, 'flows')) as { podIndex: { pods: number } }).podIndex.pods === 3);
    for (const a of agents) await until(`${a.adminSocket} to know its node's pods`, async () => ((await adminRequest(a.adminSocket, 'flows')) as { podsResolvable: number }).podsResolvable >= 1);

    // web -> cart:8080, 30 allowed: seen leaving web on node-a (Hubble names web, not cart) and entering cart on
    // node-b (Hubble names cart, not web): the same packets, at the same instants. 5 more are dropped at egress.
    const t0 = Date.now();
    const allowed = Array.from({ length: 30 }, (_, i) => t0 + i);
    await hubbleA.emit([
      ...allowed.map((at, i) => hubbleFlow({ uuid: `a-${i}`, atMs: at, src: web, dst: cart, port: 8080, direction: 'EGRESS', node: 'node-a', named: 'src' })),
      ...Array.from({ length: 5 }, (_, i) => hubbleFlow({ uuid: `a-drop-${i}`, atMs: t0 + 40 + i, src: web, dst: cart, port: 8080, direction: 'EGRESS', verdict: 'DROPPED', node: 'node-a', named: 'src' })),
    ]);
    await hubbleB.emit([
      ...allowed.map((at, i) => hubbleFlow({ uuid: `b-${i}`, atMs: at, src: web, dst: cart, port: 8080, direction: 'INGRESS', node: 'node-b', named: 'dst' })),
      // cart -> an address outside the cluster: stays an IP.
      ...Array.from({ length: 7 }, (_, i) => hubbleFlow({ uuid: `b-ext-${i}`, atMs: t0 + 50 + i, src: cart, dst: external, port: 443, direction: 'EGRESS', node: 'node-b', named: 'src' })),
    ]);

    // api -> cart:5432 in the VPC CNI log of node-c: 20 lines, the file rotated, 15 more in the new file.
    const vpc = (n: number) => Array.from({ length: n }, (_, i) => vpcCniLine(api.ip, 33000 + i, cart.ip, 5432, 'TCP', 'ACCEPT') + (i % 6 === 0 ? vpcCniOtherLine() : '')).join('');
    fs.appendFileSync(flowLog, vpc(20));
    await until('node-c to have read the first 20 flow lines', async () => ((await adminRequest(agents[2]!.adminSocket, 'flows')) as FlowsView).totals.vpc_cni.raw === 20);
    fs.renameSync(flowLog, path.join(path.dirname(flowLog), 'network-policy-agent-2026-11-26T03-00-00.000.log'));
    fs.writeFileSync(flowLog, vpc(15));

    // Istio: 12 GET /api/cart logged by web's sidecar (outbound) and cart's sidecar (inbound), 3 POSTs denied by
    // cart's AuthorizationPolicy (inbound only), 2 TCP connections api -> cart:6379 logged by api's sidecar.
    const webSidecar = als.stream(sidecarNode({ ip: web.ip, pod: web.name, namespace: 'shop', workload: 'web' }));
    const cartSidecar = als.stream(sidecarNode({ ip: cart.ip, pod: cart.name, namespace: 'shop', workload: 'cart' }));
    const apiSidecar = als.stream(sidecarNode({ ip: api.ip, pod: api.name, namespace: 'shop', workload: 'api', kind: 'StatefulSet' }));
    const ok = Array.from({ length: 12 }, (_, i) => ({ clientIp: web.ip, serverIp: cart.ip, port: 8080, serviceHost: 'cart.shop.svc.cluster.local', path: `/api/cart?session=${i}`, status: 200, startMs: t0 + i * 3 }));
    const denied = Array.from({ length: 3 }, (_, i) => ({ clientIp: web.ip, serverIp: cart.ip, port: 8080, serviceHost: 'cart.shop.svc.cluster.local', method: 3, path: '/api/checkout', status: 403, denied: true, startMs: t0 + 100 + i }));
    await webSidecar.http(ok.slice(0, 6).map((x) => httpEntry(x, 'outbound')));
    await webSidecar.http(ok.slice(6).map((x) => httpEntry(x, 'outbound')));
    await cartSidecar.http([...ok, ...denied].map((x) => httpEntry(x, 'inbound')));
    await apiSidecar.tcp([0, 1].map((i) => tcpEntry({ clientIp: api.ip, serverIp: cart.ip, port: 6379, serviceHost: 'redis.shop.svc.cluster.local', startMs: t0 + i, sent: 1000, received: 4000 }, 'outbound')));

    const conversation = (flows: StoredFlow[], from: string, to: string, port: number, ok: boolean) =>
      flows.filter((f) => (f.src.name || f.srcIp) === from && (f.dst.name || f.dstIp) === to && f.port === port && f.allowed === ok);
    await until('every emitted flow and access log to be in cloud-dev', () => {
      const { flows, l7 } = readStoredFlows(cluster.dataDir);
      return (
        totalCount(conversation(flows, 'web', 'cart', 8080, true)) >= 30 &&
        totalCount(conversation(flows, 'web', 'cart', 8080, false)) >= 5 &&
        totalCount(conversation(flows, 'cart', external.ip, 443, true)) >= 7 &&
        totalCount(conversation(flows, 'api', 'cart', 5432, true)) >= 35 &&
        totalCount(l7) >= 12 + 3 + 2
      );
    }, 60_000);
    // Buckets that could still hold a second count of anything are sent within bucket + grace (7 s): wait them out.
    await new Promise((r) => setTimeout(r, 8000));
    const { flows, l7 } = readStoredFlows(cluster.dataDir);

    // Counted once although both ends saw it; reported as ingress (observed entering cart); both ends resolved.
    const webCart = conversation(flows, 'web', 'cart', 8080, true);
    assert.equal(totalCount(webCart), 30);
    for (const f of webCart) {
      assert.deepEqual([f.src.ns, f.src.kind, f.src.name, f.dst.ns, f.dst.kind, f.dst.name], ['shop', 'Deployment', 'web', 'shop', 'Deployment', 'cart']);
      assert.equal(f.direction, 'ingress');
      assert.equal(f.protocol, 'TCP');
    }
    assert.equal(totalCount(conversation(flows, 'web', 'cart', 8080, false)), 5);
    const toExternal = conversation(flows, 'cart', external.ip, 443, true);
    assert.equal(totalCount(toExternal), 7);
    assert.ok(toExternal.every((f) => f.dst.name === '' && f.direction === 'egress'));
    // VPC CNI: every flow line, across the rotation, once; api resolved by node-c, cart by the aggregator.
    const apiCart = conversation(flows, 'api', 'cart', 5432, true);
    assert.equal(totalCount(apiCart), 35);
    assert.ok(apiCart.every((f) => f.src.kind === 'StatefulSet' && f.src.labels.includes('app=api') && f.dst.kind === 'Deployment'));
    // Nothing else was made up.
    assert.equal(totalCount(flows), 30 + 5 + 7 + 35);

    // L7: the 12 requests logged by both sidecars count once; query strings and headers never leave.
    const get = l7.filter((r) => r.httpData?.path === '/api/cart');
    assert.equal(totalCount(get), 12);
    assert.ok(get.every((r) => r.source.name === 'web' && r.destination.name === 'cart' && r.destination.serviceName === 'cart' && r.allowed && r.httpData!.responseCode === 200));
    const post = l7.filter((r) => r.httpData?.path === '/api/checkout');
    assert.equal(totalCount(post), 3);
    assert.ok(post.every((r) => !r.allowed && r.httpData!.responseCode === 403 && r.l7Protocol === 'L7_PROTOCOL_HTTP'));
    const tcp = l7.filter((r) => r.tcpData);
    assert.equal(totalCount(tcp), 2);
    assert.ok(tcp.every((r) => r.source.kind === 'StatefulSet' && r.destination.name === 'cart' && r.destination.port === 6379 && r.l7Protocol === 'L7_PROTOCOL_TCP'));
    assert.equal(totalCount(l7), 17);
    const text = fs.readFileSync(path.join(cluster.dataDir, 'flows.jsonl'), 'utf8');
    assert.ok(!text.includes('session=') && !text.includes('must-never-leave'), 'no query string or header value reaches the cloud');

    // The debug view tells the same story.
    const view = (await adminRequest(cluster.aggregatorAdminSocket, 'flows')) as { merger: { bothEnds: number; sources: { node: string; source: string }[] }; als: { bothSides: number; tls: boolean } };
    assert.ok(view.merger.bothEnds >= 1);
    assert.equal(view.als.tls, true);
    assert.ok(view.als.bothSides >= 1);
    assert.deepEqual(view.merger.sources.map((s) => `${s.node}/${s.source}`).sort(), ['node-a/hubble', 'node-b/hubble', 'node-c/vpc_cni']);
    const debug = await runToEnd(programs.aggregator, ['debug', 'flows'], { KESTREL_AGGREGATOR_ADMIN_SOCKET: cluster.aggregatorAdminSocket });
    assert.equal(debug.code, 0, debug.stderr);
    assert.match(debug.stdout, /top talkers \(last bucket\)/);
    assert.match(debug.stdout, /node-c +vpc_cni/);
    assert.match(debug.stdout, /istio access logs on 127\.0\.0\.1:\d+ \(TLS\)/);
    await Promise.all([webSidecar.end(), cartSidecar.end(), apiSidecar.end()]);
  } finally {
    als.close();
    for (const a of agents) await a.agent.stop();
    await hubbleA.stop();
    await hubbleB.stop();
    await cluster.stop();
  }
});
