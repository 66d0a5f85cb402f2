// Authentication and RBAC as a component sees them: 401 for an unknown token, anonymous requests, service-account
// tokens from the TokenRequest API, Roles/ClusterRoles and their bindings (subresources, resourceNames, groups,
// aggregation), SubjectAccessReviews answered by the same evaluator, TokenReview, impersonation, and the audit log.
import assert from 'node:assert/strict';
import { after, before, test } from 'node:test';
import type * as k8s from '@kubernetes/client-node';
import { startKubeApiServer, type KubeApiServer } from './running-server.js';
import { apiError, clientsFor, rawRequest, type Clients } from './test-support.js';

let server: KubeApiServer;
let admin: Clients;
let saToken: string;
let sa: Clients;
const SA_USER = 'system:serviceaccount:kestrel:aggregator';

before(async () => {
  server = await startKubeApiServer();
  admin = clientsFor(server);
  for (const name of ['kestrel', 'apps']) await admin.core.createNamespace({ body: { metadata: { name } } });
  await admin.core.createNamespacedServiceAccount({ namespace: 'kestrel', body: { metadata: { name: 'aggregator' } } });
  const request = await admin.core.createNamespacedServiceAccountToken({ namespace: 'kestrel', name: 'aggregator', body: { spec: { audiences: [], expirationSeconds: 3600 } } });
  saToken = request.status!.token!;
  sa = clientsFor(server, saToken);
  await admin.core.createNamespacedConfigMap({ namespace: 'kestrel', body: { metadata: { name: 'aggregator-state' } } });
  await admin.core.createNamespacedConfigMap({ namespace: 'kestrel', body: { metadata: { name: 'someone-else' } } });
  await admin.core.createNamespacedSecret({ namespace: 'kestrel', body: { metadata: { name: 'cloud-credentials' }, stringData: { token: 'x' } } });
});

after(async () => {
  await server.stop();
});

test('an unknown token is 401 with an Unauthorized Status; no token is the anonymous user, who may read /version only', async () => {
  const unknown = await rawRequest(server, 'GET', '/api/v1/namespaces', { token: 'not-a-token' });
  assert.equal(unknown.status, 401);
  assert.deepEqual(unknown.json(), { kind: 'Status', apiVersion: 'v1', metadata: {}, status: 'Failure', message: 'Unauthorized', reason: 'Unauthorized', code: 401 });
  assert.equal((await rawRequest(server, 'GET', '/version', { token: null })).status, 200);
  const anonymous = await rawRequest(server, 'GET', '/api/v1/namespaces', { token: null });
  assert.equal(anonymous.status, 403);
  assert.equal(anonymous.json()['message'], 'namespaces is forbidden: User "system:anonymous" cannot list resource "namespaces" in API group "" at the cluster scope');
});

test('a service account starts with discovery and self-reviews only; everything else is 403 with the real message', async () => {
  const groups = await rawRequest(server, 'GET', '/apis', { token: saToken });
  assert.equal(groups.status, 200, 'discovery is open to every authenticated identity');
  const denied = await apiError(() => sa.core.listNamespacedPod({ namespace: 'apps' }));
  assert.equal(denied.code, 403);
  assert.equal(denied.status.reason, 'Forbidden');
  assert.equal(denied.status.message, `pods is forbidden: User "${SA_USER}" cannot list resource "pods" in API group "" in the namespace "apps"`);
  const secret = await apiError(() => sa.core.readNamespacedSecret({ namespace: 'kestrel', name: 'cloud-credentials' }));
  assert.equal(secret.status.message, `secrets "cloud-credentials" is forbidden: User "${SA_USER}" cannot get resource "secrets" in API group "" in the namespace "kestrel"`);
  assert.deepEqual(secret.status.details, { name: 'cloud-credentials', group: '', kind: 'secrets' });
});

