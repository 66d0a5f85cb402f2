import assert from 'node:assert/strict';
import { test } from 'node:test';
import { Action } from '@kestrel/proto/cloud/v1';
import { eventFingerprint, toKubernetesEvent } from './kubernetes-events.js';
import { newSignals, podSignals, toPodStatusChange } from './pod-status.js';
import { rolloutState } from './rollouts.js';

const pod = (status: object, created = '2024-05-01T12:00:00Z') => ({
  metadata: { name: 'api-1', namespace: 'shop', uid: 'u1', creationTimestamp: created, resourceVersion: '10' },
  spec: { nodeName: 'node-a' },
  status,
});

const container = (name: string, extra: object) => ({ name, image: 'img', ready: false, restartCount: 0, ...extra });

test('CrashLoopBackOff, image pull failures and config errors are signals of the container', () => {
  const s = podSignals(pod({ phase: 'Running', containerStatuses: [container('app', { state: { waiting: { reason: 'CrashLoopBackOff' } }, restartCount: 4 }), container('side', { state: { waiting: { reason: 'ImagePullBackOff' } } }), container('cfg', { state: { waiting: { reason: 'CreateContainerConfigError' } } })] }), Date.now(), 300_000);
  assert.deepEqual(s, ['restarts:app:4', 'waiting:app:CrashLoopBackOff', 'waiting:cfg:CreateContainerConfigError', 'waiting:side:ImagePullBackOff']);
});

test('an OOMKilled last state is a signal per restart, so the next OOM kill is reported again', () => {
  const first = podSignals(pod({ phase: 'Running', containerStatuses: [container('app', { restartCount: 1, lastState: { terminated: { reason: 'OOMKilled', exitCode: 137 } } })] }), Date.now(), 300_000);
  const second = podSignals(pod({ phase: 'Running', containerStatuses: [container('app', { restartCount: 2, lastState: { terminated: { reason: 'OOMKilled', exitCode: 137 } } })] }), Date.now(), 300_000);
  assert.deepEqual(newSignals(first, first), []);
  assert.deepEqual(newSignals(first, second), ['restarts:app:2', 'terminated:app:OOMKilled:2']);
});

test('evicted, unschedulable, readiness lost and pending too long are pod signals', () => {
  assert.deepEqual(podSignals(pod({ phase: 'Failed', reason: 'Evicted' }), Date.now(), 300_000), ['evicted']);
  assert.deepEqual(podSignals(pod({ phase: 'Pending', conditions: [{ type: 'PodScheduled', status: 'False', reason: 'Unschedulable' }] }, new Date().toISOString()), Date.now(), 300_000), ['unschedulable']);
  assert.deepEqual(podSignals(pod({ phase: 'Running', conditions: [{ type: 'Ready', status: 'False' }] }), Date.now(), 300_000), ['not-ready']);
  assert.deepEqual(podSignals(pod({ phase: 'Pending' }, '2024-05-01T12:00:00Z'), Date.parse('2024-05-01T12:10:00Z'), 300_000), ['pending-too-long']);
  assert.deepEqual(podSignals(pod({ phase: 'Pending' }, '2024-05-01T12:00:00Z'), Date.parse('2024-05-01T12:01:00Z'), 300_000), []);
});

test('a restart count that does not grow is not a new signal; recovering is not one either', () => {
  assert.deepEqual(newSignals(['restarts:app:3'], ['restarts:app:3']), []);
  assert.deepEqual(newSignals(['restarts:app:3', 'waiting:app:CrashLoopBackOff'], ['restarts:app:3']), []);
  assert.deepEqual(newSignals(undefined, ['restarts:app:1']), ['restarts:app:1']);
});

test('PodStatusChange carries container states, conditions, restarts and owners; dates from lists or watches alike', () => {
  const msg = toPodStatusChange(
    {
      ...pod({
        phase: 'Running',
        podIP: '10.0.0.5',
        qosClass: 'Burstable',
        conditions: [{ type: 'Ready', status: 'False', lastTransitionTime: new Date('2024-05-01T12:05:00Z') }],
        containerStatuses: [container('app', { restartCount: 2, state: { waiting: { reason: 'CrashLoopBackOff', message: 'back-off' } }, lastState: { terminated: { exitCode: 1, reason: 'Error', finishedAt: '2024-05-01T12:04:00Z' } } })],
      }),
      metadata: { name: 'api-1', namespace: 'shop', uid: 'u1', ownerReferences: [{ apiVersion: 'apps/v1', kind: 'ReplicaSet', name: 'api-5d', uid: 'rs', controller: true }] },
    },
    Action.ACTION_UPDATE,
    new Date('2024-05-01T12:06:00Z'),
  );
  assert.equal(msg.nodeName, 'node-a');
  assert.equal(msg.podIp, '10.0.0.5');
  assert.equal(msg.totalRestartCount, 2);
  assert.deepEqual(msg.containerStatuses[0]!.state, { state: { $case: 'waiting', value: { reason: 'CrashLoopBackOff', message: 'back-off' } } });
  assert.equal(msg.containerStatuses[0]!.lastTerminationState?.state?.$case, 'terminated');
  assert.deepEqual(msg.conditions[0]!.lastTransitionTime, { seconds: Date.parse('2024-05-01T12:05:00Z') / 1000, nanos: 0 });
  assert.equal(msg.ownerReferences[0]!.kind, 'ReplicaSet');
});

test('a Deployment past its progress deadline is stuck; one short of available replicas is degraded', () => {
  const base = { metadata: { name: 'api', namespace: 'shop', uid: 'd1', generation: 3 }, spec: { replicas: 3 } };
  assert.equal(rolloutState('Deployment', { ...base, status: { observedGeneration: 3, updatedReplicas: 1, conditions: [{ type: 'Progressing', status: 'False', reason: 'ProgressDeadlineExceeded' }] } }).status, 'stuck');
  assert.equal(rolloutState('Deployment', { ...base, status: { observedGeneration: 3, updatedReplicas: 3, availableReplicas: 2 } }).status, 'degraded');
  assert.equal(rolloutState('Deployment', { ...base, status: { observedGeneration: 2, updatedReplicas: 3, availableReplicas: 3 } }).status, 'progressing');
  assert.equal(rolloutState('Deployment', { ...base, status: { observedGeneration: 3, updatedReplicas: 3, availableReplicas: 3 } }).status, 'complete');
});

test('an event is sent again only when its count or last time changes', () => {
  const e = { metadata: { name: 'x.1', namespace: 'shop', uid: 'e1' }, type: 'Warning', reason: 'BackOff', message: 'restarting', count: 3, lastTimestamp: '2024-05-01T12:00:00Z', involvedObject: { kind: 'Pod', name: 'api-1', namespace: 'shop' }, source: { component: 'kubelet', host: 'node-a' } };
  assert.equal(eventFingerprint(e), eventFingerprint({ ...e, message: 'other text' }));
  assert.notEqual(eventFingerprint(e), eventFingerprint({ ...e, count: 4 }));
  const msg = toKubernetesEvent(e, Action.ACTION_CREATE);
  assert.equal(msg.eventType, 'Warning');
  assert.equal(msg.count, 3);
  assert.equal(msg.involvedObject?.name, 'api-1');
  assert.equal(msg.source?.host, 'node-a');
});
