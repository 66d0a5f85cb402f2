import assert from 'node:assert/strict';
import { test } from 'node:test';
import { startHttpServer } from './http-server.js';
import { Counter, createRegistry } from './metrics.js';

test('serves healthz, readyz with its reason, and Prometheus metrics', async () => {
  const registry = createRegistry('test', false);
  const counter = new Counter({ name: 'kestrel_test_things_total', help: 'things', registers: [registry] });
  counter.inc(3);
  let ready = false;
  const server = await startHttpServer({ host: '127.0.0.1', port: 0, registry, readiness: () => (ready ? { ready } : { ready, reason: 'uplink down' }) });
  try {
    const base = `http://${server.address}`;
    assert.equal((await fetch(`${base}/healthz`)).status, 200);
    const notReady = await fetch(`${base}/readyz`);
    assert.equal(notReady.status, 503);
    assert.equal(await notReady.text(), 'not ready: uplink down\n');
    ready = true;
    assert.equal((await fetch(`${base}/readyz`)).status, 200);
    const metrics = await (await fetch(`${base}/metrics`)).text();
    assert.match(metrics, /kestrel_test_things_total\{process="test"\} 3/);
    assert.equal((await fetch(`${base}/nope`)).status, 404);
    assert.equal((await fetch(`${base}/metrics`, { method: 'POST' })).status, 405);
  } finally {
    await server.close();
  }
});
