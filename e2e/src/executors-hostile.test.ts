// Issue 8, "done when" 1: hostile requests from the cloud (metacharacters, encodings, path traversal, every spelling
// of secrets, identity flags, templates, huge outputs, slow commands, write verbs) against the Kubernetes API test
// server and the real kubectl. Each is refused or bounded, with the reason in the answer and in the audit log line
// (captured from the logger). The operator's service account here may read everything, Secrets included, so that
// only the operator's own policy stands between the cloud and a Secret; the server's audit proves none was reached.
import assert from 'node:assert/strict';
import { Writable } from 'node:stream';
import { after, before, test } from 'node:test';
import { KubeConfig } from '@kubernetes/client-node';
import { createLogger, createRegistry } from '@kestrel/core';
import { Executors, EXIT_NO_KUBECTL, EXIT_REFUSED, EXIT_TIMED_OUT, EXIT_TRUNCATED, REDACTED, type ExecutorsConfig } from '@kestrel/aggregator/executors';
import { serviceAccountUsername, startKubeApiServer, type KubeApiServer } from './kube-api-server/index.js';

/** The aggregator's JSON log lines, as written. */
class LogCapture extends Writable {
  readonly lines: string[] = [];
  constructor() {
    super({ objectMode: true });
  }
  log(_info: unknown, callback: () => void): void {
    callback();
  }
  override _write(info: Record<symbol, unknown>, _encoding: BufferEncoding, callback: () => void): void {
    this.lines.push(String(info[Symbol.for('message')]));
    callback();
  }
}

interface AuditLine {
  message: string;
  audit: boolean;
  requestId: string;
  kind: string;
  decision: string;
  reason?: string;
  durationMs: number;
  bytes: number;
  items: { item: string; ran?: string | string[]; decision: string; code?: string; reason?: string; status?: number; exitCode?: number; truncated?: boolean; apiCalls?: string[] }[];
}

const SA_USER = serviceAccountUsername('kestrel', 'aggregator');
let server: KubeApiServer;
const capture = new LogCapture();
const logger = createLogger('aggregator', 'info');
const started: Executors[] = [];
let kc: KubeConfig;

function auditOf(requestId: string): AuditLine {
  const found = capture.lines.map((l) => JSON.parse(l) as AuditLine).filter((l) => l.audit && l.requestId === requestId);
  assert.equal(found.length, 1, `exactly one audit line for ${requestId}, found ${found.length}`);
  return found[0]!;
}

async function executors(config: Partial<ExecutorsConfig> = {}): Promise<Executors> {
  const ex = await Executors.start({ itemsPerMinute: 100_000, ...config }, { kubeConfig: kc, registry: createRegistry(`test-${started.length}`, false), logger });
  started.push(ex);
  return ex;
}