test('Roles and RoleBindings: verbs, resourceNames, namespace scope; ClusterRoleBindings to groups', async () => {
  await admin.rbac.createNamespacedRole({
    namespace: 'kestrel',
    body: {
      metadata: { name: 'aggregator' },
      rules: [
        { apiGroups: ['coordination.k8s.io'], resources: ['leases'], verbs: ['get', 'create', 'update'] },
        { apiGroups: [''], resources: ['configmaps'], verbs: ['get', 'update'], resourceNames: ['aggregator-state'] },
      ],
    },
  });
  await admin.rbac.createNamespacedRoleBinding({
    namespace: 'kestrel',
    body: { metadata: { name: 'aggregator' }, roleRef: { apiGroup: 'rbac.authorization.k8s.io', kind: 'Role', name: 'aggregator' }, subjects: [{ kind: 'ServiceAccount', name: 'aggregator', namespace: 'kestrel' }] },
  });
  const lease = await sa.coordination.createNamespacedLease({ namespace: 'kestrel', body: { metadata: { name: 'leader' }, spec: { holderIdentity: 'me' } } });
  assert.equal(lease.spec?.holderIdentity, 'me');
  assert.equal((await apiError(() => sa.coordination.deleteNamespacedLease({ namespace: 'kestrel', name: 'leader' }))).code, 403, 'delete was not granted');
  assert.equal((await apiError(() => sa.coordination.listNamespacedLease({ namespace: 'apps' }))).code, 403, 'a Role grants only in its namespace');
  await sa.core.readNamespacedConfigMap({ namespace: 'kestrel', name: 'aggregator-state' });
  assert.equal((await apiError(() => sa.core.readNamespacedConfigMap({ namespace: 'kestrel', name: 'someone-else' }))).code, 403, 'resourceNames limits the objects');
  assert.equal((await apiError(() => sa.core.listNamespacedConfigMap({ namespace: 'kestrel' }))).code, 403, 'and a list is not on a name');

  await admin.rbac.createClusterRole({ body: { metadata: { name: 'inventory-reader' }, rules: [{ apiGroups: ['', 'apps'], resources: ['pods', 'deployments', 'nodes'], verbs: ['get', 'list', 'watch'] }] } });
  await admin.rbac.createClusterRoleBinding({
    body: { metadata: { name: 'inventory-reader' }, roleRef: { apiGroup: 'rbac.authorization.k8s.io', kind: 'ClusterRole', name: 'inventory-reader' }, subjects: [{ kind: 'Group', name: 'system:serviceaccounts:kestrel', apiGroup: 'rbac.authorization.k8s.io' }] },
  });
  await sa.core.listPodForAllNamespaces();
  await sa.apps.listNamespacedDeployment({ namespace: 'apps' });
  await sa.core.listNode();
  assert.equal((await apiError(() => sa.core.listSecretForAllNamespaces())).code, 403);
  const rebind = await apiError(() =>
    admin.rbac.replaceClusterRoleBinding({ name: 'inventory-reader', body: { metadata: { name: 'inventory-reader' }, roleRef: { apiGroup: 'rbac.authorization.k8s.io', kind: 'ClusterRole', name: 'cluster-admin' }, subjects: [] } }),
  );
  assert.equal(rebind.code, 422, 'a binding\'s roleRef cannot change');
});

function review(user: string, groups: string[], attributes: k8s.V1ResourceAttributes): Promise<k8s.V1SubjectAccessReview> {
  return admin.authorization.createSubjectAccessReview({ body: { spec: { user, groups, resourceAttributes: attributes } } });
}

test('SubjectAccessReview answers from the same RBAC: subresources like pods/exec, aggregated ClusterRoles, non-resource URLs', async () => {
  const groups = ['system:serviceaccounts', 'system:serviceaccounts:kestrel', 'system:authenticated'];
  const allowed = await review(SA_USER, groups, { verb: 'watch', resource: 'pods', namespace: 'apps' });
  assert.equal(allowed.status?.allowed, true);
  assert.equal(allowed.status?.reason, `RBAC: allowed by ClusterRoleBinding "inventory-reader" of ClusterRole "inventory-reader" to Group "system:serviceaccounts:kestrel"`);
  assert.equal((await review(SA_USER, groups, { verb: 'create', resource: 'pods', subresource: 'exec', namespace: 'apps' })).status?.allowed, false, '"pods" does not grant pods/exec');
  assert.equal((await review(SA_USER, groups, { verb: 'get', resource: 'secrets', namespace: 'kestrel' })).status?.allowed, false);
  assert.equal((await review(SA_USER, groups, { verb: 'update', resource: 'deployments', group: 'apps', namespace: 'apps' })).status?.allowed, false);

  await admin.rbac.createClusterRole({ body: { metadata: { name: 'log-reader', labels: { 'kestrel.io/aggregate-to-debug': 'true' } }, rules: [{ apiGroups: [''], resources: ['pods/log'], verbs: ['get'] }] } });
  await admin.rbac.createClusterRole({ body: { metadata: { name: 'debug' }, aggregationRule: { clusterRoleSelectors: [{ matchLabels: { 'kestrel.io/aggregate-to-debug': 'true' } }] }, rules: [] } });
  await admin.rbac.createClusterRoleBinding({ body: { metadata: { name: 'debug' }, roleRef: { apiGroup: 'rbac.authorization.k8s.io', kind: 'ClusterRole', name: 'debug' }, subjects: [{ kind: 'User', name: 'jane', apiGroup: 'rbac.authorization.k8s.io' }] } });
  assert.equal((await review('jane', [], { verb: 'get', resource: 'pods', subresource: 'log', namespace: 'x' })).status?.allowed, true, 'rules reach an aggregated ClusterRole');
  assert.equal((await review('jane', [], { verb: 'get', resource: 'pods', namespace: 'x' })).status?.allowed, false);

  const healthz = await admin.authorization.createSubjectAccessReview({ body: { spec: { user: 'someone', groups: ['system:authenticated'], nonResourceAttributes: { path: '/healthz', verb: 'get' } } } });
  assert.equal(healthz.status?.allowed, true);
  const metrics = await admin.authorization.createSubjectAccessReview({ body: { spec: { user: 'someone', groups: ['system:authenticated'], nonResourceAttributes: { path: '/metrics', verb: 'get' } } } });
  assert.equal(metrics.status?.allowed, false);

  const masters = await review('root', ['system:masters'], { verb: 'delete', resource: 'nodes' });
  assert.equal(masters.status?.allowed, true, 'system:masters is allowed everything');
  assert.equal((await apiError(() => sa.authorization.createSubjectAccessReview({ body: { spec: { user: 'x', resourceAttributes: { verb: 'get', resource: 'pods' } } } }))).code, 403, 'asking about others needs a grant');
});

