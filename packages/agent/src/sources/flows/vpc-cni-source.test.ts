import assert from 'node:assert/strict';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { after, test } from 'node:test';
import { createLogger, createRegistry } from '@kestrel/core';
import type { Endpoint } from '@kestrel/proto/cloud/v1';
import { FlowSource } from '@kestrel/proto/ingest/v1';
import { FlowSourceEvents } from './events.js';
import type { PendingFlowWindow } from './types.js';
import { VpcCniSource } from './vpc-cni-source.js';

const root = fs.mkdtempSync(path.join(os.tmpdir(), 'vpc-cni-source-'));
after(() => fs.rmSync(root, { recursive: true, force: true }));

const web: Endpoint = { ns: 'shop', kind: 'Deployment', name: 'web', labels: ['app=web'] };
const pods = new Map([['10.0.141.167', web]]);

const flowLine = (src: string, dst: string, port: number, verdict = 'ACCEPT', ts = '2024-09-23T12:36:53.562Z') =>
  JSON.stringify({ level: 'info', ts, logger: 'ebpf-client', caller: 'events/events.go:193', msg: 'Flow Info: ', 'Src IP': src, 'Src Port': 39197, 'Dest IP': dst, 'Dest Port': port, Proto: 'TCP', Verdict: verdict }) + '\n';
const agentLine = JSON.stringify({ level: 'info', ts: '2024-09-23T12:36:53.000Z', logger: 'controllers.policyEndpoints', msg: 'Received a new reconcile request' }) + '\n';

function source(dir: string, windows: PendingFlowWindow[]) {
  const registry = createRegistry('test', false);
  const events = new FlowSourceEvents(registry, createLogger('test', 'error'));
  const s = new VpcCniSource(
    { path: path.join(dir, 'network-policy-agent.log'), stateDir: path.join(dir, 'state'), startAt: 'beginning', maxLineBytes: 4096, pollIntervalMs: 10, windowMs: 3_600_000, maxConversations: 100 },
    { flowWindow: (w) => windows.push(w) },
    (ip) => pods.get(ip),
    events,
    createLogger('test', 'error'),
  );
  return { s, events };
}

async function until(what: string, check: () => boolean): Promise<void> {
  const end = Date.now() + 10_000;
  while (!check()) {
    if (Date.now() > end) throw new Error(`timed out waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 5));
  }
}

test('flow log lines become one window per interval: conversations counted, endpoints and direction from the node\'s pods, agent lines skipped, bad lines dropped', async () => {
  const dir = fs.mkdtempSync(path.join(root, 'a-'));
  const log = path.join(dir, 'network-policy-agent.log');
  fs.writeFileSync(log, agentLine + flowLine('10.0.141.167', '172.20.0.10', 53) + flowLine('10.0.141.167', '172.20.0.10', 53) + flowLine('10.0.7.9', '10.0.141.167', 8080, 'DENY') + '{"msg":"Flow Info: ", broken\n');
  const windows: PendingFlowWindow[] = [];
  const { s, events } = source(dir, windows);
  s.start();
  try {
    await until('4 records', () => events.totals.vpc_cni.raw === 3 && (events.totals.vpc_cni.dropped['unparseable'] ?? 0) === 1);
    s.closeWindow();
    assert.equal(windows.length, 1);
    const w = windows[0]!.window;
    assert.equal(w.source, FlowSource.FLOW_SOURCE_VPC_CNI);
    assert.deepEqual([w.rawFlows, w.agentDropped, w.sourceLost], [3, 1, 0]);
    const byPort = Object.fromEntries(w.flows.map((f) => [f.port, f]));
    assert.deepEqual([byPort[53]!.count, byPort[53]!.direction, byPort[53]!.src, byPort[53]!.dst!.name, byPort[53]!.dstIp, byPort[53]!.allowed], [2, 'egress', web, '', '172.20.0.10', true]);
    assert.deepEqual([byPort[8080]!.count, byPort[8080]!.direction, byPort[8080]!.dst, byPort[8080]!.allowed], [1, 'ingress', web, false]);
    assert.equal(events.totals.vpc_cni.skipped['not_flow'], 1);
  } finally {
    await s.stop();
  }
});

test('after a restart only lines after the last acknowledged window are counted; an unacknowledged window is counted again', async () => {
  const dir = fs.mkdtempSync(path.join(root, 'b-'));
  const log = path.join(dir, 'network-policy-agent.log');
  fs.writeFileSync(log, flowLine('10.0.141.167', '10.0.0.1', 80).repeat(5));
  const windows: PendingFlowWindow[] = [];
  const first = source(dir, windows);
  first.s.start();
  await until('5 flows', () => first.events.totals.vpc_cni.raw === 5);
  first.s.closeWindow();
  windows[0]!.committed(); // acknowledged: its position is saved
  fs.appendFileSync(log, flowLine('10.0.141.167', '10.0.0.1', 80).repeat(3));
  await until('8 flows', () => first.events.totals.vpc_cni.raw === 8);
  first.s.closeWindow(); // sent, never acknowledged (the agent dies)
  await first.s.stop();
  assert.equal(windows.length, 2);

  const again: PendingFlowWindow[] = [];
  const second = source(dir, again);
  second.s.start();
  try {
    await until('the 3 unacknowledged flows again', () => second.events.totals.vpc_cni.raw === 3);
    second.s.closeWindow();
    assert.equal(again[0]!.window.rawFlows, 3);
  } finally {
    await second.s.stop();
  }
});

test('a window dropped by the forwarder\'s full buffer is counted in the next window as dropped', async () => {
  const dir = fs.mkdtempSync(path.join(root, 'c-'));
  fs.writeFileSync(path.join(dir, 'network-policy-agent.log'), flowLine('10.0.141.167', '10.0.0.1', 80).repeat(4));
  const windows: PendingFlowWindow[] = [];
  const { s, events } = source(dir, windows);
  s.start();
  try {
    await until('4 flows', () => events.totals.vpc_cni.raw === 4);
    s.closeWindow();
    windows[0]!.dropped('buffer_full');
    s.closeWindow();
    assert.equal(windows.length, 2);
    assert.deepEqual([windows[1]!.window.rawFlows, windows[1]!.window.agentDropped, windows[1]!.window.flows.length], [0, 4, 0]);
    assert.equal(events.totals.vpc_cni.dropped['buffer_full'], 4);
  } finally {
    await s.stop();
  }
});
