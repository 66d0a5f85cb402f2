// Cluster benchmark (issue: cluster watch): 20,000 pods, 2,000 workloads, 5,000 services, 1,000 nodes in the
// Kubernetes API test server; the aggregator's cluster watch runs in its own process and reports the time to its
// first InventoryCommit and its peak RSS (target: RSS under 400 MiB).
import { spawn } from 'node:child_process';
import path from 'node:path';
import { startKubeApiServer } from '@kestrel/e2e/kube-api-server';

const PODS = Number(process.env.BENCH_PODS ?? 20_000);
const WORKLOADS = Number(process.env.BENCH_WORKLOADS ?? 2_000);
const SERVICES = Number(process.env.BENCH_SERVICES ?? 5_000);
const NODES = Number(process.env.BENCH_NODES ?? 1_000);

const server = await startKubeApiServer();
const seedStart = performance.now();
const namespaces = 50;
server.ensureNamespace('kestrel');
for (let n = 0; n < namespaces; n++) server.ensureNamespace(`ns-${n}`);
for (let i = 0; i < NODES; i++) {
  server.create({ apiVersion: 'v1', kind: 'Node', metadata: { name: `node-${i}`, labels: { 'kubernetes.io/hostname': `node-${i}`, 'topology.kubernetes.io/zone': `zone-${i % 3}`, 'node.kubernetes.io/instance-type': 'm5.xlarge' } }, status: { addresses: [{ type: 'InternalIP', address: `10.${i >> 8}.${i & 255}.1` }], conditions: [{ type: 'Ready', status: 'True' }], capacity: { cpu: '4', memory: '16Gi' } } });
}
for (let i = 0; i < WORKLOADS; i++) {
  const ns = `ns-${i % namespaces}`;
  server.create({ apiVersion: 'apps/v1', kind: 'Deployment', metadata: { name: `app-${i}`, namespace: ns, labels: { app: `app-${i}`, team: `team-${i % 20}` } }, spec: { replicas: 10, selector: { matchLabels: { app: `app-${i}` } }, template: { metadata: { labels: { app: `app-${i}` } }, spec: { serviceAccountName: `app-${i}`, containers: [{ name: 'app', image: `registry.example/app-${i}:1.0.0`, env: [{ name: 'MODE', value: 'prod' }], resources: { requests: { cpu: '100m', memory: '128Mi' } } }] } } }, status: { observedGeneration: 1, replicas: 10, updatedReplicas: 10, readyReplicas: 10, availableReplicas: 10 } });
}
for (let i = 0; i < PODS; i++) {
  const w = i % WORKLOADS;
  const ns = `ns-${w % namespaces}`;
  server.create({
    apiVersion: 'v1',
    kind: 'Pod',
    metadata: { name: `app-${w}-${i}`, namespace: ns, labels: { app: `app-${w}`, 'pod-template-hash': '5d8f7c9b6' }, ownerReferences: [{ apiVersion: 'apps/v1', kind: 'ReplicaSet', name: `app-${w}-5d8f7c9b6`, uid: `rs-${w}`, controller: true }] },
    spec: { nodeName: `node-${i % NODES}`, serviceAccountName: `app-${w}`, containers: [{ name: 'app', image: `registry.example/app-${w}:1.0.0`, env: [{ name: 'MODE', value: 'prod' }] }] },
    status: { phase: 'Running', podIP: `10.${100 + (i >> 16)}.${(i >> 8) & 255}.${i & 255}`, qosClass: 'Burstable', conditions: [{ type: 'Ready', status: 'True' }], containerStatuses: [{ name: 'app', ready: true, restartCount: 0, image: `registry.example/app-${w}:1.0.0`, imageID: 'sha256:abc', state: { running: { startedAt: '2024-05-01T12:00:00Z' } } }] },
  });
}
for (let i = 0; i < SERVICES; i++) {
  const ns = `ns-${i % namespaces}`;
  server.create({ apiVersion: 'v1', kind: 'Service', metadata: { name: `svc-${i}`, namespace: ns, labels: { app: `app-${i % WORKLOADS}` } }, spec: { selector: { app: `app-${i % WORKLOADS}` }, ports: [{ name: 'http', port: 80, targetPort: 8080 }] } });
}
const seedSeconds = (performance.now() - seedStart) / 1000;
const kubeconfig = server.writeKubeconfig(path.join(server.stateDir, 'bench.kubeconfig'));

const child = spawn(process.execPath, ['--expose-gc', path.join(import.meta.dirname, 'cluster-watch-child.js'), kubeconfig], { stdio: ['ignore', 'pipe', 'inherit'] });
let out = '';
child.stdout.on('data', (d: Buffer) => (out += d.toString()));
const code = await new Promise<number | null>((resolve) => child.on('exit', resolve));
await server.stop();
if (code !== 0 || !out.trim()) {
  process.stderr.write(`cluster watch child failed (exit ${code})\n`);
  process.exit(1);
}
const r = JSON.parse(out.trim().split('\n').pop()!) as { commitMs: number; messages: number; peakRssMiB: number; settledRssMiB: number; heapUsedMiB: number; cpuSeconds: number };
process.stdout.write(
  [
    `objects: ${PODS} pods, ${WORKLOADS} workloads, ${SERVICES} services, ${NODES} nodes (seeded in ${seedSeconds.toFixed(1)} s)`,
    `time to first InventoryCommit: ${(r.commitMs / 1000).toFixed(2)} s (${r.messages} messages handed to the uplink)`,
    `cluster watch process: peak RSS ${r.peakRssMiB} MiB, after GC ${r.settledRssMiB} MiB (heap ${r.heapUsedMiB} MiB), CPU ${r.cpuSeconds} s   [target: RSS < 400 MiB]`,
  ].join('\n') + '\n',
);