before(async () => {
  logger.clear();
  logger.add(capture);
  server = await startKubeApiServer();
  server.ensureNamespace('shop');
  server.create({
    apiVersion: 'v1',
    kind: 'Pod',
    metadata: { name: 'cart-1', namespace: 'shop', labels: { app: 'cart' } },
    spec: { nodeName: 'node-a', containers: [{ name: 'main', image: 'cart:1', env: [{ name: 'DB_PASSWORD', value: 'hunter2' }] }] },
  });
  server.create({ apiVersion: 'v1', kind: 'ConfigMap', metadata: { name: 'cart-config', namespace: 'shop' }, data: { 'api-key': 'sk-live-123' } });
  server.create({ apiVersion: 'v1', kind: 'Secret', metadata: { name: 'db', namespace: 'shop' }, type: 'Opaque', data: { password: Buffer.from('hunter2').toString('base64') } });
  for (let i = 0; i < 40; i++) server.create({ apiVersion: 'v1', kind: 'Pod', metadata: { name: `filler-${i}`, namespace: 'shop', labels: { app: 'filler' } }, spec: { containers: [{ name: 'main', image: 'x' }] } });
  server.setPodLog('shop', 'cart-1', 'main', 'x'.repeat(200_000) + '\n');
  server.create({ apiVersion: 'v1', kind: 'ServiceAccount', metadata: { name: 'app', namespace: 'shop' } });
  // A custom resource that holds secrets under a name the argv check does not know, reachable by a short name and
  // through the "all" category: only the policy proxy stands in the way.
  server.create({
    apiVersion: 'apiextensions.k8s.io/v1',
    kind: 'CustomResourceDefinition',
    metadata: { name: 'fancysecrets.vault.example.com' },
    spec: {
      group: 'vault.example.com',
      scope: 'Namespaced',
      names: { plural: 'fancysecrets', singular: 'fancysecret', kind: 'FancySecret', shortNames: ['fsec'], categories: ['all'] },
      versions: [{ name: 'v1', served: true, storage: true, schema: { openAPIV3Schema: { type: 'object', 'x-kubernetes-preserve-unknown-fields': true } } }],
    },
  });
  server.create({ apiVersion: 'vault.example.com/v1', kind: 'FancySecret', metadata: { name: 'root-token', namespace: 'shop' }, spec: { token: 's.hunter2' } } as never);
  // Worst case RBAC: the operator's account may read (and even write) anything. The policy alone must hold.
  const token = server.serviceAccountToken('kestrel', 'aggregator');
  server.create({ apiVersion: 'rbac.authorization.k8s.io/v1', kind: 'ClusterRole', metadata: { name: 'everything' }, rules: [{ apiGroups: ['*'], resources: ['*'], verbs: ['*'] }] } as never);
  server.create({
    apiVersion: 'rbac.authorization.k8s.io/v1',
    kind: 'ClusterRoleBinding',
    metadata: { name: 'aggregator-everything' },
    roleRef: { apiGroup: 'rbac.authorization.k8s.io', kind: 'ClusterRole', name: 'everything' },
    subjects: [{ kind: 'ServiceAccount', name: 'aggregator', namespace: 'kestrel' }],
  } as never);
  kc = new KubeConfig();
  kc.loadFromOptions(server.kubeConfig(token));
  server.audit.clear();
});

after(async () => {
  for (const ex of started) await ex.stop();
  await server?.stop();
});

