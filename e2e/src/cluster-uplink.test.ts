// Issue "cluster watch", whole system: the Kubernetes API test server, cloud-dev, and two aggregator PROCESSES
// configured with a kubeconfig. The cloud must receive the inventory and its commit, an update and a delete, and
// the incident signals each exactly once, although the leader is SIGKILLed in the middle.
import assert from 'node:assert/strict';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { test } from 'node:test';
import { runToEnd } from './harness/process.js';
import { programs } from './harness/repo.js';
import type { RunningProcess } from './harness/process.js';
import { createInternalPki, startAgent, startAggregator, startCloudDev } from './harness/system.js';
import { startKubeApiServer } from './kube-api-server/index.js';

interface Stored {
  message: Record<string, { name?: string; metadata?: { name?: string }; action?: string; rolloutStatus?: string; conditions?: { type: string; status: string }[] }>;
}

/** The Ready status in each NodeConditionChange the cloud received for a node, in order. */
function readyStatuses(dataDir: string, node: string): string[] {
  return read(dataDir, 'events')
    .map((r) => r.message['nodeConditionChange'])
    .filter((c) => c?.name === node)
    .map((c) => c!.conditions?.find((x) => x.type === 'Ready')?.status ?? '-');
}

function read(dataDir: string, stream: string): Stored[] {
  const file = path.join(dataDir, `${stream}.jsonl`);
  if (!fs.existsSync(file)) return [];
  return fs.readFileSync(file, 'utf8').split('\n').filter(Boolean).map((l) => JSON.parse(l) as Stored);
}

/** Everything the cloud received on any stream, as [kind, name, action]. */
function received(dataDir: string): [string, string, string][] {
  const out: [string, string, string][] = [];
  for (const stream of ['data', 'events']) {
    for (const r of read(dataDir, stream)) {
      for (const [kind, v] of Object.entries(r.message)) out.push([kind, v.name ?? v.metadata?.name ?? '', v.rolloutStatus ?? v.action ?? '']);
    }
  }
  return out;
}

async function until(what: string, check: () => boolean, timeoutMs = 30_000): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  while (!check()) {
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 200));
  }
}

