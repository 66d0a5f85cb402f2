// Reads and writes through the real @kubernetes/client-node against the test server: the shapes and status codes a
// real API server gives, dry run, the status subresource split, generation, finalizers, namespace termination,
// owner-reference cascades, paged lists, and the secrets read counter.
import assert from 'node:assert/strict';
import { after, before, test } from 'node:test';
import type * as k8s from '@kubernetes/client-node';
import { startKubeApiServer, type KubeApiServer } from './running-server.js';
import { apiError, clientsFor, mergePatch, pod, rawRequest, strategicPatch, waitFor, type Clients } from './test-support.js';

let server: KubeApiServer;
let c: Clients;

before(async () => {
  server = await startKubeApiServer();
  c = clientsFor(server);
  await c.core.createNamespace({ body: { metadata: { name: 'objects' } } });
});

after(async () => {
  await server.stop();
});

test('create, get, list, update, delete: real shapes, one global resourceVersion, uid and creationTimestamp', async () => {
  const before = Number(server.resourceVersion());
  const created = await c.core.createNamespacedConfigMap({ namespace: 'objects', body: { metadata: { name: 'cm1', labels: { app: 'a' } }, data: { k: 'v' } } });
  assert.equal(created.kind, 'ConfigMap');
  assert.equal(created.apiVersion, 'v1');
  assert.equal(created.metadata?.namespace, 'objects');
  assert.match(created.metadata?.uid ?? '', /^[0-9a-f-]{36}$/);
  assert.ok(created.metadata?.creationTimestamp instanceof Date);
  assert.equal(Number(created.metadata?.resourceVersion), before + 1);

  const read = await c.core.readNamespacedConfigMap({ namespace: 'objects', name: 'cm1' });
  assert.deepEqual(read.data, { k: 'v' });

  const list = await c.core.listNamespacedConfigMap({ namespace: 'objects' });
  assert.equal(list.kind, 'ConfigMapList');
  assert.equal(list.metadata?.resourceVersion, server.resourceVersion());
  assert.deepEqual(list.items.map((i) => i.metadata?.name), ['cm1']);

  const updated = await c.core.replaceNamespacedConfigMap({ namespace: 'objects', name: 'cm1', body: { ...read, data: { k: 'v2' } } });
  assert.equal(Number(updated.metadata?.resourceVersion), before + 2);
  assert.equal(updated.metadata?.uid, created.metadata?.uid);

  const unchanged = await c.core.replaceNamespacedConfigMap({ namespace: 'objects', name: 'cm1', body: updated });
  assert.equal(unchanged.metadata?.resourceVersion, updated.metadata?.resourceVersion, 'a no-op update writes nothing');

  const status = (await c.core.deleteNamespacedConfigMap({ namespace: 'objects', name: 'cm1' })) as k8s.V1Status;
  assert.equal(status.kind, 'Status');
  assert.equal(status.status, 'Success');
  const gone = await apiError(() => c.core.readNamespacedConfigMap({ namespace: 'objects', name: 'cm1' }));
  assert.equal(gone.code, 404);
  assert.deepEqual(gone.status, { kind: 'Status', apiVersion: 'v1', metadata: {}, status: 'Failure', message: 'configmaps "cm1" not found', reason: 'NotFound', details: { name: 'cm1', group: '', kind: 'configmaps' }, code: 404 });
});

