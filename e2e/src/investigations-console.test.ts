// Investigations end to end: requests sent through cloud-dev's console (`cloud-dev request`) reach the aggregator
// process on its control stream, run against the Kubernetes API test server (kubectl included), and the answers
// come back on the control stream with the request's id.
import assert from 'node:assert/strict';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { test } from 'node:test';
import { runToEnd } from './harness/process.js';
import { programs } from './harness/repo.js';
import { createInternalPki, startAggregator, startCloudDev } from './harness/system.js';
import { startKubeApiServer } from './kube-api-server/index.js';

interface Answer {
  stream: string;
  requestId: string;
  answer: { $case: string; value: Record<string, unknown> };
}

test('API paths and kubectl commands sent through cloud-dev come back answered on the control stream; writes and secrets are refused', { timeout: 180_000 }, async () => {
  const workDir = fs.mkdtempSync(path.join(os.tmpdir(), 'kestrel-e2e-investigations-'));
  const kube = await startKubeApiServer();
  const { cloud, cloudDir, address } = await startCloudDev(workDir, '5s');
  const pki = createInternalPki(path.join(workDir, 'internal-pki'));
  const kubeconfig = kube.writeKubeconfig(path.join(workDir, 'kubeconfig'));
  let agg: Awaited<ReturnType<typeof startAggregator>> | undefined;
  const request = async (kind: string, body: object): Promise<Answer> => {
    let r = await runToEnd(programs.cloudDev, ['request', '--dir', cloudDir, '--kind', kind, '--body', JSON.stringify(body), '--timeout', '60s']);
    // The aggregator may not have opened its control stream yet right after start.
    for (let i = 0; i < 40 && r.code !== 0 && /no operator is connected/.test(r.stderr); i++) {
      await new Promise((res) => setTimeout(res, 500));
      r = await runToEnd(programs.cloudDev, ['request', '--dir', cloudDir, '--kind', kind, '--body', JSON.stringify(body), '--timeout', '60s']);
    }
    assert.equal(r.code, 0, r.stderr);
    return JSON.parse(r.stdout) as Answer;
  };
  try {
    kube.ensureNamespace('shop');
    kube.create({ apiVersion: 'v1', kind: 'Pod', metadata: { name: 'api-1', namespace: 'shop', labels: { app: 'api' } }, spec: { containers: [{ name: 'app', image: 'api:1' }] }, status: { phase: 'Running' } });
    kube.create({ apiVersion: 'v1', kind: 'Secret', metadata: { name: 'db-password', namespace: 'shop' }, data: { password: Buffer.from('hunter2').toString('base64') } });
    agg = await startAggregator(workDir, 'agg-0', cloudDir, address, pki, { KESTREL_AGGREGATOR_KUBECONFIG: kubeconfig, KESTREL_AGGREGATOR_CLUSTER_WATCH: 'off' });


    // Kubernetes API reads: each path its own result with a real status code.
    const api = await request('kubernetesApiRequest', { apiPaths: ['/api/v1/namespaces/shop/pods', '/api/v1/namespaces/shop/secrets', '/api/v1/namespaces/nope/pods/x'], timeoutSeconds: 10 });
    assert.equal(api.stream, 'control');
    assert.equal(api.answer.$case, 'kubernetesApiResponse');
    assert.equal(api.answer.value['requestId'], api.requestId);
    const results = api.answer.value['results'] as { apiPath: string; success: boolean; statusCode: number; responseData: string; errorMessage: string }[];
    assert.equal(results.length, 3);
    assert.equal(results[0]!.statusCode, 200);
    assert.deepEqual((JSON.parse(results[0]!.responseData) as { items: { metadata: { name: string } }[] }).items.map((i) => i.metadata.name), ['api-1']);
    assert.equal(results[1]!.success, false);
    assert.equal(results[1]!.statusCode, 403);
    assert.ok(!results[1]!.responseData.includes('hunter2') && !results[1]!.responseData.includes(Buffer.from('hunter2').toString('base64')));
    assert.equal(results[2]!.statusCode, 404);

    // kubectl, read-only: answered; a write and a shell trick refused with a reason.
    const shell = await request('shellCommandRequest', { commands: ['kubectl get pods -n shop -o name', 'kubectl delete pod api-1 -n shop', 'kubectl get pods | sh'], timeoutSeconds: 30 });
    const runs = shell.answer.value['results'] as { command: string; success: boolean; stdout: string; stderr: string; exitCode: number }[];
    assert.equal(runs[0]!.success, true, runs[0]!.stderr);
    assert.equal(runs[0]!.stdout.trim(), 'pod/api-1');
    assert.equal(runs[1]!.success, false);
    assert.match(runs[1]!.stderr, /delete/);
    assert.equal(runs[2]!.success, false);
    assert.ok(kube.get('v1', 'Pod', 'api-1', 'shop'), 'nothing was deleted');

    // Apply refused by default.
    const apply = await request('yamlApplyRequest', { yamlManifests: [{ manifestId: 'm1', yamlContent: 'apiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: x\n  namespace: shop\n', resourceType: 'ConfigMap', namespace: 'shop' }] });
    const applied = apply.answer.value['results'] as { success: boolean }[] | undefined;
    assert.ok(String(apply.answer.value['globalErrorMessage'] ?? '') !== '' || (applied ?? []).every((r) => !r.success));
    assert.equal(kube.get('v1', 'ConfigMap', 'x', 'shop'), undefined);
    assert.equal(kube.audit.reads('secrets'), 0, 'the operator never read a Secret');
  } finally {
    await agg?.aggregator.stop();
    await cloud.stop();
    await kube.stop();
  }
});