test('two aggregator processes and an agent: inventory, changes, incident signals and a node going NotReady and back reach cloud-dev once each across a SIGKILL of the leader', { timeout: 180_000 }, async () => {
  const workDir = fs.mkdtempSync(path.join(os.tmpdir(), 'kestrel-e2e-cluster-'));
  const kube = await startKubeApiServer();
  const { cloud, cloudDir, dataDir, address } = await startCloudDev(workDir, '1s');
  const pki = createInternalPki(path.join(workDir, 'internal-pki'));
  const kubeconfig = kube.writeKubeconfig(path.join(workDir, 'kubeconfig'));
  const env = {
    KESTREL_AGGREGATOR_KUBECONFIG: kubeconfig,
    KESTREL_AGGREGATOR_KUBERNETES_NAMESPACE: 'kestrel',
    KESTREL_AGGREGATOR_LEASE_DURATION: '4s',
    KESTREL_AGGREGATOR_LEASE_RENEW_DEADLINE: '3s',
    KESTREL_AGGREGATOR_LEASE_RETRY_PERIOD: '500ms',
  };
  const started: Awaited<ReturnType<typeof startAggregator>>[] = [];
  let agent: RunningProcess | undefined;
  try {
    kube.ensureNamespace('kestrel');
    kube.ensureNamespace('shop');
    kube.create({ apiVersion: 'v1', kind: 'Node', metadata: { name: 'node-a' }, status: { conditions: [{ type: 'Ready', status: 'True' }] } });
    kube.create({ apiVersion: 'v1', kind: 'Node', metadata: { name: 'node-b' }, status: { conditions: [{ type: 'Ready', status: 'True' }, { type: 'MemoryPressure', status: 'False' }] } });
    kube.create({ apiVersion: 'apps/v1', kind: 'Deployment', metadata: { name: 'api', namespace: 'shop' }, spec: { replicas: 1, selector: { matchLabels: { app: 'api' } }, template: { metadata: { labels: { app: 'api' } }, spec: { containers: [{ name: 'app', image: 'api:1' }] } } }, status: { observedGeneration: 1, replicas: 1, updatedReplicas: 1, availableReplicas: 1 } });
    kube.create({ apiVersion: 'v1', kind: 'Pod', metadata: { name: 'api-1', namespace: 'shop' }, spec: { nodeName: 'node-a', containers: [{ name: 'app', image: 'api:1' }] }, status: { phase: 'Running', conditions: [{ type: 'Ready', status: 'True' }], containerStatuses: [{ name: 'app', ready: true, restartCount: 0, image: 'api:1', imageID: '', state: { running: {} } }] } });
    kube.create({ apiVersion: 'v1', kind: 'Service', metadata: { name: 'api', namespace: 'shop' }, spec: { selector: { app: 'api' }, ports: [{ port: 80 }] } });

    started.push(await startAggregator(workDir, 'agg-0', cloudDir, address, pki, env));
    await until('the inventory commit', () => received(dataDir).some(([k]) => k === 'inventoryCommit'));
    started.push(await startAggregator(workDir, 'agg-1', cloudDir, address, pki, env));
    // Node conditions come from the agent of each node (watching only its own Node), through whichever replica it
    // uses. Pressure thresholds off: this machine's own load must not add changes to count.
    const podsRoot = path.join(workDir, 'node-b-pods');
    fs.mkdirSync(podsRoot, { recursive: true });
    agent = startAgent(workDir, 'node-b', podsRoot, started.map((a) => a.ingestAddress).join(','), pki, {
      KESTREL_AGENT_KUBECONFIG: kubeconfig,
      KESTREL_AGENT_PRESSURE_THRESHOLDS: 'none',
      KESTREL_AGENT_CONTAINER_FILESYSTEM: 'none',
    }).agent;
    await until('the agent reports node-b', () => readyStatuses(dataDir, 'node-b').length > 0);
    // PodLogs of a pod on node-b carry its owners, from the agent's watch of the pods on its node.
    const web = kube.create({ apiVersion: 'v1', kind: 'Pod', metadata: { name: 'web-1', namespace: 'shop', ownerReferences: [{ apiVersion: 'apps/v1', kind: 'ReplicaSet', name: 'web-5d8f', uid: 'rs-uid-1', controller: true }] }, spec: { nodeName: 'node-b', containers: [{ name: 'app', image: 'web:1' }] }, status: { phase: 'Running' } });
    await new Promise((r) => setTimeout(r, 1000));
    const webLogs = path.join(podsRoot, `shop_web-1_${web.metadata.uid}`, 'app');
    fs.mkdirSync(webLogs, { recursive: true });
    fs.writeFileSync(path.join(webLogs, '0.log'), `${new Date().toISOString()} stdout F GET /healthz 200\n`);
    await until('the PodLogs of web-1', () => read(dataDir, 'logs').some((r) => (r.message['podLogs'] as { podName?: string } | undefined)?.podName === 'web-1'));
    const webPodLogs = read(dataDir, 'logs').map((r) => r.message['podLogs'] as unknown as { podName?: string; nodeName?: string; ownerReferences?: { kind: string; name: string }[] }).find((l) => l?.podName === 'web-1')!;
    assert.deepEqual([webPodLogs.nodeName, webPodLogs.ownerReferences?.map((o) => `${o.kind}/${o.name}`)], ['node-b', ['ReplicaSet/web-5d8f']]);
    const first = received(dataDir);
    for (const [kind, name] of [['namespace', 'shop'], ['node', 'node-a'], ['workload', 'api'], ['pod', 'api-1'], ['service', 'api']]) {
      assert.equal(first.filter(([k, n]) => k === kind && n === name).length, 1, `${kind} ${name} in the snapshot once`);
    }
    const status = await runToEnd(programs.aggregator, ['debug', 'cluster', '--socket', started[0]!.adminSocket]);
    assert.match(status.stdout, /LEADER since/);
    assert.match(status.stdout, /pods\s+watching\s+true/);

    // Update, delete, and signals while agg-0 leads.
    const svc = kube.get('v1', 'Service', 'api', 'shop')!;
    kube.update({ ...svc, metadata: { ...svc.metadata, labels: { tier: 'web' } } });
    kube.delete('v1', 'Node', 'node-a');
    const pod = kube.get('v1', 'Pod', 'api-1', 'shop')!;
    kube.update({ ...pod, status: { phase: 'Running', conditions: [{ type: 'Ready', status: 'False' }], containerStatuses: [{ name: 'app', ready: false, restartCount: 2, image: 'api:1', imageID: '', state: { waiting: { reason: 'CrashLoopBackOff' } } }] } }, 'status');
    kube.create({ apiVersion: 'v1', kind: 'Event', metadata: { name: 'api-1.backoff', namespace: 'shop' }, type: 'Warning', reason: 'BackOff', message: 'Back-off restarting failed container', count: 1, involvedObject: { kind: 'Pod', name: 'api-1', namespace: 'shop' }, lastTimestamp: new Date().toISOString() });
    await until('the changes and signals from agg-0', () => {
      const r = received(dataDir);
      return r.some(([k, n]) => k === 'podStatusChange' && n === 'api-1') && r.some(([k, n]) => k === 'kubernetesEvent' && n === 'api-1.backoff') && r.some(([k, n, a]) => k === 'node' && n === 'node-a' && a === 'ACTION_DELETE');
    });
    const nodeB = () => kube.get('v1', 'Node', 'node-b')!;
    kube.update({ ...nodeB(), status: { conditions: [{ type: 'Ready', status: 'False', reason: 'KubeletNotReady' }, { type: 'MemoryPressure', status: 'False' }] } }, 'status');
    await until('node-b NotReady reported', () => readyStatuses(dataDir, 'node-b').includes('False'));
    await new Promise((r) => setTimeout(r, 1500)); // renewals publish the watermark

    // SIGKILL the leader: agg-1 takes over after the lease runs out.
    await started[0]!.aggregator.kill();
    const commitsBefore = received(dataDir).filter(([k]) => k === 'inventoryCommit').length;
    await until('agg-1 commits its own inventory', () => received(dataDir).filter(([k]) => k === 'inventoryCommit').length > commitsBefore, 60_000);
    kube.update({ ...nodeB(), status: { conditions: [{ type: 'Ready', status: 'True' }, { type: 'MemoryPressure', status: 'False' }] } }, 'status');
    kube.create({ apiVersion: 'v1', kind: 'Pod', metadata: { name: 'oom-1', namespace: 'shop' }, spec: { nodeName: 'node-a', containers: [{ name: 'app', image: 'api:1' }] }, status: { phase: 'Running', containerStatuses: [{ name: 'app', ready: false, restartCount: 1, image: 'api:1', imageID: '', state: { running: {} }, lastState: { terminated: { reason: 'OOMKilled', exitCode: 137 } } }] } });
    const dep = kube.get('apps/v1', 'Deployment', 'api', 'shop')!;
    kube.update({ ...dep, status: { observedGeneration: 1, replicas: 1, updatedReplicas: 0, availableReplicas: 1, conditions: [{ type: 'Progressing', status: 'False', reason: 'ProgressDeadlineExceeded' }] } }, 'status');
    await until('agg-1 reports the new signals', () => {
      const r = received(dataDir);
      return r.some(([k, n]) => k === 'podStatusChange' && n === 'oom-1') && r.some(([k, n]) => k === 'workloadRolloutStatus' && n === 'api') && readyStatuses(dataDir, 'node-b').at(-1) === 'True';
    });
    await new Promise((r) => setTimeout(r, 2000));

    const all = received(dataDir);
    const times = (kind: string, name: string) => all.filter(([k, n]) => k === kind && n === name).length;
    assert.equal(times('podStatusChange', 'api-1'), 1, 'crash loop once');
    assert.equal(times('kubernetesEvent', 'api-1.backoff'), 1, 'warning event once');
    assert.equal(times('podStatusChange', 'oom-1'), 1, 'OOM kill once');
    assert.deepEqual(all.filter(([k]) => k === 'workloadRolloutStatus').map(([, n, s]) => `${n}:${s}`), ['api:stuck'], 'stuck rollout once');
    assert.equal(all.filter(([k, n, a]) => k === 'service' && n === 'api' && a === 'ACTION_UPDATE').length, 1, 'the update once');
    assert.equal(all.filter(([k, n, a]) => k === 'node' && n === 'node-a' && a === 'ACTION_DELETE').length, 1, 'the delete once');
    assert.deepEqual(readyStatuses(dataDir, 'node-b'), ['True', 'False', 'True'], 'node-b: its first report, NotReady once, Ready again once');
  } finally {
    await agent?.stop();
    for (const s of started) await s.aggregator.stop();
    await cloud.stop();
    await kube.stop();
  }
});
