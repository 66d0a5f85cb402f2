// CustomResourceDefinitions through the real client: a created CRD's kind appears in discovery and is servable at
// each served version (custom objects created, listed, watched, patched, status-updated); deleting the CRD deletes
// its objects (watchers see them go), ends watches on it and takes it out of discovery.
import assert from 'node:assert/strict';
import { after, before, test } from 'node:test';
import * as k8s from '@kubernetes/client-node';
import { startKubeApiServer, type KubeApiServer } from './running-server.js';
import { apiError, clientsFor, mergePatch, rawRequest, waitFor, type Clients } from './test-support.js';

let server: KubeApiServer;
let c: Clients;

before(async () => {
  server = await startKubeApiServer();
  c = clientsFor(server);
  await c.core.createNamespace({ body: { metadata: { name: 'mesh' } } });
});

after(async () => {
  await server.stop();
});

/** Istio's AuthorizationPolicy CRD, trimmed: two served versions, v1beta1 stored, a status subresource. */
function authorizationPolicyCrd(): k8s.V1CustomResourceDefinition {
  const version = (name: string, storage: boolean): k8s.V1CustomResourceDefinitionVersion => ({
    name,
    served: true,
    storage,
    schema: { openAPIV3Schema: { type: 'object', x_kubernetes_preserve_unknown_fields: true } },
    subresources: { status: {} },
    additionalPrinterColumns: [{ name: 'Action', type: 'string', jsonPath: '.spec.action' }],
  });
  return {
    metadata: { name: 'authorizationpolicies.security.istio.io' },
    spec: {
      group: 'security.istio.io',
      names: { kind: 'AuthorizationPolicy', plural: 'authorizationpolicies', singular: 'authorizationpolicy', listKind: 'AuthorizationPolicyList', categories: ['istio-io', 'security-istio-io'] },
      scope: 'Namespaced',
      versions: [version('v1', false), version('v1beta1', true)],
    },
  };
}

async function rawGet(path: string): Promise<number> {
  return (await rawRequest(server, 'GET', path)).status;
}

const policy = (name: string, action: string) => ({ apiVersion: 'security.istio.io/v1', kind: 'AuthorizationPolicy', metadata: { name }, spec: { action, rules: [{ from: [{ source: { principals: ['cluster.local/ns/a/sa/b'] } }] }] } });

