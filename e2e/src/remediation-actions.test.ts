// Remediation end to end: the Kubernetes API test server serves the CRDs of Argo CD, Argo Rollouts, Flux and
// Karpenter; every query type of those families is sent as Kestrel Cloud sends it, through cloud-dev (run in this
// process over real gRPC and mTLS) to a real aggregator process. With the defaults, reads are answered with the
// objects and every write is refused naming the chart value, with nothing changed (resourceVersions compared); with
// the families on, each write makes exactly the documented change, read back and compared. The InventoryCommit flags
// follow the CRDs as they are added and removed.
import assert from 'node:assert/strict';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { after, before, test } from 'node:test';
import { readStoreLines, type RunningCloudServer } from '@kestrel/cloud-dev';
import { adminRequest } from '@kestrel/core';
import { DatadogQueryType as T } from '@kestrel/proto/cloud/v1';
import { eventually, initCloud, startCloud } from './harness/in-process-uplink.js';
import { createInternalPki, startAggregator, type InternalPki } from './harness/system.js';
import { startKubeApiServer, type KubeApiServer, type KubeObject } from './kube-api-server/index.js';
import { installTool, removeTool } from './kube-api-server/tool-crds.js';

interface Answer {
  requestId: string;
  success: boolean;
  statusCode: number;
  errorMessage: string;
  data: Record<string, unknown> | undefined;
}

let workDir: string;
let kube: KubeApiServer;
let cloudDir: string;
let cloud: RunningCloudServer;
let pki: InternalPki;
let kubeconfig: string;
let commitsBefore = 0;

before(async () => {
  workDir = fs.mkdtempSync(path.join(os.tmpdir(), 'kestrel-e2e-remediation-'));
  kube = await startKubeApiServer();
  cloudDir = await initCloud(workDir);
  cloud = await startCloud(cloudDir);
  pki = createInternalPki(path.join(workDir, 'internal-pki'));
  kubeconfig = kube.writeKubeconfig(path.join(workDir, 'kubeconfig'));
  for (const ns of ['kestrel', 'shop', 'other', 'argocd', 'flux-system']) kube.ensureNamespace(ns);
});

after(async () => {
  await cloud.stop();
  await kube.stop();
});

const BASE_ENV = () => ({
  KESTREL_AGGREGATOR_KUBECONFIG: kubeconfig,
  KESTREL_AGGREGATOR_KUBERNETES_NAMESPACE: 'kestrel',
  KESTREL_AGGREGATOR_LEASE_DURATION: '4s',
  KESTREL_AGGREGATOR_LEASE_RENEW_DEADLINE: '3s',
  KESTREL_AGGREGATOR_LEASE_RETRY_PERIOD: '500ms',
  KESTREL_AGGREGATOR_REMEDIATION_DISCOVERY_INTERVAL: '300ms',
});

async function withAggregator(name: string, env: Record<string, string>, body: (agg: Awaited<ReturnType<typeof startAggregator>>) => Promise<void>): Promise<void> {
  // Only this aggregator's commits count: the store keeps the earlier ones.
  commitsBefore = (await commits()).length;
  const agg = await startAggregator(workDir, name, cloudDir, cloud.address, pki, { ...BASE_ENV(), ...env });
  try {
    await eventually('the aggregator opens its control stream', () => cloud.openStreams.all().some((s) => s.stream === 'control'), 30_000);
    await body(agg);
  } finally {
    await agg.aggregator.stop();
    await eventually('its streams close', () => cloud.openStreams.all().length === 0, 30_000);
  }
}

async function ask(type: T, fields: { filter?: string; jsonBody?: unknown } = {}): Promise<Answer> {
  const jsonBody = fields.jsonBody === undefined ? '' : typeof fields.jsonBody === 'string' ? fields.jsonBody : JSON.stringify(fields.jsonBody);
  const sent = await cloud.requestConsole.send('datadogQueryRequest', { queryType: type, filter: fields.filter ?? '', jsonBody, timeoutSeconds: 20 }, 30_000);
  assert.equal(sent.stream, 'control');
  assert.equal(sent.answer.$case, 'datadogQueryResponse');
  const v = sent.answer.value as { requestId: string; success: boolean; responseData: string; errorMessage: string; statusCode: number };
  assert.equal(v.requestId, sent.requestId);
  return { requestId: v.requestId, success: v.success, statusCode: v.statusCode, errorMessage: v.errorMessage, data: v.responseData ? (JSON.parse(v.responseData) as Record<string, unknown>) : undefined };
}

