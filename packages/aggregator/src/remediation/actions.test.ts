import assert from 'node:assert/strict';
import { test } from 'node:test';
import { KubeConfig } from '@kubernetes/client-node';
import { createRegistry, metricTotal } from '@kestrel/core';
import { DatadogQueryRequest, DatadogQueryType } from '@kestrel/proto/cloud/v1';
import { MinuteRateLimit } from '../executors/limits.js';
import { ActionFamily, type Action } from './actions.js';
import { RemediationEvents, type ActionAudit } from './events.js';
import { RemediationKube } from './kube-client.js';
import { ROLLOUT_ACTIONS } from './rollouts.js';
import type { WriteSwitch } from './settings.js';

/** An API server address where nothing listens: any call that is made fails with a connection error (status 500). */
function unreachableKube(): RemediationKube {
  const kc = new KubeConfig();
  kc.loadFromOptions({ clusters: [{ name: 'c', server: 'https://127.0.0.1:1' }], users: [{ name: 'u' }], contexts: [{ name: 'x', cluster: 'c', user: 'u' }], currentContext: 'x' });
  return new RemediationKube(kc);
}

function family(sw: Partial<WriteSwitch>, perMinute = 100, actions: ReadonlyMap<number, Action> = ROLLOUT_ACTIONS) {
  const audits: ActionAudit[] = [];
  const events = new RemediationEvents(createRegistry('t', false), (a) => audits.push(a));
  const f = new ActionFamily('Argo Rollouts', actions, { kube: unreachableKube(), switch: { enabled: false, namespaces: [], value: 'remediation.argoRollouts', ...sw }, limit: new MinuteRateLimit(perMinute), events });
  return { f, audits, events };
}

const request = (type: DatadogQueryType, fields: Partial<DatadogQueryRequest> = {}) => DatadogQueryRequest.fromPartial({ requestId: 'r1', queryType: type, ...fields });

test('a write of a family that is off is refused with 403 naming the chart value, before any call to the API server', async () => {
  const { f, audits, events } = family({ enabled: false });
  const answer = await f.handle(request(DatadogQueryType.ROLLOUTS_PROMOTE, { filter: 'shop/web' }), AbortSignal.timeout(5000));
  assert.deepEqual(answer, { success: false, responseData: '', statusCode: 403, errorMessage: 'this write action is off on this operator: the installer turns it on with the chart value remediation.argoRollouts.enabled=true' });
  assert.equal(audits.length, 1);
  assert.deepEqual({ ...audits[0], durationMs: 0 }, { requestId: 'r1', family: 'Argo Rollouts', action: 'promote', target: '', decision: 'refused', status: 403, outcome: answer.errorMessage, durationMs: 0 });
  assert.equal(await metricTotal(events.actions, { family: 'Argo Rollouts', action: 'promote', decision: 'refused' }), 1);
});

test('a read whose API call fails is answered (500, the error text) and audited as failed, never a rejection', async () => {
  const { f, audits } = family({ enabled: false });
  const answer = await f.handle(request(DatadogQueryType.ROLLOUTS_GET_STATUS, { filter: 'shop/web' }), AbortSignal.timeout(5000));
  assert.equal(answer.success, false);
  assert.equal(answer.statusCode, 500);
  assert.match(answer.errorMessage, /ECONNREFUSED/);
  assert.deepEqual([audits[0]!.decision, audits[0]!.target, audits[0]!.action], ['failed', 'Rollout/shop/web', 'get_status']);
});

test('past the per-family rate limit, actions are answered 429 and counted as rate_limited', async () => {
  const { f, events } = family({ enabled: false }, 1);
  await f.handle(request(DatadogQueryType.ROLLOUTS_LIST), AbortSignal.timeout(5000));
  const limited = await f.handle(request(DatadogQueryType.ROLLOUTS_LIST), AbortSignal.timeout(5000));
  assert.deepEqual([limited.success, limited.statusCode], [false, 429]);
  assert.match(limited.errorMessage, /rate limited/);
  assert.equal(await metricTotal(events.actions, { decision: 'rate_limited' }), 1);
});

test('an action still running at the request timeout is answered 504 and audited as timed out', async () => {
  const slow: Action = { name: 'slow', write: false, run: (ctx) => new Promise((_, reject) => ctx.signal.addEventListener('abort', () => reject(new Error('aborted')))) };
  const { f, audits } = family({ enabled: true }, 100, new Map([[DatadogQueryType.ROLLOUTS_LIST, slow]]));
  const answer = await f.handle(request(DatadogQueryType.ROLLOUTS_LIST), AbortSignal.timeout(20));
  assert.deepEqual([answer.statusCode, audits[0]!.decision], [504, 'timed_out']);
});

test('a type the family has no action for is a clear 400, never silence', async () => {
  const { f } = family({ enabled: true }, 100, new Map());
  const answer = await f.handle(request(DatadogQueryType.ROLLOUTS_LIST), AbortSignal.timeout(5000));
  assert.deepEqual([answer.statusCode, answer.errorMessage], [400, 'unsupported GitOps query type: ROLLOUTS_LIST']);
});
