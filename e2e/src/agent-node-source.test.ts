// The agent's node source in-process against the Kubernetes API test server, with the real @kubernetes/client-node:
// its own Node watched (field selector metadata.name), the first full report, a node going NotReady and back
// reported exactly once each, nothing again after a forced 410 Gone relist or dropped watches, the agent's own
// conditions (PSI from a fake /proc, filesystem fill from an injected statfs) merged into the same stream, the owners
// of the pods on its node (and only those), RBAC denial, and an API server that fails or cannot be reached.
import assert from 'node:assert/strict';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { test } from 'node:test';
import { KubeConfig } from '@kubernetes/client-node';
import { createRegistry, metricTotal, type Logger, type Registry } from '@kestrel/core';
import { Action, type NodeConditionChange } from '@kestrel/proto/cloud/v1';
import { DEFAULT_PRESSURE_THRESHOLDS, NodeSource, OWN_CONDITION_TYPES, type StatfsFn } from '@kestrel/agent/node';
import { serviceAccountUsername, startKubeApiServer, type KubeApiServer, type KubeObject } from './kube-api-server/index.js';

interface Logged {
  level: string;
  message: string;
}

function recordingLogger(into: Logged[]): Logger {
  const at = (level: string) => (message: string) => void into.push({ level, message });
  return { log: (level: string, message: string) => void into.push({ level, message }), error: at('error'), warn: at('warn'), info: at('info'), debug: at('debug') } as unknown as Logger;
}

async function until<T>(what: string, check: () => T | undefined | false, timeoutMs = 20_000): Promise<T> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    const v = check();
    if (v !== undefined && v !== false) return v;
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 25));
  }
}

const pause = (ms: number) => new Promise((r) => setTimeout(r, ms));

const pressure = (some: number) => `some avg10=${some.toFixed(2)} avg60=0.00 avg300=0.00 total=1\nfull avg10=0.00 avg60=0.00 avg300=0.00 total=1\n`;

interface Harness {
  source: NodeSource;
  sent: NodeConditionChange[];
  logged: Logged[];
  registry: Registry;
  procRoot: string;
  metric(name: string, labels?: Record<string, string>): Promise<number>;
  /** Until the node watch has seen everything the server has (bookmarks carry the current resourceVersion) and two more samples were taken. */
  settle(): Promise<void>;
}

function harness(server: KubeApiServer | undefined, options: { token?: string; kubeConfig?: KubeConfig; firstReportTimeoutMs?: number } = {}): Harness {
  const procRoot = fs.mkdtempSync(path.join(os.tmpdir(), 'agent-node-proc-'));
  fs.mkdirSync(path.join(procRoot, 'pressure'));
  for (const r of ['cpu', 'memory', 'io']) fs.writeFileSync(path.join(procRoot, 'pressure', r), pressure(0));
  // The log and container filesystems: 40% full.
  const statfs: StatfsFn = async () => ({ bsize: 4096, blocks: 1000, bfree: 600, bavail: 600, files: 1000, ffree: 900 });
  let kc = options.kubeConfig;
  if (!kc && server) {
    kc = new KubeConfig();
    kc.loadFromOptions(server.kubeConfig(options.token));
  }
  const sent: NodeConditionChange[] = [];
  const logged: Logged[] = [];
  const registry = createRegistry('agent-node-source', false);
  const source = new NodeSource(
    {
      nodeName: 'node-a',
      kubeConfig: kc,
      procRoot,
      logRoot: '/var/log/pods',
      containerFilesystem: '/var/lib/containerd',
      pressureThresholds: DEFAULT_PRESSURE_THRESHOLDS,
      pressureHysteresis: 10,
      fsFullPercent: 90,
      fsFullHysteresis: 5,
      sampleIntervalMs: 100,
      firstReportTimeoutMs: options.firstReportTimeoutMs ?? 60_000,
      watchBackoffInitialMs: 100,
      watchBackoffMaxMs: 1000,
      statfs,
    },
    { nodeCondition: (c) => void sent.push(c) },
    { registry, logger: recordingLogger(logged) },
  );
  const metric = async (name: string, labels?: Record<string, string>) => metricTotal(registry.getSingleMetric(name) as Parameters<typeof metricTotal>[0], labels);
  const settle = async () => {
    const target = Number(server!.resourceVersion());
    await until('the node watch to catch up', () => {
      const w = source.view().nodeWatch;
      return w.state === 'watching' && Number(w.resourceVersion) >= target;
    });
    const sampled = source.view().lastSampleAt;
    await until('two more samples', () => source.view().lastSampleAt !== sampled);
    const again = source.view().lastSampleAt;
    await until('one more sample', () => source.view().lastSampleAt !== again);
  };
  return { source, sent, logged, registry, procRoot, metric, settle };
}

