import assert from 'node:assert/strict';
import { test } from 'node:test';
import { ConfigError } from '@kestrel/core';
import { loadAgentConfig } from './config.js';

const required = { KESTREL_AGENT_AGGREGATOR_ADDRESS: 'agg:4800', KESTREL_AGENT_TLS_CERT_FILE: 'c', KESTREL_AGENT_TLS_KEY_FILE: 'k', KESTREL_AGENT_TLS_CA_FILE: 'ca' };

test('by default excludes the namespaces the published operator skips, and collects everything else', () => {
  const c = loadAgentConfig([], required);
  assert.deepEqual(c.excludeNamespaces, ['kube-system', 'kube-public', 'kube-node-lease']);
  assert.deepEqual([c.includeNamespaces, c.rateLimitLines, c.maxMessageSize, c.onCorruptCheckpoint], [[], 0, 256 * 1024, 'beginning']);
  assert.deepEqual(loadAgentConfig([], { ...required, KESTREL_AGENT_EXCLUDE_NAMESPACES: 'none' }).excludeNamespaces, []);
});

test('the agent pod namespace and name come together (the chart sets both)', () => {
  const c = loadAgentConfig([], { ...required, KESTREL_AGENT_POD_NAMESPACE: 'kestrel', KESTREL_AGENT_POD_NAME: 'kestrel-agent-x1' });
  assert.deepEqual([c.podNamespace, c.podName], ['kestrel', 'kestrel-agent-x1']);
  assert.throws(() => loadAgentConfig([], { ...required, KESTREL_AGENT_POD_NAME: 'kestrel-agent-x1' }), (err: unknown) => err instanceof ConfigError && /KESTREL_AGENT_POD_NAMESPACE/.test(err.message));
});

test('rejects a stack-trace size beyond the message size, and a corrupt-state policy it does not know', () => {
  assert.throws(() => loadAgentConfig([], { ...required, KESTREL_AGENT_MULTILINE_MAX_SIZE: '1MiB' }), /KESTREL_AGENT_MULTILINE_MAX_SIZE/);
  assert.throws(() => loadAgentConfig([], { ...required, KESTREL_AGENT_ON_CORRUPT_CHECKPOINT: 'middle' }), /KESTREL_AGENT_ON_CORRUPT_CHECKPOINT/);
});

test('the aggregator is a list of replicas or a file of them, and the agent needs an identity', () => {
  const c = loadAgentConfig([], { ...required, KESTREL_AGENT_AGGREGATOR_ADDRESS: 'a:4800, 10.0.0.2:4800' });
  assert.deepEqual(c.aggregatorAddress, ['a:4800', '10.0.0.2:4800']);
  assert.throws(() => loadAgentConfig([], { ...required, KESTREL_AGENT_AGGREGATOR_ADDRESS: 'a:4800,b' }), /KESTREL_AGENT_AGGREGATOR_ADDRESS/);
  assert.throws(() => loadAgentConfig([], { ...required, KESTREL_AGENT_AGGREGATOR_ADDRESS_FILE: '/tmp/x' }), /exactly one of/);
  const { KESTREL_AGENT_TLS_CERT_FILE: _c, KESTREL_AGENT_TLS_KEY_FILE: _k, ...noCertificate } = required;
  assert.throws(() => loadAgentConfig([], noCertificate), /KESTREL_AGENT_TOKEN_FILE/);
  assert.equal(loadAgentConfig([], { ...noCertificate, KESTREL_AGENT_TOKEN_FILE: '/var/run/secrets/kestrel/token' }).tokenFile, '/var/run/secrets/kestrel/token');
  assert.throws(() => loadAgentConfig([], { ...noCertificate, KESTREL_AGENT_TLS_CERT_FILE: 'c' }), /KESTREL_AGENT_TLS_KEY_FILE/);
});
