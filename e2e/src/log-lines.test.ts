// Whole system, real processes, real TLS: CRI lines on disk -> agent -> aggregator -> cloud-dev's store.
import assert from 'node:assert/strict';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { test } from 'node:test';
import { readStoredLogEntries } from './harness/cloud-store.js';
import { createContainers, messageFor, writeLines } from './harness/pod-writer.js';
import { StoreTail } from './harness/store-tail.js';
import { startSystem } from './harness/system.js';

test('20,000 CRI lines from several pods each arrive in cloud-dev exactly once with pod identity and timestamp', { timeout: 180_000 }, async () => {
  const workDir = fs.mkdtempSync(path.join(os.tmpdir(), 'kestrel-e2e-logs-'));
  const system = await startSystem({ workDir, nodeName: 'node-e2e' });
  try {
    const containers = createContainers(system.podsRoot, [
      { namespace: 'shop', pod: 'checkout-1', containers: ['app', 'sidecar'] },
      { namespace: 'shop', pod: 'cart-1', containers: ['app'] },
      { namespace: 'payments', pod: 'ledger-0', containers: ['app'] },
      { namespace: 'search', pod: 'indexer-2', containers: ['worker'] },
    ]);
    const total = 20_000;
    // Written in bursts while the agent runs, so files grow under it as they would in a node.
    for (let i = 0; i < total / 500; i++) {
      for (const c of containers) writeLines(c, Math.floor(500 / containers.length));
      await new Promise((r) => setTimeout(r, 20));
    }
    const written = containers.reduce((n, c) => n + c.written, 0);
    assert.equal(written, total);

    const tail = new StoreTail(system.dataDir);
    const deadline = Date.now() + 60_000;
    while (Date.now() < deadline) {
      tail.poll();
      if (tail.entries >= total) break;
      await new Promise((r) => setTimeout(r, 250));
    }
    // Let anything extra (a duplicate) land before judging.
    await new Promise((r) => setTimeout(r, 1000));
    const stored = readStoredLogEntries(system.dataDir);
    const byMessage = new Map<string, (typeof stored)[number][]>();
    for (const e of stored) byMessage.set(e.message, [...(byMessage.get(e.message) ?? []), e]);

    const problems: string[] = [];
    for (const c of containers) {
      for (let seq = 1; seq <= c.written; seq++) {
        const found = byMessage.get(messageFor(c, seq)) ?? [];
        if (found.length !== 1) {
          problems.push(`${c.pod}/${c.container} seq=${seq} found ${found.length} times`);
          continue;
        }
        const e = found[0]!;
        if (e.namespace !== c.namespace || e.pod !== c.pod || e.podUid !== c.uid || e.container !== c.container || e.nodeName !== 'node-e2e') {
          problems.push(`${c.pod}/${c.container} seq=${seq} has identity ${JSON.stringify(e)}`);
        }
        // Written with nanoseconds = seq % 1e6 on the writer's clock (see pod-writer): check the nanos survive.
        // Proto JSON prints 3, 6 or 9 fraction digits: pad back to nanoseconds before comparing.
        const fraction = (/\.(\d+)Z$/.exec(e.timestamp)?.[1] ?? '').padEnd(9, '0');
        if (Number(fraction.slice(3)) !== seq % 1_000_000) problems.push(`${c.pod}/${c.container} seq=${seq} timestamp ${e.timestamp}`);
        if (e.lineNumber !== seq) problems.push(`${c.pod}/${c.container} seq=${seq} line number ${e.lineNumber}`);
      }
    }
    assert.equal(stored.length, total, `stored ${stored.length} entries for ${total} lines written`);
    assert.deepEqual(problems.slice(0, 20), [], `${problems.length} problems`);
  } finally {
    await system.stop();
  }
});
