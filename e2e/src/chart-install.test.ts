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
import { execFile } from 'node:child_process';
import fs from 'node:fs';
import net from 'node:net';
import path from 'node:path';
import { after, before, describe, test } from 'node:test';
import { loadAgentConfig } from '@kestrel/agent';
import { loadAggregatorConfig } from '@kestrel/aggregator';
import { envName } from '@kestrel/core';
import { ChartRenderer, type Manifest } from './harness/chart.js';
import { readStoredLogEntries } from './harness/cloud-store.js';
import { clusterDnsEnv, writeClusterDns } from './harness/cluster-dns.js';
import { mapPaths, TestKubelet, type PodRun, type PodSpec } from './harness/kubelet.js';
import { criTimestamp } from './harness/pod-writer.js';
import { RunningProcess, runToEnd } from './harness/process.js';
import { programs, repoRoot } from './harness/repo.js';
import { startCloudDev } from './harness/system.js';
import { startKubeApiServer, type KubeApiServer, type KubeObject } from './kube-api-server/index.js';

const NS = 'kestrel';
const NODE = 'node-1';
const POD_IP = '127.0.0.1';
const AGENT_POD = 'kestrel-agent-x7k2p';
const AGGREGATOR_POD = 'kestrel-aggregator-5d8f7c9b4-q2w8n';
const AGENT_SA = `system:serviceaccount:${NS}:kestrel-agent`;
const AGGREGATOR_SA = `system:serviceaccount:${NS}:kestrel-aggregator`;
const APP = { namespace: 'shop', pod: 'web-1', container: 'app' };

function findKubectl(): string {
  const candidates = [process.env['KUBECTL'], ...(process.env['PATH'] ?? '').split(path.delimiter).map((d) => path.join(d, 'kubectl')), path.join(repoRoot, '.tools/bin/kubectl')];
  const found = candidates.find((c): c is string => c !== undefined && fs.existsSync(c));
  if (!found) throw new Error('kubectl not found (PATH, KUBECTL or .tools/bin): this test installs the chart with it');
  return found;
}

/** kubectl, asynchronously (the API server runs in this process). */
function kubectl(kube: KubeApiServer, cacheDir: string, args: string[]): Promise<{ code: number; stdout: string; stderr: string }> {
  return new Promise((resolve) => {
    execFile(findKubectl(), ['--kubeconfig', kube.kubeconfigPath, '--cache-dir', cacheDir, ...args], (err, stdout, stderr) => {
      resolve({ code: err ? ((err as { code?: number }).code ?? 1) : 0, stdout, stderr });
    });
  });
}

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

