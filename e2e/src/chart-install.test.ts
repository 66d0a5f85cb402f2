// Issue 9, Done-when 3: the chart, rendered with its default values plus only what every installer must give (the
// cloud's address and the onboarding token and mTLS material, inline, from `cloud-dev init`), is applied with kubectl
// to the Kubernetes API test server; this test then plays the controllers, the scheduler, the kubelet and the cluster
// DNS for one node, and runs the real kestrel-aggregator and kestrel-agent configured from nothing but what the
// rendered pods give them. CRI lines written on the node reach cloud-dev through an agent that proved its node with
// the token the kubelet projected for its pod, reviewed by the aggregator with a TokenReview.
//
// What the test does in place of the cluster, and the only ways the processes' configuration differs from the pods':
//   - Pods: one Node (node-1); the DaemonSet's pod on it and one pod of the Deployment (of its two replicas: one is
//     enough for one node), made from their pod templates (spec.nodeName = node-1, podIP 127.0.0.1), marked Ready
//     when their readiness probe (the chart's path and port) answers 200.
//   - Volumes (harness/kubelet.ts): each pod has a root folder; a volume mounted at P is at <podRoot>P (Secrets,
//     ConfigMaps, projected tokens from the real TokenRequest API bound to the pod with the volume's audience, the
//     ServiceAccount folder every pod gets); a hostPath volume is a symlink to <nodeRoot><hostPath> (/proc: this
//     machine's /proc).
//   - THE one path mapping: every setting whose value, from the container's env or the process's own default, is a
//     path inside one of the container's mounts is passed as <podRoot><path>; KESTREL_SERVICE_ACCOUNT_PATH_PREFIX=
//     <podRoot> applies the same mapping to /var/run/secrets/kubernetes.io/serviceaccount, which client-node's
//     loadFromCluster and our runningInCluster() read (packages/core/src/service-account.ts).
//   - KUBERNETES_SERVICE_HOST/PORT name the API test server (the kubelet sets them in every container).
//   - Cluster DNS (harness/cluster-dns.ts, preloaded with NODE_OPTIONS): the headless Service's name resolves to
//     the ready pods it selects, as CoreDNS answers; every other name goes to the real resolver.
//   - Ports: the chart's listen addresses (0.0.0.0:4800, :9102, :9103) are kept; only one already taken on this
//     machine is moved to a free port (the agent's aggregator address follows the ingest port), and the test says
//     so in its diagnostics.
import assert from 'node:assert/strict';
import fs from 'node:fs';
import path from 'node:path';
import { after, before, describe, test } from 'node:test';
import { loadAgentConfig } from '@kestrel/agent';
import { loadAggregatorConfig } from '@kestrel/aggregator';
import { envName } from '@kestrel/core';
import type { Manifest } from './harness/chart.js';
import { ChartCluster, installChart, scheduleChartPods, waitUntil } from './harness/chart-cluster.js';
import { readStoredLogEntries } from './harness/cloud-store.js';
import { clusterDnsEnv } from './harness/cluster-dns.js';
import { mapPaths, TestKubelet, type PodRun } from './harness/kubelet.js';
import { criTimestamp } from './harness/pod-writer.js';
import { RunningProcess, runToEnd } from './harness/process.js';
import { programs } from './harness/repo.js';
import { startCloudDev } from './harness/system.js';
import { startKubeApiServer, type KubeApiServer } from './kube-api-server/index.js';

const NS = 'kestrel';
const NODE = 'node-1';
const POD_IP = '127.0.0.1';
const AGENT_POD = 'kestrel-agent-x7k2p';
const AGGREGATOR_POD = 'kestrel-aggregator-5d8f7c9b4-q2w8n';
const AGENT_SA = `system:serviceaccount:${NS}:kestrel-agent`;
const AGGREGATOR_SA = `system:serviceaccount:${NS}:kestrel-aggregator`;
const APP = { namespace: 'shop', pod: 'web-1', container: 'app' };

