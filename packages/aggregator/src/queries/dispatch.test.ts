import assert from 'node:assert/strict';
import { test } from 'node:test';
import { DatadogQueryRequest, DatadogQueryType } from '@kestrel/proto/cloud/v1';
import { MAX_RESPONSE_DATA_BYTES, QueryDispatcher, familyOf, type QueryAnswer, type QueryFamily } from './dispatch.js';

const request = (queryType: number, extra: Partial<DatadogQueryRequest> = {}) => DatadogQueryRequest.fromPartial({ requestId: `r${queryType}`, queryType, ...extra });

function family(name: QueryFamily['name'], answer: (r: DatadogQueryRequest, s: AbortSignal) => Promise<QueryAnswer>): QueryFamily & { seen: number[] } {
  const seen: number[] = [];
  return {
    name,
    seen,
    handle: (r, s) => {
      seen.push(r.queryType);
      return answer(r, s);
    },
  };
}

const ok = async (): Promise<QueryAnswer> => ({ success: true, responseData: '{}', errorMessage: '', statusCode: 200 });

test('each enum number goes to the family that owns it, and only there', async () => {
  const dispatcher = new QueryDispatcher();
  const families = (['Datadog', 'ArgoCD', 'Argo Rollouts', 'Flux CD', 'Karpenter'] as const).map((name) => family(name, ok));
  for (const f of families) dispatcher.register(f);
  for (let type = 0; type <= 35; type++) {
    const answer = await dispatcher.answer(request(type), 'control');
    assert.equal(answer.requestId, `r${type}`);
    assert.equal(answer.success, true);
  }
  assert.deepEqual(
    families.map((f) => [f.name, f.seen.length, Math.min(...f.seen), Math.max(...f.seen)]),
    [
      ['Datadog', 10, 0, 9],
      ['ArgoCD', 4, 10, 13],
      ['Argo Rollouts', 9, 14, 22],
      ['Flux CD', 6, 23, 28],
      ['Karpenter', 7, 29, 35],
    ],
  );
  assert.equal(familyOf(DatadogQueryType.KARPENTER_DELETE_NODECLAIM), 'Karpenter');
});

test('a type past the known ones is refused with 400 naming the bare number', async () => {
  const answer = await new QueryDispatcher().answer(request(36), 'data');
  assert.deepEqual([answer.success, answer.statusCode, answer.errorMessage], [false, 400, 'unsupported GitOps query type: 36']);
});

test('an absent family is answered as the published operator words it, per stream', async () => {
  const dispatcher = new QueryDispatcher();
  const got = async (type: number, on: 'control' | 'data') => {
    const a = await dispatcher.answer(request(type), on);
    return [a.success, a.statusCode, a.errorMessage];
  };
  assert.deepEqual(await got(1, 'control'), [false, 0, 'Datadog integration is not enabled on this operator']);
  assert.deepEqual(await got(1, 'data'), [false, 503, 'Datadog executor not configured on this operator']);
  assert.deepEqual(await got(10, 'control'), [false, 503, 'ArgoCD integration is not available on this operator']);
  assert.deepEqual(await got(21, 'data'), [false, 503, 'Argo Rollouts integration is not available on this operator']);
  assert.deepEqual(await got(27, 'control'), [false, 503, 'Flux CD integration is not available on this operator']);
  assert.deepEqual(await got(35, 'control'), [false, 503, 'Karpenter integration is not available on this operator']);
});

test('response_data over 8 MiB is dropped: the control stream keeps the status and says how big, the data stream says 413', async () => {
  const dispatcher = new QueryDispatcher();
  const big = 'x'.repeat(MAX_RESPONSE_DATA_BYTES + 1);
  dispatcher.register(family('Datadog', async () => ({ success: true, responseData: big, errorMessage: '', statusCode: 200 })));
  const control = await dispatcher.answer(request(1), 'control');
  assert.deepEqual([control.success, control.statusCode, control.responseData], [false, 200, '']);
  assert.match(control.errorMessage, new RegExp(`^Response too large \\(${MAX_RESPONSE_DATA_BYTES + 1} bytes, max ${MAX_RESPONSE_DATA_BYTES}\\)`));
  const data = await dispatcher.answer(request(1), 'data');
  assert.deepEqual([data.success, data.statusCode, data.errorMessage, data.responseData], [false, 413, 'Response too large (>8MB)', '']);
});

test('the request timeout reaches the family as an aborted signal, and a family that throws still gets the cloud an answer', async () => {
  const dispatcher = new QueryDispatcher();
  dispatcher.register(
    family('Flux CD', (_r, signal) => new Promise((_resolve, reject) => signal.addEventListener('abort', () => reject(new Error('aborted')), { once: true }))),
  );
  dispatcher.register(
    family('Karpenter', async () => {
      throw new Error('a bug');
    }),
  );
  const timedOut = await dispatcher.answer(request(26, { timeoutSeconds: 1 }), 'control');
  assert.deepEqual([timedOut.success, timedOut.statusCode, timedOut.errorMessage], [false, 504, 'timed out after 1 s']);
  const thrown = await dispatcher.answer(request(29), 'control');
  assert.deepEqual([thrown.success, thrown.statusCode, thrown.errorMessage], [false, 500, 'a bug']);
});

test('as the uplink handler it takes DatadogQueryRequest on control and data only, and answers with datadogQueryResponse', async () => {
  const dispatcher = new QueryDispatcher();
  const message = { $case: 'datadogQueryRequest' as const, value: request(12) };
  assert.equal(dispatcher.handles(message, 'control'), true);
  assert.equal(dispatcher.handles(message, 'data'), true);
  assert.equal(dispatcher.handles(message, 'events'), false);
  assert.equal(dispatcher.handles({ $case: 'heartbeat', value: {} } as never, 'control'), false);
  const record = await dispatcher.handle(message, 'control');
  assert.equal(record?.$case, 'datadogQueryResponse');
});
