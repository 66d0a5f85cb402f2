import assert from 'node:assert/strict';
import fs from 'node:fs';
import { registerHooks } from 'node:module';
import os from 'node:os';
import path from 'node:path';
import { after, test } from 'node:test';
import { createLogger, createRegistry } from '@kestrel/core';
import { NodeSourceEvents } from '../node/events.js';
import type { FlowSourcesConfig } from './config.js';

// Every module this process loads from here on (the agent's code below is imported after the hook is in place).
const loaded: string[] = [];
registerHooks({
  resolve(specifier, context, nextResolve) {
    const resolved = nextResolve(specifier, context);
    loaded.push(resolved.url);
    return resolved;
  },
});
const { FlowSources } = await import('./index.js');
await import('../../config.js');

const root = fs.mkdtempSync(path.join(os.tmpdir(), 'flow-sources-'));
after(() => fs.rmSync(root, { recursive: true, force: true }));

const off: FlowSourcesConfig = { nodeName: 'node-a', stateDir: root, hubble: undefined, vpcCni: undefined, windowMs: 10_000, maxConversations: 100 };
const flowsPackage = (url: string) => url.includes('/packages/flows/') || url.includes('/@kestrel/flows/');
const sourceModule = (name: string) => (url: string) => url.endsWith(`/sources/flows/${name}.js`);

function create(config: FlowSourcesConfig) {
  const registry = createRegistry('test', false);
  const logger = createLogger('test', 'error');
  return FlowSources.create(config, { flowWindow: () => {} }, { registry, logger, kubeConfig: undefined, watchEvents: new NodeSourceEvents(registry, logger) });
}

// One sequence: a module once loaded stays loaded, so "off" must come first.
test('loads a flow source and @kestrel/flows only when its setting is on', async () => {
  const none = await create(off);
  assert.equal(none.enabled, false);
  assert.deepEqual(none.view().sources, []);
  assert.equal(loaded.filter(flowsPackage).length, 0, `loaded with flows off: ${loaded.filter(flowsPackage).join(', ')}`);
  assert.equal(loaded.some(sourceModule('hubble-source')) || loaded.some(sourceModule('vpc-cni-source')), false);

  const hubble = await create({ ...off, hubble: { address: 'unix:///nonexistent/hubble.sock' } });
  assert.deepEqual(hubble.view().sources.map((s) => s.source), ['hubble']);
  assert.ok(loaded.some(sourceModule('hubble-source')));
  assert.ok(loaded.some(flowsPackage));
  assert.equal(loaded.some(sourceModule('vpc-cni-source')), false);

  const vpcCni = await create({ ...off, vpcCni: { path: path.join(root, 'flows.log'), maxLineBytes: 4096, startAt: 'beginning', pollIntervalMs: 100 } });
  assert.deepEqual(vpcCni.view().sources.map((s) => s.source), ['vpc_cni']);
  assert.ok(loaded.some(sourceModule('vpc-cni-source')));
});