const ok = (a: Answer): Record<string, unknown> => {
  assert.equal(a.success, true, `${a.statusCode} ${a.errorMessage}`);
  assert.equal(a.statusCode, 200);
  return a.data!;
};

async function commits(): Promise<Record<string, boolean>[]> {
  const lines = await readStoreLines(path.join(cloudDir, 'data'), 'data');
  return lines.map((l) => l.message['inventoryCommit'] as Record<string, boolean> | undefined).filter((c): c is Record<string, boolean> => c !== undefined);
}

const flagsOf = (c: Record<string, boolean>) => ['hasArgocd', 'hasRollouts', 'hasFlux', 'hasKarpenter'].filter((k) => c[k] === true).join(',');

async function awaitFlags(expected: string): Promise<void> {
  await eventually(`an InventoryCommit with exactly ${expected || 'no tool'}`, async () => {
    const all = (await commits()).slice(commitsBefore);
    return all.length > 0 && flagsOf(all[all.length - 1]!) === expected;
  }, 30_000);
}

// ---- the seeded objects ----

const get = (apiVersion: string, kind: string, name: string, namespace?: string): KubeObject & Record<string, any> => {
  const o = kube.get(apiVersion, kind, name, namespace);
  assert.ok(o, `${kind} ${namespace ?? ''}/${name} exists`);
  return o as KubeObject & Record<string, any>;
};
const app = () => get('argoproj.io/v1alpha1', 'Application', 'shop', 'argocd');
const rollout = (ns = 'shop') => get('argoproj.io/v1alpha1', 'Rollout', 'web', ns);
const ks = () => get('kustomize.toolkit.fluxcd.io/v1', 'Kustomization', 'apps', 'flux-system');
const repo = () => get('source.toolkit.fluxcd.io/v1', 'GitRepository', 'repo', 'flux-system');
const pool = (name = 'general') => get('karpenter.sh/v1', 'NodePool', name);

function template(image: string, hash?: string) {
  return { metadata: { labels: { app: 'web', ...(hash ? { 'rollouts-pod-template-hash': hash } : {}) } }, spec: { containers: [{ name: 'web', image }] } };
}