test('errors carry the real reasons: AlreadyExists, Invalid name, missing namespace, wrong namespace in body, Conflict', async () => {
  await c.apps.createNamespacedDeployment({ namespace: 'objects', body: { metadata: { name: 'd1' }, spec: { selector: { matchLabels: { a: 'b' } }, template: { metadata: { labels: { a: 'b' } }, spec: { containers: [] } } } } });
  const exists = await apiError(() => c.apps.createNamespacedDeployment({ namespace: 'objects', body: { metadata: { name: 'd1' } } }));
  assert.equal(exists.code, 409);
  assert.equal(exists.status.reason, 'AlreadyExists');
  assert.equal(exists.status.message, 'deployments.apps "d1" already exists');

  const invalid = await apiError(() => c.core.createNamespacedConfigMap({ namespace: 'objects', body: { metadata: { name: 'Bad_Name' } } }));
  assert.equal(invalid.code, 422);
  assert.equal(invalid.status.reason, 'Invalid');
  assert.match(invalid.status.message, /^ConfigMap "Bad_Name" is invalid: metadata.name: Invalid value/);

  const noNamespace = await apiError(() => c.core.createNamespacedConfigMap({ namespace: 'nowhere', body: { metadata: { name: 'x' } } }));
  assert.equal(noNamespace.code, 404);
  assert.equal(noNamespace.status.message, 'namespaces "nowhere" not found');

  const mismatch = await apiError(() => c.core.createNamespacedConfigMap({ namespace: 'objects', body: { metadata: { name: 'x', namespace: 'default' } } }));
  assert.equal(mismatch.code, 400);

  const current = await c.apps.readNamespacedDeployment({ namespace: 'objects', name: 'd1' });
  const stale = { ...current, metadata: { ...current.metadata, resourceVersion: '1' } };
  const conflict = await apiError(() => c.apps.replaceNamespacedDeployment({ namespace: 'objects', name: 'd1', body: stale }));
  assert.equal(conflict.code, 409);
  assert.equal(conflict.status.reason, 'Conflict');
  assert.match(conflict.status.message, /^Operation cannot be fulfilled on deployments.apps "d1": the object has been modified/);

  const generated = await c.core.createNamespacedConfigMap({ namespace: 'objects', body: { metadata: { generateName: 'gen-' } } });
  assert.match(generated.metadata?.name ?? '', /^gen-[a-z0-9]{5}$/);
});

test('dry run validates and answers without storing anything or moving the resourceVersion', async () => {
  const rv = server.resourceVersion();
  const created = await c.core.createNamespacedPod({ namespace: 'objects', body: pod('dry', 'objects'), dryRun: 'All' });
  assert.equal(created.metadata?.name, 'dry');
  assert.ok(created.metadata?.uid, 'a dry-run create shows the uid it would get');
  assert.equal(server.resourceVersion(), rv);
  assert.equal((await apiError(() => c.core.readNamespacedPod({ namespace: 'objects', name: 'dry' }))).code, 404);

  await c.core.createNamespacedPod({ namespace: 'objects', body: pod('real', 'objects', { labels: { a: '1' } }) });
  const rv2 = server.resourceVersion();
  const patched = await c.core.patchNamespacedPod({ namespace: 'objects', name: 'real', body: { metadata: { labels: { a: '2' } } }, dryRun: 'All' }, mergePatch);
  assert.equal(patched.metadata?.labels?.['a'], '2');
  const current = await c.core.readNamespacedPod({ namespace: 'objects', name: 'real' });
  assert.equal(current.metadata?.labels?.['a'], '1');
  await c.core.replaceNamespacedPod({ namespace: 'objects', name: 'real', body: { ...current, metadata: { ...current.metadata, labels: { a: '3' } } }, dryRun: 'All' });
  await c.core.deleteNamespacedPod({ namespace: 'objects', name: 'real', dryRun: 'All' });
  assert.equal(server.resourceVersion(), rv2);
  assert.equal((await c.core.readNamespacedPod({ namespace: 'objects', name: 'real' })).metadata?.labels?.['a'], '1');

  const invalid = await apiError(() => c.core.createNamespacedPod({ namespace: 'objects', body: pod('Not Valid', 'objects'), dryRun: 'All' }));
  assert.equal(invalid.code, 422, 'dry run still validates');
  assert.equal((await apiError(() => c.core.createNamespacedPod({ namespace: 'objects', body: pod('x', 'objects'), dryRun: 'Some' }))).code, 400);
});

