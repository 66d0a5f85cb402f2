import assert from 'node:assert/strict';
import { test } from 'node:test';
import { checkApiPath, normaliseApiPath, targetUrl, type ApiTarget } from './api-paths.js';
import type { Refusal } from './refusal.js';

const allowed = (raw: string): ApiTarget => {
  const r = checkApiPath(raw);
  assert.ok(!('refused' in r), `${raw} should be allowed, was refused: ${'refused' in r ? `${r.code} ${r.reason}` : ''}`);
  return r;
};
const refused = (raw: string, code: string, method: 'GET' | 'POST' = 'GET'): Refusal => {
  const r = checkApiPath(raw, { method });
  assert.ok('refused' in r, `${raw} should be refused (${code}), was allowed as ${'refused' in r ? '' : targetUrl(r)}`);
  assert.equal(r.code, code, `${raw}: ${r.reason}`);
  return r;
};

test('duplicate and trailing slashes are dropped, dot segments resolved, segments decoded once and re-encoded', () => {
  assert.equal(targetUrl(allowed('//api//v1///namespaces/shop/pods/')), '/api/v1/namespaces/shop/pods');
  assert.equal(targetUrl(allowed('/api/v1/namespaces/shop/configmaps/../pods/./cart-1')), '/api/v1/namespaces/shop/pods/cart-1');
  assert.equal(targetUrl(allowed('/api/v1/namespaces/%73hop/pods')), '/api/v1/namespaces/shop/pods');
  assert.equal(targetUrl(allowed('/apis/rbac.authorization.k8s.io/v1/clusterroles/system:controller:job-controller')), '/apis/rbac.authorization.k8s.io/v1/clusterroles/system%3Acontroller%3Ajob-controller');
});

test('the query is parsed as Go does (+ is a space) and rebuilt from what was accepted', () => {
  const t = allowed('/api/v1/pods?labelSelector=app+in+(a,b)&fieldSelector=spec.nodeName%3Dnode-a&limit=50&continue=abc');
  assert.deepEqual(t.params, [
    ['labelSelector', 'app in (a,b)'],
    ['fieldSelector', 'spec.nodeName=node-a'],
    ['limit', '50'],
    ['continue', 'abc'],
  ]);
  assert.equal(t.query, 'labelSelector=app%20in%20(a%2Cb)&fieldSelector=spec.nodeName%3Dnode-a&limit=50&continue=abc');
  assert.equal(targetUrl(allowed('/api/v1/namespaces/shop/pods/cart-1/log?container=main&tailLines=20&timestamps=true')), '/api/v1/namespaces/shop/pods/cart-1/log?container=main&tailLines=20&timestamps=true');
});

test('the path is split as the API server splits it', () => {
  const t = allowed('/apis/apps/v1/namespaces/shop/deployments/web/scale');
  assert.deepEqual([t.kind, t.group, t.version, t.namespace, t.resource, t.name, t.subresource], ['resource', 'apps', 'v1', 'shop', 'deployments', 'web', 'scale']);
  const ns = allowed('/api/v1/namespaces/shop');
  assert.deepEqual([ns.resource, ns.name, ns.namespace], ['namespaces', 'shop', 'shop']);
  const status = allowed('/api/v1/namespaces/shop/status');
  assert.deepEqual([status.resource, status.name, status.subresource], ['namespaces', 'shop', 'status']);
  assert.equal(allowed('/apis').kind, 'discovery');
  assert.equal(allowed('/apis/authorization.k8s.io/v1').kind, 'discovery', 'discovery of the review groups is harmless');
  assert.equal(allowed('/version').kind, 'nonresource');
  assert.equal(allowed('/openapi/v3/apis/apps/v1?hash=ABC').kind, 'nonresource');
});

test('custom resources are served (status and scale too), unless their name says secret', () => {
  allowed('/apis/argoproj.io/v1alpha1/namespaces/shop/rollouts/web');
  allowed('/apis/karpenter.sh/v1/nodepools/default/status');
  allowed('/apis/gateway.networking.k8s.io/v1/namespaces/shop/httproutes');
  refused('/apis/bitnami.com/v1alpha1/namespaces/shop/sealedsecrets', 'secret');
  refused('/apis/example.com/v1/secrets', 'secret');
  refused('/apis/example.com/v1/namespaces/shop/widgets/w/exec', 'exec');
  refused('/apis/example.com/v1/namespaces/shop/widgets/w/logs', 'not_allowlisted');
});

test('a pod, namespace or object named "secrets" is not a Secret', () => {
  allowed('/api/v1/namespaces/secrets/pods');
  allowed('/api/v1/namespaces/shop/pods/secrets');
  allowed('/api/v1/namespaces/secrets');
});

test('Secrets are refused in every spelling the API server would accept, and in some it would not', () => {
  for (const raw of [
    '/api/v1/secrets',
    '/api/v1/namespaces/shop/secrets',
    '/api/v1/namespaces/shop/secrets/db',
    '/api/v1/namespaces/shop/Secrets',
    '/api/v1/namespaces/shop/%73ecrets',
    '/api/v1/namespaces/shop/%53ECRETS',
    '/api/v1/namespaces/shop/pods/../secrets',
    '/api/v1/namespaces/shop/pods/%2e%2e/secrets',
    '/API/V1/SECRETS',
    '/api/v1/secrets?fieldSelector=type%3Dkubernetes.io%2Fservice-account-token',
    '/api/v1/namespaces/shop/secrets?watch=true',
  ]) {
    refused(raw, 'secret');
  }
  refused('/api/v1/watch/namespaces/shop/secrets', 'watch');
  refused('/api/v1/namespaces/shop/%2573ecrets', 'encoding');
  refused('/api/v1/namespaces/shop/pods%2F..%2Fsecrets', 'traversal');
  refused('/apis/core/v1/secrets', 'not_allowlisted');
  refused('/apis//v1/secrets', 'not_allowlisted');
});