function seed(): void {
  kube.apply({
    apiVersion: 'argoproj.io/v1alpha1',
    kind: 'Application',
    metadata: { name: 'shop', namespace: 'argocd' },
    spec: { project: 'default', source: { repoURL: 'https://git.example/shop.git', path: 'deploy', targetRevision: 'main' }, destination: { server: 'https://kubernetes.default.svc', namespace: 'shop' } },
    status: {
      sync: { status: 'OutOfSync', revision: 'bbb' },
      health: { status: 'Degraded' },
      history: [
        { id: 1, revision: 'aaa', source: { repoURL: 'https://git.example/shop.git', path: 'deploy', targetRevision: 'main' } },
        { id: 2, revision: 'bbb', source: { repoURL: 'https://git.example/shop.git', path: 'deploy', targetRevision: 'main' } },
      ],
    },
  });
  for (const ns of ['shop', 'other']) {
    const ro = kube.apply({
      apiVersion: 'argoproj.io/v1alpha1',
      kind: 'Rollout',
      metadata: { name: 'web', namespace: ns, annotations: { 'rollout.argoproj.io/revision': '2' } },
      spec: { replicas: 3, paused: true, strategy: { canary: { steps: [{ setWeight: 20 }, { pause: {} }] } }, selector: { matchLabels: { app: 'web' } }, template: template('web:2') },
      status: { phase: 'Paused', message: 'CanaryPauseStep', currentStepIndex: 1, readyReplicas: 3, controllerPause: true, pauseConditions: [{ reason: 'CanaryPauseStep', startTime: '2026-01-01T00:00:00Z' }], canary: { weights: { canary: { weight: 20 } } } },
    });
    for (const rev of [1, 2]) {
      kube.apply({
        apiVersion: 'apps/v1',
        kind: 'ReplicaSet',
        metadata: { name: `web-${rev}`, namespace: ns, annotations: { 'rollout.argoproj.io/revision': String(rev) }, ownerReferences: [{ apiVersion: 'argoproj.io/v1alpha1', kind: 'Rollout', name: 'web', uid: ro.metadata.uid!, controller: true }] },
        spec: { replicas: 0, selector: { matchLabels: { app: 'web' } }, template: template(`web:${rev}`, `hash${rev}`) },
      });
    }
  }
  kube.apply({ apiVersion: 'source.toolkit.fluxcd.io/v1', kind: 'GitRepository', metadata: { name: 'repo', namespace: 'flux-system' }, spec: { url: 'https://git.example/fleet.git', interval: '1m' }, status: { artifact: { revision: 'main@sha1:abc' } } });
  kube.apply({
    apiVersion: 'kustomize.toolkit.fluxcd.io/v1',
    kind: 'Kustomization',
    metadata: { name: 'apps', namespace: 'flux-system' },
    spec: { interval: '10m', path: './apps', prune: true, suspend: false, sourceRef: { kind: 'GitRepository', name: 'repo' } },
    status: { lastAppliedRevision: 'main@sha1:abc', conditions: [{ type: 'Ready', status: 'True', reason: 'ReconciliationSucceeded', message: 'Applied revision: main@sha1:abc' }] },
  });
  kube.apply({ apiVersion: 'helm.toolkit.fluxcd.io/v2', kind: 'HelmRelease', metadata: { name: 'podinfo', namespace: 'flux-system' }, spec: { interval: '5m', chart: { spec: { chart: 'podinfo', sourceRef: { kind: 'HelmRepository', name: 'podinfo' } } } }, status: { conditions: [{ type: 'Ready', status: 'False', reason: 'InstallFailed', message: 'install retries exhausted' }] } });
  kube.apply({ apiVersion: 'v1', kind: 'Event', metadata: { name: 'apps.1', namespace: 'flux-system' }, involvedObject: { kind: 'Kustomization', name: 'apps', namespace: 'flux-system' }, type: 'Normal', reason: 'ReconciliationSucceeded', message: 'Reconciliation finished', count: 3, lastTimestamp: '2026-01-01T00:00:00Z' });
  kube.apply({ apiVersion: 'v1', kind: 'Event', metadata: { name: 'other.1', namespace: 'flux-system' }, involvedObject: { kind: 'HelmRelease', name: 'podinfo', namespace: 'flux-system' }, type: 'Warning', reason: 'InstallFailed', message: 'nope', lastTimestamp: '2026-01-01T00:00:00Z' });
  kube.apply({
    apiVersion: 'karpenter.sh/v1',
    kind: 'NodePool',
    metadata: { name: 'general' },
    spec: { weight: 10, limits: { cpu: '100', memory: '400Gi' }, disruption: { consolidationPolicy: 'WhenEmpty', consolidateAfter: '30s' }, template: { spec: { nodeClassRef: { group: 'karpenter.k8s.aws', kind: 'EC2NodeClass', name: 'default' } } } },
    status: { resources: { cpu: '8' }, conditions: [{ type: 'Ready', status: 'True', message: '' }] },
  });
  for (const [name, ready] of [['general-abc', 'True'], ['general-def', 'False']] as const) {
    kube.apply({
      apiVersion: 'karpenter.sh/v1',
      kind: 'NodeClaim',
      metadata: { name, labels: { 'karpenter.sh/nodepool': 'general', 'node.kubernetes.io/instance-type': 'm5.large', 'karpenter.sh/capacity-type': 'spot', 'topology.kubernetes.io/zone': 'eu-west-1a' } },
      spec: { nodeClassRef: { group: 'karpenter.k8s.aws', kind: 'EC2NodeClass', name: 'default' } },
      status: { nodeName: `ip-${name}`, capacity: { cpu: '2' }, conditions: [{ type: 'Ready', status: ready }] },
    });
  }
}

/** Every seeded object's resourceVersion: a refused write must leave all of them as they were. */
function versions(): Record<string, string> {
  const out: Record<string, string> = {};
  const kinds: [string, string][] = [
    ['argoproj.io/v1alpha1', 'Application'],
    ['argoproj.io/v1alpha1', 'Rollout'],
    ['apps/v1', 'ReplicaSet'],
    ['kustomize.toolkit.fluxcd.io/v1', 'Kustomization'],
    ['helm.toolkit.fluxcd.io/v2', 'HelmRelease'],
    ['source.toolkit.fluxcd.io/v1', 'GitRepository'],
    ['karpenter.sh/v1', 'NodePool'],
    ['karpenter.sh/v1', 'NodeClaim'],
  ];
  for (const [apiVersion, kind] of kinds) for (const o of kube.list(apiVersion, kind)) out[`${kind}/${o.metadata.namespace ?? ''}/${o.metadata.name}`] = o.metadata.resourceVersion!;
  return out;
}