// [api path, refusal code]
const HOSTILE_PATHS: [string, string][] = [
  ['/api/v1/secrets', 'secret'],
  ['/api/v1/namespaces/shop/secrets', 'secret'],
  ['/api/v1/namespaces/shop/secrets/db', 'secret'],
  ['/api/v1/namespaces/shop/Secrets/db', 'secret'],
  ['/api/v1/namespaces/shop/SECRETS', 'secret'],
  ['/API/V1/NAMESPACES/SHOP/SECRETS', 'secret'],
  ['/api/v1/namespaces/shop/%73ecrets/db', 'secret'],
  ['/api/v1/namespaces/shop/%73%65%63%72%65%74%73', 'secret'],
  ['/api/v1/namespaces/shop/pods/../secrets/db', 'secret'],
  ['/api/v1/namespaces/shop/pods/%2e%2e/secrets', 'secret'],
  ['/api/v1/namespaces/shop/pods/./../../shop/secrets', 'secret'],
  ['//api//v1///namespaces/shop/secrets/', 'secret'],
  ['/api/v1/secrets?fieldSelector=type%3Dkubernetes.io%2Fservice-account-token', 'secret'],
  ['/api/v1/namespaces/shop/secrets?watch=true', 'secret'],
  ['/apis/vault.example.com/v1/namespaces/shop/fancysecrets', 'secret'],
  ['/apis/bitnami.com/v1alpha1/sealedsecrets', 'secret'],
  ['/apis/external-secrets.io/v1beta1/namespaces/shop/externalsecrets', 'secret'],
  ['/api/v1/watch/namespaces/shop/secrets', 'watch'],
  ['/api/v1/watch/namespaces/shop/pods', 'watch'],
  ['/api/v1/namespaces/shop/pods?watch=1', 'watch'],
  ['/api/v1/namespaces/shop/pods?watch', 'watch'],
  ['/api/v1/namespaces/shop/pods?WATCH=true', 'watch'],
  ['/api/v1/pods?fieldSelector=metadata.name%3Dcart-1&watch=true', 'watch'],
  ['/api/v1/namespaces/shop/pods/cart-1/log?follow=true', 'watch'],
  ['/api/v1/namespaces/shop/%2573ecrets', 'encoding'],
  ['/api/v1/namespaces/shop/pods/%C0%AE%C0%AE/secrets', 'encoding'],
  ['/api/v1/pods%00', 'encoding'],
  ['/api/v1/namespaces/shop/pods\r\nAuthorization: Bearer x', 'encoding'],
  ['/api/v1/namespaces/shop/pods?%zz=1', 'encoding'],
  ['/api/v1/namespaces/shop/pods%2F..%2Fsecrets', 'traversal'],
  ['/api/v1/../../../etc/passwd', 'traversal'],
  ['/api\\v1\\namespaces\\shop\\secrets', 'traversal'],
  ['http://evil.example/api/v1/pods', 'malformed_path'],
  ['/api/v1/pods#/secrets', 'malformed_path'],
  ['api/v1/namespaces/shop/secrets', 'malformed_path'],
  ['/apis/core/v1/secrets', 'not_allowlisted'],
  ['/apis//v1/secrets', 'not_allowlisted'],
  ['//evil.example/api/v1/pods', 'not_allowlisted'],
  ['/metrics', 'not_allowlisted'],
  ['/logs/kube-apiserver.log', 'not_allowlisted'],
  ['/debug/pprof/profile', 'not_allowlisted'],
  ['/api/v1/namespaces/shop/serviceaccounts/default/token', 'token'],
  ['/api/v1/namespaces/shop/pods/cart-1/exec?command=cat&command=/etc/shadow', 'exec'],
  ['/api/v1/namespaces/shop/pods/cart-1/attach', 'exec'],
  ['/api/v1/namespaces/shop/pods/cart-1/portforward', 'exec'],
  ['/api/v1/namespaces/shop/pods/cart-1/proxy/', 'proxy'],
  ['/api/v1/namespaces/shop/services/web:80/proxy/admin', 'proxy'],
  ['/api/v1/nodes/node-a/proxy/configz', 'proxy'],
  ['/api/v1/proxy/namespaces/shop/pods/cart-1', 'proxy'],
  ['/apis/authentication.k8s.io/v1/tokenreviews', 'review'],
  ['/apis/authorization.k8s.io/v1/subjectaccessreviews', 'review'],
  ['/apis/authorization.k8s.io/v1/selfsubjectaccessreviews', 'review'],
  ['/apis/certificates.k8s.io/v1/certificatesigningrequests/csr-1/approval', 'write_subresource'],
  ['/api/v1/namespaces/shop/pods/cart-1/eviction', 'write_subresource'],
  ['/api/v1/namespaces/shop/pods?dryRun=All', 'method'],
  ['/api/v1/namespaces/shop/pods/cart-1/log?insecureSkipTLSVerifyBackend=true', 'query'],
  ['/api/v1/namespaces/shop/pods?labelSelector=a&labelSelector=b', 'query'],
  ['/api/v1/' + 'x/'.repeat(2100), 'too_large'],
];