test('creating a CRD makes its kind appear in discovery and servable; deleting it removes objects, watches and discovery', async () => {
  assert.equal(await rawGet('/apis/security.istio.io/v1/namespaces/mesh/authorizationpolicies'), 404, 'not servable before the CRD');
  const groupsBefore = await c.kc.makeApiClient(k8s.ApisApi).getAPIVersions();
  assert.ok(!groupsBefore.groups.some((g) => g.name === 'security.istio.io'));

  const crd = await c.extensions.createCustomResourceDefinition({ body: authorizationPolicyCrd() });
  assert.deepEqual(crd.status?.conditions?.filter((x) => x.status === 'True').map((x) => x.type), ['NamesAccepted', 'Established']);
  assert.deepEqual(crd.status?.storedVersions, ['v1beta1']);

  const groups = await c.kc.makeApiClient(k8s.ApisApi).getAPIVersions();
  const group = groups.groups.find((g) => g.name === 'security.istio.io')!;
  assert.deepEqual(group.versions.map((v) => v.version), ['v1', 'v1beta1']);
  assert.equal(group.preferredVersion?.version, 'v1');
  const resources = await c.kc.makeApiClient(k8s.CustomObjectsApi).getAPIResources({ group: 'security.istio.io', version: 'v1' });
  assert.deepEqual(resources.resources.map((r) => [r.name, r.kind, r.namespaced]), [['authorizationpolicies', 'AuthorizationPolicy', true], ['authorizationpolicies/status', 'AuthorizationPolicy', true]]);

  // Watch the custom kind, then create, patch and status-update an object.
  const events: [string, string, string][] = [];
  let ended: unknown = 'open';
  const controller = await new k8s.Watch(c.kc).watch(
    '/apis/security.istio.io/v1/namespaces/mesh/authorizationpolicies',
    { resourceVersion: server.resourceVersion() },
    (type, o: { apiVersion?: string; metadata?: { name?: string } }) => events.push([type, o.metadata?.name ?? '', o.apiVersion ?? '']),
    (err) => (ended = err ?? null),
  );
  const created = (await c.custom.createNamespacedCustomObject({ group: 'security.istio.io', version: 'v1', namespace: 'mesh', plural: 'authorizationpolicies', body: policy('deny-all', 'DENY') })) as k8s.KubernetesObject & { spec: { action: string } };
  assert.equal(created.metadata?.generation, 1);
  const viaBeta = (await c.custom.getNamespacedCustomObject({ group: 'security.istio.io', version: 'v1beta1', namespace: 'mesh', plural: 'authorizationpolicies', name: 'deny-all' })) as k8s.KubernetesObject;
  assert.equal(viaBeta.apiVersion, 'security.istio.io/v1beta1', 'served at every version, in that version');
  const patched = (await c.custom.patchNamespacedCustomObject({ group: 'security.istio.io', version: 'v1', namespace: 'mesh', plural: 'authorizationpolicies', name: 'deny-all', body: { spec: { action: 'ALLOW' } } }, mergePatch)) as k8s.KubernetesObject;
  assert.equal(patched.metadata?.generation, 2);
  const withStatus = (await c.custom.patchNamespacedCustomObjectStatus({ group: 'security.istio.io', version: 'v1', namespace: 'mesh', plural: 'authorizationpolicies', name: 'deny-all', body: { status: { validationMessages: [] }, spec: { action: 'AUDIT' } } }, mergePatch)) as k8s.KubernetesObject & { spec: { action: string } };
  assert.equal(withStatus.spec.action, 'ALLOW', 'the status subresource leaves spec alone');
  assert.equal(withStatus.metadata?.generation, 2);

  const list = (await c.custom.listNamespacedCustomObject({ group: 'security.istio.io', version: 'v1', namespace: 'mesh', plural: 'authorizationpolicies' })) as { kind: string; items: k8s.KubernetesObject[] };
  assert.equal(list.kind, 'AuthorizationPolicyList');
  assert.equal(list.items[0]?.kind, 'AuthorizationPolicy', 'custom resource list items keep apiVersion and kind');

  // The generic client finds the kind through discovery, as the product's generic reads will.
  const generic = await c.objects.read({ apiVersion: 'security.istio.io/v1', kind: 'AuthorizationPolicy', metadata: { name: 'deny-all', namespace: 'mesh' } });
  assert.equal(generic.metadata?.uid, created.metadata?.uid);

  await c.extensions.deleteCustomResourceDefinition({ name: 'authorizationpolicies.security.istio.io' });
  await waitFor('the CRD to be gone', async () => (await apiError(() => c.extensions.readCustomResourceDefinition({ name: 'authorizationpolicies.security.istio.io' }))).code === 404);
  await waitFor('the watch to end', () => ended !== 'open');
  controller.abort();
  assert.deepEqual(events, [
    ['ADDED', 'deny-all', 'security.istio.io/v1'],
    ['MODIFIED', 'deny-all', 'security.istio.io/v1'],
    ['MODIFIED', 'deny-all', 'security.istio.io/v1'],
    ['DELETED', 'deny-all', 'security.istio.io/v1'],
  ]);
  assert.equal(await rawGet('/apis/security.istio.io/v1/namespaces/mesh/authorizationpolicies'), 404);
  assert.ok(!(await c.kc.makeApiClient(k8s.ApisApi).getAPIVersions()).groups.some((g) => g.name === 'security.istio.io'));
});

