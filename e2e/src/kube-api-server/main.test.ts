// The test server as its own process, as the aggregator's and agent's e2e tests will run it: the "listening" line,
// a kubeconfig file that client-node loads, the test hooks over HTTP, a clear refusal of bad arguments, and a clean
// stop on SIGTERM.
import assert from 'node:assert/strict';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { test } from 'node:test';
import * as k8s from '@kubernetes/client-node';
import { RunningProcess, runToEnd } from '../harness/process.js';

const script = path.join(import.meta.dirname, 'main.js');

test('runs as a process: prints where it listens and a kubeconfig that client-node loads; hooks work over HTTP; SIGTERM stops it', { timeout: 30_000 }, async () => {
  const stateDir = fs.mkdtempSync(path.join(os.tmpdir(), 'kube-api-main-'));
  const server = new RunningProcess('kube-api-server', script, ['--listen', '127.0.0.1:0', '--state-dir', stateDir], {});
  try {
    const line = await server.waitFor((l) => l.msg === 'listening');
    assert.match(String(line['address']), /^https:\/\/127\.0\.0\.1:\d+$/);
    assert.equal(line['kubeconfig'], path.join(stateDir, 'kubeconfig'));
    assert.equal((fs.statSync(String(line['kubeconfig'])).mode & 0o777).toString(8), '600');

    const kc = new k8s.KubeConfig();
    kc.loadFromFile(String(line['kubeconfig']));
    assert.equal(kc.getCurrentCluster()?.server, line['address']);
    const core = kc.makeApiClient(k8s.CoreV1Api);
    await core.createNamespacedConfigMap({ namespace: 'default', body: { metadata: { name: 'from-a-process' } } });
    const before = await core.listNamespacedConfigMap({ namespace: 'default' });
    await core.createNamespacedConfigMap({ namespace: 'default', body: { metadata: { name: 'later' } } });

    // The hooks: compact, then a watch from the old version gets 410; the audit counters answer over HTTP.
    const admin = kc.getCurrentUser()!.token!;
    const ca = fs.readFileSync(String(line['caFile']), 'utf8');
    const call = async (method: string, hookPath: string) => {
      const { request } = await import('node:https');
      return new Promise<{ status: number; body: Record<string, unknown> }>((resolve, reject) => {
        const req = request(new URL(hookPath, String(line['address'])), { method, ca, headers: { Authorization: `Bearer ${admin}` } }, (res) => {
          let text = '';
          res.on('data', (d: Buffer) => (text += d.toString()));
          res.on('end', () => resolve({ status: res.statusCode ?? 0, body: JSON.parse(text) as Record<string, unknown> }));
        });
        req.on('error', reject);
        req.end();
      });
    };
    assert.equal((await call('POST', '/kestrel-test/compact?resource=configmaps')).status, 200);
    const events: string[] = [];
    await new Promise<void>((resolve) => {
      void new k8s.Watch(kc).watch('/api/v1/namespaces/default/configmaps', { resourceVersion: before.metadata!.resourceVersion! }, (type, o: { code?: number }) => events.push(`${type} ${o.code ?? ''}`), () => resolve());
    });
    assert.deepEqual(events, ['ERROR 410']);
    assert.deepEqual((await call('GET', '/kestrel-test/reads?resource=secrets')).body, { resource: 'secrets', reads: 0 });
    assert.equal((await call('GET', '/kestrel-test/audit?resource=configmaps&verb=create')).body['items'] instanceof Array, true);
    assert.equal((await call('POST', '/kestrel-test/nothing')).status, 404);

    const code = await server.stop();
    assert.equal(code, 0);
    assert.ok(server.lines.some((l) => l.msg === 'stopped'));
  } finally {
    await server.kill();
  }
});

test('refuses bad arguments with exit code 2 and a message naming the problem', async () => {
  const missing = await runToEnd(script, ['--listen', '127.0.0.1:0']);
  assert.equal(missing.code, 2);
  assert.match(missing.stdout, /--state-dir is required/);
  const badListen = await runToEnd(script, ['--listen', 'nowhere', '--state-dir', os.tmpdir()]);
  assert.equal(badListen.code, 2);
  assert.match(badListen.stdout, /--listen must be HOST:PORT/);
  const unknown = await runToEnd(script, ['--bogus']);
  assert.equal(unknown.code, 2);
  assert.match(unknown.stdout, /bogus/);
});
