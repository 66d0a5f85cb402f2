import assert from 'node:assert/strict';
import { test } from 'node:test';
import { createRegistry, metricTotal, type Counter } from '@kestrel/core';
import { Metadata, Status } from 'nice-grpc';
import type { AgentIdentityVerdict } from './identity.js';
import { TokenIdentityCheck, type KubeIdentityApi, type TokenReviewResult } from './token-identity.js';

const NS = 'kestrel';
const SA = `system:serviceaccount:${NS}:kestrel-agent`;
const EXTRA = 'authentication.kubernetes.io/';

interface FakeToken {
  review: TokenReviewResult;
}

/** A fake API server: reviews tokens from a table, counts requests, and can fail. */
function fakeApi(tokens: Record<string, FakeToken>, pods: Record<string, { uid: string; nodeName?: string }> = {}) {
  const calls = { reviews: 0, pods: 0 };
  let failing: Error | undefined;
  let gate: Promise<void> | undefined;
  const api: KubeIdentityApi = {
    async reviewToken(token, audiences) {
      calls.reviews++;
      await gate;
      if (failing) throw failing;
      assert.deepEqual(audiences, ['kestrel-aggregator']);
      return tokens[token]?.review ?? { authenticated: false, error: '[invalid bearer token, token lookup failed]' };
    },
    async readPod(namespace, name) {
      calls.pods++;
      assert.equal(namespace, NS);
      if (failing) throw failing;
      const pod = pods[name];
      return pod ? { uid: pod.uid, nodeName: pod.nodeName } : undefined;
    },
  };
  return {
    api,
    calls,
    fail: (err: Error | undefined) => (failing = err),
    hold: () => {
      let release!: () => void;
      gate = new Promise((resolve) => (release = resolve));
      return () => {
        gate = undefined;
        release();
      };
    },
  };
}

const bound = (extra: Record<string, string>, username = SA, audiences = ['kestrel-aggregator']): FakeToken => ({
  review: { authenticated: true, username, audiences, extra: Object.fromEntries(Object.entries(extra).map(([k, v]) => [`${EXTRA}${k}`, [v]])) },
});

const TOKENS: Record<string, FakeToken> = {
  'node-a-token': bound({ 'pod-name': 'agent-a', 'pod-uid': 'uid-a', 'node-name': 'node-a', 'node-uid': 'n-a' }),
  'old-cluster-token': bound({ 'pod-name': 'agent-b', 'pod-uid': 'uid-b' }),
  'stale-pod-token': bound({ 'pod-name': 'agent-b', 'pod-uid': 'uid-old' }),
  'gone-pod-token': bound({ 'pod-name': 'agent-gone', 'pod-uid': 'uid-gone' }),
  'unscheduled-token': bound({ 'pod-name': 'agent-pending', 'pod-uid': 'uid-p' }),
  'unbound-token': bound({}),
  'other-sa-token': bound({ 'pod-name': 'web', 'pod-uid': 'uid-w', 'node-name': 'node-a' }, `system:serviceaccount:${NS}:web`),
  'other-namespace-token': bound({ 'pod-name': 'agent-a', 'pod-uid': 'uid-x', 'node-name': 'node-a' }, 'system:serviceaccount:elsewhere:kestrel-agent'),
  'api-audience-token': bound({ 'pod-name': 'agent-a', 'pod-uid': 'uid-a', 'node-name': 'node-a' }, SA, []),
};
const PODS = { 'agent-b': { uid: 'uid-b', nodeName: 'node-b' }, 'agent-pending': { uid: 'uid-p' } };

function check(api: KubeIdentityApi, options: { ttlMs?: number; maxEntries?: number; now?: () => number } = {}) {
  const registry = createRegistry('t', false);
  const c = new TokenIdentityCheck(
    { audience: 'kestrel-aggregator', namespace: NS, serviceAccount: 'kestrel-agent', cacheTtlMs: options.ttlMs ?? 60_000, ...(options.maxEntries ? { cacheMaxEntries: options.maxEntries } : {}) },
    api,
    registry,
    options.now,
  );
  const reviews = (result: string) => metricTotal(registry.getSingleMetric('kestrel_aggregator_ingest_token_reviews_total') as Counter, { result });
  return { check: c, reviews };
}

const call = (authorization?: string) => {
  const metadata = Metadata();
  if (authorization !== undefined) metadata.set('authorization', authorization);
  return { peer: '10.0.0.1:5000', metadata };
};

const outcome = (v: AgentIdentityVerdict) => (v.accepted ? { node: v.node, subject: v.subject } : { status: Status[v.status], reason: v.reason });

test('accepts a pod-bound token of the agents ServiceAccount for the node it names, and no other node', async () => {
  const { api } = fakeApi(TOKENS, PODS);
  const { check: c } = check(api);
  assert.deepEqual(outcome(await c.verify(call('Bearer node-a-token'), 'node-a')), { node: 'node-a', subject: `${SA} pod agent-a` });
  const wrong = await c.verify(call('Bearer node-a-token'), 'node-b');
  assert.deepEqual(outcome(wrong), { status: 'PERMISSION_DENIED', reason: 'wrong_node' });
  assert.match(wrong.accepted ? '' : wrong.message, /bound to node "node-a", not "node-b"/);
});

