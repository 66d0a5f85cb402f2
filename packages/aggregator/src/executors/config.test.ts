import assert from 'node:assert/strict';
import { test } from 'node:test';
import { ConfigError, loadConfig, z } from '@kestrel/core';
import { DEFAULT_EXECUTORS_CONFIG, executorsConfigFrom, investigationSettings, itemBudget, timeoutFor } from './config.js';

const schema = z.object(investigationSettings);

test('the settings default to the safe choices: no ConfigMap data, no env values, no apply', () => {
  const config = executorsConfigFrom(loadConfig(schema, { envPrefix: 'KESTREL_AGGREGATOR_', env: {} }));
  assert.deepEqual(config, DEFAULT_EXECUTORS_CONFIG);
  assert.equal(config.applyEnabled, false);
  assert.equal(config.configMapData, false);
  assert.equal(config.envValues, false);
});

test('the settings are read from the environment and checked', () => {
  const env = { KESTREL_AGGREGATOR_INVESTIGATIONS_APPLY_ENABLED: 'true', KESTREL_AGGREGATOR_INVESTIGATIONS_MAX_TIMEOUT: '45s', KESTREL_AGGREGATOR_INVESTIGATIONS_MAX_RESULT_SIZE: '256KiB' };
  const config = executorsConfigFrom(loadConfig(schema, { envPrefix: 'KESTREL_AGGREGATOR_', env }));
  assert.equal(config.applyEnabled, true);
  assert.equal(config.maxTimeoutMs, 45_000);
  assert.equal(config.maxResultBytes, 256 * 1024);
  assert.throws(() => loadConfig(schema, { envPrefix: 'KESTREL_AGGREGATOR_', env: { KESTREL_AGGREGATOR_INVESTIGATIONS_MAX_RESPONSE_SIZE: '20MiB' } }), ConfigError);
});

test('timeouts come from the request, capped; the size budget is split between items', () => {
  const c = { ...DEFAULT_EXECUTORS_CONFIG, defaultTimeoutMs: 30_000, maxTimeoutMs: 120_000, maxResultBytes: 1024 * 1024, maxResponseBytes: 8 * 1024 * 1024 };
  assert.equal(timeoutFor(c, 0), 30_000);
  assert.equal(timeoutFor(c, -5), 30_000);
  assert.equal(timeoutFor(c, 10), 10_000);
  assert.equal(timeoutFor(c, 3600), 120_000);
  assert.equal(itemBudget(c, 1), 1024 * 1024);
  assert.equal(itemBudget(c, 16), 512 * 1024);
});