const statuses = (c: NodeConditionChange | undefined) => Object.fromEntries((c?.conditions ?? []).map((x) => [x.type, x.status]));

function nodeConditions(ready: 'True' | 'False', heartbeat: string, readySince = '2024-05-01T10:00:00Z') {
  const c = (type: string, status: string, reason: string, since = '2024-05-01T10:00:00Z') => ({ type, status, reason, message: `${type} ${status}`, lastHeartbeatTime: heartbeat, lastTransitionTime: since });
  return [c('MemoryPressure', 'False', 'KubeletHasSufficientMemory'), c('DiskPressure', 'False', 'KubeletHasNoDiskPressure'), c('PIDPressure', 'False', 'KubeletHasSufficientPID'), c('Ready', ready, ready === 'True' ? 'KubeletReady' : 'KubeletNotReady', readySince)];
}

function seed(server: KubeApiServer): void {
  server.ensureNamespace('shop');
  for (const name of ['node-a', 'node-b']) {
    server.create({
      apiVersion: 'v1',
      kind: 'Node',
      metadata: { name, labels: { 'kubernetes.io/hostname': name, 'node.kubernetes.io/instance-type': 'm5.large', 'topology.kubernetes.io/zone': 'eu-west-1a' } },
      spec: { podCIDR: '10.1.0.0/24' },
      status: {
        addresses: [
          { type: 'InternalIP', address: name === 'node-a' ? '10.0.0.1' : '10.0.0.2' },
          { type: 'ExternalIP', address: '3.3.3.3' },
          { type: 'Hostname', address: `${name}.internal` },
        ],
        capacity: { cpu: '2', memory: '8Gi', pods: '110' },
        allocatable: { cpu: '1930m', memory: '7Gi', pods: '110' },
        conditions: nodeConditions('True', '2024-05-01T12:00:00Z'),
      },
    });
  }
  server.create(pod('seeded-1', 'node-a'));
}

function pod(name: string, nodeName: string): KubeObject {
  return {
    apiVersion: 'v1',
    kind: 'Pod',
    metadata: { name, namespace: 'shop', labels: { app: name }, ownerReferences: [{ apiVersion: 'apps/v1', kind: 'ReplicaSet', name: `${name}-rs`, uid: `rs-${name}`, controller: true, blockOwnerDeletion: true }] },
    spec: { nodeName, containers: [{ name: 'app', image: 'app:1', env: [{ name: 'TOKEN', value: 'hunter2' }] }] },
    status: { phase: 'Running' },
  };
}

/** Writes the Node's status (as the kubelet does), through the status subresource. */
function setStatus(server: KubeApiServer, ready: 'True' | 'False', heartbeat: string, readySince?: string): void {
  const node = server.get('v1', 'Node', 'node-a')!;
  const status = node['status'] as Record<string, unknown>;
  server.update({ ...node, status: { ...status, conditions: nodeConditions(ready, heartbeat, readySince) } }, 'status');
}

/** A forced 410: a write the watch cannot have seen yet, history compacted, connections reset, all in one tick. */
function forceGone(server: KubeApiServer, write: () => void): void {
  write();
  server.create({ apiVersion: 'v1', kind: 'ConfigMap', metadata: { generateName: 'bump-', namespace: 'shop' }, data: {} });
  server.compact();
  server.dropWatches(true);
}

