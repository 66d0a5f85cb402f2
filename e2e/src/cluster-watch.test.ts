// The aggregator's cluster watch against the Kubernetes API test server, with the real @kubernetes/client-node:
// inventory snapshot and commit, changes, 410 Gone and dropped watches without duplicates or misses, and leader
// failover with every incident signal sent exactly once.
import assert from 'node:assert/strict';
import { test } from 'node:test';
import { KubeConfig } from '@kubernetes/client-node';
import { createLogger, createRegistry } from '@kestrel/core';
import { ClusterRunner, type ClusterSink, type DataRequest, type EventRequest } from '@kestrel/aggregator/cluster';
import { startKubeApiServer, type KubeApiServer } from './kube-api-server/index.js';

interface Sent {
  by: string;
  stream: 'data' | 'events';
  request: DataRequest | EventRequest;
}

function recordingSink(by: string, into: Sent[]): ClusterSink {
  return {
    sendData: async (request) => void into.push({ by, stream: 'data', request }),
    sendEvent: async (request) => void into.push({ by, stream: 'events', request }),
  };
}

function runner(server: KubeApiServer, identity: string, into: Sent[], fast = false, token?: string): ClusterRunner {
  const kc = new KubeConfig();
  kc.loadFromOptions(server.kubeConfig(token));
  return new ClusterRunner(
    {
      kubeconfig: undefined,
      namespace: 'kestrel',
      leaseName: 'kestrel-aggregator-leader',
      identity,
      leaseDurationMs: fast ? 3000 : 15_000,
      renewDeadlineMs: fast ? 2000 : 10_000,
      retryPeriodMs: fast ? 300 : 2000,
      pageSize: 50,
      resyncIntervalMs: 3_600_000,
      pendingTooLongMs: 300_000,
      queueCapacity: 10_000,
    },
    recordingSink(identity, into),
    createRegistry(identity, false),
    createLogger(identity, 'error'),
    kc,
  );
}

async function until<T>(what: string, check: () => T | undefined | false, timeoutMs = 20_000): Promise<T> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    const v = check();
    if (v !== undefined && v !== false) return v;
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 50));
  }
}

const named = (s: Sent) => {
  const v = s.request.value as { name?: string; metadata?: { name?: string } };
  return v.name ?? v.metadata?.name ?? '';
};
const count = (sent: Sent[], kind: string, name: string, action?: number) =>
  sent.filter((s) => s.request.$case === kind && named(s) === name && (action === undefined || (s.request.value as { action?: number }).action === action)).length;

function seed(server: KubeApiServer): void {
  server.ensureNamespace('kestrel');
  server.ensureNamespace('shop');
  server.create({ apiVersion: 'v1', kind: 'Node', metadata: { name: 'node-a', labels: { 'topology.kubernetes.io/zone': 'z1' } }, status: { conditions: [{ type: 'Ready', status: 'True' }] } });
  server.create({ apiVersion: 'apps/v1', kind: 'Deployment', metadata: { name: 'api', namespace: 'shop' }, spec: { replicas: 1, selector: { matchLabels: { app: 'api' } }, template: { metadata: { labels: { app: 'api' } }, spec: { serviceAccountName: 'api', containers: [{ name: 'app', image: 'api:1' }] } } }, status: { observedGeneration: 1, replicas: 1, updatedReplicas: 1, readyReplicas: 1, availableReplicas: 1 } });
  server.create({ apiVersion: 'v1', kind: 'Pod', metadata: { name: 'api-1', namespace: 'shop', labels: { app: 'api' } }, spec: { nodeName: 'node-a', containers: [{ name: 'app', image: 'api:1' }] }, status: { phase: 'Running', podIP: '10.0.0.10', conditions: [{ type: 'Ready', status: 'True' }], containerStatuses: [{ name: 'app', ready: true, restartCount: 0, image: 'api:1', imageID: '', state: { running: {} } }] } });
  server.create({ apiVersion: 'v1', kind: 'Service', metadata: { name: 'api', namespace: 'shop' }, spec: { selector: { app: 'api' }, ports: [{ port: 80, targetPort: 8080 }] } });
  server.create({ apiVersion: 'networking.k8s.io/v1', kind: 'NetworkPolicy', metadata: { name: 'deny-all', namespace: 'shop' }, spec: { podSelector: {}, policyTypes: ['Ingress'] } });
}

