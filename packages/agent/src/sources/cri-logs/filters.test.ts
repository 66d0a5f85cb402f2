import assert from 'node:assert/strict';
import { test } from 'node:test';
import { globToRegExp, LogFilter, type FilterConfig } from './filters.js';

const none: FilterConfig = { includeNamespaces: [], excludeNamespaces: [], includePods: [], excludePods: [], includeContainers: [], excludeContainers: [], ownPod: undefined };
const c = (namespace: string, podName: string, containerName = 'app') => ({ namespace, podName, podUid: 'u', containerName });

test('globs: * any run, ? one character, everything else literal', () => {
  assert.ok(globToRegExp('kube-*').test('kube-system'));
  assert.ok(globToRegExp('web-?').test('web-1'));
  assert.ok(!globToRegExp('web-?').test('web-10'));
  assert.ok(!globToRegExp('a.b').test('axb'));
});

test('excludes namespaces, pods (by name or namespace/name) and containers (by name, pod/name or namespace/pod/name)', () => {
  const f = new LogFilter({ ...none, excludeNamespaces: ['kube-system'], excludePods: ['shop/debug-*', 'canary'], excludeContainers: ['istio-proxy', 'batch/*/init-*'] });
  assert.ok(!f.podAllowed(c('kube-system', 'coredns')));
  assert.ok(!f.podAllowed(c('shop', 'debug-1')));
  assert.ok(f.podAllowed(c('other', 'debug-1')));
  assert.ok(!f.podAllowed(c('any', 'canary')));
  assert.ok(!f.containerAllowed(c('shop', 'cart', 'istio-proxy')));
  assert.ok(!f.containerAllowed(c('batch', 'job', 'init-db')));
  assert.ok(f.containerAllowed(c('shop', 'job', 'init-db')));
  assert.ok(f.containerAllowed(c('shop', 'cart')));
});

test('include lists restrict to what they match; an empty one includes all', () => {
  const f = new LogFilter({ ...none, includeNamespaces: ['shop', 'pay*'], includeContainers: ['app'] });
  assert.ok(f.containerAllowed(c('payments', 'ledger')));
  assert.ok(!f.containerAllowed(c('search', 'indexer')));
  assert.ok(!f.containerAllowed(c('shop', 'cart', 'sidecar')));
});

test("the agent's own pod is never collected, whatever the lists say", () => {
  const f = new LogFilter({ ...none, includeNamespaces: ['kestrel'], ownPod: { namespace: 'kestrel', name: 'kestrel-agent-x1' } });
  assert.ok(!f.podAllowed(c('kestrel', 'kestrel-agent-x1')));
  assert.ok(f.podAllowed(c('kestrel', 'kestrel-aggregator-0')));
});