const NODEPOOL_YAML = (cpu: string, apiVersion = 'karpenter.sh/v1') => `apiVersion: ${apiVersion}\nkind: NodePool\nmetadata:\n  name: burst\nspec:\n  limits:\n    cpu: "${cpu}"\n  template:\n    spec:\n      nodeClassRef: {group: karpenter.k8s.aws, kind: EC2NodeClass, name: default}\n`;

/** Every write type with a request that would change something were its family on. */
const WRITES: [T, { filter?: string; jsonBody?: unknown }, string][] = [
  [T.ARGOCD_SYNC_APP, { filter: 'shop', jsonBody: { revision: 'ccc' } }, 'remediation.argoCd.enabled=true'],
  [T.ARGOCD_ROLLBACK_APP, { filter: 'shop', jsonBody: { id: 1 } }, 'remediation.argoCd.enabled=true'],
  [T.ROLLOUTS_PROMOTE, { filter: 'shop/web' }, 'remediation.argoRollouts.enabled=true'],
  [T.ROLLOUTS_ABORT, { filter: 'shop/web' }, 'remediation.argoRollouts.enabled=true'],
  [T.ROLLOUTS_RETRY, { filter: 'shop/web' }, 'remediation.argoRollouts.enabled=true'],
  [T.ROLLOUTS_UNDO, { jsonBody: { namespace: 'shop', name: 'web' } }, 'remediation.argoRollouts.enabled=true'],
  [T.ROLLOUTS_PAUSE, { filter: 'shop/web' }, 'remediation.argoRollouts.enabled=true'],
  [T.ROLLOUTS_RESUME, { filter: 'shop/web' }, 'remediation.argoRollouts.enabled=true'],
  [T.ROLLOUTS_RESTART, { filter: 'shop/web' }, 'remediation.argoRollouts.enabled=true'],
  [T.FLUX_RECONCILE, { jsonBody: { kind: 'Kustomization', namespace: 'flux-system', name: 'apps', with_source: true } }, 'remediation.flux.enabled=true'],
  [T.FLUX_SUSPEND, { filter: 'ks/flux-system/apps' }, 'remediation.flux.enabled=true'],
  [T.FLUX_RESUME, { filter: 'ks/flux-system/apps' }, 'remediation.flux.enabled=true'],
  [T.KARPENTER_SCALE_NODEPOOL, { jsonBody: { name: 'general', cpu_limit: '200' } }, 'remediation.karpenter.enabled=true'],
  [T.KARPENTER_SET_DISRUPTION, { jsonBody: { name: 'general', consolidation_policy: 'WhenEmptyOrUnderutilized' } }, 'remediation.karpenter.enabled=true'],
  [T.KARPENTER_APPLY_NODEPOOL, { jsonBody: { nodepool_spec: NODEPOOL_YAML('10') } }, 'remediation.karpenter.enabled=true'],
  [T.KARPENTER_DELETE_NODECLAIM, { filter: 'general-abc' }, 'remediation.karpenter.enabled=true'],
];

test('the InventoryCommit flags follow the tools CRDs as they are added and removed, and a family answers only while its tool is there', { timeout: 180_000 }, async () => {
  await withAggregator('agg-presence', {}, async () => {
    await awaitFlags('');
    assert.equal((await ask(T.ROLLOUTS_LIST)).errorMessage, 'Argo Rollouts integration is not available on this operator');
    installTool(kube, 'argocd');
    installTool(kube, 'rollouts');
    await awaitFlags('hasArgocd,hasRollouts');
    installTool(kube, 'flux');
    installTool(kube, 'karpenter');
    await awaitFlags('hasArgocd,hasRollouts,hasFlux,hasKarpenter');
    ok(await ask(T.KARPENTER_LIST_NODEPOOLS));
    removeTool(kube, 'karpenter');
    await awaitFlags('hasArgocd,hasRollouts,hasFlux');
    const gone = await ask(T.KARPENTER_LIST_NODEPOOLS);
    assert.deepEqual([gone.success, gone.statusCode, gone.errorMessage], [false, 503, 'Karpenter integration is not available on this operator']);
    installTool(kube, 'karpenter');
    await awaitFlags('hasArgocd,hasRollouts,hasFlux,hasKarpenter');
  });
});