// [command line, refusal code]
const HOSTILE_COMMANDS: [string, string][] = [
  ['kubectl get pods -n shop | grep cart', 'shell_syntax'],
  ['kubectl get pods; cat /var/run/secrets/kubernetes.io/serviceaccount/token', 'shell_syntax'],
  ['kubectl get pods && kubectl delete pods --all', 'shell_syntax'],
  ['kubectl get pods || true', 'shell_syntax'],
  ['kubectl get pods &', 'shell_syntax'],
  ['kubectl get pods > /tmp/out', 'shell_syntax'],
  ['kubectl get pods 2>&1', 'shell_syntax'],
  ['kubectl get pods < /etc/passwd', 'shell_syntax'],
  ['kubectl get pods -n $(cat /var/run/secrets/kubernetes.io/serviceaccount/namespace)', 'shell_syntax'],
  ['kubectl get pods -n `whoami`', 'shell_syntax'],
  ['kubectl get pods -n $NAMESPACE', 'shell_syntax'],
  ['kubectl get pods -n "${NAMESPACE}"', 'shell_syntax'],
  ['kubectl get pods\nkubectl delete pods --all', 'shell_syntax'],
  ["kubectl get pods -l 'app=cart", 'shell_syntax'],
  ['kubectl get pods -n shop *', 'shell_syntax'],
  ['kubectl get pods ~/x', 'shell_syntax'],
  ['kubectl get pods {a,b}', 'shell_syntax'],
  ['KUBECONFIG=/etc/kubernetes/admin.conf kubectl get secrets', 'program'],
  ['bash -c "kubectl get pods"', 'program'],
  ["sh -c 'kubectl get secrets -A'", 'program'],
  ['/usr/local/bin/kubectl get pods', 'program'],
  ['env kubectl get pods', 'program'],
  ['curl -k https://kubernetes.default.svc/api/v1/secrets', 'program'],
  ['cat /var/run/secrets/kubernetes.io/serviceaccount/token', 'program'],
  ['kubectl get secrets -n shop', 'secret'],
  ['kubectl get secret db -n shop -o yaml', 'secret'],
  ['kubectl get Secret -n shop', 'secret'],
  ['kubectl get SECRETS -A', 'secret'],
  ['kubectl get secrets.v1. -n shop', 'secret'],
  ['kubectl get secrets.v1.core/ -n shop', 'secret'],
  ['kubectl get secret/db -n shop', 'secret'],
  ['kubectl get pods,secrets -n shop', 'secret'],
  ['kubectl get pod/cart-1 secret/db -n shop', 'secret'],
  ['kubectl describe secrets -n shop', 'secret'],
  ['kubectl describe secret/db -n shop', 'secret'],
  ['kubectl get fancysecrets -n shop', 'secret'],
  ['kubectl get sealedsecrets.bitnami.com -A', 'secret'],
  ['kubectl get --raw /api/v1/namespaces/shop/secrets/db', 'secret'],
  ['kubectl get --raw=/api/v1/namespaces/shop/%73ecrets', 'secret'],
  ['kubectl logs secret/db -n shop', 'secret'],
  ['kubectl events --for secret/db -n shop', 'secret'],
  ['kubectl get --raw /api/v1/namespaces/shop/pods/cart-1/exec', 'exec'],
  ['kubectl get --raw /api/v1/nodes/node-a/proxy/metrics', 'proxy'],
  ['kubectl delete pod cart-1 -n shop', 'verb'],
  ['kubectl apply -f /tmp/evil.yaml', 'verb'],
  ['kubectl create token default -n shop', 'verb'],
  ['kubectl exec cart-1 -n shop -- cat /etc/shadow', 'verb'],
  ['kubectl cp shop/cart-1:/etc/passwd /tmp/passwd', 'verb'],
  ['kubectl port-forward cart-1 8080:80 -n shop', 'verb'],
  ['kubectl proxy --port=8001', 'verb'],
  ['kubectl attach cart-1 -n shop', 'verb'],
  ['kubectl debug node/node-a -it --image=busybox', 'verb'],
  ['kubectl run shell --image=busybox', 'verb'],
  ['kubectl edit deploy web -n shop', 'verb'],
  ["kubectl patch deploy web -n shop -p '{\"spec\":{\"replicas\":0}}'", 'verb'],
  ['kubectl scale deploy web -n shop --replicas=0', 'verb'],
  ['kubectl label pod cart-1 -n shop owned=yes', 'verb'],
  ['kubectl annotate pod cart-1 -n shop a=b', 'verb'],
  ['kubectl cordon node-a', 'verb'],
  ['kubectl drain node-a --ignore-daemonsets', 'verb'],
  ['kubectl taint nodes node-a key=value:NoSchedule', 'verb'],
  ['kubectl certificate approve csr-1', 'verb'],
  ['kubectl rollout restart deploy/web -n shop', 'verb'],
  ['kubectl config view --raw', 'verb'],
  ['kubectl get pods --kubeconfig=/etc/kubernetes/admin.conf', 'identity_flag'],
  ['kubectl get pods --token=eyJhbGciOi', 'identity_flag'],
  ['kubectl get pods --server=https://evil.example:6443', 'identity_flag'],
  ['kubectl get pods -s https://evil.example:6443', 'identity_flag'],
  ['kubectl get secrets --as=system:admin', 'identity_flag'],
  ['kubectl get pods --as-group=system:masters', 'identity_flag'],
  ['kubectl --as-uid=0 get pods', 'identity_flag'],
  ['kubectl get pods --user=cluster-admin', 'identity_flag'],
  ['kubectl get pods --context=production', 'identity_flag'],
  ['kubectl get pods --cluster=other', 'identity_flag'],
  ['kubectl get pods --insecure-skip-tls-verify', 'identity_flag'],
  ['kubectl get pods --certificate-authority=/tmp/ca.crt', 'identity_flag'],
  ['kubectl get pods --client-key=/var/run/secrets/tls.key', 'identity_flag'],
  ['kubectl get pods --username=admin --password=admin', 'identity_flag'],
  ['kubectl get -f /etc/passwd', 'file_flag'],
  ['kubectl get -k /tmp/overlay', 'file_flag'],
  ['kubectl get pods --cache-dir=/tmp/poison', 'file_flag'],
  ['kubectl get pods --profile=cpu --profile-output=/tmp/x', 'file_flag'],
  ['kubectl get pods -o go-template-file=/var/run/secrets/kubernetes.io/serviceaccount/token', 'file_flag'],
  ['kubectl get pods -o jsonpath-file=/etc/passwd', 'file_flag'],
  ['kubectl get pods -o custom-columns-file=/etc/passwd', 'file_flag'],
  ["kubectl get pods -o go-template='{{range .items}}{{.metadata.name}}{{end}}'", 'output_format'],
  ["kubectl get pods -o template --template='{{.}}'", 'output_format'],
  ['kubectl get pods -v=9', 'flag'],
  ['kubectl get pods -Aw', 'flag'],
  ['kubectl top pod --use-protocol-buffers', 'flag'],
  ['kubectl get pods -w', 'watch'],
  ['kubectl get pods --watch-only', 'watch'],
  ['kubectl logs cart-1 -n shop -f', 'watch'],
  ['kubectl logs cart-1 -n shop --follow', 'watch'],
  ['kubectl rollout status deploy/web -n shop --watch=true', 'watch'],
  ['kubectl events -n shop --watch', 'watch'],
  ['kubectl get pods -- --token=x', 'argument'],
];

