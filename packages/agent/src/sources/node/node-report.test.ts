import assert from 'node:assert/strict';
import { test } from 'node:test';
import { Action, type NodeCondition, type NodeConditionChange } from '@kestrel/proto/cloud/v1';
import { ConditionReporter, cutNode, type NodeFacts } from './node-report.js';

function nodeObject(conditions: Record<string, string>, options: { uid?: string; heartbeat?: string; transition?: string; reason?: string } = {}) {
  return {
    apiVersion: 'v1',
    kind: 'Node',
    metadata: {
      name: 'node-a',
      uid: options.uid ?? 'uid-a',
      creationTimestamp: '2024-05-01T10:00:00Z',
      labels: { 'node.kubernetes.io/instance-type': 'm5.large', 'topology.kubernetes.io/zone': 'eu-west-1a', 'kubernetes.io/hostname': 'ip-10-0-0-1' },
      annotations: { 'node.alpha.kubernetes.io/ttl': '0' },
    },
    spec: { podCIDR: '10.1.0.0/24', taints: [] },
    status: {
      addresses: [
        { type: 'InternalIP', address: '10.0.0.1' },
        { type: 'ExternalIP', address: '3.3.3.3' },
        { type: 'Hostname', address: 'ip-10-0-0-1.internal' },
      ],
      capacity: { cpu: '2', memory: '8Gi', pods: '110' },
      allocatable: { cpu: '1930m', memory: '7Gi', pods: '110' },
      images: [{ names: ['big-image'], sizeBytes: 1 }],
      nodeInfo: { kubeletVersion: 'v1.30.0' },
      conditions: Object.entries(conditions).map(([type, status]) => ({
        type,
        status,
        lastHeartbeatTime: options.heartbeat ?? '2024-05-01T12:00:00Z',
        lastTransitionTime: options.transition ?? '2024-05-01T11:00:00Z',
        reason: options.reason ?? `${type}Reason`,
        message: `${type} is ${status}`,
      })),
    },
  };
}

const node = (conditions: Record<string, string>, options?: Parameters<typeof nodeObject>[1]): NodeFacts => cutNode(nodeObject(conditions, options));

const own = (type: string, status: string, at = 1_714_560_000_000): NodeCondition => ({
  type,
  status,
  reason: status === 'True' ? 'High' : 'Normal',
  message: '',
  lastHeartbeatTime: { seconds: Math.floor(at / 1000), nanos: 0 },
  lastTransitionTime: { seconds: Math.floor(at / 1000), nanos: 0 },
});

function reporter() {
  const sent: NodeConditionChange[] = [];
  const r = new ConditionReporter('node-a', (c) => sent.push(c), () => 1_714_570_000_000);
  const statuses = (i: number) => Object.fromEntries(sent[i]!.conditions.map((c) => [c.type, c.status]));
  return { r, sent, statuses };
}

test('the Node is cut down to what NodeConditionChange carries: addresses, instance type, zone, capacity, allocatable', () => {
  const facts = node({ Ready: 'True' });
  assert.deepEqual(facts, {
    name: 'node-a',
    uid: 'uid-a',
    conditions: [{ type: 'Ready', status: 'True', reason: 'ReadyReason', message: 'Ready is True', lastHeartbeatTime: { seconds: 1714564800, nanos: 0 }, lastTransitionTime: { seconds: 1714561200, nanos: 0 } }],
    internalIps: ['10.0.0.1'],
    externalIps: ['3.3.3.3'],
    hostname: 'ip-10-0-0-1.internal',
    instanceType: 'm5.large',
    zone: 'eu-west-1a',
    capacity: { cpu: '2', memory: '8Gi', pods: '110' },
    allocatable: { cpu: '1930m', memory: '7Gi', pods: '110' },
    createdAt: { seconds: 1714557600, nanos: 0 },
  });
  // Typed list items carry Date objects, watch events strings: both read the same.
  const typed = nodeObject({ Ready: 'True' });
  (typed.metadata as Record<string, unknown>)['creationTimestamp'] = new Date('2024-05-01T10:00:00Z');
  assert.deepEqual(cutNode(typed).createdAt, facts.createdAt);
  assert.deepEqual(cutNode({}).conditions, []);
});