test('with the defaults, reads are answered with the objects and every write is refused naming its chart value, with nothing changed', { timeout: 180_000 }, async () => {
  for (const tool of ['argocd', 'rollouts', 'flux', 'karpenter'] as const) installTool(kube, tool);
  seed();
  await withAggregator('agg-defaults', {}, async (agg) => {
    await awaitFlags('hasArgocd,hasRollouts,hasFlux,hasKarpenter');

    // Argo CD reads: the Application objects themselves.
    const apps = ok(await ask(T.ARGOCD_LIST_APPS)) as { items: { metadata: { name: string } }[] };
    assert.deepEqual(apps.items.map((i) => i.metadata.name), ['shop']);
    const shopApp = ok(await ask(T.ARGOCD_GET_APP_STATUS, { filter: 'shop' })) as { status: { sync: { status: string } } };
    assert.equal(shopApp.status.sync.status, 'OutOfSync');
    const noName = await ask(T.ARGOCD_GET_APP_STATUS);
    assert.deepEqual([noName.statusCode, noName.errorMessage], [400, 'filter field must contain the application name for get-app-status']);
    assert.equal((await ask(T.ARGOCD_GET_APP_STATUS, { filter: 'nope' })).statusCode, 404);

    // Rollouts reads: the summary keys of the wire contract, history newest first.
    const status = ok(await ask(T.ROLLOUTS_GET_STATUS, { filter: 'shop/web' }));
    assert.deepEqual(status, {
      name: 'web', namespace: 'shop', phase: 'Paused', message: 'CanaryPauseStep', paused: true, strategy: 'canary', total_steps: 2, current_step: 1, canary_weight: 20,
      replicas: 3, ready_replicas: 3, revision: '2', images: ['web:2'],
      history: [{ revision: 2, replicaset: 'web-2', images: ['web:2'] }, { revision: 1, replicaset: 'web-1', images: ['web:1'] }],
    });
    const ambiguous = await ask(T.ROLLOUTS_GET_STATUS, { filter: 'web' });
    assert.deepEqual([ambiguous.statusCode, ambiguous.errorMessage], [500, 'rollout "web" exists in multiple namespaces (other, shop) — specify a namespace']);
    const missing = await ask(T.ROLLOUTS_GET_STATUS, { filter: 'shop/nope' });
    assert.deepEqual([missing.statusCode, missing.errorMessage], [404, 'rollouts.argoproj.io "nope" not found']);
    const listed = ok(await ask(T.ROLLOUTS_LIST, { jsonBody: { namespace: 'shop' } })) as { items: { name: string }[] };
    assert.deepEqual(listed.items.map((i) => i.name), ['web']);

    // Flux reads.
    assert.deepEqual(ok(await ask(T.FLUX_GET_STATUS, { filter: 'kustomization/flux-system/apps' })), {
      kind: 'Kustomization', name: 'apps', namespace: 'flux-system', suspended: false, ready: true, message: 'Applied revision: main@sha1:abc', reason: 'ReconciliationSucceeded', revision: 'main@sha1:abc', source_ref: { kind: 'GitRepository', name: 'repo' },
    });
    const fluxList = ok(await ask(T.FLUX_LIST, { jsonBody: { namespace: 'flux-system' } })) as { items: { kind: string; name: string }[] };
    assert.deepEqual(fluxList.items.map((i) => `${i.kind}/${i.name}`).sort(), ['GitRepository/repo', 'HelmRelease/podinfo', 'Kustomization/apps']);
    const hr = ok(await ask(T.FLUX_GET_STATUS, { filter: 'hr/podinfo' }));
    assert.deepEqual([hr['ready'], hr['reason']], [false, 'InstallFailed']);
    assert.deepEqual(ok(await ask(T.FLUX_GET_EVENTS, { filter: 'ks/flux-system/apps' })), {
      kind: 'Kustomization', name: 'apps', namespace: 'flux-system', events: [{ type: 'Normal', reason: 'ReconciliationSucceeded', message: 'Reconciliation finished', count: 3, timestamp: '2026-01-01T00:00:00Z' }],
    });
    const noKind = await ask(T.FLUX_GET_STATUS, { jsonBody: { name: 'apps' } });
    assert.deepEqual([noKind.statusCode, noKind.errorMessage], [500, 'resource kind is required']);

    // Karpenter reads.
    const pools = ok(await ask(T.KARPENTER_LIST_NODEPOOLS)) as { items: Record<string, unknown>[] };
    assert.deepEqual(pools.items, [{ name: 'general', limits: { cpu: '100', memory: '400Gi' }, resources: { cpu: '8' }, disruption: { consolidationPolicy: 'WhenEmpty', consolidateAfter: '30s' }, weight: 10, node_class_ref: { group: 'karpenter.k8s.aws', kind: 'EC2NodeClass', name: 'default' }, ready: true }]);
    const poolStatus = ok(await ask(T.KARPENTER_GET_NODEPOOL_STATUS, { filter: 'general' }));
    assert.deepEqual([poolStatus['nodeclaim_count'], poolStatus['ready_nodeclaim_count']], [2, 1]);
    const claims = ok(await ask(T.KARPENTER_LIST_NODECLAIMS, { jsonBody: { nodepool: 'general' } })) as { items: Record<string, unknown>[] };
    assert.deepEqual(claims.items.map((c) => [c['name'], c['nodepool'], c['node_name'], c['instance_type'], c['capacity_type'], c['zone'], c['ready']]), [
      ['general-abc', 'general', 'ip-general-abc', 'm5.large', 'spot', 'eu-west-1a', true],
      ['general-def', 'general', 'ip-general-def', 'm5.large', 'spot', 'eu-west-1a', false],
    ]);

    // Every write: refused, 403, the chart value named, nothing changed.
    const before = versions();
    for (const [type, fields, value] of WRITES) {
      const a = await ask(type, fields);
      assert.equal(a.success, false, `${T[type]} refused`);
      assert.equal(a.statusCode, 403, T[type]);
      assert.ok(a.errorMessage.includes(value), `${T[type]}: ${a.errorMessage}`);
    }
    assert.deepEqual(versions(), before, 'no object changed');
    assert.equal(kube.get('karpenter.sh/v1', 'NodePool', 'burst'), undefined);

    // An unknown type: a clear error, never silence.
    const unknown = await ask(99 as T);
    assert.deepEqual([unknown.success, unknown.statusCode, unknown.errorMessage], [false, 400, 'unsupported GitOps query type: 99']);

    // One audit line per action, with the decision.
    const audits = agg.aggregator.lines.filter((l) => l['message'] === 'remediation audit');
    assert.equal(audits.filter((l) => l['decision'] === 'refused').length, WRITES.length);
    const promote = audits.find((l) => l['action'] === 'promote')!;
    assert.deepEqual([promote['family'], promote['decision'], promote['status']], ['Argo Rollouts', 'refused', 403]);
  });
});