test('inventory: snapshot closed by a commit, then changes once each, and a 410 relist sends only what changed', { timeout: 120_000 }, async () => {
  const server = await startKubeApiServer();
  const sent: Sent[] = [];
  const stop = new AbortController();
  try {
    seed(server);
    const a = runner(server, 'agg-a', sent);
    const running = a.run(stop.signal);
    const commitAt = await until('the first InventoryCommit', () => {
      const i = sent.findIndex((s) => s.request.$case === 'inventoryCommit');
      return i >= 0 ? i : undefined;
    });
    const snapshot = sent.slice(0, commitAt);
    for (const [kind, name] of [['namespace', 'shop'], ['node', 'node-a'], ['workload', 'api'], ['pod', 'api-1'], ['service', 'api'], ['networkPolicy', 'deny-all']] as const) {
      assert.equal(count(snapshot, kind, name, 1), 1, `${kind} ${name} once in the snapshot`);
    }
    assert.equal(count(snapshot, 'workload', 'api'), 1);
    assert.equal((snapshot.find((s) => s.request.$case === 'workload')!.request.value as { serviceAccount: string }).serviceAccount, 'api');

    // An update and a delete, each once.
    const dep = server.get('apps/v1', 'Deployment', 'api', 'shop')!;
    server.update({ ...dep, metadata: { ...dep.metadata, labels: { tier: 'web' } } });
    server.delete('v1', 'Service', 'api', 'shop');
    await until('the update and the delete', () => count(sent, 'workload', 'api', 2) === 1 && count(sent, 'service', 'api', 3) === 1);

    // Watches dropped and history compacted: changes made while nobody watches must arrive once, nothing else again.
    const before = sent.length;
    server.compact();
    server.dropWatches(true);
    server.create({ apiVersion: 'v1', kind: 'Pod', metadata: { name: 'api-2', namespace: 'shop', labels: { app: 'api' } }, spec: { nodeName: 'node-a', containers: [{ name: 'app', image: 'api:1' }] }, status: { phase: 'Pending' } });
    const pod1 = server.get('v1', 'Pod', 'api-1', 'shop')!;
    server.update({ ...pod1, metadata: { ...pod1.metadata, labels: { app: 'api', canary: 'yes' } } });
    server.delete('networking.k8s.io/v1', 'NetworkPolicy', 'deny-all', 'shop');
    await until('the changes made during the gap', () => count(sent, 'pod', 'api-2', 1) === 1 && count(sent, 'pod', 'api-1', 2) >= 1 && count(sent, 'networkPolicy', 'deny-all', 3) === 1);
    await new Promise((r) => setTimeout(r, 1500));
    const after = sent.slice(before).filter((s) => s.stream === 'data');
    assert.deepEqual(
      after.map((s) => `${s.request.$case}:${named(s)}:${(s.request.value as { action?: number }).action ?? ''}`).sort(),
      ['networkPolicy:deny-all:3', 'pod:api-1:2', 'pod:api-2:1'],
      'no inventory sent twice, nothing missed',
    );
    assert.ok(a.view().reflectors.some((r) => r.relists > 0), 'the reflectors relisted after 410 Gone');
    stop.abort();
    await running;
  } finally {
    stop.abort();
    await server.stop();
  }
});

