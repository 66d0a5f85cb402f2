// The Secret writer against a stand-in API server (plain HTTP on loopback): the request it makes is a JSON merge
// patch of only the named keys, base64-encoded, on the named Secret. The Kubernetes API test server in e2e will
// check it against real API semantics.
import assert from 'node:assert/strict';
import fs from 'node:fs';
import http from 'node:http';
import os from 'node:os';
import path from 'node:path';
import { test } from 'node:test';
import { certificateSecretWriter, tokenSecretWriter } from './credential-writers.js';
import { kubernetesSecretPatcher, podNamespace, runningInCluster } from './kube-secret.js';

test('patches only the named keys of the Secret, base64-encoded, with a JSON merge patch', async () => {
  const requests: { method: string; url: string; type: string; body: unknown }[] = [];
  const server = http.createServer((req, res) => {
    let body = '';
    req.on('data', (c: Buffer) => (body += c.toString()));
    req.on('end', () => {
      requests.push({ method: req.method ?? '', url: req.url ?? '', type: String(req.headers['content-type']), body: JSON.parse(body) });
      res.writeHead(200, { 'content-type': 'application/json' }).end(JSON.stringify({ apiVersion: 'v1', kind: 'Secret', metadata: { name: 'x' } }));
    });
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const port = (server.address() as { port: number }).port;
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'kubeconfig-'));
  const kubeconfig = path.join(dir, 'config');
  fs.writeFileSync(
    kubeconfig,
    JSON.stringify({
      apiVersion: 'v1',
      kind: 'Config',
      clusters: [{ name: 'c', cluster: { server: `http://127.0.0.1:${port}`, 'insecure-skip-tls-verify': true } }],
      users: [{ name: 'u', user: { token: 'test-token' } }],
      contexts: [{ name: 'x', context: { cluster: 'c', user: 'u' } }],
      'current-context': 'x',
    }),
  );
  try {
    const patcher = await kubernetesSecretPatcher('kestrel', { from: { kubeconfigFile: kubeconfig } });
    await tokenSecretWriter(patcher, 'kestrel-aggregator-cloud-token', 'token').write('a.b.c');
    await certificateSecretWriter(patcher, 'kestrel-aggregator-cloud-tls').write({ cert: Buffer.from('CERT'), key: Buffer.from('KEY'), ca: Buffer.from('CA') });
    assert.deepEqual(requests, [
      { method: 'PATCH', url: '/api/v1/namespaces/kestrel/secrets/kestrel-aggregator-cloud-token', type: 'application/merge-patch+json', body: { data: { token: Buffer.from('a.b.c').toString('base64') } } },
      {
        method: 'PATCH',
        url: '/api/v1/namespaces/kestrel/secrets/kestrel-aggregator-cloud-tls',
        type: 'application/merge-patch+json',
        body: { data: { 'tls.crt': Buffer.from('CERT').toString('base64'), 'tls.key': Buffer.from('KEY').toString('base64'), 'ca.crt': Buffer.from('CA').toString('base64') } },
      },
    ]);
  } finally {
    server.close();
    fs.rmSync(dir, { recursive: true, force: true });
  }
});

test('knows whether it runs in a cluster, and its namespace', () => {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'serviceaccount-'));
  try {
    assert.equal(runningInCluster({}, dir), false);
    assert.equal(runningInCluster({ KUBERNETES_SERVICE_HOST: '10.0.0.1' }, dir), false, 'no service account token');
    fs.writeFileSync(path.join(dir, 'token'), 't');
    fs.writeFileSync(path.join(dir, 'namespace'), 'kestrel\n');
    assert.equal(runningInCluster({ KUBERNETES_SERVICE_HOST: '10.0.0.1' }, dir), true);
    assert.equal(podNamespace(undefined, {}, dir), 'kestrel');
    assert.equal(podNamespace(undefined, { POD_NAMESPACE: 'ops' }, dir), 'ops');
    assert.equal(podNamespace('set', { POD_NAMESPACE: 'ops' }, dir), 'set');
  } finally {
    fs.rmSync(dir, { recursive: true, force: true });
  }
});