test('with the families on, each write makes exactly the documented change, read back and compared; the namespace allowlist holds', { timeout: 180_000 }, async () => {
  for (const tool of ['argocd', 'rollouts', 'flux', 'karpenter'] as const) installTool(kube, tool);
  seed();
  const env = {
    KESTREL_AGGREGATOR_REMEDIATION_ARGO_CD_ENABLED: 'true',
    KESTREL_AGGREGATOR_REMEDIATION_ARGO_ROLLOUTS_ENABLED: 'true',
    KESTREL_AGGREGATOR_REMEDIATION_ARGO_ROLLOUTS_NAMESPACES: 'shop',
    KESTREL_AGGREGATOR_REMEDIATION_FLUX_ENABLED: 'true',
    KESTREL_AGGREGATOR_REMEDIATION_KARPENTER_ENABLED: 'true',
  };
  await withAggregator('agg-enabled', env, async (agg) => {
    await awaitFlags('hasArgocd,hasRollouts,hasFlux,hasKarpenter');

    // Argo CD: sync and rollback are the Application's operation field; one operation at a time.
    const synced = ok(await ask(T.ARGOCD_SYNC_APP, { filter: 'shop', jsonBody: { revision: 'ccc', prune: true, syncOptions: { items: ['CreateNamespace=true'] } } }));
    const expectedSync = { initiatedBy: { username: 'kestrel-operator' }, sync: { revision: 'ccc', prune: true, syncOptions: ['CreateNamespace=true'] } };
    assert.deepEqual(app()['operation'], expectedSync);
    assert.deepEqual(synced['operation'], expectedSync, 'the answer is the Application read back');
    const busy = await ask(T.ARGOCD_ROLLBACK_APP, { filter: 'shop', jsonBody: { id: 1 } });
    assert.deepEqual([busy.statusCode, busy.errorMessage], [409, 'another operation is already in progress']);
    // The application controller finishes the operation and clears the field.
    const finished = app();
    delete finished['operation'];
    kube.update(finished);
    ok(await ask(T.ARGOCD_ROLLBACK_APP, { filter: 'shop', jsonBody: { id: 1 } }));
    assert.deepEqual(app()['operation'], { initiatedBy: { username: 'kestrel-operator' }, sync: { prune: true, revision: 'aaa', source: { repoURL: 'https://git.example/shop.git', path: 'deploy', targetRevision: 'main' } } });

    // Rollouts.
    assert.deepEqual(ok(await ask(T.ROLLOUTS_PROMOTE, { filter: 'shop/web' })), { status: 'promoted', name: 'web', namespace: 'shop', full: false });
    let ro = rollout();
    assert.equal(ro['spec'].paused, false);
    assert.equal(ro['status'].pauseConditions, undefined);
    assert.equal(ro['status'].controllerPause, false);
    assert.deepEqual(ok(await ask(T.ROLLOUTS_ABORT, { filter: 'shop/web' })), { status: 'aborted', name: 'web', namespace: 'shop' });
    assert.equal(rollout()['status'].abort, true);
    assert.equal(ok(await ask(T.ROLLOUTS_GET_STATUS, { filter: 'shop/web' }))['aborted'], true);
    assert.deepEqual(ok(await ask(T.ROLLOUTS_RETRY, { filter: 'shop/web' })), { status: 'retried', name: 'web', namespace: 'shop' });
    assert.equal(rollout()['status'].abort, false);
    assert.deepEqual(ok(await ask(T.ROLLOUTS_PAUSE, { filter: 'shop/web' })), { status: 'paused', name: 'web', namespace: 'shop' });
    assert.equal(rollout()['spec'].paused, true);
    assert.deepEqual(ok(await ask(T.ROLLOUTS_RESUME, { filter: 'shop/web' })), { status: 'resumed', name: 'web', namespace: 'shop' });
    assert.equal(rollout()['spec'].paused, false);
    const restarted = ok(await ask(T.ROLLOUTS_RESTART, { filter: 'shop/web' }));
    assert.match(String(restarted['restart_at']), /^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\dZ$/);
    assert.equal(rollout()['spec'].restartAt, restarted['restart_at']);
    assert.deepEqual(ok(await ask(T.ROLLOUTS_UNDO, { jsonBody: { namespace: 'shop', name: 'web' } })), { status: 'rolled_back', name: 'web', namespace: 'shop', revision: 1 });
    assert.deepEqual(rollout()['spec'].template, template('web:1'), 'revision 1 template, without the pod-template-hash label');
    const noRevision = await ask(T.ROLLOUTS_UNDO, { jsonBody: { namespace: 'shop', name: 'web', revision: 7 } });
    assert.deepEqual([noRevision.statusCode, noRevision.errorMessage], [404, 'revision 7 not found for rollout "web"']);
    // Outside the allowlist: refused, nothing changed.
    const otherBefore = rollout('other').metadata.resourceVersion;
    const outside = await ask(T.ROLLOUTS_PAUSE, { filter: 'other/web' });
    assert.equal(outside.statusCode, 403);
    assert.match(outside.errorMessage, /namespace "other" is not in remediation\.argoRollouts\.namespaces \(shop\)/);
    assert.equal(rollout('other').metadata.resourceVersion, otherBefore);

    // Flux.
    const reconciled = ok(await ask(T.FLUX_RECONCILE, { jsonBody: { kind: 'Kustomization', namespace: 'flux-system', name: 'apps', with_source: true } }));
    assert.deepEqual(reconciled, { status: 'reconcile_requested', kind: 'Kustomization', name: 'apps', namespace: 'flux-system', source_reconciled: 'GitRepository/flux-system/repo' });
    const requested = ks().metadata.annotations?.['reconcile.fluxcd.io/requestedAt'];
    assert.match(String(requested), /^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d(\.\d+)?Z$/);
    assert.ok(repo().metadata.annotations?.['reconcile.fluxcd.io/requestedAt'], 'the source was annotated too');
    assert.deepEqual(ok(await ask(T.FLUX_SUSPEND, { filter: 'ks/flux-system/apps' })), { status: 'suspended', kind: 'Kustomization', name: 'apps', namespace: 'flux-system' });
    assert.equal(ks()['spec'].suspend, true);
    assert.deepEqual(ok(await ask(T.FLUX_RESUME, { filter: 'ks/flux-system/apps' })), { status: 'resumed', kind: 'Kustomization', name: 'apps', namespace: 'flux-system' });
    assert.equal(ks()['spec'].suspend, false);
    assert.notEqual(ks().metadata.annotations?.['reconcile.fluxcd.io/requestedAt'], requested, 'resume asks for a reconcile');

    // Karpenter.
    assert.deepEqual(ok(await ask(T.KARPENTER_SCALE_NODEPOOL, { jsonBody: { name: 'general', cpu_limit: '200', memory_limit: 'none' } })), { status: 'scaled', nodepool: 'general', limits: { cpu: '200' } });
    assert.deepEqual(pool()['spec'].limits, { cpu: '200' });
    const noLimit = await ask(T.KARPENTER_SCALE_NODEPOOL, { filter: 'general' });
    assert.deepEqual([noLimit.statusCode, noLimit.errorMessage], [400, 'at least one of cpu_limit or memory_limit is required']);
    assert.deepEqual(ok(await ask(T.KARPENTER_SET_DISRUPTION, { jsonBody: { name: 'general', consolidation_policy: 'WhenEmptyOrUnderutilized' } })), { status: 'disruption_updated', nodepool: 'general', disruption: { consolidationPolicy: 'WhenEmptyOrUnderutilized', consolidateAfter: '30s' } });
    assert.deepEqual(pool()['spec'].disruption, { consolidationPolicy: 'WhenEmptyOrUnderutilized', consolidateAfter: '30s' });
    const badPolicy = await ask(T.KARPENTER_SET_DISRUPTION, { jsonBody: { name: 'general', consolidation_policy: 'Always' } });
    assert.equal(badPolicy.statusCode, 400);
    assert.deepEqual(ok(await ask(T.KARPENTER_APPLY_NODEPOOL, { jsonBody: { nodepool_spec: NODEPOOL_YAML('10') } })), { status: 'created', nodepool: 'burst', limits: { cpu: '10' } });
    assert.deepEqual(pool('burst')['spec'].limits, { cpu: '10' });
    assert.deepEqual(ok(await ask(T.KARPENTER_APPLY_NODEPOOL, { jsonBody: { nodepool_spec: NODEPOOL_YAML('20') } })), { status: 'updated', nodepool: 'burst', limits: { cpu: '20' } });
    assert.deepEqual(pool('burst')['spec'].limits, { cpu: '20' });
    const otherGroup = await ask(T.KARPENTER_APPLY_NODEPOOL, { jsonBody: { nodepool_spec: NODEPOOL_YAML('30', 'evil.example/v1') } });
    assert.deepEqual([otherGroup.statusCode, otherGroup.errorMessage], [400, 'nodepool_spec apiVersion must be karpenter.sh/<version>, not evil.example/v1']);
    assert.deepEqual(ok(await ask(T.KARPENTER_DELETE_NODECLAIM, { filter: 'general-abc' })), { status: 'deleted', nodeclaim: 'general-abc', node_name: 'ip-general-abc', nodepool: 'general' });
    assert.equal(kube.get('karpenter.sh/v1', 'NodeClaim', 'general-abc'), undefined);

    // Each write was dry-run on the server first, then applied.
    const applied = agg.aggregator.lines.filter((l) => l['message'] === 'remediation audit' && l['decision'] === 'applied');
    assert.ok(applied.length >= 16, `${applied.length} applied writes audited`);
    assert.ok(applied.every((l) => l['dryRun'] === 'ok'));
    for (const resource of ['applications', 'rollouts', 'kustomizations', 'nodepools', 'nodeclaims']) {
      const writes = kube.audit.find({ verb: ['patch', 'create', 'update', 'delete'], resource }).filter((e) => e.code < 300);
      const dry = writes.filter((e) => e.dryRun).length;
      assert.ok(dry > 0 && dry === writes.length - dry, `${resource}: every write sent as a dry run first (${dry} of ${writes.length})`);
    }
    assert.equal(kube.audit.reads('secrets'), 0, 'no Secret was read');

    // The debug view says what is found, what is on and what was done.
    const view = (await adminRequest(agg.adminSocket, 'remediation')) as { tools: Record<string, boolean>; families: Record<string, { writes: boolean; namespaces: string[] }>; actions: Record<string, Record<string, number>> };
    assert.deepEqual(view.tools, { argocd: true, rollouts: true, flux: true, karpenter: true });
    assert.deepEqual(view.families['Argo Rollouts'], { writes: true, namespaces: ['shop'] });
    assert.equal(view.families['Network policies']!.writes, false);
    assert.deepEqual(view.actions['Argo Rollouts'], { applied: 7, read: 1, failed: 1, refused: 1 });
  });
});