test(`${HOSTILE_PATHS.length} hostile API paths are refused with their reason, in the answer and in the audit log`, async () => {
  const ex = await executors();
  const problems: string[] = [];
  for (const [i, [path, code]] of HOSTILE_PATHS.entries()) {
    const requestId = `hostile-path-${i}`;
    const answer = await ex.executeKubernetesApi({ requestId, apiPaths: [path], timeoutSeconds: 10 });
    const result = answer.results[0];
    const line = auditOf(requestId);
    const item = line.items[0];
    if (answer.requestId !== requestId || !result || result.success || result.statusCode !== 403 || !result.errorMessage.includes(`(${code})`) || result.responseData !== '') {
      problems.push(`${JSON.stringify(path)}: answer ${JSON.stringify(result)}`);
    } else if (line.decision !== 'refused' || item?.code !== code || !item.reason || !result.errorMessage.endsWith(item.reason) || item.item !== path) {
      problems.push(`${JSON.stringify(path)}: audit ${JSON.stringify(line)}`);
    }
  }
  assert.deepEqual(problems, []);
});

test(`${HOSTILE_COMMANDS.length} hostile command lines are refused with their reason, in the answer and in the audit log`, async () => {
  const ex = await executors();
  const problems: string[] = [];
  for (const [i, [command, code]] of HOSTILE_COMMANDS.entries()) {
    const requestId = `hostile-command-${i}`;
    const answer = await ex.executeShellCommands({ requestId, commands: [command], timeoutSeconds: 10 });
    const result = answer.results[0];
    const line = auditOf(requestId);
    const item = line.items[0];
    if (!result || result.success || result.exitCode !== EXIT_REFUSED || !result.stderr.includes(`(${code})`) || result.stdout !== '' || result.command !== command) {
      problems.push(`${JSON.stringify(command)}: answer ${JSON.stringify(result)}`);
    } else if (line.decision !== 'refused' || item?.code !== code || !item.reason || !result.stderr.includes(item.reason) || item.item !== command || item.ran !== undefined) {
      problems.push(`${JSON.stringify(command)}: audit ${JSON.stringify(line)}`);
    }
  }
  assert.deepEqual(problems, []);
});