test('the status subresource changes only status, the main resource never status; only spec changes bump generation', async () => {
  const created = await c.apps.createNamespacedDeployment({
    namespace: 'objects',
    body: { metadata: { name: 'split' }, spec: { replicas: 1, selector: { matchLabels: { a: 'b' } }, template: { metadata: { labels: { a: 'b' } }, spec: { containers: [] } } }, status: { replicas: 99 } },
  });
  assert.equal(created.status, undefined, 'status sent on create is dropped');
  assert.equal(created.metadata?.generation, 1);

  const withStatus = await c.apps.replaceNamespacedDeploymentStatus({
    namespace: 'objects',
    name: 'split',
    body: { ...created, spec: { ...created.spec!, replicas: 5 }, metadata: { ...created.metadata, labels: { ignored: 'yes' } }, status: { replicas: 1, readyReplicas: 1, observedGeneration: 1 } },
  });
  assert.equal(withStatus.spec?.replicas, 1, 'a status update does not change spec');
  assert.equal(withStatus.metadata?.labels, undefined, 'nor metadata');
  assert.equal(withStatus.status?.readyReplicas, 1);
  assert.equal(withStatus.metadata?.generation, 1);

  const scaled = await c.apps.patchNamespacedDeployment({ namespace: 'objects', name: 'split', body: { spec: { replicas: 3 }, status: { readyReplicas: 42 } } }, mergePatch);
  assert.equal(scaled.spec?.replicas, 3);
  assert.equal(scaled.status?.readyReplicas, 1, 'the main resource ignores status');
  assert.equal(scaled.metadata?.generation, 2);

  const labelled = await c.apps.patchNamespacedDeployment({ namespace: 'objects', name: 'split', body: { metadata: { labels: { x: 'y' } } } }, mergePatch);
  assert.equal(labelled.metadata?.generation, 2, 'metadata changes do not bump generation');

  const statusPatched = await c.apps.patchNamespacedDeploymentStatus({ namespace: 'objects', name: 'split', body: { status: { readyReplicas: 3 } } }, mergePatch);
  assert.equal(statusPatched.status?.readyReplicas, 3);
  assert.equal(statusPatched.status?.replicas, 1, 'a merge patch on status keeps the other status fields');

  const podCreated = await c.core.createNamespacedPod({ namespace: 'objects', body: { ...pod('phases', 'objects'), status: { phase: 'Running' } } });
  assert.equal(podCreated.status?.phase, 'Pending', 'a pod starts Pending whatever the client sent');
  const running = await c.core.patchNamespacedPodStatus({ namespace: 'objects', name: 'phases', body: { status: { phase: 'Running', conditions: [{ type: 'Ready', status: 'True' }] } } }, strategicPatch);
  assert.equal(running.status?.phase, 'Running');
});

test('the scale subresource reads and writes a workload\'s replicas as an autoscaling/v1 Scale', async () => {
  await c.apps.createNamespacedStatefulSet({ namespace: 'objects', body: { metadata: { name: 'db' }, spec: { replicas: 1, serviceName: 'db', selector: { matchLabels: { app: 'db' } }, template: { metadata: { labels: { app: 'db' } }, spec: { containers: [] } } } } });
  const scale = await c.apps.readNamespacedStatefulSetScale({ namespace: 'objects', name: 'db' });
  assert.equal(scale.kind, 'Scale');
  assert.equal(scale.spec?.replicas, 1);
  assert.equal(scale.status?.selector, 'app=db');
  const scaled = await c.apps.replaceNamespacedStatefulSetScale({ namespace: 'objects', name: 'db', body: { ...scale, spec: { replicas: 3 } } });
  assert.equal(scaled.spec?.replicas, 3);
  const sts = await c.apps.readNamespacedStatefulSet({ namespace: 'objects', name: 'db' });
  assert.equal(sts.spec?.replicas, 3);
  assert.equal(sts.metadata?.generation, 2);
  const stale = await apiError(() => c.apps.replaceNamespacedStatefulSetScale({ namespace: 'objects', name: 'db', body: { ...scale, spec: { replicas: 4 } } }));
  assert.equal(stale.code, 409, 'the Scale\'s resourceVersion is a precondition');
  await c.apps.patchNamespacedStatefulSetScale({ namespace: 'objects', name: 'db', body: { spec: { replicas: 0 } } }, mergePatch);
  assert.equal((await c.apps.readNamespacedStatefulSet({ namespace: 'objects', name: 'db' })).spec?.replicas, 0);
});