test('leader failover: one replica watches at a time, and every incident signal reaches the cloud exactly once', { timeout: 120_000 }, async () => {
  const server = await startKubeApiServer();
  const sent: Sent[] = [];
  const stopA = new AbortController();
  const stopB = new AbortController();
  try {
    seed(server);
    const a = runner(server, 'agg-a', sent, true);
    const runA = a.run(stopA.signal);
    await until('agg-a leads and commits', () => a.view().leader && sent.some((s) => s.by === 'agg-a' && s.request.$case === 'inventoryCommit'));
    const b = runner(server, 'agg-b', sent, true);
    const runB = b.run(stopB.signal);

    // Signals while agg-a leads.
    const pod1 = server.get('v1', 'Pod', 'api-1', 'shop')!;
    server.update({ ...pod1, status: { phase: 'Running', conditions: [{ type: 'Ready', status: 'False' }], containerStatuses: [{ name: 'app', ready: false, restartCount: 3, image: 'api:1', imageID: '', state: { waiting: { reason: 'CrashLoopBackOff', message: 'back-off 40s' } } }] } }, 'status');
    server.create({ apiVersion: 'v1', kind: 'Event', metadata: { name: 'api-1.warn', namespace: 'shop' }, type: 'Warning', reason: 'BackOff', message: 'Back-off restarting failed container', count: 1, involvedObject: { kind: 'Pod', name: 'api-1', namespace: 'shop' }, source: { component: 'kubelet', host: 'node-a' }, firstTimestamp: new Date().toISOString(), lastTimestamp: new Date().toISOString() });
    await until('agg-a reports the crash loop and the warning', () => sent.some((s) => s.by === 'agg-a' && s.request.$case === 'podStatusChange') && sent.some((s) => s.by === 'agg-a' && s.request.$case === 'kubernetesEvent'));
    assert.equal(b.view().leader, false, 'agg-b waits while agg-a holds the lease');
    // Let agg-a publish its watermark on the lease.
    await new Promise((r) => setTimeout(r, 1000));

    // The leader goes away; agg-b must take over and not repeat what agg-a sent.
    const lostAt = Date.now();
    stopA.abort();
    await runA;
    await until('agg-b leads', () => b.view().leader, 30_000);
    const takeoverMs = Date.now() - lostAt;
    await until('agg-b commits its inventory', () => sent.some((s) => s.by === 'agg-b' && s.request.$case === 'inventoryCommit'));

    // Signals after the failover.
    const pod2 = server.create({ apiVersion: 'v1', kind: 'Pod', metadata: { name: 'oom-1', namespace: 'shop' }, spec: { nodeName: 'node-a', containers: [{ name: 'app', image: 'api:1' }] }, status: { phase: 'Running', containerStatuses: [{ name: 'app', ready: false, restartCount: 1, image: 'api:1', imageID: '', state: { running: {} }, lastState: { terminated: { reason: 'OOMKilled', exitCode: 137 } } }] } });
    void pod2;
    server.create({ apiVersion: 'v1', kind: 'Pod', metadata: { name: 'pull-1', namespace: 'shop' }, spec: { nodeName: 'node-a', containers: [{ name: 'app', image: 'nope:1' }] }, status: { phase: 'Pending', containerStatuses: [{ name: 'app', ready: false, restartCount: 0, image: 'nope:1', imageID: '', state: { waiting: { reason: 'ImagePullBackOff' } } }] } });
    const dep = server.get('apps/v1', 'Deployment', 'api', 'shop')!;
    server.update({ ...dep, status: { observedGeneration: 1, replicas: 1, updatedReplicas: 0, availableReplicas: 1, conditions: [{ type: 'Progressing', status: 'False', reason: 'ProgressDeadlineExceeded', message: 'ReplicaSet "api-2" has timed out progressing.' }] } }, 'status');
    await until('agg-b reports the new signals', () => count(sent, 'podStatusChange', 'oom-1') >= 1 && count(sent, 'podStatusChange', 'pull-1') >= 1 && count(sent, 'workloadRolloutStatus', 'api') >= 1);
    await new Promise((r) => setTimeout(r, 1500));

    assert.ok(takeoverMs < 30_000, `took over in ${takeoverMs} ms`);
    assert.equal(count(sent, 'podStatusChange', 'api-1'), 1, `the crash loop once, across the failover: ${JSON.stringify(sent.filter((s) => s.request.$case === 'podStatusChange').map((s) => [s.by, named(s)]))}`);
    assert.equal(count(sent, 'kubernetesEvent', 'api-1.warn'), 1, 'the warning once, across the failover');
    assert.equal(count(sent, 'podStatusChange', 'oom-1'), 1);
    assert.equal(count(sent, 'podStatusChange', 'pull-1'), 1);
    assert.deepEqual(sent.filter((s) => s.request.$case === 'workloadRolloutStatus').map((s) => [s.by, named(s), (s.request.value as { rolloutStatus: string }).rolloutStatus]), [['agg-b', 'api', 'stuck']]);
    // Nothing from agg-a after agg-b started leading.
    const bFirst = sent.findIndex((s) => s.by === 'agg-b');
    assert.ok(sent.slice(bFirst).every((s) => s.by === 'agg-b'), 'the old leader stopped sending before the new one started');
    stopB.abort();
    await runB;
  } finally {
    stopA.abort();
    stopB.abort();
    await server.stop();
  }
});