test('what the argv check lets through is still held by the policy proxy: a secret kind by short name and in "get all"', async () => {
  const ex = await executors();
  const answer = await ex.executeShellCommands({ requestId: 'proxy-held', commands: ['kubectl get fsec -n shop', 'kubectl get all -n shop'], timeoutSeconds: 30 });
  const [byShortName, all] = answer.results;
  assert.notEqual(byShortName!.exitCode, 0);
  assert.match(byShortName!.stderr, /refused by kestrel-operator policy \(secret\)/);
  assert.doesNotMatch(byShortName!.stdout, /root-token/);
  assert.match(all!.stdout, /pod\/cart-1/, 'the rest of "all" is answered');
  assert.doesNotMatch(all!.stdout + all!.stderr, /root-token/);
  assert.match(all!.stderr, /\(secret\)/);
  const line = auditOf('proxy-held');
  for (const item of line.items) {
    assert.equal(item.code, 'secret');
    assert.match(item.reason ?? '', /policy proxy refused/);
    assert.ok(item.apiCalls?.some((c) => /^GET \/apis\/vault\.example\.com\/v1\/namespaces\/shop\/fancysecrets\S* 403$/.test(c)), JSON.stringify(item.apiCalls));
  }
});

test('describe serviceaccount lists Secrets behind the argv check\'s back: the proxy refuses that call, the rest is answered', async () => {
  const ex = await executors();
  const answer = await ex.executeShellCommands({ requestId: 'describe-sa', commands: ['kubectl describe sa app -n shop'], timeoutSeconds: 30 });
  const r = answer.results[0]!;
  assert.equal(r.exitCode, 0, r.stderr);
  assert.match(r.stdout, /^Name:\s+app$/m);
  const item = auditOf('describe-sa').items[0]!;
  assert.equal(item.code, 'secret');
  assert.ok(item.apiCalls?.some((c) => /^GET \/api\/v1\/namespaces\/shop\/secrets\S* 403$/.test(c)), JSON.stringify(item.apiCalls));
});

test('templates and raw reads reach only redacted data', async () => {
  const ex = await executors();
  const answer = await ex.executeShellCommands({
    requestId: 'templates',
    commands: [
      `kubectl get pods -n shop cart-1 -o jsonpath='{.spec.containers[*].env[*].value}'`,
      `kubectl get cm -n shop -o custom-columns=KEY:.data`,
      `kubectl get --raw /api/v1/namespaces/shop/configmaps/cart-config`,
      `kubectl describe cm cart-config -n shop`,
    ],
    timeoutSeconds: 30,
  });
  for (const r of answer.results) {
    assert.equal(r.exitCode, 0, `${r.command}: ${r.stderr}`);
    assert.ok(r.stdout.includes(REDACTED), `${r.command}: ${r.stdout}`);
    assert.doesNotMatch(r.stdout, /hunter2|sk-live-123/);
  }
  const api = await ex.executeKubernetesApi({ requestId: 'templates-api', apiPaths: ['/api/v1/namespaces/shop/pods/cart-1', '/api/v1/namespaces/shop/configmaps'], timeoutSeconds: 10 });
  for (const r of api.results) {
    assert.equal(r.statusCode, 200);
    assert.ok(r.responseData.includes(REDACTED));
    assert.doesNotMatch(r.responseData, /hunter2|sk-live-123/);
  }
});

