// Pod-bound ServiceAccount tokens, as the kubelet gets them for a projected serviceAccountToken volume: a TokenRequest
// with spec.boundObjectRef to a Pod. The token names its pod (and the pod's node) in the user's extra, is refused for
// a pod that runs as another account or has another uid, and stops authenticating once its pod is gone.
import assert from 'node:assert/strict';
import { after, before, test } from 'node:test';
import type * as k8s from '@kubernetes/client-node';
import { startKubeApiServer, type KubeApiServer } from './running-server.js';
import { ApiError } from './status.js';
import { apiError, clientsFor, rawRequest, type Clients } from './test-support.js';

let server: KubeApiServer;
let admin: Clients;
const NS = 'kestrel';
const EXTRA = 'authentication.kubernetes.io/';

before(async () => {
  server = await startKubeApiServer();
  admin = clientsFor(server);
  await admin.core.createNamespace({ body: { metadata: { name: NS } } });
  for (const name of ['agent', 'other']) await admin.core.createNamespacedServiceAccount({ namespace: NS, body: { metadata: { name } } });
  await admin.core.createNode({ body: { metadata: { name: 'worker-1' } } });
});

after(async () => {
  await server.stop();
});

function createPod(name: string, options: { serviceAccount?: string; node?: string } = {}): Promise<k8s.V1Pod> {
  const spec: k8s.V1PodSpec = { serviceAccountName: options.serviceAccount ?? 'agent', containers: [{ name: 'main', image: 'registry.example/agent:1' }] };
  if (options.node) spec.nodeName = options.node;
  return admin.core.createNamespacedPod({ namespace: NS, body: { metadata: { name }, spec } });
}

function podRef(pod: k8s.V1Pod, uid?: string): k8s.V1BoundObjectReference {
  return { kind: 'Pod', apiVersion: 'v1', name: pod.metadata!.name!, ...(uid !== undefined ? { uid } : {}) };
}

function requestToken(boundObjectRef: k8s.V1BoundObjectReference, audiences: string[] = [], serviceAccount = 'agent'): Promise<k8s.AuthenticationV1TokenRequest> {
  return admin.core.createNamespacedServiceAccountToken({ namespace: NS, name: serviceAccount, body: { spec: { audiences, boundObjectRef } } });
}

async function reviewToken(token: string, audiences?: string[]): Promise<k8s.V1TokenReviewStatus> {
  const review = await admin.authentication.createTokenReview({ body: { spec: { token, ...(audiences ? { audiences } : {}) } } });
  return review.status!;
}

test('a token bound to a scheduled pod names the pod and its node (name and uid) in the extra, next to credential-id', async () => {
  const pod = await createPod('agent-scheduled', { node: 'worker-1' });
  const node = await admin.core.readNode({ name: 'worker-1' });
  const request = await requestToken(podRef(pod, pod.metadata!.uid!));
  assert.deepEqual({ ...request.spec?.boundObjectRef }, podRef(pod, pod.metadata!.uid!), 'the request comes back with its boundObjectRef');

  const status = await reviewToken(request.status!.token!);
  assert.equal(status.authenticated, true);
  assert.equal(status.user?.username, 'system:serviceaccount:kestrel:agent');
  const { [`${EXTRA}credential-id`]: credentialId, ...bound } = status.user?.extra ?? {};
  assert.match(credentialId?.[0] ?? '', /^JTI=/);
  assert.deepEqual(bound, {
    [`${EXTRA}pod-name`]: ['agent-scheduled'],
    [`${EXTRA}pod-uid`]: [pod.metadata!.uid!],
    [`${EXTRA}node-name`]: ['worker-1'],
    [`${EXTRA}node-uid`]: [node.metadata!.uid!],
  });
});

test('a pod without a node, or whose node does not exist, gets a bound token without node extras', async () => {
  for (const [name, node] of [['agent-pending', undefined], ['agent-lost-node', 'worker-gone']] as const) {
    const pod = await createPod(name, node ? { node } : {});
    const status = await reviewToken((await requestToken(podRef(pod))).status!.token!);
    assert.equal(status.authenticated, true, name);
    assert.deepEqual(Object.keys(status.user?.extra ?? {}).sort(), [`${EXTRA}credential-id`, `${EXTRA}pod-name`, `${EXTRA}pod-uid`], name);
    assert.deepEqual(status.user?.extra?.[`${EXTRA}pod-uid`], [pod.metadata!.uid!], name);
  }
});

