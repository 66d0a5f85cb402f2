// The monitor poller against a loopback HTTP server with Datadog's /api/v1/monitor shape.
import assert from 'node:assert/strict';
import http from 'node:http';
import type { AddressInfo } from 'node:net';
import { test } from 'node:test';
import { createLogger, createRegistry, metricTotal } from '@kestrel/core';
import { DatadogClient } from './client.js';
import { DatadogEvents } from './events.js';
import { KeySource } from './keys.js';
import { MonitorPoller, normaliseStatus } from './poller.js';

test('statuses are normalised as the published operator does', () => {
  assert.deepEqual(['alert', 'warn', 'ok', 'no data', 'ignored', 'skipped', 'Unknown', undefined].map(normaliseStatus), ['Alert', 'Warn', 'OK', 'No Data', '', '', 'Unknown', '']);
});

test('the first poll is a baseline; changes of known monitors become alerts; a full queue drops the oldest and counts it', async (t) => {
  let monitors: unknown = [
    { id: 1, name: 'a', overall_state: 'OK', type: 'metric alert', query: 'q1', message: 'm', tags: ['x:y'] },
    { id: 2, name: 'b', overall_state: 'Ignored', type: 'log alert', query: 'q2', message: '', tags: [] },
  ];
  let status = 200;
  const server = http.createServer((req, res) => {
    res.writeHead(status, { 'content-type': 'application/json' });
    res.end(typeof monitors === 'string' ? monitors : JSON.stringify(monitors));
  });
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
  t.after(() => server.close());
  const dir = await import('node:fs/promises').then((fs) => fs.mkdtemp('/tmp/kestrel-poller-'));
  await import('node:fs/promises').then((fs) => Promise.all([fs.writeFile(`${dir}/api`, 'api-key-value-123'), fs.writeFile(`${dir}/app`, 'app-key-value-456')]));
  const logger = createLogger('test', 'error');
  const events = new DatadogEvents(createRegistry('test', false), logger, () => undefined);
  const client = new DatadogClient({ base: new URL(`http://127.0.0.1:${(server.address() as AddressInfo).port}`), ca: undefined, maxBodyBytes: 1 << 20, maxRetries: 0, maxRetryWaitMs: 0, retryBackoffMs: 1 }, events);
  const keys = new KeySource({ apiKeyFile: `${dir}/api`, appKeyFile: `${dir}/app`, discovery: undefined }, undefined);
  const poller = new MonitorPoller({ intervalMs: 1000, queueCapacity: 2, timeoutMs: 5000 }, keys, client, events, logger, () => 1_764_000_000_000);
  const signal = new AbortController().signal;

  await poller.poll(signal);
  assert.equal(poller.queue.size, 0, 'baseline only');
  monitors = [
    { id: 1, name: 'a', overall_state: 'Alert', type: 'metric alert', query: 'q1', message: 'm', tags: ['x:y'] },
    { id: 2, name: 'b', overall_state: 'Warn', type: 'log alert', query: 'q2', message: '', tags: [] },
    { id: 3, name: 'new', overall_state: 'Alert', type: 'metric alert', query: 'q3', message: '', tags: [] },
  ];
  await poller.poll(signal);
  assert.deepEqual(poller.queue.peekAll(), [
    { monitorId: '1', monitorName: 'a', currentStatus: 'Alert', previousStatus: 'OK', monitorType: 'metric alert', query: 'q1', message: 'm', tags: ['x:y'], timestamp: 1_764_000_000 },
    { monitorId: '2', monitorName: 'b', currentStatus: 'Warn', previousStatus: '', monitorType: 'log alert', query: 'q2', message: '', tags: [], timestamp: 1_764_000_000 },
  ]);
  // A failed or unparseable poll changes nothing.
  status = 500;
  await poller.poll(signal);
  status = 200;
  monitors = 'not json';
  await poller.poll(signal);
  assert.equal(await metricTotal(events.polls, { outcome: 'http_error' }), 1);
  assert.equal(await metricTotal(events.polls, { outcome: 'unparseable' }), 1);
  monitors = [
    { id: 1, name: 'a', overall_state: 'OK', type: 'metric alert', query: 'q1', message: 'm', tags: [] },
    { id: 2, name: 'b', overall_state: 'Warn', type: 'log alert', query: 'q2', message: '', tags: [] },
    { id: 3, name: 'new', overall_state: 'OK', type: 'metric alert', query: 'q3', message: '', tags: [] },
  ];
  await poller.poll(signal);
  // Two more alerts into a queue of two: the two oldest are dropped and counted.
  assert.deepEqual(poller.queue.peekAll().map((a) => [a.monitorId, a.currentStatus]), [['1', 'OK'], ['3', 'OK']]);
  assert.equal(await metricTotal(events.alerts, { outcome: 'dropped_queue_full' }), 2);
});