test('JSON patch (the client default), strategic merge patch, and a resourceVersion in a patch as a precondition', async () => {
  await c.core.createNamespacedPod({ namespace: 'objects', body: { metadata: { name: 'patchy', labels: { a: '1' } }, spec: { containers: [{ name: 'a', image: 'a:1' }, { name: 'b', image: 'b:1' }] } } });
  const json = await c.core.patchNamespacedPod({ namespace: 'objects', name: 'patchy', body: [{ op: 'replace', path: '/metadata/labels/a', value: '2' }] });
  assert.equal(json.metadata?.labels?.['a'], '2');
  const strategic = await c.core.patchNamespacedPod({ namespace: 'objects', name: 'patchy', body: { spec: { containers: [{ name: 'b', image: 'b:2' }] } } }, strategicPatch);
  assert.deepEqual(strategic.spec?.containers.map((x) => `${x.name}=${x.image}`), ['a=a:1', 'b=b:2']);
  const stale = await apiError(() => c.core.patchNamespacedPod({ namespace: 'objects', name: 'patchy', body: { metadata: { resourceVersion: '1', labels: { a: '3' } } } }, mergePatch));
  assert.equal(stale.code, 409);
  const failedTest = await apiError(() => c.core.patchNamespacedPod({ namespace: 'objects', name: 'patchy', body: [{ op: 'test', path: '/metadata/labels/a', value: 'nope' }] }));
  assert.equal(failedTest.code, 422);
  assert.equal((await apiError(() => c.core.patchNamespacedPod({ namespace: 'objects', name: 'missing', body: [] }))).code, 404);
});

test('finalizers hold a deletion until they are removed', async () => {
  await c.core.createNamespacedConfigMap({ namespace: 'objects', body: { metadata: { name: 'held', finalizers: ['example.com/hold'] } } });
  const answer = await c.core.deleteNamespacedConfigMapWithHttpInfo({ namespace: 'objects', name: 'held' });
  assert.equal(answer.httpStatusCode, 200);
  const still = await c.core.readNamespacedConfigMap({ namespace: 'objects', name: 'held' });
  assert.ok(still.metadata?.deletionTimestamp);
  await c.core.patchNamespacedConfigMap({ namespace: 'objects', name: 'held', body: { metadata: { finalizers: null } } }, mergePatch);
  assert.equal((await apiError(() => c.core.readNamespacedConfigMap({ namespace: 'objects', name: 'held' }))).code, 404);
});

test('deleting an owner deletes its dependents (background), or only unlinks them with Orphan', async () => {
  const rs = await c.apps.createNamespacedReplicaSet({ namespace: 'objects', body: { metadata: { name: 'rs1' }, spec: { selector: { matchLabels: { a: 'b' } } } } });
  const owner = { apiVersion: 'apps/v1', kind: 'ReplicaSet', name: 'rs1', uid: rs.metadata!.uid!, controller: true };
  for (const name of ['rs1-a', 'rs1-b']) await c.core.createNamespacedPod({ namespace: 'objects', body: { ...pod(name), metadata: { name, ownerReferences: [owner] } } });
  await c.apps.deleteNamespacedReplicaSet({ namespace: 'objects', name: 'rs1' });
  for (const name of ['rs1-a', 'rs1-b']) assert.equal((await apiError(() => c.core.readNamespacedPod({ namespace: 'objects', name }))).code, 404);

  const rs2 = await c.apps.createNamespacedReplicaSet({ namespace: 'objects', body: { metadata: { name: 'rs2' }, spec: { selector: { matchLabels: { a: 'b' } } } } });
  await c.core.createNamespacedPod({ namespace: 'objects', body: { ...pod('rs2-a'), metadata: { name: 'rs2-a', ownerReferences: [{ apiVersion: 'apps/v1', kind: 'ReplicaSet', name: 'rs2', uid: rs2.metadata!.uid! }] } } });
  await c.apps.deleteNamespacedReplicaSet({ namespace: 'objects', name: 'rs2', propagationPolicy: 'Orphan' });
  const orphan = await c.core.readNamespacedPod({ namespace: 'objects', name: 'rs2-a' });
  assert.equal(orphan.metadata?.ownerReferences, undefined);
});

