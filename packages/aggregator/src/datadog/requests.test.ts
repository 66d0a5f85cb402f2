import assert from 'node:assert/strict';
import { test } from 'node:test';
import { DatadogQueryType, type DatadogQueryRequest } from '@kestrel/proto/cloud/v1';
import { buildCall, rfc3339 } from './requests.js';

const req = (fields: Partial<DatadogQueryRequest>): DatadogQueryRequest => ({ requestId: 'r', queryType: 0, query: '', fromTs: 0, toTs: 0, filter: '', sort: '', maxResults: 0, timeoutSeconds: 0, jsonBody: '', ...fields });

test('each type becomes the published HTTP call', () => {
  assert.deepEqual(buildCall(req({ queryType: DatadogQueryType.DATADOG_QUERY_METRICS, query: 'avg:x{*}', fromTs: 0, toTs: 5 }), 1000), {
    call: { method: 'GET', path: '/api/v1/query', query: { query: 'avg:x{*}', from: '0', to: '5' }, appKey: true, idempotent: true },
  });
  assert.deepEqual(buildCall(req({ queryType: DatadogQueryType.DATADOG_QUERY_EVENTS, fromTs: 1, toTs: 2 }), 1000), { call: { method: 'GET', path: '/api/v1/events', query: { start: '1', end: '2' }, appKey: true, idempotent: true } });
  assert.deepEqual(buildCall(req({ queryType: DatadogQueryType.DATADOG_QUERY_HOSTS }), 1000), { call: { method: 'GET', path: '/api/v1/hosts', query: {}, appKey: true, idempotent: true } });
  assert.deepEqual(buildCall(req({ queryType: DatadogQueryType.DATADOG_QUERY_LIST_METRICS }), 10_000), { call: { method: 'GET', path: '/api/v1/metrics', query: { from: '6400' }, appKey: true, idempotent: true } });
  const logs = buildCall(req({ queryType: DatadogQueryType.DATADOG_QUERY_LOGS, fromTs: 0, toTs: 60 }), 1000);
  assert.ok('call' in logs);
  assert.deepEqual(JSON.parse(logs.call.body!), { filter: { from: '1970-01-01T00:00:00Z', to: '1970-01-01T00:01:00Z', query: '' } });
  const mute = buildCall(req({ queryType: DatadogQueryType.DATADOG_MUTE_MONITOR, filter: '12/../34' }), 1000);
  assert.ok('call' in mute);
  assert.equal(mute.call.path, '/api/v1/monitor/12%2F..%2F34/mute', 'the id is path-escaped');
  assert.equal(mute.call.body, '{}');
  const event = buildCall(req({ queryType: DatadogQueryType.DATADOG_SEND_EVENT, jsonBody: '{"title":"t"}' }), 1000);
  assert.ok('call' in event);
  assert.deepEqual([event.call.appKey, event.call.idempotent], [false, false]);
});

test('missing fields give the published 400 wording', () => {
  assert.deepEqual(buildCall(req({ queryType: DatadogQueryType.DATADOG_QUERY_METRICS }), 0), { invalid: 'query string is required for metrics queries' });
  assert.deepEqual(buildCall(req({ queryType: DatadogQueryType.DATADOG_CREATE_MONITOR }), 0), { invalid: 'json_body is required for create-monitor' });
  assert.deepEqual(buildCall(req({ queryType: DatadogQueryType.DATADOG_SEND_EVENT }), 0), { invalid: 'json_body is required for send-event' });
  assert.deepEqual(buildCall(req({ queryType: DatadogQueryType.DATADOG_MUTE_MONITOR }), 0), { invalid: 'filter field must contain the monitor ID for mute-monitor' });
  assert.deepEqual(buildCall(req({ queryType: DatadogQueryType.DATADOG_QUERY_UNSPECIFIED }), 0), { invalid: 'unsupported query type: DATADOG_QUERY_UNSPECIFIED' });
  assert.equal(rfc3339(1764000000), '2025-11-24T16:00:00Z');
});
