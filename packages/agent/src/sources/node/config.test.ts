import assert from 'node:assert/strict';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { test } from 'node:test';
import { ConfigError, loadConfig, z } from '@kestrel/core';
import { nodeKubeConfig, nodeSourceOptionsFrom, nodeSourceSettings, runningInCluster } from './config.js';
import { DEFAULT_PRESSURE_THRESHOLDS } from './pressure.js';

// The settings as the agent's schema will carry them: spread into an object with the agent's own keys.
const schema = z.object({ nodeName: z.string().prefault('node-a'), logRoot: z.string().prefault('/var/log/pods'), ...nodeSourceSettings });
const load = (env: Record<string, string> = {}) => loadConfig(schema, { envPrefix: 'KESTREL_AGENT_', env });

test('defaults: watch auto, /proc, containerd, the default thresholds, 90% full, 10 s samples', () => {
  const c = load();
  assert.deepEqual(
    [c.nodeWatch, c.kubeconfig, c.procRoot, c.containerFilesystem, c.pressureThresholds, c.pressureHysteresis, c.fsFullPercent, c.fsFullHysteresis, c.nodeSampleInterval, c.nodeFirstReportTimeout],
    ['auto', undefined, '/proc', '/var/lib/containerd', DEFAULT_PRESSURE_THRESHOLDS, 10, 90, 5, 10_000, 30_000],
  );
});

test('settings from the environment: thresholds over the defaults, no container filesystem, the host /proc', () => {
  const c = load({ KESTREL_AGENT_PRESSURE_THRESHOLDS: 'memory.full=20', KESTREL_AGENT_CONTAINER_FILESYSTEM: 'none', KESTREL_AGENT_PROC_ROOT: '/host/proc', KESTREL_AGENT_NODE_SAMPLE_INTERVAL: '2s' });
  assert.equal(c.pressureThresholds.memory.full, 20);
  assert.equal(c.pressureThresholds.cpu.some, DEFAULT_PRESSURE_THRESHOLDS.cpu.some);
  assert.deepEqual([c.containerFilesystem, c.procRoot, c.nodeSampleInterval], [undefined, '/host/proc', 2000]);
});

test('bad values name the setting', () => {
  const bad: [string, string][] = [
    ['KESTREL_AGENT_NODE_WATCH', 'maybe'],
    ['KESTREL_AGENT_PRESSURE_THRESHOLDS', 'disk.some=5'],
    ['KESTREL_AGENT_FS_FULL_PERCENT', '120'],
    ['KESTREL_AGENT_FS_FULL_PERCENT', '0'],
    ['KESTREL_AGENT_PRESSURE_HYSTERESIS', '-3'],
    ['KESTREL_AGENT_NODE_SAMPLE_INTERVAL', '10ms'],
  ];
  for (const [key, value] of bad) assert.throws(() => load({ [key]: value }), (err: unknown) => err instanceof ConfigError && err.message.includes(key), `${key}=${value}`);
});

test('Kubernetes access: off means none; auto without a cluster means none; on without one is a setting error', async () => {
  assert.equal(await nodeKubeConfig({ nodeWatch: 'off', kubeconfig: '/does/not/matter' }, true), undefined);
  assert.equal(await nodeKubeConfig({ nodeWatch: 'auto', kubeconfig: undefined }, false), undefined);
  await assert.rejects(nodeKubeConfig({ nodeWatch: 'on', kubeconfig: undefined }, false), (err: unknown) => err instanceof ConfigError && /KESTREL_AGENT_NODE_WATCH.*on needs Kubernetes access/.test(err.message));
  await assert.rejects(nodeKubeConfig({ nodeWatch: 'auto', kubeconfig: '/no/such/kubeconfig' }, false), (err: unknown) => err instanceof ConfigError && /KESTREL_AGENT_KUBECONFIG/.test(err.message));
});

test('a kubeconfig file is used for local runs, and the options carry every setting', async () => {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'node-kubeconfig-'));
  const file = path.join(dir, 'kubeconfig');
  fs.writeFileSync(
    file,
    JSON.stringify({ apiVersion: 'v1', kind: 'Config', clusters: [{ name: 'c', cluster: { server: 'https://127.0.0.1:6443' } }], users: [{ name: 'u', user: { token: 't' } }], contexts: [{ name: 'x', context: { cluster: 'c', user: 'u' } }], 'current-context': 'x' }),
  );
  const o = await nodeSourceOptionsFrom(load({ KESTREL_AGENT_KUBECONFIG: file, KESTREL_AGENT_FS_FULL_PERCENT: '80' }), false);
  assert.equal(o.kubeConfig?.getCurrentCluster()?.server, 'https://127.0.0.1:6443');
  assert.deepEqual([o.nodeName, o.logRoot, o.fsFullPercent, o.sampleIntervalMs, o.containerFilesystem], ['node-a', '/var/log/pods', 80, 10_000, '/var/lib/containerd']);
});

test('in a cluster means KUBERNETES_SERVICE_HOST and a service account token', async () => {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'node-sa-'));
  assert.equal(runningInCluster({ KUBERNETES_SERVICE_HOST: '10.0.0.1' }, dir), false);
  fs.writeFileSync(path.join(dir, 'token'), 't');
  assert.equal(runningInCluster({ KUBERNETES_SERVICE_HOST: '10.0.0.1' }, dir), true);
  assert.equal(runningInCluster({}, dir), false);
});

test('in a cluster, the service account folder under KESTREL_SERVICE_ACCOUNT_PATH_PREFIX is what loadFromCluster reads (tests only)', async () => {
  const root = fs.mkdtempSync(path.join(os.tmpdir(), 'node-sa-prefix-'));
  const dir = path.join(root, 'var/run/secrets/kubernetes.io/serviceaccount');
  fs.mkdirSync(dir, { recursive: true });
  fs.writeFileSync(path.join(dir, 'token'), 't');
  fs.writeFileSync(path.join(dir, 'namespace'), 'kestrel');
  const saved = { ...process.env };
  try {
    Object.assign(process.env, { KESTREL_SERVICE_ACCOUNT_PATH_PREFIX: root, KUBERNETES_SERVICE_HOST: '127.0.0.1', KUBERNETES_SERVICE_PORT: '6443' });
    assert.equal(runningInCluster(), true);
    const kc = await nodeKubeConfig({ nodeWatch: 'auto', kubeconfig: undefined });
    assert.equal(kc?.getCurrentCluster()?.server, 'https://127.0.0.1:6443');
    assert.equal(kc?.getCurrentCluster()?.caFile, path.join(dir, 'ca.crt'));
    assert.equal(kc?.getContextObject(kc.getCurrentContext())?.namespace, 'kestrel');
  } finally {
    for (const key of ['KESTREL_SERVICE_ACCOUNT_PATH_PREFIX', 'KUBERNETES_SERVICE_HOST', 'KUBERNETES_SERVICE_PORT']) {
      if (saved[key] === undefined) delete process.env[key];
      else process.env[key] = saved[key];
    }
    fs.rmSync(root, { recursive: true, force: true });
  }
});
