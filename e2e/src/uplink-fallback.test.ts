// A cloud that does not implement StreamLogs (cloud-dev --unimplemented logs): the aggregator learns it from the
// UNIMPLEMENTED status and sends the agent's lines as StreamData.pod_logs instead, every line once. Real processes.
import assert from 'node:assert/strict';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { test } from 'node:test';
import { exactlyOnceProblems, readCloudSummary, readStoredLogs, waitForStored } from './harness/delivery-check.js';
import { startUplinkSystem, SteadyWriter } from './harness/uplink-system.js';

test('StreamLogs answered UNIMPLEMENTED: the lines arrive on StreamData, each once', { timeout: 120_000 }, async () => {
  const workDir = fs.mkdtempSync(path.join(os.tmpdir(), 'kestrel-e2e-fallback-'));
  const system = await startUplinkSystem({ workDir, nodeName: 'node-fallback', serveArgs: ['--unimplemented', 'logs'] });
  const writer = new SteadyWriter(system.podsRoot, [{ namespace: 'shop', pod: 'web-1', containers: ['app', 'envoy'] }]);
  try {
    writer.start(10);
    await waitForStored(system.dataDir, 1000, 30_000, ['data']);
    writer.stop();
    const total = writer.written;
    assert.ok((await waitForStored(system.dataDir, total, 60_000, ['data'])) >= total);
    const problems = exactlyOnceProblems(writer.containers, readStoredLogs(system.dataDir, ['data', 'logs']));
    assert.deepEqual(problems.slice(0, 20), [], `${problems.length} problems`);
    assert.equal(readStoredLogs(system.dataDir, ['logs']).length, 0, 'nothing on StreamLogs');
    const logs = (await system.aggregatorStatus()).uplink.streams.find((s) => s.name === 'logs')!;
    assert.equal(logs.carries, 'fallback to data');
    const refusals = readCloudSummary(system.dataDir)['refusals'] as Record<string, number>;
    assert.ok((refusals['The server does not implement the method /cloud.v1.StreamService/StreamLogs'] ?? 0) >= 1);
    assert.ok(system.aggregator.lines.some((l) => l.message === 'the cloud does not implement this stream; its records go to StreamData' && l['stream'] === 'logs'));
  } finally {
    writer.stop();
    await system.stop();
  }
});