test('node conditions: one full report, NotReady and back once each, nothing twice after 410 relists and dropped watches, own conditions merged', { timeout: 120_000 }, async () => {
  const server = await startKubeApiServer({ bookmarkIntervalMs: 200 });
  const h = harness(server);
  try {
    seed(server);
    const uid = server.get('v1', 'Node', 'node-a')!.metadata.uid;
    await h.source.start();

    // The first report: everything the message carries, the kubelet's conditions and ours.
    await until('the first report', () => h.sent.length >= 1);
    await h.settle();
    assert.equal(h.sent.length, 1, 'one first report');
    const first = h.sent[0]!;
    assert.deepEqual([first.action, first.name, first.uid], [Action.ACTION_CREATE, 'node-a', uid]);
    assert.deepEqual([first.internalIps, first.externalIps, first.hostname, first.instanceType, first.zone], [['10.0.0.1'], ['3.3.3.3'], 'node-a.internal', 'm5.large', 'eu-west-1a']);
    assert.deepEqual([first.capacity, first.allocatable], [{ cpu: '2', memory: '8Gi', pods: '110' }, { cpu: '1930m', memory: '7Gi', pods: '110' }]);
    assert.ok(first.createdAt && first.conditionTimestamp);
    assert.deepEqual(statuses(first), {
      MemoryPressure: 'False',
      DiskPressure: 'False',
      PIDPressure: 'False',
      Ready: 'True',
      [OWN_CONDITION_TYPES.cpu]: 'False',
      [OWN_CONDITION_TYPES.memory]: 'False',
      [OWN_CONDITION_TYPES.io]: 'False',
      [OWN_CONDITION_TYPES.logFilesystem]: 'False',
      [OWN_CONDITION_TYPES.containerFilesystem]: 'False',
    });

    // Heartbeats are not transitions.
    setStatus(server, 'True', '2024-05-01T12:01:00Z');
    setStatus(server, 'True', '2024-05-01T12:02:00Z');
    await h.settle();
    assert.equal(h.sent.length, 1, 'heartbeats send nothing');

    // NotReady: one UPDATE, and its heartbeats nothing more.
    setStatus(server, 'False', '2024-05-01T12:03:00Z', '2024-05-01T12:03:00Z');
    await until('NotReady', () => h.sent.length >= 2);
    setStatus(server, 'False', '2024-05-01T12:04:00Z', '2024-05-01T12:03:00Z');
    await h.settle();
    assert.equal(h.sent.length, 2);
    assert.deepEqual([h.sent[1]!.action, statuses(h.sent[1]).Ready, h.sent[1]!.uid], [Action.ACTION_UPDATE, 'False', uid]);
    assert.deepEqual(h.sent[1]!.conditionTimestamp, { seconds: Date.parse('2024-05-01T12:03:00Z') / 1000, nanos: 0 });

    // 410 Gone with only a heartbeat missed: the relist finds nothing new to say.
    forceGone(server, () => setStatus(server, 'False', '2024-05-01T12:05:00Z', '2024-05-01T12:03:00Z'));
    await until('a relist after 410', () => h.source.view().nodeWatch.relists >= 1);
    await h.settle();
    assert.equal(h.sent.length, 2, 'no duplicate after the relist');

    // Ready again while nobody watches and the history is gone: the relist reports it, once.
    forceGone(server, () => setStatus(server, 'True', '2024-05-01T12:06:00Z', '2024-05-01T12:06:00Z'));
    await until('Ready again', () => h.sent.length >= 3);
    await until('a second relist', () => h.source.view().nodeWatch.relists >= 2);
    await h.settle();
    assert.equal(h.sent.length, 3);
    assert.deepEqual([h.sent[2]!.action, statuses(h.sent[2]).Ready], [Action.ACTION_UPDATE, 'True']);

    // Watches dropped cleanly and abruptly, with and without a heartbeat in the gap: nothing.
    server.dropWatches(false);
    setStatus(server, 'True', '2024-05-01T12:07:00Z', '2024-05-01T12:06:00Z');
    await h.settle();
    server.dropWatches(true);
    await h.settle();
    assert.equal(h.sent.length, 3, 'no duplicate after dropped watches');
    assert.ok((await h.metric('kestrel_agent_node_watch_relists_total', { watch: 'node' })) >= 2);

    // The agent's own condition: memory pressure over its threshold, inside the band (no flap), then below it.
    const memory = (some: number) => fs.writeFileSync(path.join(h.procRoot, 'pressure', 'memory'), pressure(some));
    memory(70);
    await until('memory pressure', () => h.sent.length >= 4);
    assert.deepEqual([h.sent[3]!.uid, statuses(h.sent[3])[OWN_CONDITION_TYPES.memory], statuses(h.sent[3]).Ready], [uid, 'True', 'True'], 'merged with the Node state');
    memory(45);
    await h.settle();
    memory(52);
    await h.settle();
    assert.equal(h.sent.length, 4, 'inside the hysteresis band: no change');
    memory(5);
    await until('memory pressure gone', () => h.sent.length >= 5);
    await h.settle();
    assert.equal(h.sent.length, 5);
    assert.equal(statuses(h.sent[4])[OWN_CONDITION_TYPES.memory], 'False');

    // The Node deleted: one DELETE.
    server.delete('v1', 'Node', 'node-a');
    await until('the DELETE', () => h.sent.length >= 6);
    await h.settle();
    assert.deepEqual(h.sent.map((c) => c.action), [Action.ACTION_CREATE, Action.ACTION_UPDATE, Action.ACTION_UPDATE, Action.ACTION_UPDATE, Action.ACTION_UPDATE, Action.ACTION_DELETE]);
    assert.equal(await h.metric('kestrel_agent_node_condition_changes_sent_total'), 6);
    assert.equal(await h.metric('kestrel_agent_node_watch_disabled'), 0);
  } finally {
    await h.source.stop();
    await server.stop();
  }
});

