// The aggregator and the agent ship bundled (scripts/bundle.mjs); every other e2e test runs those files in place.
// These tests check what those cannot: that a bundle needs no node_modules beside it (the agent's lazily imported
// Kubernetes client included), and that it is not older than the compiled code it is made from (a `tsc -b` without
// `make build` would leave the e2e tests running stale code).
import assert from 'node:assert/strict';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { test } from 'node:test';
import { runToEnd } from './harness/process.js';
import { programs, repoRoot } from './harness/repo.js';
import { createInternalPki } from './harness/system.js';

/** Runs `fn` with a fresh directory outside the repository (no node_modules on the way up), then removes it. */
async function inEmptyDir(fn: (dir: string) => Promise<void>): Promise<void> {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'kestrel-bundle-'));
  try {
    await fn(dir);
  } finally {
    fs.rmSync(dir, { recursive: true, force: true });
  }
}

const unresolved = /Cannot find|ERR_MODULE_NOT_FOUND|Dynamic require/;

test('the bundled aggregator copied alone, with no node_modules, starts and stops at a bad setting naming it', async () => {
  await inEmptyDir(async (dir) => {
    const alone = path.join(dir, path.basename(programs.aggregator));
    fs.copyFileSync(programs.aggregator, alone);
    const result = await runToEnd(alone, ['--ingest-listen', '0.0.0.0']);
    assert.notEqual(result.code, 0);
    assert.doesNotMatch(result.stderr, unresolved);
    assert.match(result.stderr.trim(), /^invalid setting KESTREL_AGGREGATOR_INGEST_LISTEN \/ --ingest-listen: expected host:port/);
  });
});

test("the agent's bundle copied alone, with no node_modules, loads its Kubernetes client chunk and stops at a kubeconfig it cannot load", async () => {
  await inEmptyDir(async (dir) => {
    const bundleDir = path.join(dir, 'bundle');
    fs.cpSync(path.dirname(programs.agent), bundleDir, { recursive: true });
    const pki = createInternalPki(path.join(dir, 'pki'));
    const identity = pki.agentFor('bundle-node');
    const kubeconfig = path.join(dir, 'kubeconfig');
    fs.writeFileSync(kubeconfig, 'apiVersion: v1\nkind: Config\nclusters: [ {');
    // A kubeconfig is set, so the agent imports @kubernetes/client-node (a chunk of its own) before it parses the file.
    const result = await runToEnd(path.join(bundleDir, path.basename(programs.agent)), [], {
      KESTREL_AGENT_NODE_NAME: 'bundle-node',
      KESTREL_AGENT_AGGREGATOR_ADDRESS: '127.0.0.1:1',
      KESTREL_AGENT_TLS_CERT_FILE: identity.cert,
      KESTREL_AGENT_TLS_KEY_FILE: identity.key,
      KESTREL_AGENT_TLS_CA_FILE: pki.ca,
      KESTREL_AGENT_LOG_ROOT: path.join(dir, 'pods'),
      KESTREL_AGENT_STATE_DIR: path.join(dir, 'state'),
      KESTREL_AGENT_ADMIN_SOCKET: path.join(dir, 'agent.sock'),
      KESTREL_AGENT_KUBECONFIG: kubeconfig,
    });
    assert.notEqual(result.code, 0);
    assert.doesNotMatch(result.stderr, unresolved);
    assert.match(result.stderr, /invalid setting KESTREL_AGENT_KUBECONFIG \/ --kubeconfig: cannot load /);
  });
});

test('each bundle is newer than every compiled file it is made from', () => {
  const newer: string[] = [];
  const bundles: [string, string[]][] = [
    [programs.aggregator, ['aggregator', 'core', 'proto', 'flows']],
    [programs.agent, ['agent', 'core', 'proto', 'flows']],
  ];
  for (const [bundle, packages] of bundles) {
    const bundled = fs.statSync(bundle).mtimeMs;
    for (const pkg of packages) {
      const dist = path.join(repoRoot, 'packages', pkg, 'dist');
      for (const file of fs.readdirSync(dist, { recursive: true, encoding: 'utf8' })) {
        if (!file.endsWith('.js') || file.endsWith('.test.js')) continue;
        if (fs.statSync(path.join(dist, file)).mtimeMs > bundled) newer.push(`${path.basename(bundle)}: ${path.join(pkg, 'dist', file)}`);
      }
    }
  }
  assert.deepEqual(newer, [], 'compiled after the bundle was made: run make build (tsc -b, then scripts/bundle.mjs)');
});
