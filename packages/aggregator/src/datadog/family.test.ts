// The Datadog family's answers for what does not reach Datadog, or comes back wrong: pre-checks in the published
// order, the write switch with its audit, upstream errors cut at 500 characters, keys scrubbed from whatever leaves.
import assert from 'node:assert/strict';
import fs from 'node:fs';
import http from 'node:http';
import os from 'node:os';
import path from 'node:path';
import type { AddressInfo } from 'node:net';
import { test } from 'node:test';
import { createLogger, createRegistry, metricTotal } from '@kestrel/core';
import { DatadogQueryType, type DatadogQueryRequest } from '@kestrel/proto/cloud/v1';
import { DatadogClient } from './client.js';
import { DatadogEvents, type WriteAudit } from './events.js';
import { APP_KEY_REQUIRED, DatadogFamily } from './family.js';
import { KeySource } from './keys.js';

const API = 'api-key-0123456789abcdef';
const req = (fields: Partial<DatadogQueryRequest>): DatadogQueryRequest => ({ requestId: 'r-1', queryType: 0, query: '', fromTs: 0, toTs: 0, filter: '', sort: '', maxResults: 0, timeoutSeconds: 0, jsonBody: '', ...fields });

async function family(t: import('node:test').TestContext, options: { app?: boolean; writes?: boolean; apiFile?: boolean; answer?: (req: http.IncomingMessage) => [number, string] }) {
  const seen: string[] = [];
  const server = http.createServer((r, res) => {
    seen.push(`${r.method} ${r.url}`);
    const [status, body] = options.answer?.(r) ?? [200, '[]'];
    res.writeHead(status, { 'content-type': 'application/json' });
    res.end(body);
  });
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
  t.after(() => server.close());
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'kestrel-dd-family-'));
  fs.writeFileSync(path.join(dir, 'api'), API);
  fs.writeFileSync(path.join(dir, 'app'), 'app-key-0123456789abcdef');
  const audits: WriteAudit[] = [];
  const events = new DatadogEvents(createRegistry('test', false), createLogger('test', 'error'), (a) => void audits.push(a));
  const keys = new KeySource({ apiKeyFile: options.apiFile === false ? undefined : path.join(dir, 'api'), appKeyFile: options.app === false ? undefined : path.join(dir, 'app'), discovery: undefined }, undefined);
  const client = new DatadogClient({ base: new URL(`http://127.0.0.1:${(server.address() as AddressInfo).port}`), ca: undefined, maxBodyBytes: 1 << 20, maxRetries: 0, maxRetryWaitMs: 0, retryBackoffMs: 1 }, events);
  return { f: new DatadogFamily(keys, client, events, options.writes ?? false), seen, audits, events };
}

test('no keys: 503 "Datadog discovery failed"; no application key: 403 for every type but send-event, type 0 included (checked first, as published)', async (t) => {
  const noKeys = await family(t, { apiFile: false });
  const a = await noKeys.f.handle(req({ queryType: DatadogQueryType.DATADOG_LIST_MONITORS }), AbortSignal.timeout(5000));
  assert.deepEqual([a.success, a.statusCode], [false, 503]);
  assert.match(a.errorMessage, /^Datadog discovery failed: no API key/);
  const noApp = await family(t, { app: false, writes: true });
  const b = await noApp.f.handle(req({ queryType: DatadogQueryType.DATADOG_QUERY_HOSTS }), AbortSignal.timeout(5000));
  assert.deepEqual([b.statusCode, b.errorMessage], [403, APP_KEY_REQUIRED]);
  const event = await noApp.f.handle(req({ queryType: DatadogQueryType.DATADOG_SEND_EVENT, jsonBody: '{"title":"x"}' }), AbortSignal.timeout(5000));
  assert.deepEqual([event.success, event.statusCode], [true, 200], 'send-event needs the API key only');
  const zero = await noApp.f.handle(req({ queryType: 0 }), AbortSignal.timeout(5000));
  assert.equal(zero.statusCode, 403, 'the application key check comes before the type check, as published');
  assert.deepEqual(noApp.seen, ['POST /api/v1/events']);
});

test('writes are refused with the value to turn on, audited and counted; nothing is sent', async (t) => {
  const { f, seen, audits, events } = await family(t, {});
  const a = await f.handle(req({ queryType: DatadogQueryType.DATADOG_MUTE_MONITOR, filter: '42' }), AbortSignal.timeout(5000));
  assert.deepEqual([a.success, a.statusCode], [false, 403]);
  assert.match(a.errorMessage, /remediation\.datadog\.enabled=true/);
  assert.deepEqual(seen, []);
  assert.deepEqual(audits.map((x) => [x.requestId, x.action, x.target, x.decision, x.status]), [['r-1', 'mute_monitor', 'monitor 42', 'refused', 403]]);
  assert.equal(await metricTotal(events.writes, { action: 'mute_monitor', decision: 'refused' }), 1);
});

test('an upstream error is reported with its status and the first 500 characters; a key echoed by upstream is scrubbed', async (t) => {
  const { f } = await family(t, { answer: (r) => [r.url?.startsWith('/api/v1/hosts') ? 502 : 200, r.url?.startsWith('/api/v1/hosts') ? 'y'.repeat(700) : `{"echo":"${API}"}`] });
  const bad = await f.handle(req({ queryType: DatadogQueryType.DATADOG_QUERY_HOSTS }), AbortSignal.timeout(5000));
  assert.deepEqual([bad.success, bad.statusCode, bad.errorMessage], [false, 502, `Datadog API returned HTTP 502: ${'y'.repeat(500)}...`]);
  const echoed = await f.handle(req({ queryType: DatadogQueryType.DATADOG_LIST_MONITORS }), AbortSignal.timeout(5000));
  assert.equal(echoed.responseData, '{"echo":"[redacted]"}');
});

test('a request that runs past its deadline is answered with status 0 and says it timed out', async (t) => {
  const { f } = await family(t, {});
  const server = http.createServer(() => undefined);
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
  t.after(() => server.closeAllConnections());
  t.after(() => server.close());
  const slow = new DatadogFamily(
    new KeySource({ apiKeyFile: undefined, appKeyFile: undefined, discovery: { namespace: 'd', secretNames: ['s'], appKeySecretName: '' } }, async (_ns, _n, key) => (key === 'api-key' ? API : 'app-key-0123456789abcdef')),
    new DatadogClient({ base: new URL(`http://127.0.0.1:${(server.address() as AddressInfo).port}`), ca: undefined, maxBodyBytes: 1024, maxRetries: 0, maxRetryWaitMs: 0, retryBackoffMs: 1 }, { call: () => undefined, retry: () => undefined }),
    (f as unknown as { events: DatadogEvents }).events,
    false,
  );
  const a = await slow.handle(req({ queryType: DatadogQueryType.DATADOG_LIST_MONITORS }), AbortSignal.timeout(300));
  assert.deepEqual([a.success, a.statusCode], [false, 0]);
  assert.match(a.errorMessage, /timed out/);
});
