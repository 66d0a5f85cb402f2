// The aggregator ships as one bundled file (scripts/bundle.mjs); every other e2e test runs that file in place.
// These tests check what those cannot: that it needs no node_modules beside it, and that it is not older than the
// compiled code it is made from (a `tsc -b` without `make build` would leave the e2e tests running stale code).
import assert from 'node:assert/strict';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { test } from 'node:test';
import { runToEnd } from './harness/process.js';
import { programs, repoRoot } from './harness/repo.js';

test('the bundled aggregator copied alone, with no node_modules, starts and stops at a bad setting naming it', async () => {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'kestrel-bundle-'));
  try {
    const alone = path.join(dir, path.basename(programs.aggregator));
    fs.copyFileSync(programs.aggregator, alone);
    const result = await runToEnd(alone, ['--ingest-listen', '0.0.0.0']);
    assert.notEqual(result.code, 0);
    assert.doesNotMatch(result.stderr, /Cannot find|ERR_MODULE_NOT_FOUND|Dynamic require/);
    assert.match(result.stderr.trim(), /^invalid setting KESTREL_AGGREGATOR_INGEST_LISTEN \/ --ingest-listen: expected host:port/);
  } finally {
    fs.rmSync(dir, { recursive: true, force: true });
  }
});

test('the aggregator bundle is newer than every compiled file it is made from', () => {
  const bundled = fs.statSync(programs.aggregator).mtimeMs;
  const newer: string[] = [];
  for (const pkg of ['aggregator', 'core', 'proto', 'flows']) {
    const dist = path.join(repoRoot, 'packages', pkg, 'dist');
    for (const file of fs.readdirSync(dist, { recursive: true, encoding: 'utf8' })) {
      if (!file.endsWith('.js') || file.endsWith('.test.js')) continue;
      if (fs.statSync(path.join(dist, file)).mtimeMs > bundled) newer.push(path.join(pkg, 'dist', file));
    }
  }
  assert.deepEqual(newer, [], 'compiled after the bundle was made: run make build (tsc -b, then scripts/bundle.mjs)');
});
