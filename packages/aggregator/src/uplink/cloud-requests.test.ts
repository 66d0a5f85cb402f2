import assert from 'node:assert/strict';
import { test } from 'node:test';
import { createLogger, createRegistry, metricTotal } from '@kestrel/core';
import { StreamControlResponse, StreamDataResponse } from '@kestrel/proto/cloud/v1';
import type { CertificateRenewals } from './certificate-renewal.js';
import { CloudRequests } from './cloud-requests.js';
import { UplinkEvents } from './events.js';
import type { StreamName, UplinkRecord } from './records.js';

function setup() {
  const logger = createLogger('test', 'error');
  logger.silent = true;
  const events = new UplinkEvents(createRegistry('t', false), logger);
  const answers: { on: StreamName; record: UplinkRecord }[] = [];
  const certificates = { apply: async () => assert.fail('no renewal expected') } as unknown as CertificateRenewals;
  return { requests: new CloudRequests(certificates, (on, record) => answers.push({ on, record }), events), answers, events };
}

const control = (response: StreamControlResponse['response']) => Buffer.from(StreamControlResponse.encode({ response }).finish());
const data = (response: StreamDataResponse['response']) => Buffer.from(StreamDataResponse.encode({ response }).finish());

test('every request kind this version cannot carry out is answered at once, on its stream, with the same request_id and a clear error', () => {
  const { requests, answers } = setup();
  requests.received('control', control({ $case: 'yamlDryRunRequest', value: { requestId: 'y1', yamlManifests: [], timeoutSeconds: 5 } }));
  requests.received('control', control({ $case: 'yamlApplyRequest', value: { requestId: 'y2', yamlManifests: [], timeoutSeconds: 5 } }));
  requests.received('data', data({ $case: 'operatorRestartRequest', value: { requestId: 'r1', reason: 'upgrade', delaySeconds: 0, graceful: true } }));
  requests.received('control', control({ $case: 'metricsQueryRequest', value: StreamControlResponse.fromPartial({ response: { $case: 'metricsQueryRequest', value: { requestId: 'm1' } } }).response!.value as never }));
  requests.received('data', data({ $case: 'datadogQueryRequest', value: StreamDataResponse.fromPartial({ response: { $case: 'datadogQueryRequest', value: { requestId: 'd1' } } }).response!.value as never }));
  const got = answers.map(({ on, record }) => {
    const v = record.value as { requestId: string; globalErrorMessage?: string; errorMessage?: string; success?: boolean };
    return [on, record.$case, v.requestId, v.globalErrorMessage ?? v.errorMessage, v.success];
  });
  const msg = (what: string) => `${what} are not supported by this operator version (kestrel-aggregator 0.1.0)`;
  assert.deepEqual(got, [
    ['control', 'yamlDryRunResponse', 'y1', msg('YAML dry runs'), undefined],
    ['control', 'yamlApplyResponse', 'y2', msg('YAML applies'), undefined],
    ['data', 'operatorRestartResponse', 'r1', msg('restart requests'), false],
    ['control', 'metricsQueryResponse', 'm1', msg('metrics queries'), undefined],
    ['data', 'datadogQueryResponse', 'd1', msg('Datadog, Argo CD, Argo Rollouts, Flux and Karpenter queries'), false],
  ]);
});

test('a network policy pushed on the data stream without Kubernetes access is answered by policy_id with the reason', () => {
  const { requests, answers } = setup();
  requests.received('data', data({ $case: 'networkPolicy', value: { networkPolicy: '{}', errorMessage: '', policyId: 'p1' } }));
  assert.equal(answers.length, 1);
  const { on, record } = answers[0]!;
  assert.equal(on, 'data');
  assert.equal(record.$case, 'networkPolicyWithErrors');
  const policies = record.$case === 'networkPolicyWithErrors' ? record.value.policies : [];
  assert.deepEqual(policies.map((p) => [p.policyId, p.networkPolicy]), [['p1', '{}']]);
  assert.match(policies[0]!.errorMessage, /network policies without Kubernetes access are not supported/);
});

test('messages without an answer, unknown kinds and undecodable bytes are counted, never fatal', async () => {
  const { requests, answers, events } = setup();
  requests.received('control', control({ $case: 'networkPolicy', value: { networkPolicy: '{}', errorMessage: '', policyId: 'p1' } }));
  requests.received('control', Buffer.from([0xfa, 0x01, 0x00])); // field 31, empty: a kind this version does not know
  requests.received('data', Buffer.from([0x0a, 0xff])); // a length running past the end
  requests.received('logs', Buffer.from(StreamDataResponse.encode({ response: { $case: 'ack', value: {} } }).finish())); // field 1 on logs = heartbeat
  assert.equal(answers.length, 0);
  assert.equal(await metricTotal(events.cloudMessages, { result: 'unsupported_no_answer' }), 1);
  assert.equal(await metricTotal(events.cloudMessages, { result: 'unknown' }), 1);
  assert.equal(await metricTotal(events.cloudMessages, { result: 'malformed' }), 1);
  assert.equal(requests.heartbeats, 1);
});