test('a cluster-scoped CRD (Karpenter NodePool) serves cluster-scoped objects; an informer on it works', async () => {
  await c.extensions.createCustomResourceDefinition({
    body: {
      metadata: { name: 'nodepools.karpenter.sh' },
      spec: { group: 'karpenter.sh', names: { kind: 'NodePool', plural: 'nodepools' }, scope: 'Cluster', versions: [{ name: 'v1', served: true, storage: true, schema: { openAPIV3Schema: { type: 'object' } } }] },
    },
  });
  const informer = k8s.makeInformer(c.kc, '/apis/karpenter.sh/v1/nodepools', () => c.custom.listClusterCustomObject({ group: 'karpenter.sh', version: 'v1', plural: 'nodepools' }) as Promise<k8s.KubernetesListObject<k8s.KubernetesObject>>);
  const added: string[] = [];
  informer.on('add', (o) => added.push(o.metadata?.name ?? ''));
  await informer.start();
  await c.custom.createClusterCustomObject({ group: 'karpenter.sh', version: 'v1', plural: 'nodepools', body: { apiVersion: 'karpenter.sh/v1', kind: 'NodePool', metadata: { name: 'default' }, spec: { limits: { cpu: '100' } } } });
  await waitFor('the informer to see it', () => added.includes('default'));
  await informer.stop();
  const wrongScope = await rawGet('/apis/karpenter.sh/v1/namespaces/mesh/nodepools');
  assert.equal(wrongScope, 404);
});

test('a CRD with a scale subresource (Argo Rollouts) can be scaled like a Deployment', async () => {
  await c.extensions.createCustomResourceDefinition({
    body: {
      metadata: { name: 'rollouts.argoproj.io' },
      spec: {
        group: 'argoproj.io',
        names: { kind: 'Rollout', plural: 'rollouts', shortNames: ['ro'] },
        scope: 'Namespaced',
        versions: [{ name: 'v1alpha1', served: true, storage: true, schema: { openAPIV3Schema: { type: 'object', x_kubernetes_preserve_unknown_fields: true } }, subresources: { status: {}, scale: { specReplicasPath: '.spec.replicas', statusReplicasPath: '.status.HPAReplicas', labelSelectorPath: '.status.selector' } } }],
      },
    },
  });
  await c.custom.createNamespacedCustomObject({ group: 'argoproj.io', version: 'v1alpha1', namespace: 'mesh', plural: 'rollouts', body: { apiVersion: 'argoproj.io/v1alpha1', kind: 'Rollout', metadata: { name: 'web' }, spec: { replicas: 2 } } });
  await c.custom.patchNamespacedCustomObjectStatus({ group: 'argoproj.io', version: 'v1alpha1', namespace: 'mesh', plural: 'rollouts', name: 'web', body: { status: { HPAReplicas: 2, selector: 'app=web' } } }, mergePatch);
  const scale = (await c.custom.getNamespacedCustomObjectScale({ group: 'argoproj.io', version: 'v1alpha1', namespace: 'mesh', plural: 'rollouts', name: 'web' })) as k8s.V1Scale;
  assert.deepEqual([scale.spec?.replicas, scale.status?.replicas, scale.status?.selector], [2, 2, 'app=web']);
  await c.custom.patchNamespacedCustomObjectScale({ group: 'argoproj.io', version: 'v1alpha1', namespace: 'mesh', plural: 'rollouts', name: 'web', body: { spec: { replicas: 5 } } }, mergePatch);
  const rollout = (await c.custom.getNamespacedCustomObject({ group: 'argoproj.io', version: 'v1alpha1', namespace: 'mesh', plural: 'rollouts', name: 'web' })) as { spec: { replicas: number } };
  assert.equal(rollout.spec.replicas, 5);
});

test('an invalid CRD is refused with 422 and serves nothing', async () => {
  const bad = authorizationPolicyCrd();
  bad.metadata = { name: 'wrong.security.istio.io' };
  const refused = await apiError(() => c.extensions.createCustomResourceDefinition({ body: bad }));
  assert.equal(refused.code, 422);
  assert.match(refused.status.message, /must be spec.names.plural\+"."\+spec.group/);
  const noStorage = authorizationPolicyCrd();
  noStorage.spec.versions = noStorage.spec.versions.map((v) => ({ ...v, storage: false }));
  assert.equal((await apiError(() => c.extensions.createCustomResourceDefinition({ body: noStorage }))).code, 422);
  assert.equal(await rawGet('/apis/security.istio.io/v1/namespaces/mesh/authorizationpolicies'), 404);
});
