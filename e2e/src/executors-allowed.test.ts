// Issue 8, "done when" 2 (executor level): allowed API paths and kubectl commands, run by the executors against the
// Kubernetes API test server with the real kubectl, get correct and complete answers (compared with the server's
// own objects, redacted as the policy says). The operator's service account has the read-only RBAC a chart would
// grant (no Secrets), so the answers also show the difference between a refusal by the operator's policy and one by
// the API server's RBAC. The through-cloud-dev version wraps the same Executors.handle() in the control stream.
import assert from 'node:assert/strict';
import { Writable } from 'node:stream';
import { after, before, test } from 'node:test';
import { KubeConfig } from '@kubernetes/client-node';
import { createLogger, createRegistry } from '@kestrel/core';
import { Executors, REDACTED } from '@kestrel/aggregator/executors';
import { serviceAccountUsername, startKubeApiServer, type KubeApiServer, type KubeObject } from './kube-api-server/index.js';

class LogCapture extends Writable {
  readonly lines: string[] = [];
  constructor() {
    super({ objectMode: true });
  }
  log(_info: unknown, callback: () => void): void {
    callback();
  }
  override _write(info: Record<symbol, unknown>, _encoding: BufferEncoding, callback: () => void): void {
    this.lines.push(String(info[Symbol.for('message')]));
    callback();
  }
}

const SA_USER = serviceAccountUsername('kestrel', 'aggregator');
const WEB_LOG = '2026-01-01T00:00:00Z starting web\n2026-01-01T00:00:01Z listening on :8080\n2026-01-01T00:00:02Z GET /healthz 200\n';
let server: KubeApiServer;
let executors: Executors;
const capture = new LogCapture();

function auditOf(requestId: string): { decision: string; items: { decision: string; status?: number; exitCode?: number; apiCalls?: string[]; ran?: string | string[] }[] } {
  const found = capture.lines.map((l) => JSON.parse(l)).filter((l) => l.audit && l.requestId === requestId);
  assert.equal(found.length, 1, `one audit line for ${requestId}`);
  return found[0];
}

/** An object as the operator may send it: env values redacted (what the executors do by default). */
function redactedEnv<T>(o: T): T {
  return JSON.parse(JSON.stringify(o), (key, value) =>
    key === 'env' && Array.isArray(value) ? value.map((e: { name: string; value?: string }) => ('value' in e ? { ...e, value: REDACTED } : e)) : value,
  ) as T;
}