test('the first report is one full CREATE with the Node facts and the own conditions merged in', () => {
  const { r, sent, statuses } = reporter();
  r.ownConditions([own('KestrelMemoryPressure', 'False')]);
  assert.equal(sent.length, 0, 'nothing before the Node is listed');
  r.listed([node({ Ready: 'True', MemoryPressure: 'False' })]);
  assert.equal(sent.length, 1);
  const c = sent[0]!;
  assert.equal(c.action, Action.ACTION_CREATE);
  assert.deepEqual([c.name, c.uid, c.internalIps, c.zone, c.instanceType, c.capacity['pods']], ['node-a', 'uid-a', ['10.0.0.1'], 'eu-west-1a', 'm5.large', '110']);
  assert.deepEqual(statuses(0), { Ready: 'True', MemoryPressure: 'False', KestrelMemoryPressure: 'False' });
  assert.deepEqual(c.conditionTimestamp, { seconds: 1714561200, nanos: 0 }, 'the newest transition among the conditions');
});

test('heartbeat-only updates, reason or message changes and the same state again after a relist send nothing', () => {
  const { r, sent } = reporter();
  r.listed([node({ Ready: 'True' })]);
  r.upsert(node({ Ready: 'True' }, { heartbeat: '2024-05-01T12:05:00Z' }));
  r.upsert(node({ Ready: 'True' }, { heartbeat: '2024-05-01T12:10:00Z', reason: 'Other' }));
  r.listed([node({ Ready: 'True' }, { heartbeat: '2024-05-01T12:15:00Z' })]);
  r.listed([node({ Ready: 'True' })]);
  assert.equal(sent.length, 1);
});

test('one UPDATE per status transition, with the time of the transition', () => {
  const { r, sent, statuses } = reporter();
  r.listed([node({ Ready: 'True' })]);
  r.upsert(node({ Ready: 'False' }, { transition: '2024-05-01T12:30:00Z' }));
  r.upsert(node({ Ready: 'False' }, { transition: '2024-05-01T12:30:00Z', heartbeat: '2024-05-01T12:31:00Z' }));
  r.upsert(node({ Ready: 'True' }, { transition: '2024-05-01T12:40:00Z' }));
  assert.deepEqual(sent.map((c) => [c.action, statuses(sent.indexOf(c))['Ready']]), [
    [Action.ACTION_CREATE, 'True'],
    [Action.ACTION_UPDATE, 'False'],
    [Action.ACTION_UPDATE, 'True'],
  ]);
  assert.deepEqual(sent[1]!.conditionTimestamp, { seconds: Date.parse('2024-05-01T12:30:00Z') / 1000, nanos: 0 });
});

test('a condition appearing or disappearing is a transition', () => {
  const { r, sent, statuses } = reporter();
  r.listed([node({ Ready: 'True' })]);
  r.upsert(node({ Ready: 'True', KernelDeadlock: 'True' }));
  r.upsert(node({ Ready: 'True' }));
  assert.equal(sent.length, 3);
  assert.deepEqual([statuses(1), statuses(2)], [{ Ready: 'True', KernelDeadlock: 'True' }, { Ready: 'True' }]);
});

test('a change made during a watch gap arrives once through the relist; the order of conditions does not matter', () => {
  const { r, sent } = reporter();
  r.listed([node({ Ready: 'True', DiskPressure: 'False' })]);
  r.listed([node({ DiskPressure: 'False', Ready: 'False' })]);
  r.listed([node({ DiskPressure: 'False', Ready: 'False' })]);
  r.listed([node({ Ready: 'False', DiskPressure: 'False' })]);
  assert.equal(sent.length, 2);
});

