// The real kubectl against the test server with the generated kubeconfig: discovery, get (JSON and tables), raw
// paths, describe, logs, apply, auth can-i / whoami, create token. Issue 8 runs kubectl for investigations, so it has
// to work here. kubectl must be installed: this test fails (it does not skip) when it is missing.
import assert from 'node:assert/strict';
import { execFile } from 'node:child_process';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { after, before, test } from 'node:test';
import { startKubeApiServer, type KubeApiServer } from './running-server.js';
import { clientsFor, pod, type Clients } from './test-support.js';

let server: KubeApiServer;
let c: Clients;
let work: string;

function findKubectl(): string | undefined {
  if (process.env['KUBECTL']) return process.env['KUBECTL'];
  for (const dir of (process.env['PATH'] ?? '').split(path.delimiter)) {
    const candidate = path.join(dir, 'kubectl');
    if (fs.existsSync(candidate)) return candidate;
  }
  return undefined;
}

const kubectlPath = findKubectl();

interface Run {
  code: number;
  stdout: string;
  stderr: string;
}

/** Runs kubectl asynchronously (the server is in this process) with its own discovery cache. */
function kubectl(args: string[], kubeconfig = server.kubeconfigPath): Promise<Run> {
  if (!kubectlPath) throw new Error('this test needs kubectl: none on PATH (install it, or set KUBECTL to its path)');
  return new Promise((resolve) => {
    execFile(kubectlPath, ['--kubeconfig', kubeconfig, '--cache-dir', path.join(work, 'cache'), ...args], { env: { PATH: process.env['PATH'] ?? '', HOME: work }, timeout: 30_000 }, (err, stdout, stderr) => {
      const code = err ? (typeof (err as { code?: unknown }).code === 'number' ? ((err as { code: number }).code) : -1) : 0;
      resolve({ code, stdout, stderr });
    });
  });
}

async function ok(args: string[], kubeconfig?: string): Promise<string> {
  const run = await kubectl(args, kubeconfig);
  assert.equal(run.code, 0, `kubectl ${args.join(' ')} failed:\n${run.stderr}`);
  return run.stdout;
}

before(async () => {
  work = fs.mkdtempSync(path.join(os.tmpdir(), 'kubectl-test-'));
  server = await startKubeApiServer({ stateDir: path.join(work, 'state') });
  c = clientsFor(server);
  await c.core.createNamespace({ body: { metadata: { name: 'shop' } } });
  const cart = await c.core.createNamespacedPod({ namespace: 'shop', body: pod('cart-1', 'shop', { node: 'node-a', labels: { app: 'cart' } }) });
  await c.core.createNamespacedPod({ namespace: 'default', body: pod('web-1', 'default', { node: 'node-b', labels: { app: 'web' } }) });
  await c.core.patchNamespacedPodStatus({ namespace: 'shop', name: 'cart-1', body: [{ op: 'replace', path: '/status', value: { phase: 'Running', containerStatuses: [{ name: 'main', ready: false, restartCount: 4, image: 'x', imageID: '', state: { waiting: { reason: 'CrashLoopBackOff' } } }] } }] });
  await c.core.createNamespacedEvent({ namespace: 'shop', body: { metadata: { name: 'cart-1.backoff' }, involvedObject: { kind: 'Pod', name: 'cart-1', namespace: 'shop', uid: cart.metadata!.uid! }, reason: 'BackOff', message: 'Back-off restarting failed container', type: 'Warning', count: 4 } });
});

after(async () => {
  await server?.stop();
});

test('kubectl is installed (the other kubectl tests need it)', () => {
  assert.ok(kubectlPath, 'kubectl was not found on PATH: install it (.ci/run must, on a fresh machine) or set KUBECTL to its path');
});