test('huge answers are cut at the limit with an explicit marker; one too big to check is refused', async () => {
  const ex = await executors({ maxResultBytes: 4096, maxCheckedBytes: 10 * 1024 });
  const api = await ex.executeKubernetesApi({ requestId: 'huge-api', apiPaths: ['/api/v1/namespaces/shop/pods?limit=20', '/api/v1/namespaces/shop/pods/cart-1/log', '/api/v1/namespaces/shop/pods'], timeoutSeconds: 10 });
  const [list, log, tooBig] = api.results;
  assert.equal(list!.statusCode, 200);
  assert.ok(list!.success);
  assert.match(list!.responseData, /\n\[kestrel-operator: truncated at 4096 bytes of \d+\]$/);
  assert.match(list!.errorMessage, /truncated at 4096 bytes/);
  assert.match(log!.responseData, /^x{4096}\n\[kestrel-operator: truncated at 4096 bytes; the rest was not read\]$/);
  assert.equal(tooBig!.statusCode, 413, tooBig!.responseData.slice(-100));
  assert.match(tooBig!.errorMessage, /larger than 10240 bytes/);
  const apiLine = auditOf('huge-api');
  assert.deepEqual(
    apiLine.items.map((i) => [i.truncated, i.status]),
    [
      [true, 200],
      [true, 200],
      [false, 413],
    ],
  );

  const shell = await ex.executeShellCommands({ requestId: 'huge-shell', commands: ['kubectl get pods -n shop -l app=filler -o yaml --chunk-size=5', 'kubectl logs cart-1 -n shop'], timeoutSeconds: 30 });
  for (const r of shell.results) {
    assert.equal(r.exitCode, EXIT_TRUNCATED, r.stderr);
    assert.equal(r.success, false);
    assert.ok(Buffer.byteLength(r.stdout) + Buffer.byteLength(r.stderr) < 4096 + 200, 'stdout and stderr share the limit of one item');
    assert.match(r.stdout, /\n\[kestrel-operator: truncated at \d+ bytes; the rest was not read\]$/);
    assert.match(r.stderr, /output truncated at \d+ bytes/);
  }
  assert.deepEqual(
    auditOf('huge-shell').items.map((i) => [i.truncated, i.exitCode]),
    [
      [true, EXIT_TRUNCATED],
      [true, EXIT_TRUNCATED],
    ],
  );
});

test('slow answers are bounded by the request timeout: 504 for a path, 124 for a command', async () => {
  const ex = await executors();
  server.setLatency(4000, { resource: 'pods', user: SA_USER });
  try {
    const t0 = Date.now();
    const [api, shell] = await Promise.all([
      ex.executeKubernetesApi({ requestId: 'slow-api', apiPaths: ['/api/v1/namespaces/shop/pods/cart-1'], timeoutSeconds: 1 }),
      ex.executeShellCommands({ requestId: 'slow-shell', commands: ['kubectl get pods -n shop'], timeoutSeconds: 2 }),
    ]);
    assert.ok(Date.now() - t0 < 4000, `bounded: ${Date.now() - t0} ms`);
    assert.equal(api.results[0]!.statusCode, 504);
    assert.match(api.results[0]!.errorMessage, /within 1s/);
    assert.equal(shell.results[0]!.exitCode, EXIT_TIMED_OUT);
    assert.match(shell.results[0]!.stderr, /did not finish within 2s/);
    assert.equal(auditOf('slow-api').decision, 'timed_out');
    assert.equal(auditOf('slow-shell').decision, 'timed_out');
  } finally {
    server.setLatency(0);
  }
});

