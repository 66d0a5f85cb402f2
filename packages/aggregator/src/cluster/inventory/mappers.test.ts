import assert from 'node:assert/strict';
import { test } from 'node:test';
import { Action, NetworkPolicy as NetworkPolicyMessage } from '@kestrel/proto/cloud/v1';
import { toNetworkPolicy, toNode, toPod, toService, toWorkload } from './mappers.js';

test('a Workload carries the pod template service account, including a CronJob one level deeper', () => {
  const cron = { metadata: { name: 'report', namespace: 'ops', uid: 'c1', labels: { team: 'x' } }, spec: { jobTemplate: { spec: { template: { spec: { serviceAccountName: 'reporter' } } } } } };
  assert.deepEqual(toWorkload('CronJob', cron, Action.ACTION_CREATE), { name: 'report', namespace: 'ops', uid: 'c1', kind: 'CronJob', labels: { team: 'x' }, createdAt: undefined, action: Action.ACTION_CREATE, serviceAccount: 'reporter' });
});

test('a Pod message is cut down to identity, IP, phase, readiness and owners: no spec, no env values', () => {
  const p = toPod({ metadata: { name: 'a', namespace: 'n', uid: 'u', creationTimestamp: '2024-05-01T12:00:00Z' }, spec: { containers: [{ env: [{ name: 'PASSWORD', value: 'hunter2' }] }] }, status: { phase: 'Running', podIP: '10.1.2.3', conditions: [{ type: 'Ready', status: 'True' }] } }, Action.ACTION_UPDATE);
  assert.equal(JSON.stringify(p).includes('hunter2'), false);
  assert.equal(p.ready, true);
  assert.equal(p.podIp, '10.1.2.3');
  assert.deepEqual(p.createdAt, { seconds: Date.parse('2024-05-01T12:00:00Z') / 1000, nanos: 0 });
});

test('Service ports with named target ports, Node addresses, zone and instance type', () => {
  const s = toService({ metadata: { name: 's', namespace: 'n', uid: 'u' }, spec: { type: 'NodePort', clusterIP: '10.96.0.10', selector: { app: 'x' }, ports: [{ name: 'http', port: 80, targetPort: 'web', nodePort: 30080 }, { port: 53, protocol: 'UDP', targetPort: 53 }] } }, Action.ACTION_CREATE);
  assert.deepEqual(s.ports, [{ name: 'http', protocol: 'TCP', port: 80, targetPort: 0, nodePort: 30080 }, { name: '', protocol: 'UDP', port: 53, targetPort: 53, nodePort: 0 }]);
  const n = toNode({ metadata: { name: 'n1', uid: 'nu', labels: { 'topology.kubernetes.io/zone': 'eu-1a', 'node.kubernetes.io/instance-type': 'm5.large' } }, status: { addresses: [{ type: 'InternalIP', address: '10.0.0.1' }, { type: 'Hostname', address: 'ip-10-0-0-1' }], conditions: [{ type: 'Ready', status: 'False' }] } }, Action.ACTION_CREATE);
  assert.deepEqual([n.internalIps, n.hostname, n.zone, n.instanceType, n.ready], [['10.0.0.1'], 'ip-10-0-0-1', 'eu-1a', 'm5.large', false]);
});

test('a NetworkPolicy keeps numeric and named ports as the oneof, and encodes', () => {
  const np = toNetworkPolicy({ metadata: { name: 'deny', namespace: 'n', uid: 'u', annotations: { 'kubectl.kubernetes.io/last-applied-configuration': '{...}', keep: 'me' } }, spec: { podSelector: { matchLabels: { app: 'db' } }, ingress: [{ from: [{ ipBlock: { cidr: '10.0.0.0/8', except: ['10.1.0.0/16'] } }], ports: [{ port: 5432 }, { port: 'metrics', protocol: 'TCP' }] }], policyTypes: ['Ingress'] } }, Action.ACTION_CREATE);
  assert.deepEqual(np.metadata?.annotations, { keep: 'me' });
  assert.deepEqual(np.spec?.ingress[0]?.ports.map((p) => p.portValue), [{ $case: 'port', value: 5432 }, { $case: 'portName', value: 'metrics' }]);
  assert.ok(NetworkPolicyMessage.encode(np).finish().length > 0);
});