test('DELETE on a collection deletes what the selectors match and returns the deleted objects', async () => {
  await c.core.createNamespace({ body: { metadata: { name: 'bulk' } } });
  for (const [name, app] of [['a', 'x'], ['b', 'x'], ['c', 'y']] as const) await c.core.createNamespacedConfigMap({ namespace: 'bulk', body: { metadata: { name, labels: { app } } } });
  // client-node types the answer as a Status and drops the items: read it raw.
  const deleted = (await rawRequest(server, 'DELETE', '/api/v1/namespaces/bulk/configmaps?labelSelector=app%3Dx')).json<{ kind: string; items: { metadata: { name: string } }[] }>();
  assert.equal(deleted.kind, 'ConfigMapList');
  assert.deepEqual(deleted.items.map((i) => i.metadata.name), ['a', 'b']);
  await c.core.deleteCollectionNamespacedConfigMap({ namespace: 'bulk', labelSelector: 'app=nothing' });
  assert.deepEqual((await c.core.listNamespacedConfigMap({ namespace: 'bulk' })).items.map((i) => i.metadata?.name), ['c']);
});

test('nodes keep the status they register with; a status update (a node going NotReady) leaves spec alone', async () => {
  const ready = (status: string) => ({ conditions: [{ type: 'Ready', status, reason: status === 'True' ? 'KubeletReady' : 'NodeStatusUnknown', lastHeartbeatTime: new Date(), lastTransitionTime: new Date() }] });
  const node = await c.core.createNode({ body: { metadata: { name: 'node-1', labels: { 'node-role.kubernetes.io/worker': '' } }, spec: { podCIDR: '10.244.1.0/24' }, status: ready('True') } });
  assert.equal(node.status?.conditions?.[0]?.status, 'True');
  const notReady = await c.core.replaceNodeStatus({ name: 'node-1', body: { ...node, spec: { unschedulable: true }, status: ready('Unknown') } });
  assert.equal(notReady.status?.conditions?.[0]?.status, 'Unknown');
  assert.deepEqual({ ...notReady.spec }, { podCIDR: '10.244.1.0/24' });
  const cordoned = await c.core.patchNode({ name: 'node-1', body: { spec: { unschedulable: true } } }, mergePatch);
  assert.equal(cordoned.spec?.unschedulable, true);
  assert.deepEqual((await c.core.listNode({ fieldSelector: 'spec.unschedulable=true' })).items.map((n) => n.metadata?.name), ['node-1']);
});

test('deleting a namespace marks it Terminating, then removes what it holds and itself', async () => {
  await c.core.createNamespace({ body: { metadata: { name: 'doomed' } } });
  await c.core.createNamespacedPod({ namespace: 'doomed', body: pod('p', 'doomed') });
  const terminating = await c.core.deleteNamespace({ name: 'doomed' });
  assert.equal((terminating as k8s.V1Namespace).status?.phase, 'Terminating');
  await waitFor('namespace gone', async () => (await apiError(() => c.core.readNamespace({ name: 'doomed' }))).code === 404);
  assert.equal((await c.core.listNamespacedPod({ namespace: 'doomed' })).items.length, 0);
  assert.equal((await apiError(() => c.core.deleteNamespace({ name: 'kube-system' }))).code, 403);
});

