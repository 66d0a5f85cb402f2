import assert from 'node:assert/strict';
import { test } from 'node:test';
import { ConfigError, byteSize, duration, hostPort, integer, loadConfig, parseDuration, z } from './config.js';

const schema = z.object({
  listen: hostPort().prefault('127.0.0.1:8443'),
  flushInterval: duration().prefault('1s'),
  maxMessageSize: byteSize().prefault('256KiB'),
  workers: integer(1, 64).prefault('4'),
  logRoot: z.string().min(1, 'expected a folder path'),
});

test('settings come from the environment with the prefix, and flags win over the environment', () => {
  const cfg = loadConfig(schema, {
    envPrefix: 'TEST_',
    env: { TEST_LOG_ROOT: '/var/log/pods', TEST_FLUSH_INTERVAL: '250ms', TEST_WORKERS: '2' },
    argv: ['--workers', '8', '--max-message-size=1MiB'],
  });
  assert.deepEqual(cfg, { listen: '127.0.0.1:8443', flushInterval: 250, maxMessageSize: 1024 * 1024, workers: 8, logRoot: '/var/log/pods' });
});

test('defaults of transformed settings are parsed like given values', () => {
  const cfg = loadConfig(schema, { envPrefix: 'TEST_', env: {}, argv: ['--log-root', '/x'] });
  assert.equal(cfg.flushInterval, 1000);
  assert.equal(cfg.maxMessageSize, 256 * 1024);
});

test('a bad value names the setting in both spellings, what was given and what is allowed', () => {
  assert.throws(
    () => loadConfig(schema, { envPrefix: 'TEST_', env: { TEST_LOG_ROOT: '/x', TEST_FLUSH_INTERVAL: 'soon' } }),
    (err: unknown) =>
      err instanceof ConfigError &&
      err.message === 'invalid setting TEST_FLUSH_INTERVAL / --flush-interval: expected a duration such as 250ms, 30s, 5m or 24h (got "soon")',
  );
});

test('a missing required value names the setting', () => {
  assert.throws(
    () => loadConfig(schema, { envPrefix: 'TEST_', env: {} }),
    (err: unknown) => err instanceof ConfigError && err.message === 'invalid setting TEST_LOG_ROOT / --log-root: required but not set',
  );
});

test('a wrong value is reported before a missing one', () => {
  assert.throws(() => loadConfig(schema, { envPrefix: 'TEST_', env: { TEST_WORKERS: 'many' } }), /^ConfigError: invalid setting TEST_WORKERS/);
});

test('an unknown flag is refused with the list of known flags', () => {
  assert.throws(
    () => loadConfig(schema, { envPrefix: 'TEST_', env: { TEST_LOG_ROOT: '/x' }, argv: ['--log-rot', '/y'] }),
    (err: unknown) => err instanceof ConfigError && err.setting === '--log-rot' && /--log-root/.test(err.message),
  );
});

test('numbers out of range are refused', () => {
  assert.throws(() => loadConfig(schema, { envPrefix: 'TEST_', env: { TEST_LOG_ROOT: '/x', TEST_WORKERS: '65' } }), /TEST_WORKERS.*from 1 to 64/);
  assert.throws(() => loadConfig(schema, { envPrefix: 'TEST_', env: { TEST_LOG_ROOT: '/x', TEST_WORKERS: '2.5' } }), /TEST_WORKERS/);
});

test('durations parse compound forms and reject garbage', () => {
  assert.equal(parseDuration('1h30m'), 5_400_000);
  assert.equal(parseDuration('1.5s'), 1500);
  assert.equal(parseDuration('10'), undefined);
  assert.equal(parseDuration('5 m'), undefined);
  assert.equal(parseDuration(''), undefined);
});