test('what could run, mint, review or write is refused with its own reason', () => {
  refused('/api/v1/namespaces/shop/serviceaccounts/default/token', 'token');
  refused('/api/v1/namespaces/shop/pods/cart-1/exec?command=sh', 'exec');
  refused('/api/v1/namespaces/shop/pods/cart-1/attach', 'exec');
  refused('/api/v1/namespaces/shop/pods/cart-1/portforward', 'exec');
  refused('/api/v1/namespaces/shop/pods/cart-1/proxy/', 'proxy');
  refused('/api/v1/namespaces/shop/services/web:80/proxy/admin', 'proxy');
  refused('/api/v1/nodes/node-a/proxy/configz', 'proxy');
  refused('/api/v1/proxy/namespaces/shop/pods/x', 'proxy');
  refused('/apis/authentication.k8s.io/v1/tokenreviews', 'review');
  refused('/apis/authorization.k8s.io/v1/subjectaccessreviews', 'review');
  refused('/apis/authorization.k8s.io/v1/selfsubjectaccessreviews', 'review', 'POST');
  refused('/apis/certificates.k8s.io/v1/certificatesigningrequests/csr-1/approval', 'write_subresource');
  refused('/api/v1/namespaces/shop/pods/cart-1/eviction', 'write_subresource');
  refused('/api/v1/namespaces/shop/pods', 'method', 'POST');
  refused('/api/v1/namespaces/shop/pods?dryRun=All', 'method');
});

test('auth can-i (and only it) may POST a self access review', () => {
  const r = checkApiPath('/apis/authorization.k8s.io/v1/selfsubjectaccessreviews', { method: 'POST', allowSelfAccessReviews: true });
  assert.ok(!('refused' in r));
  const other = checkApiPath('/apis/authorization.k8s.io/v1/subjectaccessreviews', { method: 'POST', allowSelfAccessReviews: true });
  assert.ok('refused' in other && other.code === 'review');
});

test('watches, follows and unknown or repeated parameters are refused', () => {
  refused('/api/v1/namespaces/shop/pods?watch=1', 'watch');
  refused('/api/v1/namespaces/shop/pods?watch', 'watch');
  refused('/api/v1/namespaces/shop/pods?Watch=true', 'watch');
  refused('/api/v1/namespaces/shop/pods?allowWatchBookmarks=true', 'watch');
  refused('/api/v1/namespaces/shop/pods/cart-1/log?follow=true', 'watch');
  refused('/api/v1/namespaces/shop/pods/cart-1/log?insecureSkipTLSVerifyBackend=true', 'query');
  refused('/api/v1/namespaces/shop/pods?labelSelector=a&labelSelector=b', 'query');
  refused('/api/v1/namespaces/shop/pods?tailLines=5', 'query');
  refused('/api/v1/namespaces/shop/pods?limit=-1', 'query');
  allowed('/api/v1/namespaces/shop/pods/cart-1/log?follow=false');
});

test('malformed, foreign and smuggling paths are refused before anything is parsed further', () => {
  refused('http://evil.example/api/v1/pods', 'malformed_path');
  refused('api/v1/pods', 'malformed_path');
  refused('/api/v1/pods#x', 'malformed_path');
  refused('', 'malformed_path');
  refused('/api/v1/pods%00', 'encoding');
  refused('/api/v1/namespaces/shop/pods\r\nX-Injected: 1', 'encoding');
  refused('/api/v1/namespaces/shöp/pods', 'encoding');
  refused('/api/v1/pods?%zz', 'encoding');
  refused('/api/v1/namespaces/shop/pods/%C0%AE%C0%AE/secrets', 'encoding');
  refused('/api/v1/namespaces/shop/pods/a%20b', 'encoding');
  refused('/api\\v1\\secrets', 'traversal');
  refused('/api/v1/../../../etc/passwd', 'traversal');
  refused('/api/v1/../../etc/passwd', 'not_allowlisted');
  refused('/api/v1/' + 'a/'.repeat(3000), 'too_large');
  refused('//evil.example/api/v1/pods', 'not_allowlisted');
  refused('/metrics', 'not_allowlisted');
  refused('/logs/kube-apiserver.log', 'not_allowlisted');
  refused('/debug/pprof/', 'not_allowlisted');
  refused('/api/v1/namespaces/Shop/pods', 'malformed_path');
  refused('/api/secrets', 'not_allowlisted');
  refused('/api/v1/bindings', 'not_allowlisted');
});

test('normalising alone reports segments and parameters', () => {
  const n = normaliseApiPath('/a//b/./c/../d?x=1&&y');
  assert.ok(!('refused' in n));
  assert.deepEqual(n.segments, ['a', 'b', 'd']);
  assert.deepEqual(n.params, [
    ['x', '1'],
    ['y', ''],
  ]);
});