test('own condition transitions are sent merged with the last known Node state; the same own state is not', () => {
  const { r, sent, statuses } = reporter();
  r.ownConditions([own('KestrelIOPressure', 'False')]);
  r.listed([node({ Ready: 'True' })]);
  r.ownConditions([own('KestrelIOPressure', 'False', 1_714_560_010_000)]);
  r.ownConditions([own('KestrelIOPressure', 'True', 1_714_565_000_000)]);
  assert.equal(sent.length, 2);
  assert.deepEqual(statuses(1), { Ready: 'True', KestrelIOPressure: 'True' });
  assert.equal(sent[1]!.uid, 'uid-a');
  assert.deepEqual(sent[1]!.conditionTimestamp, { seconds: 1_714_565_000, nanos: 0 });
});

test('without the Node (watch off or denied), the own conditions are reported alone once released', () => {
  const { r, sent, statuses } = reporter();
  r.ownConditions([own('KestrelLogFilesystemFull', 'False')]);
  assert.equal(sent.length, 0);
  r.release();
  r.release();
  r.ownConditions([own('KestrelLogFilesystemFull', 'False')]);
  assert.equal(sent.length, 1);
  assert.deepEqual([sent[0]!.action, sent[0]!.name, sent[0]!.uid, statuses(0)], [Action.ACTION_CREATE, 'node-a', '', { KestrelLogFilesystemFull: 'False' }]);
  // The Node shows up later: one UPDATE with everything (the node was already announced).
  r.listed([node({ Ready: 'True' })]);
  assert.deepEqual([sent.length, sent[1]!.action, sent[1]!.uid], [2, Action.ACTION_UPDATE, 'uid-a']);
});

test('a deleted Node is reported once as DELETE; re-registered (new uid) it is a CREATE again', () => {
  const { r, sent } = reporter();
  r.ownConditions([own('KestrelCPUPressure', 'False')]);
  r.listed([node({ Ready: 'True' })]);
  r.deleted(node({ Ready: 'Unknown' }));
  r.deleted(node({ Ready: 'Unknown' }));
  r.listed([]);
  r.ownConditions([own('KestrelCPUPressure', 'True')]);
  assert.deepEqual(sent.map((c) => c.action), [Action.ACTION_CREATE, Action.ACTION_DELETE], 'nothing while the Node is gone');
  assert.equal(sent[1]!.conditions.find((c) => c.type === 'Ready')?.status, 'Unknown', 'the DELETE carries the final state');
  r.listed([node({ Ready: 'True' }, { uid: 'uid-b' })]);
  assert.deepEqual([sent.length, sent[2]!.action, sent[2]!.uid], [3, Action.ACTION_CREATE, 'uid-b']);
});

test('a Node replaced during a gap (another uid in the relist) is a CREATE; a Node gone during a gap a DELETE', () => {
  const { r, sent } = reporter();
  r.listed([node({ Ready: 'True' })]);
  r.listed([node({ Ready: 'True' }, { uid: 'uid-b' })]);
  r.listed([]);
  assert.deepEqual(sent.map((c) => [c.action, c.uid]), [[Action.ACTION_CREATE, 'uid-a'], [Action.ACTION_CREATE, 'uid-b'], [Action.ACTION_DELETE, 'uid-b']]);
});

test('other nodes are ignored', () => {
  const { r, sent } = reporter();
  const other = { ...node({ Ready: 'True' }), name: 'node-b' };
  r.listed([other]);
  r.upsert(other);
  r.deleted(other);
  assert.equal(sent.length, 0, 'no Node of that name and no own condition: nothing to say');
  r.ownConditions([own('KestrelCPUPressure', 'False')]);
  assert.deepEqual(sent.map((c) => [c.action, c.name, c.uid]), [[Action.ACTION_CREATE, 'node-a', '']]);
});