before(async () => {
  server = await startKubeApiServer();
  server.ensureNamespace('shop');
  server.create({ apiVersion: 'v1', kind: 'Node', metadata: { name: 'node-a', labels: { 'kubernetes.io/hostname': 'node-a' } }, status: { conditions: [{ type: 'Ready', status: 'True' }] } } as KubeObject);
  const podSpec = { containers: [{ name: 'main', image: 'web:1.4', env: [{ name: 'DB_PASSWORD', value: 'hunter2' }, { name: 'LOG_LEVEL', value: 'debug' }] }] };
  const deploy = server.create({
    apiVersion: 'apps/v1',
    kind: 'Deployment',
    metadata: { name: 'web', namespace: 'shop', labels: { app: 'web' } },
    spec: { replicas: 2, selector: { matchLabels: { app: 'web' } }, template: { metadata: { labels: { app: 'web' } }, spec: podSpec } },
    status: {
      observedGeneration: 1,
      replicas: 2,
      updatedReplicas: 2,
      readyReplicas: 2,
      availableReplicas: 2,
      conditions: [
        { type: 'Available', status: 'True', reason: 'MinimumReplicasAvailable' },
        { type: 'Progressing', status: 'True', reason: 'NewReplicaSetAvailable' },
      ],
    },
  } as KubeObject);
  const owner = { apiVersion: 'apps/v1', kind: 'Deployment', name: 'web', uid: deploy.metadata.uid!, controller: true };
  server.create({
    apiVersion: 'apps/v1',
    kind: 'ReplicaSet',
    metadata: { name: 'web-abc', namespace: 'shop', labels: { app: 'web', 'pod-template-hash': 'abc' }, annotations: { 'deployment.kubernetes.io/revision': '1' }, ownerReferences: [owner] },
    spec: { replicas: 2, selector: { matchLabels: { app: 'web', 'pod-template-hash': 'abc' } }, template: { metadata: { labels: { app: 'web', 'pod-template-hash': 'abc' } }, spec: podSpec } },
  } as KubeObject);
  for (const name of ['web-abc-1', 'web-abc-2']) {
    server.create({
      apiVersion: 'v1',
      kind: 'Pod',
      metadata: { name, namespace: 'shop', labels: { app: 'web', 'pod-template-hash': 'abc' } },
      spec: { ...podSpec, nodeName: 'node-a' },
      status: { phase: 'Running', containerStatuses: [{ name: 'main', ready: true, restartCount: 0, image: 'web:1.4', imageID: '', state: { running: {} } }] },
    } as KubeObject);
    server.setPodLog('shop', name, 'main', WEB_LOG);
  }
  server.create({ apiVersion: 'v1', kind: 'Pod', metadata: { name: 'batch-1', namespace: 'shop', labels: { app: 'batch' } }, spec: { containers: [{ name: 'main', image: 'batch:1' }] } } as KubeObject);
  server.create({ apiVersion: 'v1', kind: 'Service', metadata: { name: 'web', namespace: 'shop' }, spec: { selector: { app: 'web' }, ports: [{ port: 80, targetPort: 8080 }] } } as KubeObject);
  server.create({ apiVersion: 'v1', kind: 'ConfigMap', metadata: { name: 'web-config', namespace: 'shop' }, data: { 'feature-flags': 'beta=true', 'api-key': 'sk-live-123' } } as KubeObject);
  server.create({ apiVersion: 'v1', kind: 'Secret', metadata: { name: 'db', namespace: 'shop' }, data: { password: Buffer.from('hunter2').toString('base64') } } as KubeObject);
  const pod = server.get('v1', 'Pod', 'web-abc-1', 'shop')!;
  server.create({
    apiVersion: 'v1',
    kind: 'Event',
    metadata: { name: 'web-abc-1.probe', namespace: 'shop' },
    involvedObject: { apiVersion: 'v1', kind: 'Pod', name: 'web-abc-1', namespace: 'shop', uid: pod.metadata.uid },
    reason: 'Unhealthy',
    message: 'Readiness probe failed: HTTP probe failed with statuscode: 503',
    type: 'Warning',
    count: 3,
  } as KubeObject);

  // What a chart would grant for investigations: read, no Secrets, no RBAC objects.
  const token = server.serviceAccountToken('kestrel', 'aggregator');
  server.create({
    apiVersion: 'rbac.authorization.k8s.io/v1',
    kind: 'ClusterRole',
    metadata: { name: 'kestrel-investigations' },
    rules: [
      { apiGroups: [''], resources: ['pods', 'pods/log', 'services', 'endpoints', 'nodes', 'namespaces', 'events', 'configmaps', 'serviceaccounts', 'persistentvolumeclaims', 'persistentvolumes', 'replicationcontrollers'], verbs: ['get', 'list'] },
      { apiGroups: ['apps'], resources: ['deployments', 'deployments/scale', 'replicasets', 'statefulsets', 'daemonsets', 'controllerrevisions'], verbs: ['get', 'list'] },
      { apiGroups: ['batch'], resources: ['jobs', 'cronjobs'], verbs: ['get', 'list'] },
      { apiGroups: ['autoscaling', 'policy', 'networking.k8s.io', 'discovery.k8s.io', 'events.k8s.io'], resources: ['*'], verbs: ['get', 'list'] },
    ],
  } as KubeObject);
  server.create({
    apiVersion: 'rbac.authorization.k8s.io/v1',
    kind: 'ClusterRoleBinding',
    metadata: { name: 'kestrel-investigations' },
    roleRef: { apiGroup: 'rbac.authorization.k8s.io', kind: 'ClusterRole', name: 'kestrel-investigations' },
    subjects: [{ kind: 'ServiceAccount', name: 'aggregator', namespace: 'kestrel' }],
  } as KubeObject);
  const kc = new KubeConfig();
  kc.loadFromOptions(server.kubeConfig(token));
  const logger = createLogger('aggregator', 'info');
  logger.clear();
  logger.add(capture);
  executors = await Executors.start({}, { kubeConfig: kc, registry: createRegistry('aggregator', false), logger });
  server.audit.clear();
});

after(async () => {
  await executors?.stop();
  await server?.stop();
});