test('binding refuses a wrong pod uid (409), a pod of another service account (400), a missing pod (404) and other kinds', async () => {
  const pod = await createPod('agent-uid');
  const wrongUid = await apiError(() => requestToken(podRef(pod, 'not-the-uid')));
  assert.equal(wrongUid.code, 409);
  assert.equal(wrongUid.status.reason, 'Conflict');
  assert.equal(wrongUid.status.message, 'Operation cannot be fulfilled on Pod "agent-uid": the UID in the bound object reference (not-the-uid) does not match the UID in record. The object might have been deleted and then recreated');

  const foreign = await createPod('other-pod', { serviceAccount: 'other' });
  const otherAccount = await apiError(() => requestToken(podRef(foreign)));
  assert.equal(otherAccount.code, 400);
  assert.equal(otherAccount.status.message, 'cannot bind token for serviceaccount "agent" to pod running with different serviceaccount name.');
  assert.equal((await reviewToken((await requestToken(podRef(foreign), [], 'other')).status!.token!)).authenticated, true, 'its own account may bind to it');

  const missing = await apiError(() => requestToken({ kind: 'Pod', apiVersion: 'v1', name: 'no-such-pod' }));
  assert.equal(missing.code, 404);
  assert.equal(missing.status.message, 'pods "no-such-pod" not found');
  const deployment = await apiError(() => requestToken({ kind: 'Deployment', apiVersion: 'apps/v1', name: 'agent' }));
  assert.equal(deployment.code, 400);
  assert.equal(deployment.status.message, 'cannot bind token to object of type apps/v1, Kind=Deployment');
});

test('a bound token stops authenticating when its pod is deleted, and a new pod of the same name does not revive it', async () => {
  const pod = await createPod('agent-ephemeral');
  const token = (await requestToken(podRef(pod))).status!.token!;
  const sibling = (await requestToken(podRef(await createPod('agent-sibling')))).status!.token!;
  assert.equal((await rawRequest(server, 'GET', '/api', { token })).status, 200);

  await admin.core.deleteNamespacedPod({ namespace: NS, name: 'agent-ephemeral' });
  assert.notEqual((await reviewToken(token)).authenticated, true, 'TokenReview: unauthenticated');
  assert.equal((await rawRequest(server, 'GET', '/api', { token })).status, 401);
  assert.equal((await reviewToken(sibling)).authenticated, true, 'a token bound to another pod is unaffected');

  const replacement = await createPod('agent-ephemeral');
  assert.notEqual(replacement.metadata!.uid, pod.metadata!.uid);
  assert.notEqual((await reviewToken(token)).authenticated, true, 'the token was for the old uid');
  assert.equal((await rawRequest(server, 'GET', '/api', { token })).status, 401);
  assert.equal((await reviewToken((await requestToken(podRef(replacement))).status!.token!)).authenticated, true);
});

test('a bound token keeps its audiences: a TokenReview for another audience is unauthenticated', async () => {
  const pod = await createPod('agent-audience', { node: 'worker-1' });
  const token = (await requestToken(podRef(pod), ['kestrel-aggregator'])).status!.token!;
  const ok = await reviewToken(token, ['kestrel-aggregator']);
  assert.equal(ok.authenticated, true);
  assert.deepEqual(ok.audiences, ['kestrel-aggregator']);
  assert.deepEqual(ok.user?.extra?.[`${EXTRA}pod-name`], ['agent-audience']);
  const other = await reviewToken(token, ['someone-else']);
  assert.notEqual(other.authenticated, true);
  assert.equal(other.user?.extra, undefined);
});

test('the serviceAccountToken hook issues a bound token with pod, needs the pod, and stays unbound without it', async () => {
  const pod = await createPod('agent-hook', { node: 'worker-1' });
  const bound = await reviewToken(server.serviceAccountToken(NS, 'agent', { pod: 'agent-hook', audiences: ['kestrel-aggregator'] }), ['kestrel-aggregator']);
  assert.equal(bound.authenticated, true);
  assert.deepEqual(bound.user?.extra?.[`${EXTRA}pod-uid`], [pod.metadata!.uid!]);
  assert.deepEqual(bound.user?.extra?.[`${EXTRA}node-name`], ['worker-1']);

  assert.throws(() => server.serviceAccountToken(NS, 'agent', { pod: 'no-such-pod' }), (err: unknown) => err instanceof ApiError && err.code === 404);
  assert.throws(() => server.serviceAccountToken(NS, 'other', { pod: 'agent-hook' }), (err: unknown) => err instanceof ApiError && err.code === 400);

  const unboundToken = server.serviceAccountToken(NS, 'agent');
  const unbound = await reviewToken(unboundToken);
  assert.equal(unbound.authenticated, true);
  assert.deepEqual(Object.keys(unbound.user?.extra ?? {}), [`${EXTRA}credential-id`]);
  await admin.core.deleteNamespacedPod({ namespace: NS, name: 'agent-hook' });
  assert.equal((await reviewToken(unboundToken)).authenticated, true, 'an unbound token does not depend on any pod');
});
