// The Datadog HTTP client against a loopback server: headers, 429 with Retry-After, 5xx on reads and writes.
import assert from 'node:assert/strict';
import http from 'node:http';
import type { AddressInfo } from 'node:net';
import { test } from 'node:test';
import { DatadogClient, retryAfterMs, type ClientObserver } from './client.js';
import { SecretValue } from './secret-value.js';

const keys = { apiKey: new SecretValue('api-key-aaaaaaaa'), appKey: new SecretValue('app-key-bbbbbbbb'), source: 'test' };

async function serve(t: import('node:test').TestContext, answers: { status: number; headers?: Record<string, string>; body?: string }[]) {
  const seen: { method: string; url: string; headers: http.IncomingHttpHeaders }[] = [];
  const server = http.createServer((req, res) => {
    seen.push({ method: req.method!, url: req.url!, headers: req.headers });
    const a = answers.shift() ?? { status: 200, body: '{"ok":true}' };
    res.writeHead(a.status, a.headers);
    res.end(a.body ?? '{}');
  });
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
  t.after(() => server.close());
  const retries: string[] = [];
  const observer: ClientObserver = { call: () => undefined, retry: (r) => void retries.push(r) };
  const client = new DatadogClient({ base: new URL(`http://127.0.0.1:${(server.address() as AddressInfo).port}`), ca: undefined, maxBodyBytes: 1024, maxRetries: 2, maxRetryWaitMs: 2000, retryBackoffMs: 10 }, observer);
  return { client, seen, retries };
}

test('sends both keys as headers (never in the URL), or the API key alone when asked', async (t) => {
  const { client, seen } = await serve(t, []);
  const r = await client.call({ method: 'GET', path: '/api/v1/query', query: { query: 'avg:x{*}' }, appKey: true, idempotent: true }, keys, AbortSignal.timeout(5000));
  assert.deepEqual(r, { kind: 'http', status: 200, body: '{"ok":true}', retries: 0, tooLarge: false });
  assert.equal(seen[0]!.headers['dd-api-key'], 'api-key-aaaaaaaa');
  assert.equal(seen[0]!.headers['dd-application-key'], 'app-key-bbbbbbbb');
  assert.ok(!seen[0]!.url.includes('key'));
  await client.call({ method: 'POST', path: '/api/v1/events', body: '{}', appKey: false, idempotent: false }, keys, AbortSignal.timeout(5000));
  assert.equal(seen[1]!.headers['dd-application-key'], undefined);
  assert.equal(seen[1]!.headers['content-type'], 'application/json');
});

test('429 is retried after Retry-After when it fits; a long wait is not waited for', async (t) => {
  const { client, seen, retries } = await serve(t, [{ status: 429, headers: { 'retry-after': '0.2' } }, { status: 429, headers: { 'x-ratelimit-reset': '3600' } }]);
  const r = await client.call({ method: 'GET', path: '/x', appKey: true, idempotent: true }, keys, AbortSignal.timeout(5000));
  assert.equal(r.kind === 'http' && r.status, 429, 'the second 429 asks for an hour: answered as it is');
  assert.equal(seen.length, 2);
  assert.deepEqual(retries, ['rate_limited']);
});

test('5xx is retried for reads, never for writes', async (t) => {
  const { client, seen } = await serve(t, [{ status: 503 }, { status: 502 }, { status: 200 }, { status: 500 }]);
  const read = await client.call({ method: 'GET', path: '/r', appKey: true, idempotent: true }, keys, AbortSignal.timeout(5000));
  assert.equal(read.kind === 'http' && read.status, 200);
  assert.equal(seen.length, 3);
  const write = await client.call({ method: 'POST', path: '/w', body: '{}', appKey: true, idempotent: false }, keys, AbortSignal.timeout(5000));
  assert.equal(write.kind === 'http' && write.status, 500);
  assert.equal(seen.length, 4);
});

test('a body over the cap is not read to the end; a dead address is a failure without HTTP status', async (t) => {
  const { client } = await serve(t, [{ status: 200, body: 'x'.repeat(5000) }]);
  const big = await client.call({ method: 'GET', path: '/big', appKey: true, idempotent: true }, keys, AbortSignal.timeout(5000));
  assert.equal(big.kind === 'http' && big.tooLarge, true);
  const dead = new DatadogClient({ base: new URL('http://127.0.0.1:1'), ca: undefined, maxBodyBytes: 1024, maxRetries: 0, maxRetryWaitMs: 0, retryBackoffMs: 1 }, { call: () => undefined, retry: () => undefined });
  const failed = await dead.call({ method: 'GET', path: '/x', appKey: true, idempotent: true }, keys, AbortSignal.timeout(5000));
  assert.equal(failed.kind, 'failed');
  assert.match(failed.kind === 'failed' ? failed.error : '', /ECONNREFUSED/);
});

test('Retry-After in seconds or as a date, else X-RateLimit-Reset', () => {
  assert.equal(retryAfterMs({ 'retry-after': '3' }), 3000);
  assert.equal(retryAfterMs({ 'retry-after': new Date(10_000).toUTCString() }, 4_000), 6000);
  assert.equal(retryAfterMs({ 'x-ratelimit-reset': '7' }), 7000);
  assert.equal(retryAfterMs({}), undefined);
});
