// Label and field selector parsing and matching, with the real server's syntax and errors.
import assert from 'node:assert/strict';
import { test } from 'node:test';
import { builtinKinds } from './builtin-kinds.js';
import { checkFieldSelector, matchesFields, matchesLabels, parseFieldSelector, parseLabelSelector } from './selectors.js';
import { ApiError } from './status.js';
import type { KubeObject } from './objects-meta.js';

const labels = { app: 'web', tier: 'frontend', version: '3' };
const matches = (selector: string, set: Record<string, string> = labels) => matchesLabels(parseLabelSelector(selector), set);

test('label selectors: =, ==, !=, in, notin, exists, !key, gt/lt, combined with commas', () => {
  assert.ok(matches('app=web'));
  assert.ok(matches('app==web'));
  assert.ok(!matches('app=api'));
  assert.ok(matches('app!=api'));
  assert.ok(matches('missing!=x'), '!= matches objects without the label');
  assert.ok(matches('tier in (frontend, backend)'));
  assert.ok(!matches('tier notin (frontend,backend)'));
  assert.ok(matches('missing notin (a)'));
  assert.ok(matches('app'));
  assert.ok(!matches('!app'));
  assert.ok(matches('!missing'));
  assert.ok(matches('version>2'));
  assert.ok(!matches('version<2'));
  assert.ok(matches('app=web,tier in (frontend),!missing'));
  assert.ok(!matches('app=web,tier=backend'));
  assert.ok(matches(''), 'the empty selector matches everything');
  assert.ok(matches('example.com/team=a', { 'example.com/team': 'a' }));
});

test('malformed label selectors are a 400 BadRequest', () => {
  for (const bad of ['a b', '=x', 'app in (a b)', 'app=-bad-', 'app=web,']) {
    assert.throws(() => parseLabelSelector(bad), (err: unknown) => err instanceof ApiError && err.code === 400, bad);
  }
  assert.deepEqual(parseLabelSelector('app='), [{ key: 'app', op: 'in', values: [''] }], 'an empty value is valid');
});

test('field selectors: known fields per kind, escaping, != ; an unknown field is refused like the real server', () => {
  const pods = builtinKinds().find((t) => t.resource === 'pods' && t.group === '')!;
  const pod: KubeObject = { metadata: { name: 'p', namespace: 'ns' }, spec: { nodeName: 'node-1', hostNetwork: true }, status: { phase: 'Running' } };
  const check = (text: string) => {
    const selector = parseFieldSelector(text);
    checkFieldSelector(pods, selector);
    return matchesFields(pods, selector, pod);
  };
  assert.ok(check('spec.nodeName=node-1'));
  assert.ok(check('spec.nodeName==node-1,status.phase=Running'));
  assert.ok(!check('spec.nodeName!=node-1'));
  assert.ok(check('metadata.namespace=ns,metadata.name=p'));
  assert.ok(check('spec.hostNetwork=true'));
  assert.ok(!check('spec.nodeName='), 'an empty value matches unscheduled pods only');
  assert.deepEqual(parseFieldSelector('a=x\\,y,b=z'), [
    { field: 'a', value: 'x,y', negate: false },
    { field: 'b', value: 'z', negate: false },
  ]);
  assert.throws(
    () => check('spec.containers=x'),
    (err: unknown) => err instanceof ApiError && err.code === 400 && err.message === 'field label not supported: spec.containers',
  );
  const nodes = builtinKinds().find((t) => t.resource === 'nodes')!;
  assert.throws(() => checkFieldSelector(nodes, parseFieldSelector('metadata.namespace=x')), /field label not supported/, 'cluster-scoped kinds have no metadata.namespace field');
});