async function waitUntil<T>(what: string, probe: () => T | undefined | false | Promise<T | undefined | false>, timeoutMs = 30_000): Promise<T> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    const value = await probe();
    if (value) return value;
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}`);
    await sleep(200);
  }
}

/** Whether host:port can be bound here now. */
function bindable(host: string, port: number): Promise<boolean> {
  return new Promise((resolve) => {
    const server = net.createServer();
    server.once('error', () => resolve(false));
    server.listen(port, host, () => server.close(() => resolve(true)));
  });
}

function freePort(): Promise<number> {
  return new Promise((resolve) => {
    const server = net.createServer();
    server.listen(0, '127.0.0.1', () => {
      const { port } = server.address() as net.AddressInfo;
      server.close(() => resolve(port));
    });
  });
}

const ownerOf = (o: KubeObject) => ({ apiVersion: o.apiVersion!, kind: o.kind!, name: o.metadata.name!, uid: o.metadata.uid!, controller: true, blockOwnerDeletion: true });
const template = (o: KubeObject) => (o['spec'] as { template: { metadata: { labels?: Record<string, string>; annotations?: Record<string, string> }; spec: PodSpec } }).template;

describe('the chart, installed with its default values, runs the real processes from what it renders', () => {
  let work: string;
  let kube: KubeApiServer;
  let cloud: Awaited<ReturnType<typeof startCloudDev>>;
  let rendered: Manifest[];
  let aggregator: RunningProcess | undefined;
  let agent: RunningProcess | undefined;
  let aggregatorRun: PodRun;
  let agentRun: PodRun;
  /** Listen addresses moved because the chart's port was taken here. */
  const moved: string[] = [];
  const ports = { ingest: 4800, aggregatorHttp: 9103, agentHttp: 9102 };
  let appUid: string;
  const nodeRoot = () => path.join(work, 'node');
  const dnsFile = () => path.join(work, 'cluster-dns.json');

  /** The pod's readiness (the kubelet's probe answered), which the headless Service's DNS answer follows. */
  const setReady = (name: string) => {
    const pod = kube.get('v1', 'Pod', name, NS)!;
    const now = new Date().toISOString();
    const status = { ...(pod['status'] as object), phase: 'Running', conditions: [{ type: 'Ready', status: 'True', lastTransitionTime: now }, { type: 'ContainersReady', status: 'True', lastTransitionTime: now }] };
    kube.update({ ...pod, status }, 'status');
    publishDns();
  };

  /** Cluster DNS: each headless Service's name -> podIPs of the ready pods it selects. */
  const publishDns = () => {
    const records: Record<string, string[]> = {};
    for (const svc of kube.list('v1', 'Service', { namespace: NS })) {
      const spec = svc['spec'] as { clusterIP?: string; selector?: Record<string, string> };
      if (spec.clusterIP !== 'None' || !spec.selector) continue;
      const ready = kube.list('v1', 'Pod', { namespace: NS }).filter((p) => {
        const labels = p.metadata.labels ?? {};
        const conditions = ((p['status'] as { conditions?: { type: string; status: string }[] }).conditions ?? []);
        return Object.entries(spec.selector!).every(([k, v]) => labels[k] === v) && conditions.some((c) => c.type === 'Ready' && c.status === 'True');
      });
      records[`${svc.metadata.name}.${NS}.svc.cluster.local`] = ready.map((p) => (p['status'] as { podIP: string }).podIP);
    }
    writeClusterDns(dnsFile(), records);
  };

  /** The kubelet's readiness probe: GET <path> on the container port it names, until 200. */
  const probe = async (run: PodRun, kind: 'readinessProbe' | 'livenessProbe', portOf: Record<string, number>) => {
    const http = run.container[kind]?.httpGet;
    assert.ok(http, `${run.container.name} has a ${kind}`);
    const port = typeof http.port === 'number' ? http.port : portOf[http.port];
    assert.ok(port, `${kind} port ${String(http.port)} is a named container port`);
    await waitUntil(`${run.container.name} ${kind} ${http.path} on ${port}`, async () => {
      try {
        return (await fetch(`http://127.0.0.1:${port}${http.path ?? '/'}`)).status === 200;
      } catch {
        return false;
      }
    });
  };

  /** Keeps the chart's listen addresses unless taken here; then moves them to a free port (said in diagnostics). */
  const keepOrMove = async (env: Record<string, string>, name: string): Promise<number> => {
    const [host, port] = [env[name]!.slice(0, env[name]!.lastIndexOf(':')), Number(env[name]!.slice(env[name]!.lastIndexOf(':') + 1))];
    if (await bindable(host, port)) return port;
    const free = await freePort();
    moved.push(`${name}=${env[name]} was taken on this machine: ${host}:${free} instead`);
    env[name] = `${host}:${free}`;
    return free;
  };

  before(async () => {
    // Short: the admin sockets (a setting's default under the /tmp emptyDir) live under it.
    work = fs.mkdtempSync('/tmp/kci-');
    cloud = await startCloudDev(work);
    kube = await startKubeApiServer({ stateDir: path.join(work, 'kube-api-server') });
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
    const valuesFile = path.join(work, 'values.yaml');
    fs.writeFileSync(valuesFile, JSON.stringify(values, null, 2));
    const renderer = new ChartRenderer();
    const result = await renderer.render([valuesFile]);
    renderer.close();
    assert.ok(result.ok, result.ok ? '' : result.error);
    rendered = result.rendered.manifests;

    const manifestsFile = path.join(work, 'manifests.yaml');
    fs.writeFileSync(manifestsFile, rendered.map((m) => JSON.stringify(m.object)).join('\n---\n'));
    const cache = path.join(work, 'kube-cache');
    const created = await kubectl(kube, cache, ['create', 'namespace', NS]);
    assert.equal(created.code, 0, created.stderr);
    const applied = await kubectl(kube, cache, ['apply', '-f', manifestsFile]);
    assert.equal(applied.code, 0, applied.stderr);
    for (const m of rendered) {
      assert.ok(kube.get(m.apiVersion, m.kind, m.name, m.namespace), `${m.kind} ${m.name} is in the API after kubectl apply`);
    }
    const kinds = new Set(rendered.map((m) => m.kind));
    for (const kind of ['DaemonSet', 'Deployment', 'ServiceAccount', 'ClusterRole', 'Role', 'Secret', 'ConfigMap', 'Service']) assert.ok(kinds.has(kind), `renders a ${kind}`);
  });

  test('the pods start from the rendered templates: the aggregator, then the agent on its node', async () => {
    // The node, as its kubelet registers it; the folders a containerd node has.
    for (const dir of ['var/log/pods', 'var/log/containers', 'var/lib/containerd']) fs.mkdirSync(path.join(nodeRoot(), dir), { recursive: true });
    kube.create({
      apiVersion: 'v1',
      kind: 'Node',
      metadata: { name: NODE, labels: { 'kubernetes.io/os': 'linux', 'kubernetes.io/hostname': NODE } },
      status: { conditions: [{ type: 'Ready', status: 'True' }], addresses: [{ type: 'InternalIP', address: POD_IP }], allocatable: { cpu: '2', memory: '4Gi' }, capacity: { cpu: '2', memory: '4Gi' } },
    });
    const node = kube.get('v1', 'Node', NODE)!;
    const daemonSet = kube.get('apps/v1', 'DaemonSet', 'kestrel-agent', NS)!;
    const deployment = kube.get('apps/v1', 'Deployment', 'kestrel-aggregator', NS)!;
    // The scheduler's part: both templates' nodeSelectors match the node.
    for (const o of [daemonSet, deployment]) {
      const selector = ((template(o).spec as { nodeSelector?: Record<string, string> }).nodeSelector ?? {});
      for (const [k, v] of Object.entries(selector)) assert.equal(node.metadata.labels?.[k], v, `${o.kind} nodeSelector ${k}=${v} matches ${NODE}`);
    }

    // The Deployment controller's ReplicaSet, and the aggregator pod from its template.
    const hash = AGGREGATOR_POD.split('-')[2]!;
    const aggTemplate = template(deployment);
    const podLabels = { ...aggTemplate.metadata.labels, 'pod-template-hash': hash };
    const replicaSet = kube.create({
      apiVersion: 'apps/v1',
      kind: 'ReplicaSet',
      metadata: { name: `kestrel-aggregator-${hash}`, namespace: NS, labels: podLabels, ownerReferences: [ownerOf(deployment)] },
      spec: { replicas: 1, selector: { matchLabels: { ...(deployment['spec'] as { selector: { matchLabels: Record<string, string> } }).selector.matchLabels, 'pod-template-hash': hash } }, template: { ...aggTemplate, metadata: { ...aggTemplate.metadata, labels: podLabels } } },
    } as KubeObject);
    kube.create({
      apiVersion: 'v1',
      kind: 'Pod',
      metadata: { name: AGGREGATOR_POD, namespace: NS, labels: podLabels, ...(aggTemplate.metadata.annotations ? { annotations: aggTemplate.metadata.annotations } : {}), ownerReferences: [ownerOf(replicaSet)] },
      spec: { ...aggTemplate.spec, nodeName: NODE },
      status: { phase: 'Running', podIP: POD_IP, hostIP: POD_IP },
    } as KubeObject);
    // The DaemonSet controller's pod for the node.
    const agentTemplate = template(daemonSet);
    kube.create({
      apiVersion: 'v1',
      kind: 'Pod',
      metadata: { name: AGENT_POD, namespace: NS, labels: { ...agentTemplate.metadata.labels, 'pod-template-generation': '1' }, ownerReferences: [ownerOf(daemonSet)] },
      spec: { ...agentTemplate.spec, nodeName: NODE },
      status: { phase: 'Running', podIP: POD_IP, hostIP: POD_IP },
    } as KubeObject);
    // An application pod on the node, whose logs the agent collects.
    kube.ensureNamespace(APP.namespace);
    const app = kube.create({
      apiVersion: 'v1',
      kind: 'Pod',
      metadata: { name: APP.pod, namespace: APP.namespace, labels: { app: 'web' } },
      spec: { nodeName: NODE, containers: [{ name: APP.container, image: 'web:1' }] },
      status: { phase: 'Running', podIP: '10.0.0.7', hostIP: POD_IP },
    } as KubeObject);
    appUid = app.metadata.uid!;
    publishDns();

    const kubelet = new TestKubelet(kube, NODE, nodeRoot());

    // The aggregator: env and files from its pod, nothing else (see the header for the mapping).
    aggregatorRun = await kubelet.start(NS, AGGREGATOR_POD, 'aggregator', path.join(work, 'aggregator-pod'));
    const aggPaths = mapPaths(aggregatorRun, loadAggregatorConfig([], aggregatorRun.env) as unknown as Record<string, unknown>, (k) => envName('KESTREL_AGGREGATOR_', k));
    const aggEnv: Record<string, string> = { ...aggPaths.env, KESTREL_SERVICE_ACCOUNT_PATH_PREFIX: aggregatorRun.root };
    assert.equal(aggEnv['KESTREL_AGGREGATOR_AGENT_AUTH'], 'token', 'the chart runs the aggregators in token mode');
    ports.ingest = await keepOrMove(aggEnv, 'KESTREL_AGGREGATOR_INGEST_LISTEN');
    ports.aggregatorHttp = await keepOrMove(aggEnv, 'KESTREL_AGGREGATOR_HTTP_LISTEN');
    aggregator = new RunningProcess('aggregator', programs.aggregator, [], aggEnv, path.join(work, 'aggregator.log'));
    const started = await aggregator.waitFor((l) => l.message === 'kestrel-aggregator started');
    assert.equal(started['agentAuth'], 'token');
    await probe(aggregatorRun, 'livenessProbe', { http: ports.aggregatorHttp, ingest: ports.ingest });
    await probe(aggregatorRun, 'readinessProbe', { http: ports.aggregatorHttp, ingest: ports.ingest }); // its cloud stream is open
    setReady(AGGREGATOR_POD);

    // The agent on the node.
    agentRun = await kubelet.start(NS, AGENT_POD, 'agent', path.join(work, 'agent-pod'));
    const agentPaths = mapPaths(agentRun, loadAgentConfig([], agentRun.env) as unknown as Record<string, unknown>, (k) => envName('KESTREL_AGENT_', k));
    const agentEnv: Record<string, string> = { ...agentPaths.env, KESTREL_SERVICE_ACCOUNT_PATH_PREFIX: agentRun.root, ...clusterDnsEnv(dnsFile()) };
    if (ports.ingest !== 4800) agentEnv['KESTREL_AGENT_AGGREGATOR_ADDRESS'] = agentEnv['KESTREL_AGENT_AGGREGATOR_ADDRESS']!.replace(/:4800$/, `:${ports.ingest}`);
    ports.agentHttp = await keepOrMove(agentEnv, 'KESTREL_AGENT_HTTP_LISTEN');
    // Every path the agent uses is in the pod: its token, CA, logs, state, /host/proc, the runtime folder, /tmp.
    const mappedNames = agentPaths.mapped.map((m) => m.name);
    for (const name of ['KESTREL_AGENT_TOKEN_FILE', 'KESTREL_AGENT_TLS_CA_FILE', 'KESTREL_AGENT_LOG_ROOT', 'KESTREL_AGENT_STATE_DIR', 'KESTREL_AGENT_PROC_ROOT', 'KESTREL_AGENT_CONTAINER_FILESYSTEM', 'KESTREL_AGENT_ADMIN_SOCKET']) {
      assert.ok(mappedNames.includes(name), `${name} is a path in one of the agent's mounts (mapped: ${mappedNames.join(', ')})`);
    }
    agent = new RunningProcess('agent', programs.agent, [], agentEnv, path.join(work, 'agent.log'));
    await agent.waitFor((l) => l.message === 'connected to aggregator');
    await probe(agentRun, 'livenessProbe', { http: ports.agentHttp });
    await probe(agentRun, 'readinessProbe', { http: ports.agentHttp }); // connected to an aggregator
    setReady(AGENT_POD);
    for (const m of moved) console.log(`# chart-install: ${m}`);
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
