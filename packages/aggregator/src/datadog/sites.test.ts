import assert from 'node:assert/strict';
import { test } from 'node:test';
import { apiBase, apiUrlProblem, siteProblem } from './sites.js';

test('only Datadog sites are accepted; the API host is api.<site>', () => {
  for (const site of ['datadoghq.com', 'us3.datadoghq.com', 'us5.datadoghq.com', 'datadoghq.eu', 'ap1.datadoghq.com', 'ddog-gov.com']) assert.equal(siteProblem(site), undefined, site);
  for (const site of ['datadoghq.com.evil.example', 'evil.example', 'datadoghq.com/', '']) assert.match(siteProblem(site)!, /not a known Datadog site/, site);
  assert.equal(apiBase('datadoghq.eu', undefined).href, 'https://api.datadoghq.eu/');
});

test('an API URL override is https, or plain http to loopback only, and never carries credentials', () => {
  assert.equal(apiUrlProblem('https://dd-proxy.internal:8443'), undefined);
  assert.equal(apiUrlProblem('http://127.0.0.1:9000'), undefined);
  assert.equal(apiUrlProblem('http://localhost:9000'), undefined);
  assert.equal(apiUrlProblem('http://[::1]:9000'), undefined);
  assert.match(apiUrlProblem('http://10.0.0.5:9000')!, /loopback/);
  assert.match(apiUrlProblem('ftp://x')!, /https/);
  assert.match(apiUrlProblem('https://user:pw@x')!, /credentials/);
  assert.match(apiUrlProblem('not a url')!, /not a URL/);
});