test('self reviews: SelfSubjectAccessReview, SelfSubjectRulesReview and LocalSubjectAccessReview', async () => {
  const self = await sa.authorization.createSelfSubjectAccessReview({ body: { spec: { resourceAttributes: { verb: 'update', resource: 'leases', group: 'coordination.k8s.io', namespace: 'kestrel' } } } });
  assert.equal(self.status?.allowed, true);
  const selfDenied = await sa.authorization.createSelfSubjectAccessReview({ body: { spec: { resourceAttributes: { verb: 'list', resource: 'secrets', namespace: 'kestrel' } } } });
  assert.equal(selfDenied.status?.allowed, false);
  const rules = await sa.authorization.createSelfSubjectRulesReview({ body: { spec: { namespace: 'kestrel' } } });
  assert.ok(rules.status?.resourceRules.some((r) => r.resources?.includes('leases') && r.verbs.includes('update')));
  assert.ok(rules.status?.nonResourceRules.some((r) => r.nonResourceURLs?.includes('/api')));
  const local = await admin.authorization.createNamespacedLocalSubjectAccessReview({ namespace: 'kestrel', body: { metadata: { namespace: 'kestrel' }, spec: { user: SA_USER, resourceAttributes: { verb: 'get', resource: 'configmaps', name: 'aggregator-state' } } } });
  assert.equal(local.status?.allowed, true);
});

test('TokenReview authenticates issued tokens; a deleted ServiceAccount\'s token stops working everywhere', async () => {
  const ok = await admin.authentication.createTokenReview({ body: { spec: { token: saToken } } });
  assert.equal(ok.status?.authenticated, true);
  assert.equal(ok.status?.user?.username, SA_USER);
  assert.deepEqual(ok.status?.user?.groups, ['system:serviceaccounts', 'system:serviceaccounts:kestrel', 'system:authenticated']);
  assert.equal((await admin.authentication.createTokenReview({ body: { spec: { token: 'forged' } } })).status?.authenticated, undefined);

  await admin.core.createNamespacedServiceAccount({ namespace: 'kestrel', body: { metadata: { name: 'short-lived' } } });
  const token = (await admin.core.createNamespacedServiceAccountToken({ namespace: 'kestrel', name: 'short-lived', body: { spec: { audiences: ['kestrel-aggregator'] } } })).status!.token!;
  const bound = await admin.authentication.createTokenReview({ body: { spec: { token, audiences: ['kestrel-aggregator'] } } });
  assert.equal(bound.status?.authenticated, true);
  assert.deepEqual(bound.status?.audiences, ['kestrel-aggregator']);
  assert.notEqual((await admin.authentication.createTokenReview({ body: { spec: { token, audiences: ['someone-else'] } } })).status?.authenticated, true, 'a token bound to an audience is not valid for another');
  await admin.core.deleteNamespacedServiceAccount({ namespace: 'kestrel', name: 'short-lived' });
  assert.notEqual((await admin.authentication.createTokenReview({ body: { spec: { token, audiences: ['kestrel-aggregator'] } } })).status?.authenticated, true);
  assert.equal((await rawRequest(server, 'GET', '/api', { token })).status, 401);
});

test('impersonation is allowed to system:masters, refused to others, and acts with the impersonated identity', async () => {
  const asSa = await rawRequest(server, 'GET', '/api/v1/namespaces/kestrel/secrets', { headers: { 'Impersonate-User': SA_USER } });
  assert.equal(asSa.status, 403);
  assert.match(asSa.json<{ message: string }>().message, new RegExp(`User "${SA_USER}" cannot list`));
  const byAccount = await rawRequest(server, 'GET', '/api/v1/namespaces', { token: saToken, headers: { 'Impersonate-User': 'kestrel-test-admin', 'Impersonate-Group': 'system:masters' } });
  assert.equal(byAccount.status, 403);
  const entry = server.audit.find({ resource: 'secrets', user: SA_USER }).at(-1)!;
  assert.equal(entry.impersonatedBy, 'kestrel-test-admin');
});

test('the audit log records who did what, including refused requests', async () => {
  server.audit.clear();
  await sa.core.readNamespacedConfigMap({ namespace: 'kestrel', name: 'aggregator-state' });
  await apiError(() => sa.core.readNamespacedSecret({ namespace: 'kestrel', name: 'cloud-credentials' }));
  assert.deepEqual(
    server.audit.find({ user: SA_USER }).map((e) => [e.verb, e.resource, e.namespace, e.name, e.code]),
    [
      ['get', 'configmaps', 'kestrel', 'aggregator-state', 200],
      ['get', 'secrets', 'kestrel', 'cloud-credentials', 403],
    ],
  );
  assert.equal(server.audit.reads('secrets', SA_USER), 1, 'an attempt counts as a read attempt, allowed or not');
});
