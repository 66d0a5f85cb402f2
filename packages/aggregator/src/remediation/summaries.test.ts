// The response_data shapes the cloud's workflows read (remediation-actions.md sections 4-6), from real-looking objects.
import assert from 'node:assert/strict';
import { test } from 'node:test';
import { fluxKind, fluxSummary, requestedAt } from './flux.js';
import { claimSummary, poolSummary } from './karpenter.js';
import { rolloutSummary } from './rollouts.js';
import { syncOperation } from './argocd.js';

test('Flux kinds are matched case-insensitively, by plural and by the ks/hr short names', () => {
  assert.deepEqual(['kustomization', 'Kustomizations', 'ks', 'HR', 'helmrelease', 'gitrepositories', 'bucket'].map((k) => fluxKind(k)?.kind), ['Kustomization', 'Kustomization', 'Kustomization', 'HelmRelease', 'HelmRelease', 'GitRepository', 'Bucket']);
  assert.equal(fluxKind('deployment'), undefined);
});

test('the reconcile annotation is RFC 3339 with sub-second digits, trailing zeros trimmed', () => {
  assert.equal(requestedAt(new Date('2026-01-02T03:04:05.120Z'), 1_234_500n), '2026-01-02T03:04:05.1202345Z');
  assert.equal(requestedAt(new Date('2026-01-02T03:04:05.000Z'), 0n), '2026-01-02T03:04:05Z');
});

test('a Flux summary takes Ready, the revision and the source', () => {
  const helmRelease = { metadata: { name: 'p', namespace: 'f' }, spec: { chart: { spec: { sourceRef: { kind: 'HelmRepository', name: 'r', namespace: 'x' } } } }, status: { artifact: { revision: '1.2.3' }, conditions: [{ type: 'Ready', status: 'False', reason: 'Failed', message: 'm' }] } };
  assert.deepEqual(fluxSummary('HelmRelease', helmRelease), { kind: 'HelmRelease', name: 'p', namespace: 'f', ready: false, message: 'm', reason: 'Failed', revision: '1.2.3', source_ref: { kind: 'HelmRepository', name: 'r', namespace: 'x' } });
});

test('a blue-green Rollout summary has only the keys present', () => {
  assert.deepEqual(rolloutSummary({ metadata: { name: 'a', namespace: 'b' }, spec: { strategy: { blueGreen: {} } }, status: { abort: false } }), { name: 'a', namespace: 'b', strategy: 'blueGreen' });
});

test('NodePool and NodeClaim summaries: ready always present, the owner pool from the label or the owner reference', () => {
  assert.deepEqual(poolSummary({ metadata: { name: 'p' }, spec: {} }), { name: 'p', ready: false });
  const claim = { metadata: { name: 'c', creationTimestamp: '2026-01-02T03:04:05.999Z', ownerReferences: [{ kind: 'NodePool', name: 'p' }] }, status: { conditions: [{ type: 'Ready', status: 'True', message: 'ok' }] } };
  assert.deepEqual(claimSummary(claim), { name: 'c', nodepool: 'p', created: '2026-01-02T03:04:05Z', ready: true, message: 'ok' });
});

test('an Argo CD sync request body becomes the Application operation argocd-server would set', () => {
  assert.deepEqual(syncOperation({ revision: 'v2', prune: true, dryRun: false, strategy: { hook: {} }, resources: [{ group: 'apps', kind: 'Deployment', name: 'web', namespace: 'shop', extra: 1 }], syncOptions: { items: ['Validate=false', 3] }, unknown: 'x' }), {
    initiatedBy: { username: 'kestrel-operator' },
    sync: { revision: 'v2', prune: true, dryRun: false, syncStrategy: { hook: {} }, resources: [{ group: 'apps', kind: 'Deployment', name: 'web', namespace: 'shop' }], syncOptions: ['Validate=false'] },
  });
});