test('pods: owners of pods on this node are known (also across a relist), a pod on another node is not kept', { timeout: 60_000 }, async () => {
  const server = await startKubeApiServer({ bookmarkIntervalMs: 200 });
  const h = harness(server);
  try {
    seed(server);
    const seeded = server.get('v1', 'Pod', 'seeded-1', 'shop')!.metadata.uid!;
    await h.source.start();
    await until('the seeded pod listed', () => h.source.ownersOf(seeded).length === 1);
    assert.deepEqual(h.source.ownersOf(seeded), [{ apiVersion: 'apps/v1', kind: 'ReplicaSet', name: 'seeded-1-rs', uid: 'rs-seeded-1', controller: true, blockOwnerDeletion: true }]);
    assert.deepEqual(h.source.pod(seeded), { uid: seeded, namespace: 'shop', name: 'seeded-1', ownerReferences: h.source.ownersOf(seeded) });

    const here = server.create(pod('api-1', 'node-a')).metadata.uid!;
    const elsewhere = server.create(pod('api-2', 'node-b')).metadata.uid!;
    await until('the new pod on this node', () => h.source.ownersOf(here).length === 1);
    await until('the pod watch to catch up', () => Number(h.source.view().podWatch.resourceVersion) >= Number(server.resourceVersion()));
    assert.deepEqual(h.source.ownersOf(elsewhere), [], 'a pod on another node is not kept');
    assert.equal(h.source.view().podsTracked, 2);
    assert.equal(await h.metric('kestrel_agent_node_pods_tracked'), 2);
    assert.deepEqual(h.source.ownersOf('no-such-uid'), []);

    // Deleted while nobody watches and the history is gone: the relist forgets it.
    forceGone(server, () => server.delete('v1', 'Pod', 'api-1', 'shop'));
    await until('the deleted pod forgotten', () => h.source.ownersOf(here).length === 0);
    assert.ok(h.source.view().podWatch.relists >= 1);
    assert.equal(h.source.ownersOf(seeded).length, 1);

    // Every list and watch asked only for this node's pods and this Node.
    for (const [resource, selector] of [['pods', 'spec.nodeName=node-a'], ['nodes', 'metadata.name=node-a']] as const) {
      const reads = server.audit.find({ resource, verb: ['list', 'watch'] });
      assert.ok(reads.length >= 2, `${resource}: lists and watches`);
      assert.deepEqual([...new Set(reads.map((e) => new URLSearchParams(e.query).get('fieldSelector')))], [selector], resource);
    }
  } finally {
    await h.source.stop();
    await server.stop();
  }
});

