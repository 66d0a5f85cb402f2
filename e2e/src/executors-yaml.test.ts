// Issue 8, "done when" 3: YamlApplyRequest is refused by default; YamlDryRunRequest is answered per manifest (status
// code, error, suggested fix) and stores nothing. With apply enabled, applies go only as far as the RBAC allows.
// Also: Executors.handle maps every request kind of the control stream to its answer (the uplink's wiring).
import assert from 'node:assert/strict';
import { Writable } from 'node:stream';
import { after, before, test } from 'node:test';
import { KubeConfig } from '@kubernetes/client-node';
import { createLogger, createRegistry } from '@kestrel/core';
import { Executors, type ExecutorsConfig } from '@kestrel/aggregator/executors';
import type { YamlManifest } from '@kestrel/proto/cloud/v1';
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
let server: KubeApiServer;
let kc: KubeConfig;
const capture = new LogCapture();
const logger = createLogger('aggregator', 'info');
const started: Executors[] = [];

const auditOf = (requestId: string) => {
  const found = capture.lines.map((l) => JSON.parse(l)).filter((l) => l.audit && l.requestId === requestId);
  assert.equal(found.length, 1, `one audit line for ${requestId}`);
  return found[0] as { decision: string; reason?: string; items: { item: string; decision: string; code?: string; status?: number }[] };
};

async function executors(config: Partial<ExecutorsConfig> = {}): Promise<Executors> {
  const ex = await Executors.start(config, { kubeConfig: kc, registry: createRegistry(`yaml-${started.length}`, false), logger });
  started.push(ex);
  return ex;
}

const manifest = (manifestId: string, yamlContent: string, namespace = ''): YamlManifest => ({ manifestId, yamlContent, resourceType: '', namespace });

const NEW_CONFIG = `apiVersion: v1
kind: ConfigMap
metadata:
  name: new-config
  namespace: shop
data:
  mode: canary
`;

before(async () => {
  logger.clear();
  logger.add(capture);
  server = await startKubeApiServer();
  server.ensureNamespace('shop');
  server.create({
    apiVersion: 'apps/v1',
    kind: 'Deployment',
    metadata: { name: 'web', namespace: 'shop' },
    spec: { replicas: 2, selector: { matchLabels: { app: 'web' } }, template: { metadata: { labels: { app: 'web' } }, spec: { containers: [{ name: 'main', image: 'web:1.4' }] } } },
  } as KubeObject);
  const token = server.serviceAccountToken('kestrel', 'aggregator');
  // A dry run is authorised as the write it simulates: the account may write ConfigMaps anywhere, Deployments in shop
  // only, and nothing else.
  server.create({
    apiVersion: 'rbac.authorization.k8s.io/v1',
    kind: 'ClusterRole',
    metadata: { name: 'kestrel-read' },
    rules: [
      { apiGroups: ['', 'apps'], resources: ['configmaps', 'deployments', 'namespaces', 'services'], verbs: ['get', 'list'] },
      { apiGroups: [''], resources: ['configmaps'], verbs: ['create', 'patch', 'update'] },
    ],
  } as KubeObject);
  server.create({
    apiVersion: 'rbac.authorization.k8s.io/v1',
    kind: 'ClusterRoleBinding',
    metadata: { name: 'kestrel-read' },
    roleRef: { apiGroup: 'rbac.authorization.k8s.io', kind: 'ClusterRole', name: 'kestrel-read' },
    subjects: [{ kind: 'ServiceAccount', name: 'aggregator', namespace: 'kestrel' }],
  } as KubeObject);
  server.create({ apiVersion: 'rbac.authorization.k8s.io/v1', kind: 'Role', metadata: { name: 'kestrel-write', namespace: 'shop' }, rules: [{ apiGroups: ['apps'], resources: ['deployments'], verbs: ['get', 'create', 'patch', 'update'] }] } as KubeObject);
  server.create({
    apiVersion: 'rbac.authorization.k8s.io/v1',
    kind: 'RoleBinding',
    metadata: { name: 'kestrel-write', namespace: 'shop' },
    roleRef: { apiGroup: 'rbac.authorization.k8s.io', kind: 'Role', name: 'kestrel-write' },
    subjects: [{ kind: 'ServiceAccount', name: 'aggregator', namespace: 'kestrel' }],
  } as KubeObject);
  kc = new KubeConfig();
  kc.loadFromOptions(server.kubeConfig(token));
  server.audit.clear();
});

after(async () => {
  for (const ex of started) await ex.stop();
  await server?.stop();
});