describe('the chart, installed with its default values, runs the real processes from what it renders', () => {
  let work: string;
  let kube: KubeApiServer;
  let cloud: Awaited<ReturnType<typeof startCloudDev>>;
  let rendered: Manifest[];
  let aggregator: RunningProcess | undefined;
  let agent: RunningProcess | undefined;
  let aggregatorRun: PodRun;
  let agentRun: PodRun;
  let cluster: ChartCluster;
  const ports = { ingest: 4800, aggregatorHttp: 9103, agentHttp: 9102 };
  let appUid: string;
  const nodeRoot = () => path.join(work, 'node');
  const dnsFile = () => path.join(work, 'cluster-dns.json');

  before(async () => {
    // Short: the admin sockets (a setting's default under the /tmp emptyDir) live under it.
    work = fs.mkdtempSync('/tmp/kci-');
    cloud = await startCloudDev(work);
    kube = await startKubeApiServer({ stateDir: path.join(work, 'kube-api-server') });
    cluster = new ChartCluster(kube, NS, dnsFile());
  });

  after(async () => {
    await agent?.stop();
    await aggregator?.stop();
    await cloud?.cloud.stop();
    await kube?.stop();
    fs.rmSync(work, { recursive: true, force: true });
  });

  test('helm install: every manifest rendered with the default values applies with kubectl', async () => {
    const operator = path.join(cloud.cloudDir, 'operator');
    const read = (file: string) => fs.readFileSync(path.join(operator, file), 'utf8');
    // What an installer must give: where the cloud is, and the onboarding credentials (inline). Nothing else.
    const values = { cloud: { address: cloud.address, token: read('token').trim(), tls: { crt: read('tls.crt'), key: read('tls.key'), ca: read('ca.crt') } } };
    rendered = await installChart(kube, work, NS, values);

    for (const m of rendered) {
      assert.ok(kube.get(m.apiVersion, m.kind, m.name, m.namespace), `${m.kind} ${m.name} is in the API after kubectl apply`);
    }
    const kinds = new Set(rendered.map((m) => m.kind));
    for (const kind of ['DaemonSet', 'Deployment', 'ServiceAccount', 'ClusterRole', 'Role', 'Secret', 'ConfigMap', 'Service']) assert.ok(kinds.has(kind), `renders a ${kind}`);
  });

  test('the pods start from the rendered templates: the aggregator, then the agent on its node', async () => {
    // The node, and the pods the controllers and the scheduler make from the rendered templates.
    appUid = scheduleChartPods(kube, nodeRoot(), { namespace: NS, node: NODE, podIp: POD_IP, aggregatorPod: AGGREGATOR_POD, agentPod: AGENT_POD, app: APP }).appUid;
    cluster.publishDns();

    const kubelet = new TestKubelet(kube, NODE, nodeRoot());

    // The aggregator: env and files from its pod, nothing else (see the header for the mapping).
    aggregatorRun = await kubelet.start(NS, AGGREGATOR_POD, 'aggregator', path.join(work, 'aggregator-pod'));
    const aggPaths = mapPaths(aggregatorRun, loadAggregatorConfig([], aggregatorRun.env) as unknown as Record<string, unknown>, (k) => envName('KESTREL_AGGREGATOR_', k));
    const aggEnv: Record<string, string> = { ...aggPaths.env, KESTREL_SERVICE_ACCOUNT_PATH_PREFIX: aggregatorRun.root };
    assert.equal(aggEnv['KESTREL_AGGREGATOR_AGENT_AUTH'], 'token', 'the chart runs the aggregators in token mode');
    ports.ingest = await cluster.keepOrMove(aggEnv, 'KESTREL_AGGREGATOR_INGEST_LISTEN');
    ports.aggregatorHttp = await cluster.keepOrMove(aggEnv, 'KESTREL_AGGREGATOR_HTTP_LISTEN');
    aggregator = new RunningProcess('aggregator', programs.aggregator, [], aggEnv, path.join(work, 'aggregator.log'));
    const started = await aggregator.waitFor((l) => l.message === 'kestrel-aggregator started');
    assert.equal(started['agentAuth'], 'token');
    await cluster.probe(aggregatorRun, 'livenessProbe', { http: ports.aggregatorHttp, ingest: ports.ingest });
    await cluster.probe(aggregatorRun, 'readinessProbe', { http: ports.aggregatorHttp, ingest: ports.ingest }); // its cloud stream is open
    cluster.setReady(AGGREGATOR_POD);

    // The agent on the node.
    agentRun = await kubelet.start(NS, AGENT_POD, 'agent', path.join(work, 'agent-pod'));
    const agentPaths = mapPaths(agentRun, loadAgentConfig([], agentRun.env) as unknown as Record<string, unknown>, (k) => envName('KESTREL_AGENT_', k));
    const agentEnv: Record<string, string> = { ...agentPaths.env, KESTREL_SERVICE_ACCOUNT_PATH_PREFIX: agentRun.root, ...clusterDnsEnv(dnsFile()) };
    if (ports.ingest !== 4800) agentEnv['KESTREL_AGENT_AGGREGATOR_ADDRESS'] = agentEnv['KESTREL_AGENT_AGGREGATOR_ADDRESS']!.replace(/:4800$/, `:${ports.ingest}`);
    ports.agentHttp = await cluster.keepOrMove(agentEnv, 'KESTREL_AGENT_HTTP_LISTEN');
    // Every path the agent uses is in the pod: its token, CA, logs, state, /host/proc, the runtime folder, /tmp.
    const mappedNames = agentPaths.mapped.map((m) => m.name);
    for (const name of ['KESTREL_AGENT_TOKEN_FILE', 'KESTREL_AGENT_TLS_CA_FILE', 'KESTREL_AGENT_LOG_ROOT', 'KESTREL_AGENT_STATE_DIR', 'KESTREL_AGENT_PROC_ROOT', 'KESTREL_AGENT_CONTAINER_FILESYSTEM', 'KESTREL_AGENT_ADMIN_SOCKET']) {
      assert.ok(mappedNames.includes(name), `${name} is a path in one of the agent's mounts (mapped: ${mappedNames.join(', ')})`);
    }
    agent = new RunningProcess('agent', programs.agent, [], agentEnv, path.join(work, 'agent.log'));
    await agent.waitFor((l) => l.message === 'connected to aggregator');
    await cluster.probe(agentRun, 'livenessProbe', { http: ports.agentHttp });
    await cluster.probe(agentRun, 'readinessProbe', { http: ports.agentHttp }); // connected to an aggregator
    cluster.setReady(AGENT_POD);
    for (const m of cluster.moved) console.log(`# chart-install: ${m}`);
  });

  test("the aggregator accepted the agent by its pod-bound token, for the pod's node", async () => {
    const socket = path.join(aggregatorRun.root, '/tmp/kestrel-aggregator.sock');
    const view = await runToEnd(programs.aggregator, ['debug', 'agents', '-o', 'json', '--socket', socket]);
    assert.equal(view.code, 0, view.stderr);
    const agents = JSON.parse(view.stdout) as { node: string; subject: string }[];
    assert.deepEqual(agents.map((a) => [a.node, a.subject]), [[NODE, `${AGENT_SA} pod ${AGENT_POD}`]]);
    const reviews = kube.audit.find({ user: AGGREGATOR_SA, verb: 'create', resource: 'tokenreviews' });
    assert.ok(reviews.length >= 1 && reviews.every((r) => r.code === 201), `TokenReviews by the aggregator's ServiceAccount: ${JSON.stringify(reviews.map((r) => r.code))}`);
    const metrics = await (await fetch(`http://127.0.0.1:${ports.aggregatorHttp}/metrics`)).text();
    assert.match(metrics, /kestrel_aggregator_ingest_token_reviews_total\{[^}]*result="authenticated"[^}]*\} [1-9]/);
  });

  test('CRI lines written on the node reach cloud-dev with their pod and node', async () => {
    const dir = path.join(nodeRoot(), 'var/log/pods', `${APP.namespace}_${APP.pod}_${appUid}`, APP.container);
    fs.mkdirSync(dir, { recursive: true });
    const lines = Array.from({ length: 50 }, (_, i) => `chart-install line ${i + 1} of 50`);
    const now = Date.now();
    fs.writeFileSync(path.join(dir, '0.log'), lines.map((l, i) => `${criTimestamp(now, i)} stdout F ${l}\n`).join(''));
    const stored = await waitUntil('the lines in cloud-dev', () => {
      const entries = readStoredLogEntries(cloud.dataDir).filter((e) => e.message.startsWith('chart-install line'));
      return entries.length >= lines.length && entries;
    }, 60_000);
    assert.deepEqual(stored.map((e) => e.message).sort(), [...lines].sort());
    for (const e of stored) assert.deepEqual([e.namespace, e.pod, e.podUid, e.container, e.nodeName], [APP.namespace, APP.pod, appUid, APP.container, NODE]);
  });

  test('the RBAC the chart renders is enough for what both processes do, and neither reads a Secret', async () => {
    // The agent watches its own Node and the pods on its node, asking by field selector (RBAC cannot).
    const agentReads = await waitUntil("the agent's node and pod watches", () => {
      const found = kube.audit.find({ user: AGENT_SA, verb: ['list', 'watch'] });
      return found.some((e) => e.resource === 'nodes') && found.some((e) => e.resource === 'pods') && found;
    });
    for (const e of agentReads) {
      const selector = new URLSearchParams(e.query).get('fieldSelector');
      assert.equal(selector, e.resource === 'nodes' ? `metadata.name=${NODE}` : `spec.nodeName=${NODE}`, `${e.verb} ${e.resource} ${e.query}`);
    }
    // The aggregator's leader ran the inventory lists with its own ServiceAccount.
    await waitUntil("the aggregator's Lease and inventory", () => kube.audit.find({ user: AGGREGATOR_SA, verb: 'list', resource: 'deployments' }).length > 0);
    for (const user of [AGENT_SA, AGGREGATOR_SA]) {
      const refused = kube.audit.find({ user }).filter((e) => e.code === 401 || e.code === 403);
      assert.deepEqual(refused.map((e) => `${e.code} ${e.verb} ${e.resource ?? e.path} ${e.namespace ?? ''}`), [], `requests by ${user} the API refused`);
      assert.equal(kube.audit.reads('secrets', user), 0, `${user} read no Secret`);
    }
    assert.ok(kube.get('coordination.k8s.io/v1', 'Lease', 'kestrel-aggregator-leader', NS), 'the leader holds the Lease the chart names');
  });

  test("a certificate renewed by the cloud lands in the chart's runtime Secret", async () => {
    const before = (kube.get('v1', 'Secret', 'kestrel-cloud-runtime', NS)?.['data'] ?? {}) as Record<string, string>;
    assert.equal(before['tls.crt'], undefined, 'the chart makes it empty');
    const rotated = await runToEnd(programs.cloudDev, ['rotate-cert', '--dir', cloud.cloudDir, '--revoke-previous', 'false']);
    assert.equal(rotated.code, 0, rotated.stdout + rotated.stderr);
    const data = await waitUntil('the runtime Secret updated', () => {
      const d = (kube.get('v1', 'Secret', 'kestrel-cloud-runtime', NS)?.['data'] ?? {}) as Record<string, string>;
      return d['tls.crt'] ? d : undefined;
    });
    const onboarding = fs.readFileSync(path.join(cloud.cloudDir, 'operator/tls.crt'), 'utf8');
    assert.match(Buffer.from(data['tls.crt']!, 'base64').toString(), /BEGIN CERTIFICATE/);
    assert.notEqual(Buffer.from(data['tls.crt']!, 'base64').toString(), onboarding);
    const patches = kube.audit.find({ user: AGGREGATOR_SA, verb: 'patch', resource: 'secrets' });
    assert.ok(patches.length > 0 && patches.every((p) => p.code === 200 && p.name === 'kestrel-cloud-runtime'), JSON.stringify(patches.map((p) => [p.name, p.code])));
  });
});