test('kubectl get pods -A -o json lists every namespace\'s pods through discovery', async () => {
  const list = JSON.parse(await ok(['get', 'pods', '-A', '-o', 'json'])) as { kind: string; items: { kind: string; metadata: { name: string; namespace: string } }[] };
  assert.equal(list.kind, 'List');
  assert.deepEqual(list.items.map((i) => `${i.metadata.namespace}/${i.metadata.name}`).sort(), ['default/web-1', 'shop/cart-1']);
  assert.ok(list.items.every((i) => i.kind === 'Pod'));
  const selected = JSON.parse(await ok(['get', 'pods', '-A', '-o', 'json', '--field-selector', 'spec.nodeName=node-a', '-l', 'app=cart'])) as { items: unknown[] };
  assert.equal(selected.items.length, 1);
});

test('kubectl get --raw returns the API\'s JSON as is', async () => {
  const namespaces = JSON.parse(await ok(['get', '--raw', '/api/v1/namespaces'])) as { kind: string; metadata: { resourceVersion: string }; items: { metadata: { name: string } }[] };
  assert.equal(namespaces.kind, 'NamespaceList');
  assert.ok(namespaces.metadata.resourceVersion);
  assert.deepEqual(namespaces.items.map((n) => n.metadata.name), ['default', 'kube-node-lease', 'kube-public', 'kube-system', 'shop']);
  assert.equal(JSON.parse(await ok(['get', '--raw', '/version']))['gitVersion'], 'v1.32.0-kestrel-test');
});

test('kubectl get prints server-side tables; describe and logs work', async () => {
  const table = await ok(['get', 'pods', '-n', 'shop']);
  assert.match(table, /^NAME\s+READY\s+STATUS\s+RESTARTS\s+AGE\n/);
  assert.match(table, /cart-1\s+0\/1\s+CrashLoopBackOff\s+4\s+/);
  const described = await ok(['describe', 'pod', 'cart-1', '-n', 'shop']);
  assert.match(described, /Node:\s+node-a/);
  assert.match(described, /Warning\s+BackOff\s+.*Back-off restarting failed container/, 'describe finds the pod\'s events by field selector');
  server.setPodLog('shop', 'cart-1', 'main', 'line 1\nline 2\nline 3\n');
  assert.equal(await ok(['logs', 'cart-1', '-n', 'shop', '--tail', '2']), 'line 2\nline 3\n');
});

test('kubectl apply -f creates, then patches (strategic merge) what changed; scale and server-side apply work too', async () => {
  const manifest = (replicas: number) => ({
    apiVersion: 'apps/v1',
    kind: 'Deployment',
    metadata: { name: 'checkout', namespace: 'shop', labels: { app: 'checkout' } },
    spec: { replicas, selector: { matchLabels: { app: 'checkout' } }, template: { metadata: { labels: { app: 'checkout' } }, spec: { containers: [{ name: 'main', image: 'checkout:1' }] } } },
  });
  const file = path.join(work, 'deployment.json');
  fs.writeFileSync(file, JSON.stringify(manifest(2)));
  assert.match(await ok(['apply', '-f', file]), /deployment.apps\/checkout created/);
  fs.writeFileSync(file, JSON.stringify(manifest(3)));
  assert.match(await ok(['apply', '-f', file]), /deployment.apps\/checkout configured/);
  const deployment = await c.apps.readNamespacedDeployment({ namespace: 'shop', name: 'checkout' });
  assert.equal(deployment.spec?.replicas, 3);
  assert.equal(deployment.metadata?.generation, 2);
  assert.ok(deployment.metadata?.annotations?.['kubectl.kubernetes.io/last-applied-configuration']);
  assert.match(await ok(['apply', '-f', file, '--dry-run=server']), /deployment.apps\/checkout unchanged \(server dry run\)/);
  assert.match(await ok(['scale', 'deployment', 'checkout', '-n', 'shop', '--replicas', '1']), /deployment.apps\/checkout scaled/);
  assert.equal((await c.apps.readNamespacedDeployment({ namespace: 'shop', name: 'checkout' })).spec?.replicas, 1);
  assert.match(await ok(['apply', '--server-side', '-f', file]), /serverside-applied/);
  assert.equal((await c.apps.readNamespacedDeployment({ namespace: 'shop', name: 'checkout' })).spec?.replicas, 3);
});

