import assert from 'node:assert/strict';
import { test } from 'node:test';
import { splitCommandLine } from './command-line.js';
import { checkKubectl, type KubectlPlan } from './kubectl-policy.js';

const check = (line: string) => {
  const words = splitCommandLine(line);
  assert.ok(Array.isArray(words), `${line} does not split`);
  return checkKubectl(words);
};
const allowed = (line: string): KubectlPlan => {
  const r = check(line);
  assert.ok(!('refused' in r), `${line} should be allowed, was refused: ${'refused' in r ? `${r.code} ${r.reason}` : ''}`);
  return r;
};
const refused = (line: string, code: string): void => {
  const r = check(line);
  assert.ok('refused' in r, `${line} should be refused (${code}), was allowed`);
  assert.equal(r.code, code, `${line}: ${r.reason}`);
};

test('read-only verbs with their flags run, as given', () => {
  assert.deepEqual(allowed('kubectl get pods -n shop -o wide').args, ['get', 'pods', '-n', 'shop', '-o', 'wide']);
  assert.deepEqual(allowed('kubectl -n shop get pods -oyaml').args, ['-n', 'shop', 'get', 'pods', '-oyaml']);
  allowed('kubectl get pods,services,deployments -A --show-labels --sort-by=.metadata.name');
  allowed('kubectl get deploy/web svc/web -n shop -o json');
  allowed(`kubectl get pods -o jsonpath='{.items[*].status.phase}'`);
  allowed(`kubectl get pods -o custom-columns=NAME:.metadata.name,NODE:.spec.nodeName`);
  allowed('kubectl get all -n shop');
  allowed('kubectl get --raw /api/v1/namespaces/shop/pods');
  allowed('kubectl get pods -l app=cart --field-selector status.phase=Running --chunk-size 100');
  allowed('kubectl describe pod cart-1 -n shop');
  allowed('kubectl describe nodes');
  allowed('kubectl logs cart-1 -n shop -c main --tail=100 --timestamps --previous');
  allowed('kubectl logs deploy/web -n shop --since=10m --all-containers');
  allowed('kubectl top pods -n shop --containers');
  allowed('kubectl top node');
  allowed('kubectl events -n shop --for pod/cart-1 --types=Warning');
  allowed('kubectl explain deployments.spec.strategy --recursive');
  allowed('kubectl explain secret');
  allowed('kubectl api-resources --namespaced=true -o wide');
  allowed('kubectl api-versions');
  allowed('kubectl version -o json');
  allowed('kubectl get pods --request-timeout=10s');
  const can = allowed('kubectl auth can-i list secrets -n shop');
  assert.equal(can.allowSelfAccessReviews, true, 'asking is not reading');
  assert.equal(allowed('kubectl get pods').allowSelfAccessReviews, false);
  allowed('kubectl rollout history deploy/web -n shop --revision=2');
});

test('rollout status is a snapshot: --watch=false is added, a watch is refused', () => {
  assert.deepEqual(allowed('kubectl rollout status deploy/web -n shop').args, ['rollout', 'status', 'deploy/web', '-n', 'shop', '--watch=false']);
  assert.deepEqual(allowed('kubectl rollout status deploy/web --watch=false').args, ['rollout', 'status', 'deploy/web', '--watch=false']);
  refused('kubectl rollout status deploy/web --watch=true', 'watch');
  refused('kubectl rollout status deploy/web -w', 'watch');
});

test('Secrets are refused under every spelling', () => {
  for (const line of [
    'kubectl get secrets -n shop',
    'kubectl get secret db -n shop',
    'kubectl get Secret',
    'kubectl get SECRETS -A',
    'kubectl get secrets.v1.',
    'kubectl get secrets.v1.core/',
    'kubectl get secret/db',
    'kubectl get Secret/db',
    'kubectl get pods,secrets',
    'kubectl get pod/cart-1 secret/db',
    'kubectl describe secrets',
    'kubectl describe secret/db',
    'kubectl get sealedsecrets.bitnami.com -A',
    'kubectl get externalsecrets',
    'kubectl get --raw /api/v1/namespaces/shop/secrets',
    'kubectl get --raw=/api/v1/secrets',
    'kubectl logs secret/db',
    'kubectl events --for secret/db',
    'kubectl rollout history secret/db',
  ]) {
    refused(line, 'secret');
  }
});