test('allowed API paths get complete answers, each with its own result and the real status code', async () => {
  const paths = [
    '/api/v1/namespaces/shop/pods?labelSelector=app%3Dweb',
    '/apis/apps/v1/namespaces/shop/deployments/web',
    '/api/v1/namespaces/shop/pods/web-abc-1/log?container=main',
    '/api/v1/namespaces/shop/configmaps/web-config',
    '/version',
    '/apis',
    '/api/v1/namespaces/shop/events?fieldSelector=involvedObject.name%3Dweb-abc-1',
    '/apis/apps/v1/namespaces/shop/deployments/web/scale',
    '//api/v1/nodes/node-a/',
    '/api/v1/namespaces/shop/pods/missing',
    '/apis/rbac.authorization.k8s.io/v1/clusterroles',
  ];
  const answer = await executors.executeKubernetesApi({ requestId: 'allowed-api', apiPaths: paths, timeoutSeconds: 20 });
  assert.equal(answer.requestId, 'allowed-api');
  assert.equal(answer.globalErrorMessage, '');
  assert.deepEqual(
    answer.results.map((r) => r.apiPath),
    paths,
    'one result per path, in order, naming the path as sent',
  );
  const [pods, deploy, log, config, version, groups, events, scale, node, missing, forbidden] = answer.results;
  for (const r of answer.results.slice(0, 9)) {
    assert.equal(r.statusCode, 200, `${r.apiPath}: ${r.errorMessage}`);
    assert.equal(r.success, true);
    assert.equal(r.errorMessage, '');
  }

  const podList = JSON.parse(pods!.responseData);
  const expected = server.list('v1', 'Pod', { namespace: 'shop', labelSelector: 'app=web' });
  assert.deepEqual(
    podList.items.map((p: KubeObject) => p.metadata.name),
    expected.map((p) => p.metadata.name),
  );
  assert.deepEqual(
    podList.items,
    redactedEnv(expected).map(({ apiVersion: _a, kind: _k, ...rest }) => rest),
    'every field of every pod, env values redacted',
  );
  assert.deepEqual(JSON.parse(deploy!.responseData), redactedEnv(server.get('apps/v1', 'Deployment', 'web', 'shop')));
  assert.equal(log!.responseData, WEB_LOG, 'the log, byte for byte');
  assert.deepEqual(JSON.parse(config!.responseData).data, { 'feature-flags': REDACTED, 'api-key': REDACTED });
  assert.equal(JSON.parse(version!.responseData).gitVersion, 'v1.32.0-kestrel-test');
  assert.ok(JSON.parse(groups!.responseData).groups.some((g: { name: string }) => g.name === 'apps'));
  const eventList = JSON.parse(events!.responseData);
  assert.deepEqual(
    eventList.items.map((e: { reason: string }) => e.reason),
    ['Unhealthy'],
  );
  assert.equal(JSON.parse(scale!.responseData).spec.replicas, 2);
  assert.equal(JSON.parse(node!.responseData).metadata.name, 'node-a');

  assert.equal(missing!.statusCode, 404, "the API server's own code");
  assert.equal(missing!.success, false);
  assert.match(missing!.errorMessage, /pods "missing" not found/);
  assert.equal(forbidden!.statusCode, 403, 'RBAC, not the policy: the path is on the allowlist');
  assert.match(forbidden!.errorMessage, /forbidden/);
  assert.doesNotMatch(forbidden!.errorMessage, /kestrel-operator policy/);

  const line = auditOf('allowed-api');
  assert.equal(line.decision, 'allowed');
  assert.deepEqual(
    line.items.map((i) => i.status),
    [200, 200, 200, 200, 200, 200, 200, 200, 200, 404, 403],
  );
  assert.equal(line.items[8]!.ran, '/api/v1/nodes/node-a', 'the normalised path is audited');
});