test('YamlApplyRequest is refused by default, and nothing reaches the API server', async () => {
  const ex = await executors();
  const answer = await ex.applyYaml({ requestId: 'apply-default', yamlManifests: [manifest('cfg', NEW_CONFIG)], timeoutSeconds: 10 });
  assert.equal(answer.requestId, 'apply-default');
  assert.match(answer.globalErrorMessage, /refused by kestrel-operator policy \(apply_disabled\): applying YAML is disabled/);
  assert.deepEqual(
    answer.results.map((r) => [r.manifestId, r.success, r.statusCode]),
    [['cfg', false, 403]],
  );
  assert.match(answer.results[0]!.errorMessage, /apply_disabled/);
  assert.equal(server.get('v1', 'ConfigMap', 'new-config', 'shop'), undefined);
  assert.deepEqual(server.audit.find({ user: SA_USER }), [], 'not even discovery');
  const line = auditOf('apply-default');
  assert.equal(line.decision, 'refused');
  assert.deepEqual(
    line.items.map((i) => [i.item, i.code]),
    [['cfg', 'apply_disabled']],
  );
});

test('YamlDryRunRequest is answered per manifest with a status code and a suggested fix, and stores nothing', async () => {
  const ex = await executors();
  const manifests = [
    manifest('new-config', NEW_CONFIG),
    manifest('scale-web', 'apiVersion: apps/v1\nkind: Deployment\nmetadata:\n  name: web\nspec:\n  replicas: 5\n', 'shop'),
    manifest('two-docs', `${NEW_CONFIG}---\napiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: other-config\n  namespace: shop\n`),
    manifest('bad-name', 'apiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: Bad_Name\n  namespace: shop\n'),
    manifest('unknown-kind', 'apiVersion: example.com/v1\nkind: Widget\nmetadata:\n  name: w\n  namespace: shop\n'),
    manifest('broken-yaml', 'apiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: [oops\n'),
    manifest('no-namespace', 'apiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: c\n  namespace: nope\n'),
    manifest('a-secret', 'apiVersion: v1\nkind: Secret\nmetadata:\n  name: db\n  namespace: shop\nstringData:\n  password: hunter2\n'),
    manifest('not-allowed', 'apiVersion: v1\nkind: Service\nmetadata:\n  name: web\n  namespace: shop\nspec:\n  ports:\n  - port: 80\n'),
    manifest('no-name', 'apiVersion: v1\nkind: ConfigMap\nmetadata:\n  generateName: c-\n'),
    manifest('two-namespaces', NEW_CONFIG, 'other'),
  ];
  const answer = await ex.dryRunYaml({ requestId: 'dry-run', yamlManifests: manifests, timeoutSeconds: 20 });
  assert.equal(answer.globalErrorMessage, '');
  const got = Object.fromEntries(answer.results.map((r) => [r.manifestId, r]));
  assert.deepEqual(
    answer.results.map((r) => r.manifestId),
    manifests.map((m) => m.manifestId),
  );
  for (const id of ['new-config', 'scale-web', 'two-docs']) {
    assert.equal(got[id]!.valid, true, `${id}: ${got[id]!.errorMessage}`);
    assert.ok([200, 201].includes(got[id]!.statusCode), `${id}: ${got[id]!.statusCode}`);
    assert.equal(got[id]!.errorMessage, '');
  }
  const invalid = (id: string, code: number, error: RegExp, fix: RegExp) => {
    const r = got[id]!;
    assert.equal(r.valid, false, id);
    assert.equal(r.statusCode, code, `${id}: ${r.errorMessage}`);
    assert.match(r.errorMessage, error, id);
    assert.match(r.suggestedFix, fix, id);
  };
  invalid('bad-name', 422, /Bad_Name/, /^fix: /);
  invalid('unknown-kind', 404, /serves no kind Widget in example\.com\/v1/, /kubectl api-resources/);
  invalid('broken-yaml', 400, /YAML does not parse/, /near line \d+/);
  invalid('no-namespace', 404, /not found/, /namespace nope may not exist/);
  invalid('a-secret', 403, /\(secret\)/, /^$/);
  invalid('not-allowed', 403, /forbidden/, /service account may not write Service objects/);
  invalid('no-name', 400, /without metadata\.name/, /set metadata\.name/);
  invalid('two-namespaces', 400, /metadata\.namespace is shop but the request says other/, /make them the same/);

  assert.equal(server.get('v1', 'ConfigMap', 'new-config', 'shop'), undefined, 'the dry run stored nothing');
  assert.equal(server.get('v1', 'ConfigMap', 'other-config', 'shop'), undefined);
  assert.equal((server.get('apps/v1', 'Deployment', 'web', 'shop') as unknown as { spec: { replicas: number } }).spec.replicas, 2, 'the live object is unchanged');
  const writes = server.audit.find({ user: SA_USER }).filter((c) => !['get', 'list'].includes(c.verb));
  assert.ok(writes.length >= 4, `the dry runs reached the server (${writes.length})`);
  for (const w of writes) {
    assert.equal(w.dryRun, true, `every write was a dry run: ${w.verb} ${w.path}`);
    assert.equal(w.verb, 'patch');
  }
  assert.deepEqual(server.audit.find({ resource: 'secrets' }), [], 'the Secret manifest never left the operator');
  const line = auditOf('dry-run');
  assert.equal(line.decision, 'partial');
  assert.equal(line.items.find((i) => i.item === 'a-secret')!.code, 'secret');
});