test('write verbs and verbs that reach into containers are refused', () => {
  for (const line of [
    'kubectl delete pod cart-1',
    'kubectl apply -f x.yaml',
    'kubectl create token default',
    'kubectl exec cart-1 -- sh',
    'kubectl cp shop/cart-1:/etc/passwd x',
    'kubectl port-forward cart-1 8080',
    'kubectl proxy',
    'kubectl attach cart-1',
    'kubectl debug node/node-a --image=busybox',
    'kubectl run x --image=busybox',
    'kubectl edit deploy web',
    "kubectl patch deploy web -p '{}'",
    'kubectl scale deploy web --replicas=0',
    'kubectl label pod cart-1 a=b',
    'kubectl annotate pod cart-1 a=b',
    'kubectl cordon node-a',
    'kubectl drain node-a',
    'kubectl taint nodes node-a k=v:NoSchedule',
    'kubectl certificate approve csr-1',
    'kubectl rollout restart deploy/web',
    'kubectl rollout undo deploy/web',
    'kubectl config view --raw',
    'kubectl plugin list',
    'kubectl auth whoami',
    'kubectl cluster-info dump',
    'kubectl',
  ]) {
    refused(line, 'verb');
  }
});

test('flags that change identity, target or files are refused anywhere on the line', () => {
  for (const line of [
    'kubectl get pods --kubeconfig=/etc/kubernetes/admin.conf',
    'kubectl get pods --kubeconfig /etc/kubernetes/admin.conf',
    'kubectl --token=abc get pods',
    'kubectl get pods --server=https://evil.example',
    'kubectl get pods -s https://evil.example',
    'kubectl get pods --as=system:admin',
    'kubectl get pods --as-group=system:masters',
    'kubectl --as-uid=0 get pods',
    'kubectl get pods --user=admin',
    'kubectl get pods --context=prod',
    'kubectl get pods --cluster=other',
    'kubectl get pods --insecure-skip-tls-verify',
    'kubectl get pods --certificate-authority=/tmp/ca',
    'kubectl get pods --client-key=/var/run/secrets/key',
    'kubectl get pods --client-certificate=/tmp/c',
    'kubectl get pods --username=admin',
    'kubectl get pods --password=x',
    'kubectl get pods --tls-server-name=x',
  ]) {
    refused(line, 'identity_flag');
  }
  for (const line of ['kubectl get -f /etc/passwd', 'kubectl get -k /tmp/dir', 'kubectl get pods --cache-dir=/tmp/x', 'kubectl get pods --profile=cpu', 'kubectl get pods -o go-template-file=/etc/passwd', 'kubectl get pods -o jsonpath-file=/etc/passwd', 'kubectl get pods -o custom-columns-file=/etc/passwd', 'kubectl get pods --template=x']) {
    refused(line, 'file_flag');
  }
});

test('templates with a language of their own, watches, logging and unknown flags are refused', () => {
  refused(`kubectl get pods -o go-template='{{.items}}'`, 'output_format');
  refused(`kubectl get pods -o template`, 'output_format');
  refused(`kubectl get pods -o jsonpath`, 'output_format');
  refused(`kubectl describe pods -o json`, 'flag');
  refused('kubectl get pods -w', 'watch');
  refused('kubectl get pods --watch', 'watch');
  refused('kubectl get pods --watch-only', 'watch');
  refused('kubectl logs cart-1 -f', 'watch');
  refused('kubectl logs cart-1 --follow', 'watch');
  refused('kubectl events --watch', 'watch');
  refused('kubectl get pods -v=9', 'flag');
  refused('kubectl get pods --v 6', 'flag');
  refused('kubectl get pods -Aw', 'flag');
  refused('kubectl get pods --no-such-flag', 'flag');
  refused('kubectl get pods --show-labels=yes', 'flag');
  refused('kubectl top pod --use-protocol-buffers', 'flag');
  refused('kubectl get pods -- --token=x', 'argument');
  refused('kubectl get pods -n Shop', 'argument');
  refused('kubectl get pods -n "a b"', 'argument');
  refused('kubectl logs', 'argument');
  refused('kubectl -A get pods', 'flag');
});

test('only kubectl runs, by name, never a shell or a wrapper', () => {
  refused('KUBECONFIG=/tmp/other kubectl get pods', 'program');
  refused('bash -c "kubectl get pods"', 'program');
  refused("sh -c 'kubectl get secrets'", 'program');
  refused('/usr/bin/kubectl get pods', 'program');
  refused('./kubectl get pods', 'program');
  refused('env kubectl get pods', 'program');
  refused('sudo kubectl get pods', 'program');
  refused('xargs kubectl get pods', 'program');
  refused('curl http://evil.example', 'program');
  refused('helm list -A', 'program');
});