test('a per-minute rate limit protects the API server: items past it get 429 or exit 126, audited', async () => {
  const ex = await executors({ itemsPerMinute: 2 });
  const api = await ex.executeKubernetesApi({ requestId: 'limited-api', apiPaths: ['/api/v1/namespaces/shop/pods/cart-1', '/version', '/api/v1/namespaces'], timeoutSeconds: 10 });
  assert.deepEqual(
    api.results.map((r) => r.statusCode),
    [200, 200, 429],
  );
  assert.match(api.results[2]!.errorMessage, /\(rate_limited\): more than 2 items per minute; retry in \d+s/);
  const shell = await ex.executeShellCommands({ requestId: 'limited-shell', commands: ['kubectl version'], timeoutSeconds: 10 });
  assert.equal(shell.results[0]!.exitCode, EXIT_REFUSED);
  assert.match(shell.results[0]!.stderr, /\(rate_limited\)/);
  assert.equal(auditOf('limited-api').decision, 'partial');
  assert.deepEqual(
    auditOf('limited-api').items.map((i) => i.decision),
    ['allowed', 'allowed', 'rate_limited'],
  );
  assert.equal(auditOf('limited-shell').decision, 'rate_limited');
});

test('malformed requests get an answer with global_error_message, and an audit line', async () => {
  const ex = await executors();
  const cases = [
    { got: await ex.executeKubernetesApi({ requestId: 'malformed-1', apiPaths: [], timeoutSeconds: 0 }), id: 'malformed-1', says: /no api_paths/ },
    { got: await ex.executeKubernetesApi({ requestId: '', apiPaths: ['/version'], timeoutSeconds: 0 }), id: '', says: /request_id is missing/ },
    { got: await ex.executeShellCommands({ requestId: 'malformed-3', commands: Array(51).fill('kubectl version'), timeoutSeconds: 0 }), id: 'malformed-3', says: /51 commands, more than the 50/ },
    { got: await ex.dryRunYaml({ requestId: 'malformed-4', yamlManifests: [], timeoutSeconds: 0 }), id: 'malformed-4', says: /no yaml_manifests/ },
  ];
  for (const c of cases) {
    assert.match(c.got.globalErrorMessage, c.says);
    assert.deepEqual(c.got.results, []);
    assert.equal(c.got.requestId, c.id);
  }
  for (const id of ['malformed-1', 'malformed-3', 'malformed-4']) assert.equal(auditOf(id).decision, 'malformed');
});

test('without kubectl, commands are still answered (exit 127) and audited', async () => {
  const ex = await executors({ kubectl: '/nonexistent/kubectl' });
  const answer = await ex.executeShellCommands({ requestId: 'no-kubectl', commands: ['kubectl get pods', 'kubectl get secrets'], timeoutSeconds: 5 });
  assert.deepEqual(
    answer.results.map((r) => r.exitCode),
    [EXIT_NO_KUBECTL, EXIT_REFUSED],
  );
  assert.match(answer.results[0]!.stderr, /kubectl is not available/);
  assert.deepEqual(
    auditOf('no-kubectl').items.map((i) => i.decision),
    ['failed', 'refused'],
  );
});

test('no request ever reached a Secret, and the operator wrote nothing', () => {
  const secretCalls = server.audit.find({ resource: 'secrets' });
  assert.deepEqual(secretCalls, [], 'no request of any verb, by anyone, on secrets');
  assert.deepEqual(server.audit.find({ resource: 'fancysecrets' }), [], 'nor on the custom secret kind');
  const calls = server.audit.find({ user: SA_USER });
  assert.ok(calls.length > 50, `the hostile tests did reach the server for what was allowed (${calls.length} calls)`);
  const writes = calls.filter((c) => !['get', 'list'].includes(c.verb));
  assert.deepEqual(writes, [], 'only get and list');
  const hostileCount = HOSTILE_PATHS.length + HOSTILE_COMMANDS.length;
  assert.ok(hostileCount >= 80, `${hostileCount} hostile requests in the table`);
});