test('with apply enabled, YamlApplyRequest applies, and only as far as RBAC allows', async () => {
  const ex = await executors({ applyEnabled: true });
  const answer = await ex.applyYaml({
    requestId: 'apply-enabled',
    yamlManifests: [
      manifest('in-shop', NEW_CONFIG),
      manifest('in-default', 'apiVersion: apps/v1\nkind: Deployment\nmetadata:\n  name: web\n  namespace: default\nspec:\n  replicas: 1\n'),
    ],
    timeoutSeconds: 20,
  });
  assert.equal(answer.globalErrorMessage, '');
  const [inShop, inDefault] = answer.results;
  assert.equal(inShop!.success, true, inShop!.errorMessage);
  assert.match(inShop!.appliedResourceInfo, /^v1 ConfigMap shop\/new-config applied at resourceVersion \d+$/);
  assert.deepEqual((server.get('v1', 'ConfigMap', 'new-config', 'shop') as unknown as { data: unknown }).data, { mode: 'canary' });
  assert.equal(inDefault!.success, false);
  assert.equal(inDefault!.statusCode, 403);
  assert.match(inDefault!.errorMessage, /forbidden.*suggested fix: the operator's service account may not write Deployment objects/);
  assert.equal(server.get('apps/v1', 'Deployment', 'web', 'default'), undefined);
  assert.equal(auditOf('apply-enabled').decision, 'allowed');
});

test('handle() answers every request kind of the control stream with its answer kind', async () => {
  const ex = await executors();
  const steps: string[] = [];
  const hooks = { drain: async (reason: string) => void steps.push(`drain: ${reason}`), exit: (code: number) => void steps.push(`exit ${code}`) };
  const api = await ex.handle({ $case: 'kubernetesApiRequest', value: { requestId: 'h1', apiPaths: ['/api/v1/namespaces/shop/configmaps'], timeoutSeconds: 5 } }, hooks);
  assert.equal(api.$case, 'kubernetesApiResponse');
  assert.equal(api.$case === 'kubernetesApiResponse' && api.value.results[0]!.statusCode, 200);
  const shell = await ex.handle({ $case: 'shellCommandRequest', value: { requestId: 'h2', commands: ['kubectl get deploy -n shop -o name'], timeoutSeconds: 20 } }, hooks);
  assert.equal(shell.$case === 'shellCommandResponse' && shell.value.results[0]!.stdout, 'deployment.apps/web\n');
  const dry = await ex.handle({ $case: 'yamlDryRunRequest', value: { requestId: 'h3', yamlManifests: [manifest('m', NEW_CONFIG)], timeoutSeconds: 5 } }, hooks);
  assert.equal(dry.$case === 'yamlDryRunResponse' && dry.value.results[0]!.valid, true);
  const apply = await ex.handle({ $case: 'yamlApplyRequest', value: { requestId: 'h4', yamlManifests: [manifest('m', NEW_CONFIG)], timeoutSeconds: 5 } }, hooks);
  assert.equal(apply.$case === 'yamlApplyResponse' && apply.value.results[0]!.statusCode, 403);
  const restart = await ex.handle({ $case: 'operatorRestartRequest', value: { requestId: 'h5', reason: 'upgrade', delaySeconds: 0, graceful: true } }, hooks);
  assert.equal(restart.$case === 'operatorRestartResponse' && restart.value.success, true);
  assert.equal(steps.length, 0, 'answered before anything stops');
  while (!steps.includes('exit 0')) await new Promise((r) => setTimeout(r, 50));
  assert.deepEqual(steps, ['drain: restart requested by the cloud (request h5: upgrade)', 'exit 0']);
  assert.deepEqual(
    ['h1', 'h2', 'h3', 'h4', 'h5'].map((id) => auditOf(id).decision),
    ['allowed', 'allowed', 'allowed', 'refused', 'allowed'],
  );
});
