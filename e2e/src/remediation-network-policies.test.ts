// Network policies pushed by Kestrel Cloud on the data stream (cloud-dev in this process, real gRPC and mTLS, a real
// aggregator process, the Kubernetes API test server): each push is answered by policy_id with
// NetworkPoliciesWithErrors as the published operator does. Valid ones are dry-run on the server and applied only
// when remediation.networkPolicies is on (and in an allowed namespace); invalid YAML, a wrong kind, a namespace
// outside the allowlist get their error; one that already exists is a success with nothing changed.
import assert from 'node:assert/strict';
import { randomUUID } from 'node:crypto';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { after, before, test } from 'node:test';
import { readStoreLines, type RunningCloudServer } from '@kestrel/cloud-dev';
import { eventually, initCloud, startCloud } from './harness/in-process-uplink.js';
import { createInternalPki, startAggregator, type InternalPki } from './harness/system.js';
import { startKubeApiServer, type KubeApiServer } from './kube-api-server/index.js';

let workDir: string;
let kube: KubeApiServer;
let cloudDir: string;
let cloud: RunningCloudServer;
let pki: InternalPki;
let kubeconfig: string;

before(async () => {
  workDir = fs.mkdtempSync(path.join(os.tmpdir(), 'kestrel-e2e-netpol-'));
  kube = await startKubeApiServer();
  cloudDir = await initCloud(workDir);
  cloud = await startCloud(cloudDir);
  pki = createInternalPki(path.join(workDir, 'internal-pki'));
  kubeconfig = kube.writeKubeconfig(path.join(workDir, 'kubeconfig'));
  for (const ns of ['shop', 'other']) kube.ensureNamespace(ns);
});

after(async () => {
  await cloud.stop();
  await kube.stop();
});

async function withAggregator(name: string, env: Record<string, string>, body: () => Promise<void>): Promise<void> {
  const agg = await startAggregator(workDir, name, cloudDir, cloud.address, pki, { KESTREL_AGGREGATOR_KUBECONFIG: kubeconfig, KESTREL_AGGREGATOR_CLUSTER_WATCH: 'off', ...env });
  try {
    await eventually('the aggregator opens its data stream', () => cloud.openStreams.all().some((s) => s.stream === 'data'), 30_000);
    await body();
  } finally {
    await agg.aggregator.stop();
    await eventually('its streams close', () => cloud.openStreams.all().length === 0, 30_000);
  }
}

/** Pushes one policy on the data stream and returns the error_message answered for its policy_id. */
async function push(yaml: string): Promise<string> {
  const policyId = randomUUID();
  const data = cloud.openStreams.all().find((s) => s.stream === 'data');
  assert.ok(data?.push({ response: { $case: 'networkPolicy', value: { networkPolicy: yaml, policyId, errorMessage: '' } } }), 'pushed');
  let answer: { networkPolicy: string; policyId: string; errorMessage?: string }[] | undefined;
  await eventually(`the answer to policy ${policyId}`, async () => {
    for (const line of await readStoreLines(path.join(cloudDir, 'data'), 'data')) {
      const policies = (line.message['networkPolicyWithErrors'] as { policies?: typeof answer } | undefined)?.policies;
      if (policies?.some((p) => p.policyId === policyId)) answer = policies;
    }
    return answer !== undefined;
  });
  assert.equal(answer!.length, 1, 'exactly one entry');
  assert.equal(answer![0]!.networkPolicy ?? '', yaml, 'the pushed YAML echoed (proto3 JSON leaves out an empty one)');
  return answer![0]!.errorMessage ?? '';
}

const policy = (name: string, namespace: string, extra = '') =>
  `apiVersion: networking.k8s.io/v1\nkind: NetworkPolicy\nmetadata:\n  name: ${name}\n  namespace: ${namespace}\nspec:\n  podSelector:\n    matchLabels:\n      app: web\n  policyTypes: [Ingress]\n  ingress:\n    - from:\n        - podSelector: {matchLabels: {app: gateway}}\n${extra}`;
const cilium = 'apiVersion: cilium.io/v2\nkind: CiliumNetworkPolicy\nmetadata:\n  name: c\n  namespace: shop\nspec:\n  endpointSelector: {}\n';
const getPolicy = (name: string, namespace: string) => kube.get('networking.k8s.io/v1', 'NetworkPolicy', name, namespace);

test('with the defaults, a valid policy is validated but not applied, and invalid ones get their error', { timeout: 120_000 }, async () => {
  await withAggregator('agg-netpol-off', {}, async () => {
    const off = await push(policy('allow-gateway', 'shop'));
    assert.match(off, /^validated \(server-side dry run passed\) but not applied: .*remediation\.networkPolicies\.enabled=true/);
    assert.equal(getPolicy('allow-gateway', 'shop'), undefined, 'not created');
    assert.match(await push('apiVersion: [unclosed'), /^failed to parse policy: /);
    assert.equal(await push(''), 'policy is empty');
    assert.match(await push(cilium), /^failed to parse policy: only networking\.k8s\.io\/v1 NetworkPolicy is accepted/);
    assert.match(await push(policy('bad-types', 'shop').replace('policyTypes: [Ingress]', 'policyTypes: [Sideways]')), /^failed to parse policy: spec\.policyTypes: unsupported value "Sideways"/);
    assert.match(await push(policy('nowhere', 'missing-namespace')), /^dry run failed: namespaces "missing-namespace" not found/);
  });
});

test('with remediation.networkPolicies on and an allowlist, a valid policy is applied once, again is a success with nothing changed, and other namespaces are refused', { timeout: 120_000 }, async () => {
  await withAggregator('agg-netpol-on', { KESTREL_AGGREGATOR_REMEDIATION_NETWORK_POLICIES_ENABLED: 'true', KESTREL_AGGREGATOR_REMEDIATION_NETWORK_POLICIES_NAMESPACES: 'shop' }, async () => {
    const yaml = policy('allow-gateway', 'shop');
    assert.equal(await push(yaml), '');
    const created = getPolicy('allow-gateway', 'shop');
    assert.ok(created, 'created');
    assert.deepEqual((created as { spec?: unknown }).spec, { podSelector: { matchLabels: { app: 'web' } }, policyTypes: ['Ingress'], ingress: [{ from: [{ podSelector: { matchLabels: { app: 'gateway' } } }] }] });
    assert.equal(await push(yaml), '', 'already there: a success');
    assert.equal(getPolicy('allow-gateway', 'shop')!.metadata.resourceVersion, created.metadata.resourceVersion, 'nothing changed');
    assert.match(await push(policy('allow-gateway', 'other')), /^namespace "other" is not in remediation\.networkPolicies\.namespaces \(shop\)$/);
    assert.equal(getPolicy('allow-gateway', 'other'), undefined);
    assert.match(await push('kind: NetworkPolicy\n: : :'), /^failed to parse policy: /);
    assert.match(await push(cilium), /^failed to parse policy: /);
    assert.equal(kube.audit.find({ verb: 'create', resource: 'networkpolicies' }).filter((e) => !e.dryRun && e.code < 300).length, 1, 'one real create');
  });
});
