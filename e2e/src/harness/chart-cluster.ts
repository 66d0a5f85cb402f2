// What the tests that install the chart into the Kubernetes API test server share (chart-install.test.ts,
// chart-restart-credentials.test.ts): kubectl apply of the rendered chart, the controllers' and the scheduler's part
// (the Deployment's ReplicaSet and pod, the DaemonSet's pod on the one node, an application pod), the kubelet's probes
// and the pods' readiness, the cluster DNS of the headless Services, and keeping the chart's listen ports unless taken
// on this machine. The kubelet's volumes and env are harness/kubelet.ts; the chart rendering is harness/chart.ts.
import assert from 'node:assert/strict';
import { execFile } from 'node:child_process';
import fs from 'node:fs';
import net from 'node:net';
import path from 'node:path';
import { ChartRenderer, type Manifest } from './chart.js';
import { writeClusterDns } from './cluster-dns.js';
import type { PodRun, PodSpec } from './kubelet.js';
import { repoRoot } from './repo.js';
import type { KubeApiServer, KubeObject } from '../kube-api-server/index.js';

export function findKubectl(): string {
  const candidates = [process.env['KUBECTL'], ...(process.env['PATH'] ?? '').split(path.delimiter).map((d) => path.join(d, 'kubectl')), path.join(repoRoot, '.tools/bin/kubectl')];
  const found = candidates.find((c): c is string => c !== undefined && fs.existsSync(c));
  if (!found) throw new Error('kubectl not found (PATH, KUBECTL or .tools/bin): this test installs the chart with it');
  return found;
}

/** kubectl, asynchronously (the API server runs in this process). */
export function kubectl(kube: KubeApiServer, cacheDir: string, args: string[]): Promise<{ code: number; stdout: string; stderr: string }> {
  return new Promise((resolve) => {
    execFile(findKubectl(), ['--kubeconfig', kube.kubeconfigPath, '--cache-dir', cacheDir, ...args], (err, stdout, stderr) => {
      resolve({ code: err ? ((err as { code?: number }).code ?? 1) : 0, stdout, stderr });
    });
  });
}

export const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

