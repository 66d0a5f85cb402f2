// The test hooks a product test drives failures with: injected error answers and latency, seen through the real
// client; and the in-cluster layout (token, ca.crt, namespace files) that client-node's loadFromCluster reads.
import assert from 'node:assert/strict';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { after, before, test } from 'node:test';
import * as k8s from '@kubernetes/client-node';
import { startKubeApiServer, type KubeApiServer } from './running-server.js';
import { apiError, clientsFor, type Clients } from './test-support.js';

let server: KubeApiServer;
let c: Clients;

before(async () => {
  server = await startKubeApiServer();
  c = clientsFor(server);
});

after(async () => {
  await server.stop();
});

test('an injected fault answers the next matching requests with that Status, then the server behaves again', async () => {
  server.injectFault({ match: { verb: 'list', resource: 'pods' }, code: 503, times: 2 });
  for (let i = 0; i < 2; i++) {
    const failed = await apiError(() => c.core.listPodForAllNamespaces());
    assert.equal(failed.code, 503);
    assert.equal(failed.status.reason, 'ServiceUnavailable');
  }
  await c.core.listNode();
  assert.equal((await c.core.listPodForAllNamespaces()).kind, 'PodList');
  server.injectFault({ match: { verb: 'update', resource: 'leases' }, code: 500 });
  assert.equal((await apiError(() => c.coordination.replaceNamespacedLease({ namespace: 'default', name: 'x', body: { metadata: { name: 'x' } } }))).code, 500);
  server.clearFaults();
  assert.equal((await apiError(() => c.coordination.replaceNamespacedLease({ namespace: 'default', name: 'x', body: { metadata: { name: 'x' } } }))).code, 404);
});

test('injected latency delays only the matching requests', async () => {
  // Generous margins: this checks the hook, not the machine's speed.
  server.setLatency(1000, { resource: 'configmaps' });
  const timed = async (call: () => Promise<unknown>) => {
    const started = Date.now();
    await call();
    return Date.now() - started;
  };
  assert.ok((await timed(() => c.core.listNamespacedConfigMap({ namespace: 'default' }))) >= 990);
  assert.ok((await timed(() => c.core.listNamespacedSecret({ namespace: 'default' }))) < 900);
  server.setLatency(0);
  assert.ok((await timed(() => c.core.listNamespacedConfigMap({ namespace: 'default' }))) < 900);
});

test('a service account token written as a pod would see it: loadFromCluster reaches the server as that account', async () => {
  const token = server.serviceAccountToken('kestrel', 'agent');
  const root = fs.mkdtempSync(path.join(os.tmpdir(), 'in-cluster-'));
  const setup = server.writeInClusterFiles(root, token, 'kestrel');
  const saved = { host: process.env['KUBERNETES_SERVICE_HOST'], port: process.env['KUBERNETES_SERVICE_PORT'] };
  Object.assign(process.env, setup.env);
  try {
    const kc = new k8s.KubeConfig();
    kc.loadFromCluster(setup.pathPrefix);
    const review = await kc.makeApiClient(k8s.AuthenticationV1Api).createSelfSubjectReview({ body: {} });
    assert.equal(review.status?.userInfo?.username, 'system:serviceaccount:kestrel:agent');
  } finally {
    for (const [key, value] of [['KUBERNETES_SERVICE_HOST', saved.host], ['KUBERNETES_SERVICE_PORT', saved.port]] as const) {
      if (value === undefined) delete process.env[key];
      else process.env[key] = value;
    }
  }
});

test('discovery lists kinds with their verbs, scopes and subresources, as client-node\'s generic client needs', async () => {
  const core = await c.kc.makeApiClient(k8s.CoreApi).getAPIVersions();
  assert.deepEqual(core.versions, ['v1']);
  const v1 = await c.core.getAPIResources();
  const pods = v1.resources.find((r) => r.name === 'pods')!;
  assert.deepEqual([pods.kind, pods.namespaced, pods.shortNames, pods.verbs], ['Pod', true, ['po'], ['create', 'delete', 'deletecollection', 'get', 'list', 'patch', 'update', 'watch']]);
  assert.deepEqual(v1.resources.find((r) => r.name === 'pods/status')?.verbs, ['get', 'patch', 'update']);
  assert.equal(v1.resources.find((r) => r.name === 'nodes')?.namespaced, false);
  const authz = await c.authorization.getAPIResources();
  assert.deepEqual(authz.resources.find((r) => r.name === 'subjectaccessreviews')?.verbs, ['create']);
  const version = await c.kc.makeApiClient(k8s.VersionApi).getCode();
  assert.equal(version.major, '1');
  const generic = await c.objects.list('apps/v1', 'Deployment', 'default');
  assert.deepEqual(generic.items, []);
  const service = await c.core.readNamespacedService({ namespace: 'default', name: 'kubernetes' });
  assert.equal(service.spec?.clusterIP, '10.96.0.1');
});

test('the in-process facade seeds and reads objects with the API\'s rules (status kept through the status subresource)', async () => {
  server.ensureNamespace('seeded');
  const created = server.create({ apiVersion: 'v1', kind: 'Pod', metadata: { name: 'running', namespace: 'seeded' }, spec: { nodeName: 'n1', containers: [] }, status: { phase: 'Running' } });
  assert.equal((created['status'] as { phase: string }).phase, 'Running');
  const viaApi = await c.core.readNamespacedPod({ namespace: 'seeded', name: 'running' });
  assert.equal(viaApi.status?.phase, 'Running');
  assert.equal(viaApi.metadata?.resourceVersion, created.metadata.resourceVersion);
  server.apply({ apiVersion: 'v1', kind: 'Pod', metadata: { name: 'running', namespace: 'seeded' }, spec: { nodeName: 'n1', containers: [] }, status: { phase: 'Failed' } });
  assert.equal((server.get('v1', 'Pod', 'running', 'seeded')?.['status'] as { phase: string }).phase, 'Failed');
  assert.deepEqual(server.list('v1', 'Pod', { namespace: 'seeded', fieldSelector: 'status.phase=Failed' }).map((p) => p.metadata.name), ['running']);
  assert.equal(server.delete('v1', 'Pod', 'running', 'seeded'), true);
  assert.equal(server.get('v1', 'Pod', 'running', 'seeded'), undefined);
  assert.throws(() => server.create({ apiVersion: 'v1', kind: 'Pod', metadata: { name: 'x', namespace: 'missing' } }), /namespaces "missing" not found/);
});