test('paged lists: limit and continue serve one consistent snapshot; an expired token is 410 with a fresh token', async () => {
  await c.core.createNamespace({ body: { metadata: { name: 'paged' } } });
  for (let i = 0; i < 7; i++) await c.core.createNamespacedConfigMap({ namespace: 'paged', body: { metadata: { name: `cm-${i}` } } });
  const first = await c.core.listNamespacedConfigMap({ namespace: 'paged', limit: 3 });
  assert.deepEqual(first.items.map((i) => i.metadata?.name), ['cm-0', 'cm-1', 'cm-2']);
  assert.equal(first.metadata?.remainingItemCount, 4);
  // Changes after the first page do not show in the next pages: they are served at the first page's version.
  await c.core.deleteNamespacedConfigMap({ namespace: 'paged', name: 'cm-4' });
  await c.core.createNamespacedConfigMap({ namespace: 'paged', body: { metadata: { name: 'cm-9' } } });
  const second = await c.core.listNamespacedConfigMap({ namespace: 'paged', limit: 3, _continue: first.metadata!._continue! });
  assert.deepEqual(second.items.map((i) => i.metadata?.name), ['cm-3', 'cm-4', 'cm-5']);
  assert.equal(second.metadata?.resourceVersion, first.metadata?.resourceVersion);
  const third = await c.core.listNamespacedConfigMap({ namespace: 'paged', limit: 3, _continue: second.metadata!._continue! });
  assert.deepEqual(third.items.map((i) => i.metadata?.name), ['cm-6']);
  assert.equal(third.metadata?._continue, undefined);

  const again = await c.core.listNamespacedConfigMap({ namespace: 'paged', limit: 2 });
  await c.core.createNamespacedConfigMap({ namespace: 'paged', body: { metadata: { name: 'cm-10' } } });
  server.compact('configmaps');
  const expired = await apiError(() => c.core.listNamespacedConfigMap({ namespace: 'paged', limit: 2, _continue: again.metadata!._continue! }));
  assert.equal(expired.code, 410);
  assert.equal(expired.status.reason, 'Expired');
  assert.ok((expired.status as unknown as { metadata: { continue?: string } }).metadata.continue, 'the 410 offers a token to continue inconsistently');
});

test('list resourceVersion semantics: "" and "0" are current, an exact version is a snapshot, a future one is refused', async () => {
  await c.core.createNamespace({ body: { metadata: { name: 'versions' } } });
  await c.core.createNamespacedConfigMap({ namespace: 'versions', body: { metadata: { name: 'a' } } });
  const at = server.resourceVersion();
  await c.core.createNamespacedConfigMap({ namespace: 'versions', body: { metadata: { name: 'b' } } });
  const names = (l: k8s.V1ConfigMapList) => l.items.map((i) => i.metadata?.name);
  assert.deepEqual(names(await c.core.listNamespacedConfigMap({ namespace: 'versions', resourceVersion: '0' })), ['a', 'b']);
  assert.deepEqual(names(await c.core.listNamespacedConfigMap({ namespace: 'versions', resourceVersion: at })), ['a', 'b'], 'NotOlderThan: current state');
  const exact = await c.core.listNamespacedConfigMap({ namespace: 'versions', resourceVersion: at, resourceVersionMatch: 'Exact' });
  assert.deepEqual(names(exact), ['a']);
  assert.equal(exact.metadata?.resourceVersion, at);
  const future = await apiError(() => c.core.listNamespacedConfigMap({ namespace: 'versions', resourceVersion: String(Number(server.resourceVersion()) + 100) }));
  assert.equal(future.code, 504);
  assert.match(future.status.message, /^Too large resource version/);
  assert.equal((await apiError(() => c.core.listNamespacedConfigMap({ namespace: 'versions', resourceVersion: 'abc' }))).code, 400);
  assert.equal((await apiError(() => c.core.listNamespacedConfigMap({ namespace: 'versions', resourceVersionMatch: 'Exact' }))).code, 400);
});