test('without node-name in the review (older clusters) the node is the bound pod’s, when its uid matches', async () => {
  const { api, calls } = fakeApi(TOKENS, PODS);
  const { check: c } = check(api);
  assert.deepEqual(outcome(await c.verify(call('Bearer old-cluster-token'), 'node-b')), { node: 'node-b', subject: `${SA} pod agent-b` });
  assert.equal(calls.pods, 1);
  assert.deepEqual(outcome(await c.verify(call('Bearer old-cluster-token'), 'node-a')), { status: 'PERMISSION_DENIED', reason: 'wrong_node' });
  assert.deepEqual(outcome(await c.verify(call('Bearer stale-pod-token'), 'node-b')), { status: 'UNAUTHENTICATED', reason: 'unbound_token' });
  assert.deepEqual(outcome(await c.verify(call('Bearer gone-pod-token'), 'node-b')), { status: 'UNAUTHENTICATED', reason: 'unbound_token' });
  assert.deepEqual(outcome(await c.verify(call('Bearer unscheduled-token'), 'node-b')), { status: 'PERMISSION_DENIED', reason: 'unbound_token' });
});

test('refuses a missing, malformed, unknown, unbound, foreign or audience-less token, each with its reason', async () => {
  const { api } = fakeApi(TOKENS, PODS);
  const { check: c } = check(api);
  const cases: [string | undefined, string, string][] = [
    [undefined, 'UNAUTHENTICATED', 'no_token'],
    ['Basic dXNlcjpwYXNz', 'UNAUTHENTICATED', 'invalid_token'],
    ['Bearer ', 'UNAUTHENTICATED', 'invalid_token'],
    ['Bearer not-a-token', 'UNAUTHENTICATED', 'invalid_token'],
    ['Bearer api-audience-token', 'UNAUTHENTICATED', 'invalid_token'],
    ['Bearer unbound-token', 'PERMISSION_DENIED', 'unbound_token'],
    ['Bearer other-sa-token', 'PERMISSION_DENIED', 'wrong_service_account'],
    ['Bearer other-namespace-token', 'PERMISSION_DENIED', 'wrong_service_account'],
  ];
  for (const [authorization, status, reason] of cases) {
    assert.deepEqual(outcome(await c.verify(call(authorization), 'node-a')), { status, reason }, String(authorization));
  }
});

test('an API failure is UNAVAILABLE and not cached; verdicts are cached for the TTL, by token', async () => {
  const { api, calls, fail } = fakeApi(TOKENS, PODS);
  let now = 1_000_000;
  const { check: c, reviews } = check(api, { ttlMs: 60_000, now: () => now });
  fail(new Error('HTTP-Code: 503\nMessage: unavailable'));
  const failed = await c.verify(call('Bearer node-a-token'), 'node-a');
  assert.deepEqual(outcome(failed), { status: 'UNAVAILABLE', reason: 'token_review_failed' });
  assert.match(failed.accepted ? '' : failed.message, /HTTP-Code: 503$/, 'the first line of the API error, not its headers');
  assert.equal(await reviews('error'), 1);
  fail(undefined);
  assert.equal((await c.verify(call('Bearer node-a-token'), 'node-a')).accepted, true);
  assert.equal(calls.reviews, 2);
  // Cached: no review for the same token within the TTL, whichever node it claims; a refusal is cached too.
  now += 59_000;
  assert.equal((await c.verify(call('Bearer node-a-token'), 'node-a')).accepted, true);
  assert.equal((await c.verify(call('Bearer node-a-token'), 'node-b')).accepted, false);
  await c.verify(call('Bearer not-a-token'), 'node-a');
  await c.verify(call('Bearer not-a-token'), 'node-a');
  assert.equal(calls.reviews, 3);
  assert.equal(await reviews('cached'), 3);
  // After the TTL the token is reviewed again.
  now += 2000;
  assert.equal((await c.verify(call('Bearer node-a-token'), 'node-a')).accepted, true);
  assert.equal(calls.reviews, 4);
  // The pod lookup failing is UNAVAILABLE too.
  fail(new Error('socket hang up'));
  now += 120_000;
  assert.deepEqual(outcome(await c.verify(call('Bearer old-cluster-token'), 'node-b')), { status: 'UNAVAILABLE', reason: 'token_review_failed' });
});

test('a pod lookup failure is UNAVAILABLE (pod_lookup_failed)', async () => {
  const { api } = fakeApi(TOKENS, PODS);
  api.readPod = async () => {
    throw new Error('HTTP-Code: 500');
  };
  const { check: c } = check(api);
  assert.deepEqual(outcome(await c.verify(call('Bearer old-cluster-token'), 'node-b')), { status: 'UNAVAILABLE', reason: 'pod_lookup_failed' });
});

test('the cache is bounded, and concurrent checks of one token share one review', async () => {
  const many: Record<string, FakeToken> = {};
  for (let i = 0; i < 5; i++) many[`t${i}`] = bound({ 'pod-name': `p${i}`, 'pod-uid': `u${i}`, 'node-name': `n${i}` });
  const { api, calls, hold } = fakeApi(many);
  const { check: c } = check(api, { maxEntries: 3 });
  for (let i = 0; i < 5; i++) assert.equal((await c.verify(call(`Bearer t${i}`), `n${i}`)).accepted, true);
  assert.equal(calls.reviews, 5);
  // t0 and t1 were evicted (only 3 kept); t4 is still cached.
  await c.verify(call('Bearer t4'), 'n4');
  assert.equal(calls.reviews, 5);
  await c.verify(call('Bearer t0'), 'n0');
  assert.equal(calls.reviews, 6);

  const release = hold();
  const together = Promise.all([c.verify(call('Bearer t1'), 'n1'), c.verify(call('Bearer t1'), 'n1'), c.verify(call('Bearer t1'), 'n2')]);
  await new Promise((r) => setTimeout(r, 10));
  release();
  const results = await together;
  assert.deepEqual(results.map((r) => r.accepted), [true, true, false]);
  assert.equal(calls.reviews, 7);
});
