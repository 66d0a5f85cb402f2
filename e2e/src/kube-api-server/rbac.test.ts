// The RBAC evaluator's matching rules on their own, against objects in a store (no HTTP): wildcards, "*/status",
// resourceNames, non-resource URL prefixes, RoleBinding subjects without a namespace, RoleBindings to ClusterRoles.
import assert from 'node:assert/strict';
import { test } from 'node:test';
import { RbacAuthorizer, forbiddenMessage, type Attributes } from './rbac.js';
import { VersionedStore } from './store.js';
import type { KubeObject } from './objects-meta.js';
import type { UserInfo } from './authn.js';

const RBAC = 'rbac.authorization.k8s.io';

function setup(objects: { bucket: string; key: string; object: KubeObject }[]): RbacAuthorizer {
  const store = new VersionedStore({ historyLimit: 100 });
  for (const o of objects) store.put(`${RBAC}/${o.bucket}`, o.key, o.object);
  return new RbacAuthorizer(store);
}

const sa: UserInfo = { username: 'system:serviceaccount:team:bot', groups: ['system:serviceaccounts', 'system:serviceaccounts:team', 'system:authenticated'] };
const ask = (authorizer: RbacAuthorizer, a: Omit<Attributes, 'user' | 'resourceRequest'> & { user?: UserInfo; resourceRequest?: boolean }) =>
  authorizer.authorize({ user: sa, resourceRequest: true, ...a }).allowed;

test('rules: verb and resource wildcards, */subresource, resourceNames, apiGroups', () => {
  const authorizer = setup([
    { bucket: 'clusterroles', key: 'mixed', object: { metadata: { name: 'mixed' }, rules: [
      { apiGroups: ['apps'], resources: ['deployments'], verbs: ['*'] },
      { apiGroups: [''], resources: ['*/status'], verbs: ['get'] },
      { apiGroups: [''], resources: ['configmaps'], verbs: ['get'], resourceNames: ['only-this'] },
      { apiGroups: ['*'], resources: ['leases'], verbs: ['list'] },
    ] } },
    { bucket: 'clusterrolebindings', key: 'mixed', object: { metadata: { name: 'mixed' }, roleRef: { kind: 'ClusterRole', name: 'mixed' }, subjects: [{ kind: 'ServiceAccount', name: 'bot', namespace: 'team' }] } },
  ]);
  assert.ok(ask(authorizer, { verb: 'delete', apiGroup: 'apps', resource: 'deployments', namespace: 'x' }));
  assert.ok(!ask(authorizer, { verb: 'delete', apiGroup: '', resource: 'deployments', namespace: 'x' }), 'the group must match');
  assert.ok(ask(authorizer, { verb: 'get', apiGroup: '', resource: 'services', subresource: 'status', namespace: 'x' }), '*/status applies to every resource\'s status');
  assert.ok(!ask(authorizer, { verb: 'list', apiGroup: 'apps', resource: 'deployments', subresource: 'scale', namespace: 'x' }), '"deployments" does not grant deployments/scale');
  assert.ok(ask(authorizer, { verb: 'get', apiGroup: '', resource: 'pods', subresource: 'status', namespace: 'x' }));
  assert.ok(!ask(authorizer, { verb: 'get', apiGroup: '', resource: 'pods', namespace: 'x' }), '*/status does not grant the main resource');
  assert.ok(ask(authorizer, { verb: 'get', apiGroup: '', resource: 'configmaps', name: 'only-this', namespace: 'x' }));
  assert.ok(!ask(authorizer, { verb: 'get', apiGroup: '', resource: 'configmaps', name: 'other', namespace: 'x' }));
  assert.ok(ask(authorizer, { verb: 'list', apiGroup: 'coordination.k8s.io', resource: 'leases', namespace: 'x' }));
});

test('bindings: a RoleBinding grants a ClusterRole only in its namespace; a ServiceAccount subject defaults to the binding\'s namespace', () => {
  const authorizer = setup([
    { bucket: 'clusterroles', key: 'reader', object: { metadata: { name: 'reader' }, rules: [{ apiGroups: [''], resources: ['pods'], verbs: ['get', 'list'] }] } },
    { bucket: 'roles', key: 'team/writer', object: { metadata: { name: 'writer', namespace: 'team' }, rules: [{ apiGroups: [''], resources: ['configmaps'], verbs: ['create'] }] } },
    { bucket: 'rolebindings', key: 'team/reader', object: { metadata: { name: 'reader', namespace: 'team' }, roleRef: { kind: 'ClusterRole', name: 'reader' }, subjects: [{ kind: 'ServiceAccount', name: 'bot' }] } },
    { bucket: 'rolebindings', key: 'team/writer', object: { metadata: { name: 'writer', namespace: 'team' }, roleRef: { kind: 'Role', name: 'writer' }, subjects: [{ kind: 'Group', name: 'system:serviceaccounts:team' }] } },
  ]);
  assert.ok(ask(authorizer, { verb: 'list', apiGroup: '', resource: 'pods', namespace: 'team' }));
  assert.ok(!ask(authorizer, { verb: 'list', apiGroup: '', resource: 'pods', namespace: 'other' }));
  assert.ok(!ask(authorizer, { verb: 'list', apiGroup: '', resource: 'pods' }), 'nor cluster-wide');
  assert.ok(ask(authorizer, { verb: 'create', apiGroup: '', resource: 'configmaps', namespace: 'team' }));
  const other: UserInfo = { username: 'system:serviceaccount:other:bot', groups: ['system:serviceaccounts:other'] };
  assert.ok(!ask(authorizer, { user: other, verb: 'list', apiGroup: '', resource: 'pods', namespace: 'team' }), 'bot in another namespace is another subject');
});

test('non-resource URLs: exact and trailing-* prefixes, only through ClusterRoleBindings', () => {
  const authorizer = setup([
    { bucket: 'clusterroles', key: 'metrics', object: { metadata: { name: 'metrics' }, rules: [{ nonResourceURLs: ['/metrics', '/debug/*'], verbs: ['get'] }] } },
    { bucket: 'clusterrolebindings', key: 'metrics', object: { metadata: { name: 'metrics' }, roleRef: { kind: 'ClusterRole', name: 'metrics' }, subjects: [{ kind: 'User', name: 'prometheus' }] } },
  ]);
  const prometheus: UserInfo = { username: 'prometheus', groups: [] };
  const url = (path: string, verb = 'get') => authorizer.authorize({ user: prometheus, resourceRequest: false, verb, path }).allowed;
  assert.ok(url('/metrics'));
  assert.ok(url('/debug/pprof/heap'));
  assert.ok(!url('/metrics/extra'));
  assert.ok(!url('/metrics', 'post'));
});

test('403 messages read like the real server\'s', () => {
  assert.equal(
    forbiddenMessage({ user: sa, resourceRequest: true, verb: 'create', apiGroup: '', resource: 'pods', subresource: 'exec', name: 'web-1', namespace: 'shop' }),
    'pods "web-1" is forbidden: User "system:serviceaccount:team:bot" cannot create resource "pods/exec" in API group "" in the namespace "shop"',
  );
  assert.equal(
    forbiddenMessage({ user: sa, resourceRequest: true, verb: 'list', apiGroup: 'apps', resource: 'deployments' }),
    'deployments.apps is forbidden: User "system:serviceaccount:team:bot" cannot list resource "deployments" in API group "apps" at the cluster scope',
  );
  assert.equal(forbiddenMessage({ user: sa, resourceRequest: false, verb: 'get', path: '/metrics' }), 'forbidden: User "system:serviceaccount:team:bot" cannot get path "/metrics"');
});