test('kubectl auth can-i and whoami answer for a service account\'s kubeconfig; create token issues one, also bound to a pod', async () => {
  // These typed generators send protobuf bodies; the server understands these few.
  await ok(['create', 'namespace', 'kestrel']);
  await ok(['create', 'serviceaccount', 'agent', '-n', 'kestrel']);
  await ok(['create', 'configmap', 'agent-settings', '-n', 'kestrel', '--from-literal', 'level=debug']);
  assert.deepEqual((await c.core.readNamespacedConfigMap({ namespace: 'kestrel', name: 'agent-settings' })).data, { level: 'debug' });
  const token = (await ok(['create', 'token', 'agent', '-n', 'kestrel'])).trim();
  assert.match(token, /^kst-sa\./);
  await c.core.createNamespacedPod({ namespace: 'kestrel', body: { ...pod('agent-0', 'kestrel'), spec: { ...pod('agent-0').spec!, serviceAccountName: 'agent' } } });
  const podToken = (await ok(['create', 'token', 'agent', '-n', 'kestrel', '--bound-object-kind', 'Pod', '--bound-object-name', 'agent-0'])).trim();
  const review = await c.authentication.createTokenReview({ body: { spec: { token: podToken } } });
  assert.deepEqual(review.status?.user?.extra?.['authentication.kubernetes.io/pod-name'], ['agent-0'], 'the protobuf TokenRequest carries boundObjectRef');
  const agentConfig = server.writeKubeconfig(path.join(work, 'agent.kubeconfig'), token, 'kestrel');
  await c.rbac.createClusterRole({ body: { metadata: { name: 'agent' }, rules: [{ apiGroups: [''], resources: ['pods', 'nodes'], verbs: ['get', 'list', 'watch'] }] } });
  await c.rbac.createClusterRoleBinding({ body: { metadata: { name: 'agent' }, roleRef: { apiGroup: 'rbac.authorization.k8s.io', kind: 'ClusterRole', name: 'agent' }, subjects: [{ kind: 'ServiceAccount', name: 'agent', namespace: 'kestrel' }] } });

  assert.equal((await ok(['auth', 'can-i', 'watch', 'pods', '-A'], agentConfig)).trim(), 'yes');
  const secrets = await kubectl(['auth', 'can-i', 'get', 'secrets', '-n', 'kestrel'], agentConfig);
  assert.equal(secrets.stdout.trim(), 'no');
  assert.equal(secrets.code, 1);
  const exec = await kubectl(['auth', 'can-i', 'create', 'pods/exec', '-n', 'shop'], agentConfig);
  assert.equal(exec.stdout.trim(), 'no');
  const impersonated = await kubectl(['auth', 'can-i', 'list', 'secrets', '--as', 'system:serviceaccount:kestrel:agent', '-n', 'kestrel']);
  assert.equal(impersonated.stdout.trim(), 'no', 'the admin asking --as the agent gets the agent\'s answer');
  assert.equal((await ok(['auth', 'can-i', 'list', 'pods', '--as', 'system:serviceaccount:kestrel:agent', '-n', 'kestrel'])).trim(), 'yes');
  assert.match(await ok(['auth', 'whoami'], agentConfig), /system:serviceaccount:kestrel:agent/);
  assert.equal((await ok(['auth', 'can-i', '--list', '-n', 'kestrel'], agentConfig)).includes('pods'), true);

  const denied = await kubectl(['get', 'secrets', '-n', 'kestrel'], agentConfig);
  assert.notEqual(denied.code, 0);
  assert.match(denied.stderr, /Error from server \(Forbidden\): secrets is forbidden: User "system:serviceaccount:kestrel:agent" cannot list resource "secrets"/);
});