test('label and field selectors on lists, including pods by spec.nodeName; an unknown field label is 400', async () => {
  await c.core.createNamespace({ body: { metadata: { name: 'sel' } } });
  await c.core.createNamespacedPod({ namespace: 'sel', body: pod('a1', 'sel', { node: 'node-a', labels: { app: 'web', tier: 'fe' } }) });
  await c.core.createNamespacedPod({ namespace: 'sel', body: pod('a2', 'sel', { node: 'node-a', labels: { app: 'api' } }) });
  await c.core.createNamespacedPod({ namespace: 'sel', body: pod('b1', 'sel', { node: 'node-b', labels: { app: 'web' } }) });
  await c.core.createNamespacedPod({ namespace: 'sel', body: pod('u1', 'sel') });
  const names = (l: k8s.V1PodList) => l.items.map((i) => i.metadata?.name);
  assert.deepEqual(names(await c.core.listPodForAllNamespaces({ fieldSelector: 'spec.nodeName=node-a' })), ['a1', 'a2']);
  assert.deepEqual(names(await c.core.listNamespacedPod({ namespace: 'sel', fieldSelector: 'spec.nodeName=' })), ['u1']);
  assert.deepEqual(names(await c.core.listNamespacedPod({ namespace: 'sel', labelSelector: 'app=web' })), ['a1', 'b1']);
  assert.deepEqual(names(await c.core.listNamespacedPod({ namespace: 'sel', labelSelector: 'app in (web,api),!tier' })), ['a2', 'b1']);
  assert.deepEqual(names(await c.core.listNamespacedPod({ namespace: 'sel', labelSelector: 'app!=web', fieldSelector: 'status.phase=Pending' })), ['a2', 'u1']);
  const unknown = await apiError(() => c.core.listNamespacedPod({ namespace: 'sel', fieldSelector: 'spec.image=x' }));
  assert.equal(unknown.code, 400);
  assert.equal(unknown.status.message, 'field label not supported: spec.image');
});

test('events are one storage seen through core/v1 and events.k8s.io/v1, with involvedObject field selectors', async () => {
  await c.core.createNamespacedEvent({
    namespace: 'objects',
    body: { metadata: { name: 'ev1' }, involvedObject: { kind: 'Pod', name: 'web-1', namespace: 'objects' }, reason: 'BackOff', message: 'Back-off restarting failed container', type: 'Warning', count: 3 },
  });
  const viaEvents = await c.events.readNamespacedEvent({ namespace: 'objects', name: 'ev1' });
  assert.equal(viaEvents.apiVersion, 'events.k8s.io/v1');
  assert.equal(viaEvents.note, 'Back-off restarting failed container');
  assert.equal(viaEvents.regarding?.name, 'web-1');
  assert.equal(viaEvents.deprecatedCount, 3);
  const selected = await c.core.listNamespacedEvent({ namespace: 'objects', fieldSelector: 'involvedObject.kind=Pod,involvedObject.name=web-1,type=Warning' });
  assert.deepEqual(selected.items.map((e) => e.reason), ['BackOff']);
  assert.equal((await c.core.listNamespacedEvent({ namespace: 'objects', fieldSelector: 'involvedObject.name=other' })).items.length, 0);
});

test('secrets are stored, and every read of them is counted: a test can assert nobody read one', async () => {
  await c.core.createNamespacedSecret({ namespace: 'objects', body: { metadata: { name: 'token' }, stringData: { password: 'x' } } });
  server.audit.clear();
  await c.core.listNamespacedConfigMap({ namespace: 'objects' });
  assert.equal(server.audit.reads('secrets'), 0);
  await c.core.readNamespacedSecret({ namespace: 'objects', name: 'token' });
  await c.core.listSecretForAllNamespaces();
  assert.equal(server.audit.reads('secrets'), 2);
  assert.equal(server.audit.count('get', 'secrets'), 1);
  assert.deepEqual(
    server.audit.find({ resource: 'secrets' }).map((e) => [e.verb, e.namespace ?? '', e.user, e.code]),
    [
      ['get', 'objects', 'kestrel-test-admin', 200],
      ['list', '', 'kestrel-test-admin', 200],
    ],
  );
});
