import assert from 'node:assert/strict';
import { test } from 'node:test';
import { loadAggregatorConfig } from '../config.js';
import { remediationConfigFrom, writeRefusal } from './settings.js';

const required = {
  KESTREL_AGGREGATOR_INGEST_TLS_CERT_FILE: '/c',
  KESTREL_AGGREGATOR_INGEST_TLS_KEY_FILE: '/k',
  KESTREL_AGGREGATOR_INGEST_TLS_CA_FILE: '/a',
  KESTREL_AGGREGATOR_CLOUD_CERT_FILE: '/c',
  KESTREL_AGGREGATOR_CLOUD_KEY_FILE: '/k',
  KESTREL_AGGREGATOR_CLOUD_CA_FILE: '/a',
  KESTREL_AGGREGATOR_CLOUD_TOKEN_FILE: '/t',
};

test('every write family is off by default', () => {
  const c = remediationConfigFrom(loadAggregatorConfig([], required));
  assert.deepEqual([c.networkPolicies, c.argoCd, c.argoRollouts, c.flux, c.karpenter].map((s) => s.enabled), [false, false, false, false, false]);
  assert.equal(c.actionsPerMinute, 30);
});

test('the chart env turns a family on with a namespace allowlist', () => {
  const c = remediationConfigFrom(loadAggregatorConfig([], { ...required, KESTREL_AGGREGATOR_REMEDIATION_ARGO_ROLLOUTS_ENABLED: 'true', KESTREL_AGGREGATOR_REMEDIATION_ARGO_ROLLOUTS_NAMESPACES: 'shop, payments' }));
  assert.deepEqual(c.argoRollouts, { enabled: true, namespaces: ['shop', 'payments'], value: 'remediation.argoRollouts' });
});

test('a write is refused when its family is off or its namespace is not allowlisted, and names the value to set', () => {
  assert.match(writeRefusal({ enabled: false, namespaces: [], value: 'remediation.flux' }, 'a')!, /remediation\.flux\.enabled=true/);
  assert.equal(writeRefusal({ enabled: true, namespaces: [], value: 'remediation.flux' }, 'a'), undefined);
  assert.equal(writeRefusal({ enabled: true, namespaces: ['a'], value: 'remediation.flux' }, 'a'), undefined);
  assert.equal(writeRefusal({ enabled: true, namespaces: ['a'], value: 'remediation.flux' }, 'b'), 'namespace "b" is not in remediation.flux.namespaces (a)');
  assert.match(writeRefusal({ enabled: true, namespaces: ['a'], value: 'remediation.flux' }, undefined)!, /namespace "" is not in/);
});