test('RBAC: denied watches are turned off with one log line and a metric each; what is allowed goes on', { timeout: 60_000 }, async () => {
  const server = await startKubeApiServer({ bookmarkIntervalMs: 200 });
  const none = harness(server, { token: server.serviceAccountToken('kestrel', 'agent-none') });
  const nodeOnly = harness(server, { token: server.serviceAccountToken('kestrel', 'agent-node-only') });
  try {
    seed(server);
    server.create({ apiVersion: 'rbac.authorization.k8s.io/v1', kind: 'ClusterRole', metadata: { name: 'kestrel-agent-node' }, rules: [{ apiGroups: [''], resources: ['nodes'], resourceNames: ['node-a'], verbs: ['get', 'list', 'watch'] }] });
    server.create({ apiVersion: 'rbac.authorization.k8s.io/v1', kind: 'ClusterRoleBinding', metadata: { name: 'kestrel-agent-node' }, roleRef: { apiGroup: 'rbac.authorization.k8s.io', kind: 'ClusterRole', name: 'kestrel-agent-node' }, subjects: [{ kind: 'ServiceAccount', name: 'agent-node-only', namespace: 'kestrel' }] });
    const uid = server.get('v1', 'Node', 'node-a')!.metadata.uid;

    // Nothing allowed: the own conditions are reported alone, at once (not after the first-report timeout).
    await none.source.start();
    await until('the own conditions alone', () => none.sent.length >= 1, 10_000);
    await pause(1000);
    assert.equal(none.sent.length, 1);
    assert.deepEqual([none.sent[0]!.action, none.sent[0]!.name, none.sent[0]!.uid], [Action.ACTION_CREATE, 'node-a', '']);
    assert.ok(Object.keys(statuses(none.sent[0])).every((t) => t.startsWith('Kestrel')), 'only the own conditions');
    assert.equal(await none.metric('kestrel_agent_node_watch_disabled', { watch: 'node' }), 1);
    assert.equal(await none.metric('kestrel_agent_node_watch_disabled', { watch: 'pods' }), 1);
    const rbacLines = none.logged.filter((l) => l.level === 'error' && /RBAC denies/.test(l.message));
    assert.equal(rbacLines.length, 2, 'one clear line per denied watch');
    assert.equal(server.audit.count('list', 'nodes', serviceAccountUsername('kestrel', 'agent-none')), 1, 'a denial is not retried');
    assert.equal(await none.metric('kestrel_agent_node_watch_errors_total'), 0);
    assert.deepEqual(none.source.view().nodeWatch.state, 'forbidden');

    // Its own Node allowed, pods not: the full report, and no owners.
    await nodeOnly.source.start();
    await until('the full report', () => nodeOnly.sent.length >= 1, 10_000);
    await pause(1000);
    assert.equal(nodeOnly.sent.length, 1);
    assert.deepEqual([nodeOnly.sent[0]!.uid, statuses(nodeOnly.sent[0]).Ready], [uid, 'True']);
    assert.equal(await nodeOnly.metric('kestrel_agent_node_watch_disabled', { watch: 'node' }), 0);
    assert.equal(await nodeOnly.metric('kestrel_agent_node_watch_disabled', { watch: 'pods' }), 1);
    assert.deepEqual(nodeOnly.source.ownersOf(server.get('v1', 'Pod', 'seeded-1', 'shop')!.metadata.uid!), []);
    setStatus(server, 'False', '2024-05-01T12:03:00Z', '2024-05-01T12:03:00Z');
    await until('NotReady through the allowed watch', () => nodeOnly.sent.length >= 2);
  } finally {
    await none.source.stop();
    await nodeOnly.source.stop();
    await server.stop();
  }
});

test('API server failing or unreachable: backoff and retries, no crash; the report follows when it answers', { timeout: 60_000 }, async () => {
  const server = await startKubeApiServer({ bookmarkIntervalMs: 200 });
  const failing = harness(server);
  // A port nothing listens on.
  const dead = new KubeConfig();
  dead.loadFromOptions({ clusters: [{ name: 'dead', server: 'https://127.0.0.1:1', skipTLSVerify: true }], users: [{ name: 'u', token: 't' }], contexts: [{ name: 'dead', cluster: 'dead', user: 'u' }], currentContext: 'dead' });
  const unreachable = harness(undefined, { kubeConfig: dead, firstReportTimeoutMs: 500 });
  try {
    seed(server);
    server.injectFault({ match: { resource: 'nodes', verb: 'list' }, code: 503, times: 4 });
    await failing.source.start();
    await until('the first report after the failures', () => failing.sent.length >= 1);
    await failing.settle();
    assert.equal(failing.sent.length, 1);
    assert.ok(failing.sent[0]!.uid, 'the full report');
    assert.equal(await failing.metric('kestrel_agent_node_watch_errors_total', { watch: 'node' }), 4);

    await unreachable.source.start();
    await until('the own conditions after the first-report timeout', () => unreachable.sent.length >= 1, 10_000);
    await until('several failed attempts', () => unreachable.source.view().nodeWatch.state === 'backoff' && unreachable.source.view().nodeWatch.lastError !== null);
    await pause(1500);
    assert.equal(unreachable.sent.length, 1);
    assert.equal(unreachable.sent[0]!.uid, '');
    assert.ok((await unreachable.metric('kestrel_agent_node_watch_errors_total', { watch: 'node' })) >= 2, 'retried');
    const stopping = Date.now();
    await unreachable.source.stop();
    assert.ok(Date.now() - stopping < 5000, 'stops promptly while in backoff');
  } finally {
    await failing.source.stop();
    await unreachable.source.stop();
    await server.stop();
  }
});