export async function waitUntil<T>(what: string, probe: () => T | undefined | false | Promise<T | undefined | false>, timeoutMs = 30_000): Promise<T> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    const value = await probe();
    if (value) return value;
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}`);
    await sleep(200);
  }
}

/** Whether host:port can be bound here now. */
export function bindable(host: string, port: number): Promise<boolean> {
  return new Promise((resolve) => {
    const server = net.createServer();
    server.once('error', () => resolve(false));
    server.listen(port, host, () => server.close(() => resolve(true)));
  });
}

export function freePort(): Promise<number> {
  return new Promise((resolve) => {
    const server = net.createServer();
    server.listen(0, '127.0.0.1', () => {
      const { port } = server.address() as net.AddressInfo;
      server.close(() => resolve(port));
    });
  });
}

export const ownerOf = (o: KubeObject) => ({ apiVersion: o.apiVersion!, kind: o.kind!, name: o.metadata.name!, uid: o.metadata.uid!, controller: true, blockOwnerDeletion: true });
export const template = (o: KubeObject) => (o['spec'] as { template: { metadata: { labels?: Record<string, string>; annotations?: Record<string, string> }; spec: PodSpec } }).template;

/**
 * helm install: renders the chart with these values (as JSON, one file) and applies every manifest with kubectl into
 * the namespace, which it creates. Returns the rendered manifests.
 */
export async function installChart(kube: KubeApiServer, work: string, namespace: string, values: object): Promise<Manifest[]> {
  const valuesFile = path.join(work, 'values.yaml');
  fs.writeFileSync(valuesFile, JSON.stringify(values, null, 2));
  const renderer = new ChartRenderer();
  const result = await renderer.render([valuesFile]);
  renderer.close();
  assert.ok(result.ok, result.ok ? '' : result.error);
  const rendered = result.rendered.manifests;
  const manifestsFile = path.join(work, 'manifests.yaml');
  fs.writeFileSync(manifestsFile, rendered.map((m) => JSON.stringify(m.object)).join('\n---\n'));
  const cache = path.join(work, 'kube-cache');
  const created = await kubectl(kube, cache, ['create', 'namespace', namespace]);
  assert.equal(created.code, 0, created.stderr);
  const applied = await kubectl(kube, cache, ['apply', '-f', manifestsFile]);
  assert.equal(applied.code, 0, applied.stderr);
  return rendered;
}

export interface ChartPods {
  namespace: string;
  node: string;
  podIp: string;
  /** The aggregator pod's name: kestrel-aggregator-<pod-template-hash>-<suffix>. */
  aggregatorPod: string;
  agentPod: string;
  /** An application pod on the node, whose logs the agent collects. */
  app: { namespace: string; pod: string; container: string };
}

/**
 * The node (as its kubelet registers it, with the folders a containerd node has under nodeRoot), and the pods the
 * controllers and the scheduler make for it: the Deployment's ReplicaSet and one aggregator pod, the DaemonSet's agent
 * pod, and the application pod. Checks that both templates' nodeSelectors match the node. Returns the app pod's uid.
 */
export function scheduleChartPods(kube: KubeApiServer, nodeRoot: string, p: ChartPods): { appUid: string } {
  const NS = p.namespace;
  for (const dir of ['var/log/pods', 'var/log/containers', 'var/lib/containerd']) fs.mkdirSync(path.join(nodeRoot, dir), { recursive: true });
  kube.create({
    apiVersion: 'v1',
    kind: 'Node',
    metadata: { name: p.node, labels: { 'kubernetes.io/os': 'linux', 'kubernetes.io/hostname': p.node } },
    status: { conditions: [{ type: 'Ready', status: 'True' }], addresses: [{ type: 'InternalIP', address: p.podIp }], allocatable: { cpu: '2', memory: '4Gi' }, capacity: { cpu: '2', memory: '4Gi' } },
  });
  const node = kube.get('v1', 'Node', p.node)!;
  const daemonSet = kube.get('apps/v1', 'DaemonSet', 'kestrel-agent', NS)!;
  const deployment = kube.get('apps/v1', 'Deployment', 'kestrel-aggregator', NS)!;
  // The scheduler's part: both templates' nodeSelectors match the node.
  for (const o of [daemonSet, deployment]) {
    const selector = ((template(o).spec as { nodeSelector?: Record<string, string> }).nodeSelector ?? {});
    for (const [k, v] of Object.entries(selector)) assert.equal(node.metadata.labels?.[k], v, `${o.kind} nodeSelector ${k}=${v} matches ${p.node}`);
  }

  // The Deployment controller's ReplicaSet, and the aggregator pod from its template.
  const hash = p.aggregatorPod.split('-')[2]!;
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
    metadata: { name: p.aggregatorPod, namespace: NS, labels: podLabels, ...(aggTemplate.metadata.annotations ? { annotations: aggTemplate.metadata.annotations } : {}), ownerReferences: [ownerOf(replicaSet)] },
    spec: { ...aggTemplate.spec, nodeName: p.node },
    status: { phase: 'Running', podIP: p.podIp, hostIP: p.podIp },
  } as KubeObject);
  // The DaemonSet controller's pod for the node.
  const agentTemplate = template(daemonSet);
  kube.create({
    apiVersion: 'v1',
    kind: 'Pod',
    metadata: { name: p.agentPod, namespace: NS, labels: { ...agentTemplate.metadata.labels, 'pod-template-generation': '1' }, ownerReferences: [ownerOf(daemonSet)] },
    spec: { ...agentTemplate.spec, nodeName: p.node },
    status: { phase: 'Running', podIP: p.podIp, hostIP: p.podIp },
  } as KubeObject);
  kube.ensureNamespace(p.app.namespace);
  const app = kube.create({
    apiVersion: 'v1',
    kind: 'Pod',
    metadata: { name: p.app.pod, namespace: p.app.namespace, labels: { app: 'web' } },
    spec: { nodeName: p.node, containers: [{ name: p.app.container, image: 'web:1' }] },
    status: { phase: 'Running', podIP: '10.0.0.7', hostIP: p.podIp },
  } as KubeObject);
  return { appUid: app.metadata.uid! };
}

/** The kubelet's probes and the pods' readiness, the cluster DNS that follows it, and the listen ports. */
export class ChartCluster {
  /** Listen addresses moved because the chart's port was taken here (for the test's diagnostics). */
  readonly moved: string[] = [];

  constructor(
    private readonly kube: KubeApiServer,
    private readonly namespace: string,
    private readonly dnsFile: string,
  ) {}

  /** The pod's readiness (the kubelet's probe answered), which the headless Service's DNS answer follows. */
  setReady(name: string): void {
    const pod = this.kube.get('v1', 'Pod', name, this.namespace)!;
    const now = new Date().toISOString();
    const status = { ...(pod['status'] as object), phase: 'Running', conditions: [{ type: 'Ready', status: 'True', lastTransitionTime: now }, { type: 'ContainersReady', status: 'True', lastTransitionTime: now }] };
    this.kube.update({ ...pod, status }, 'status');
    this.publishDns();
  }

  /** Cluster DNS: each headless Service's name -> podIPs of the ready pods it selects. */
  publishDns(): void {
    const NS = this.namespace;
    const records: Record<string, string[]> = {};
    for (const svc of this.kube.list('v1', 'Service', { namespace: NS })) {
      const spec = svc['spec'] as { clusterIP?: string; selector?: Record<string, string> };
      if (spec.clusterIP !== 'None' || !spec.selector) continue;
      const ready = this.kube.list('v1', 'Pod', { namespace: NS }).filter((p) => {
        const labels = p.metadata.labels ?? {};
        const conditions = ((p['status'] as { conditions?: { type: string; status: string }[] }).conditions ?? []);
        return Object.entries(spec.selector!).every(([k, v]) => labels[k] === v) && conditions.some((c) => c.type === 'Ready' && c.status === 'True');
      });
      records[`${svc.metadata.name}.${NS}.svc.cluster.local`] = ready.map((p) => (p['status'] as { podIP: string }).podIP);
    }
    writeClusterDns(this.dnsFile, records);
  }

  /** The kubelet's probe: GET <path> on the container port it names, until 200. */
  async probe(run: PodRun, kind: 'readinessProbe' | 'livenessProbe', portOf: Record<string, number>, timeoutMs = 30_000): Promise<void> {
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
    }, timeoutMs);
  }

  /** Keeps the chart's listen address unless taken here; then moves it to a free port (said in `moved`). */
  async keepOrMove(env: Record<string, string>, name: string): Promise<number> {
    const [host, port] = [env[name]!.slice(0, env[name]!.lastIndexOf(':')), Number(env[name]!.slice(env[name]!.lastIndexOf(':') + 1))];
    if (await bindable(host, port)) return port;
    const free = await freePort();
    this.moved.push(`${name}=${env[name]} was taken on this machine: ${host}:${free} instead`);
    env[name] = `${host}:${free}`;
    return free;
  }
}