test('a leader cut off from the API server stops sending before another replica takes over, and nothing is sent twice', { timeout: 120_000 }, async () => {
  const server = await startKubeApiServer();
  const sent: Sent[] = [];
  const stopA = new AbortController();
  const stopB = new AbortController();
  try {
    seed(server);
    const tokenA = server.addUser({ name: 'agg-a', groups: ['system:masters'] });
    const a = runner(server, 'agg-a', sent, true, tokenA);
    const runA = a.run(stopA.signal);
    await until('agg-a leads and commits', () => a.view().leader && sent.some((s) => s.by === 'agg-a' && s.request.$case === 'inventoryCommit'));
    const b = runner(server, 'agg-b', sent, true);
    const runB = b.run(stopB.signal);
    server.create({ apiVersion: 'v1', kind: 'Event', metadata: { name: 'before-cut', namespace: 'shop' }, type: 'Warning', reason: 'FailedMount', message: 'volume not found', count: 1, involvedObject: { kind: 'Pod', name: 'api-1', namespace: 'shop' }, lastTimestamp: new Date().toISOString() });
    await until('agg-a reports the warning', () => count(sent, 'kubernetesEvent', 'before-cut') === 1);
    await new Promise((r) => setTimeout(r, 1000)); // a renewal publishes the watermark

    // agg-a can no longer reach the API server: it must step down on its own (it is not stopped).
    server.injectFault({ match: { user: 'agg-a' }, code: 503 });
    server.dropWatches(true);
    await until('agg-a steps down', () => !a.view().leader, 30_000);
    const steppedDownAt = sent.length;
    await until('agg-b leads and commits', () => b.view().leader && sent.some((s) => s.by === 'agg-b' && s.request.$case === 'inventoryCommit'), 30_000);
    server.create({ apiVersion: 'v1', kind: 'Event', metadata: { name: 'after-cut', namespace: 'shop' }, type: 'Warning', reason: 'FailedScheduling', message: '0/1 nodes available', count: 1, involvedObject: { kind: 'Pod', name: 'api-2', namespace: 'shop' }, lastTimestamp: new Date().toISOString() });
    await until('agg-b reports the new warning', () => count(sent, 'kubernetesEvent', 'after-cut') === 1);
    await new Promise((r) => setTimeout(r, 1000));

    assert.ok(sent.slice(steppedDownAt).every((s) => s.by === 'agg-b'), 'nothing from agg-a once it stepped down');
    assert.equal(count(sent, 'kubernetesEvent', 'before-cut'), 1);
    assert.equal(count(sent, 'kubernetesEvent', 'after-cut'), 1);
    stopA.abort();
    stopB.abort();
    await Promise.all([runA, runB]);
  } finally {
    stopA.abort();
    stopB.abort();
    await server.stop();
  }
});
