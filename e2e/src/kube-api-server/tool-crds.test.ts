// The tools' CRDs (tool-crds.ts) through the real client: each tool's kinds appear in discovery when installed and go
// when removed; a Rollout's status is written only through its status subresource; a server-side dry run changes
// nothing; Karpenter's kinds are cluster-scoped and can be replaced and deleted.
import assert from 'node:assert/strict';
import { after, before, test } from 'node:test';
import * as k8s from '@kubernetes/client-node';
import { startKubeApiServer, type KubeApiServer } from './running-server.js';
import { clientsFor, mergePatch, waitFor, type Clients } from './test-support.js';
import { installTool, removeTool } from './tool-crds.js';

let server: KubeApiServer;
let c: Clients;

before(async () => {
  server = await startKubeApiServer();
  c = clientsFor(server);
  server.ensureNamespace('shop');
});

after(async () => {
  await server.stop();
});

const resourcesOf = async (group: string, version: string): Promise<string[]> => {
  try {
    return (await c.custom.getAPIResources({ group, version })).resources.map((r) => r.name);
  } catch {
    return [];
  }
};

test('installing each tool makes its kinds discoverable at every served version; removing it takes them away', async () => {
  installTool(server, 'argocd');
  installTool(server, 'rollouts');
  installTool(server, 'flux');
  installTool(server, 'karpenter');
  assert.deepEqual(await resourcesOf('argoproj.io', 'v1alpha1'), ['applications', 'applications/status', 'rollouts', 'rollouts/status']);
  assert.ok((await resourcesOf('helm.toolkit.fluxcd.io', 'v2beta1')).includes('helmreleases'));
  assert.ok((await resourcesOf('kustomize.toolkit.fluxcd.io', 'v1')).includes('kustomizations'));
  assert.ok((await resourcesOf('source.toolkit.fluxcd.io', 'v1')).includes('gitrepositories'));
  const karpenter = await c.custom.getAPIResources({ group: 'karpenter.sh', version: 'v1' });
  assert.deepEqual(karpenter.resources.filter((r) => !r.name.includes('/')).map((r) => [r.name, r.namespaced]), [['nodeclaims', false], ['nodepools', false]]);

  await c.custom.createNamespacedCustomObject({ group: 'argoproj.io', version: 'v1alpha1', namespace: 'shop', plural: 'rollouts', body: { apiVersion: 'argoproj.io/v1alpha1', kind: 'Rollout', metadata: { name: 'gone' }, spec: {} } });
  removeTool(server, 'rollouts');
  await waitFor('rollouts leave discovery', async () => !(await resourcesOf('argoproj.io', 'v1alpha1')).includes('rollouts'));
  assert.deepEqual(await resourcesOf('argoproj.io', 'v1alpha1'), ['applications', 'applications/status'], 'Argo CD stays');
  installTool(server, 'rollouts');
  const list = (await c.custom.listNamespacedCustomObject({ group: 'argoproj.io', version: 'v1alpha1', namespace: 'shop', plural: 'rollouts' })) as { items: unknown[] };
  assert.equal(list.items.length, 0, 'the objects went with the CRD');
});

test('a Rollout status is written only through the status subresource, and a dry-run patch changes nothing', async () => {
  installTool(server, 'rollouts');
  const rollouts = { group: 'argoproj.io', version: 'v1alpha1', namespace: 'shop', plural: 'rollouts' };
  type Rollout = k8s.KubernetesObject & { spec: { paused?: boolean }; status?: { abort?: boolean } };
  await c.custom.createNamespacedCustomObject({ ...rollouts, body: { apiVersion: 'argoproj.io/v1alpha1', kind: 'Rollout', metadata: { name: 'web' }, spec: { paused: true } } });
  const main = (await c.custom.patchNamespacedCustomObject({ ...rollouts, name: 'web', body: { spec: { paused: false }, status: { abort: true } } }, mergePatch)) as Rollout;
  assert.equal(main.spec.paused, false);
  assert.equal(main.status?.abort, undefined, 'the main resource ignores status');
  const status = (await c.custom.patchNamespacedCustomObjectStatus({ ...rollouts, name: 'web', body: { spec: { paused: true }, status: { abort: true } } }, mergePatch)) as Rollout;
  assert.equal(status.status?.abort, true);
  assert.equal(status.spec.paused, false, 'the status subresource ignores spec');
  assert.equal(status.metadata?.generation, main.metadata?.generation, 'a status write is no new generation');

  const dry = (await c.custom.patchNamespacedCustomObject({ ...rollouts, name: 'web', body: { spec: { paused: true } }, dryRun: 'All' }, mergePatch)) as Rollout;
  assert.equal(dry.spec.paused, true, 'the dry run answers with the would-be object');
  const live = (await c.custom.getNamespacedCustomObject({ ...rollouts, name: 'web' })) as Rollout;
  assert.equal(live.spec.paused, false);
  assert.equal(live.metadata?.resourceVersion, status.metadata?.resourceVersion, 'nothing was stored');
});

test('a NodePool is cluster-scoped, replaced with its resourceVersion, and a dry-run delete keeps it', async () => {
  installTool(server, 'karpenter');
  const pools = { group: 'karpenter.sh', version: 'v1', plural: 'nodepools' };
  type Pool = k8s.KubernetesObject & { spec: { limits?: Record<string, string> } };
  const created = (await c.custom.createClusterCustomObject({ ...pools, body: { apiVersion: 'karpenter.sh/v1', kind: 'NodePool', metadata: { name: 'general' }, spec: { limits: { cpu: '100' } } } })) as Pool;
  const replaced = (await c.custom.replaceClusterCustomObject({ ...pools, name: 'general', body: { apiVersion: 'karpenter.sh/v1', kind: 'NodePool', metadata: { name: 'general', resourceVersion: created.metadata!.resourceVersion! }, spec: { limits: { cpu: '50' } } } })) as Pool;
  assert.deepEqual(replaced.spec.limits, { cpu: '50' });
  await c.custom.deleteClusterCustomObject({ ...pools, name: 'general', dryRun: 'All' });
  assert.ok(server.get('karpenter.sh/v1', 'NodePool', 'general'), 'still there after the dry run');
  await c.custom.deleteClusterCustomObject({ ...pools, name: 'general' });
  assert.equal(server.get('karpenter.sh/v1', 'NodePool', 'general'), undefined);
});