test('allowed kubectl commands get correct, complete answers', async () => {
  const commands = [
    'kubectl get pods -n shop -l app=web -o json',
    'kubectl get pods -n shop',
    `kubectl get deploy web -n shop -o jsonpath='{.status.readyReplicas}'`,
    'kubectl describe pod web-abc-1 -n shop',
    'kubectl logs web-abc-1 -n shop',
    'kubectl logs web-abc-1 -n shop --tail=1',
    'kubectl events -n shop --for pod/web-abc-1',
    'kubectl rollout status deploy/web -n shop',
    'kubectl rollout history deployment/web -n shop',
    'kubectl api-versions',
    'kubectl api-resources --api-group=apps -o name',
    'kubectl version -o json',
    'kubectl auth can-i list pods -n shop',
    'kubectl auth can-i get secrets -n shop',
    'kubectl get all -n shop',
    'kubectl get --raw /api/v1/namespaces/shop/services/web',
  ];
  const answer = await executors.executeShellCommands({ requestId: 'allowed-shell', commands, timeoutSeconds: 60 });
  assert.equal(answer.globalErrorMessage, '');
  const byCommand = new Map(answer.results.map((r) => [r.command, r]));
  const out = (c: string, exitCode = 0) => {
    const r = byCommand.get(c)!;
    assert.equal(r.exitCode, exitCode, `${c}: ${r.stderr}`);
    assert.equal(r.success, exitCode === 0);
    return r.stdout;
  };

  const podJson = JSON.parse(out(commands[0]!));
  assert.deepEqual(
    podJson.items.map((p: KubeObject) => p.metadata.name),
    ['web-abc-1', 'web-abc-2'],
  );
  assert.deepEqual(podJson.items[0].spec.containers[0].env, [
    { name: 'DB_PASSWORD', value: REDACTED },
    { name: 'LOG_LEVEL', value: REDACTED },
  ]);
  const table = out(commands[1]!).trim().split('\n');
  assert.match(table[0]!, /^NAME\s+READY\s+STATUS\s+RESTARTS\s+AGE$/);
  assert.deepEqual(
    table.slice(1).map((l) => l.split(/\s+/).slice(0, 3)),
    [
      ['batch-1', '0/1', 'Pending'],
      ['web-abc-1', '1/1', 'Running'],
      ['web-abc-2', '1/1', 'Running'],
    ],
  );
  assert.equal(out(commands[2]!), '2');
  const describe = out(commands[3]!);
  assert.match(describe, /^Name:\s+web-abc-1$/m);
  assert.match(describe, /^Namespace:\s+shop$/m);
  assert.match(describe, new RegExp(`DB_PASSWORD:\\s+${REDACTED}`));
  assert.match(describe, /Warning\s+Unhealthy.*Readiness probe failed: HTTP probe failed with statuscode: 503/);
  assert.doesNotMatch(describe, /hunter2/);
  assert.equal(out(commands[4]!), WEB_LOG);
  assert.equal(out(commands[5]!), '2026-01-01T00:00:02Z GET /healthz 200\n');
  assert.match(out(commands[6]!), /Warning\s+Unhealthy\s+Pod\/web-abc-1\s+Readiness probe failed/);
  assert.equal(out(commands[7]!), 'deployment "web" successfully rolled out\n');
  assert.match(out(commands[8]!), /^deployment\.apps\/web\s*\nREVISION\s+CHANGE-CAUSE\s*\n1\s+<none>/);
  const versions = out(commands[9]!).trim().split('\n');
  assert.ok(versions.includes('apps/v1') && versions.includes('v1') && versions.includes('batch/v1'), versions.join(','));
  assert.deepEqual(out(commands[10]!).trim().split('\n').sort(), ['controllerrevisions.apps', 'daemonsets.apps', 'deployments.apps', 'replicasets.apps', 'statefulsets.apps']);
  assert.equal(JSON.parse(out(commands[11]!)).serverVersion.gitVersion, 'v1.32.0-kestrel-test');
  assert.equal(out(commands[12]!), 'yes\n');
  assert.equal(out(commands[13]!, 1), 'no\n', 'asked, and answered by RBAC; nothing was read');
  const all = out(commands[14]!);
  for (const expected of ['pod/web-abc-1', 'pod/web-abc-2', 'pod/batch-1', 'service/web', 'deployment.apps/web', 'replicaset.apps/web-abc']) assert.ok(all.includes(expected), `${expected} in\n${all}`);
  assert.equal(JSON.parse(out(commands[15]!)).spec.ports[0].port, 80);

  const line = auditOf('allowed-shell');
  assert.equal(line.decision, 'allowed');
  for (const item of line.items) {
    assert.ok(Array.isArray(item.ran) && item.ran[0] === 'kubectl');
    assert.ok(item.apiCalls && item.apiCalls.length > 0, 'the API calls kubectl made are audited');
    for (const call of item.apiCalls!) assert.match(call, /^(GET \S+|POST \/apis\/authorization\.k8s\.io\/v1\/selfsubjectaccessreviews) \d{3}$/);
  }
});

test('the operator only read, and never a Secret', () => {
  const calls = server.audit.find({ user: SA_USER });
  assert.ok(calls.length > 0);
  const other = calls.filter((c) => !['get', 'list'].includes(c.verb) && !(c.verb === 'create' && c.resource === 'selfsubjectaccessreviews'));
  assert.deepEqual(other, []);
  assert.deepEqual(server.audit.find({ resource: 'secrets' }), []);
});
