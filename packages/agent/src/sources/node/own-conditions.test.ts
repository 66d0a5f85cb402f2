import assert from 'node:assert/strict';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { test } from 'node:test';
import { createRegistry, metricTotal, type Logger, type Registry } from '@kestrel/core';
import { NodeSourceEvents } from './events.js';
import { fillLevel, type StatfsFn, type StatfsResult } from './filesystems.js';
import { OWN_CONDITION_TYPES, OwnConditions, type OwnConditionsOptions } from './own-conditions.js';
import { DEFAULT_PRESSURE_THRESHOLDS } from './pressure.js';

interface Logged {
  level: string;
  message: string;
}

/** A logger that remembers what was logged (the parts of winston this source uses). */
export function recordingLogger(into: Logged[]): Logger {
  const at = (level: string) => (message: string) => void into.push({ level, message });
  return { log: (level: string, message: string) => void into.push({ level, message }), error: at('error'), warn: at('warn'), info: at('info'), debug: at('debug') } as unknown as Logger;
}

const pressureText = (some: number, full = 0) => `some avg10=${some.toFixed(2)} avg60=0.00 avg300=0.00 total=1\nfull avg10=${full.toFixed(2)} avg60=0.00 avg300=0.00 total=1\n`;

function procRoot(values: { cpu?: string; memory?: string; io?: string } = {}): string {
  const root = fs.mkdtempSync(path.join(os.tmpdir(), 'node-proc-'));
  fs.mkdirSync(path.join(root, 'pressure'));
  for (const r of ['cpu', 'memory', 'io'] as const) fs.writeFileSync(path.join(root, 'pressure', r), values[r] ?? pressureText(0));
  return root;
}

/** statfs answers per path: a fill percentage of space (and inodes), or an errno code. */
function fakeStatfs(fill: Map<string, number | { space: number; inodes: number } | string>): StatfsFn {
  return async (p) => {
    const v = fill.get(p);
    if (v === undefined || typeof v === 'string') throw Object.assign(new Error(`${v ?? 'ENOENT'}: ${p}`), { code: v ?? 'ENOENT' });
    const space = typeof v === 'number' ? v : v.space;
    const inodes = typeof v === 'number' ? 0 : v.inodes;
    // 1000 blocks usable by users, none reserved.
    return { bsize: 4096, blocks: 1000, bfree: 1000 - space * 10, bavail: 1000 - space * 10, files: 1000, ffree: 1000 - inodes * 10 };
  };
}

function sampler(options: Partial<OwnConditionsOptions> = {}) {
  const logged: Logged[] = [];
  const registry = createRegistry('test', false);
  const events = new NodeSourceEvents(registry, recordingLogger(logged));
  let now = 1_714_560_000_000;
  const fill = new Map<string, number | { space: number; inodes: number } | string>([['/logs', 10], ['/containerd', 10]]);
  const own = new OwnConditions(
    {
      procRoot: options.procRoot ?? procRoot(),
      logRoot: '/logs',
      containerFilesystem: '/containerd',
      pressureThresholds: DEFAULT_PRESSURE_THRESHOLDS,
      pressureHysteresis: 10,
      fsFullPercent: 90,
      fsFullHysteresis: 5,
      statfs: fakeStatfs(fill),
      now: () => (now += 10_000),
      ...options,
    },
    events,
  );
  const statusOf = async () => Object.fromEntries((await own.sample()).map((c) => [c.type, c.status]));
  return { own, fill, logged, registry, statusOf };
}

const metric = async (registry: Registry, name: string, labels?: Record<string, string>) => metricTotal(registry.getSingleMetric(name) as Parameters<typeof metricTotal>[0], labels);

test('fill level counts space as df does (reserved blocks are full) and inodes', () => {
  const s: StatfsResult = { bsize: 4096, blocks: 1000, bfree: 200, bavail: 100, files: 500, ffree: 50 };
  const level = fillLevel(s);
  assert.equal(level.spacePercent.toFixed(2), ((800 / 900) * 100).toFixed(2));
  assert.equal(level.inodesPercent, 90);
  assert.deepEqual(fillLevel({ bsize: 4096, blocks: 0, bfree: 0, bavail: 0, files: 0, ffree: 0 }), { spacePercent: 0, inodesPercent: 0 });
});

test('every own condition is reported False on a quiet node, in a fixed order', async () => {
  const { own } = sampler();
  const conditions = await own.sample();
  assert.deepEqual(conditions.map((c) => [c.type, c.status]), [
    [OWN_CONDITION_TYPES.cpu, 'False'],
    [OWN_CONDITION_TYPES.memory, 'False'],
    [OWN_CONDITION_TYPES.io, 'False'],
    [OWN_CONDITION_TYPES.logFilesystem, 'False'],
    [OWN_CONDITION_TYPES.containerFilesystem, 'False'],
  ]);
  assert.match(conditions[3]!.message, /log filesystem at \/logs: 10\.0% of space and 0\.0% of inodes used \(threshold 90%, clears at 85%\)/);
});

test('memory pressure turns True at its threshold, stays True in the band, False below it; transition time moves only then', async () => {
  const root = procRoot();
  const { own } = sampler({ procRoot: root });
  const memory = async (some: number, full = 0) => {
    fs.writeFileSync(path.join(root, 'pressure', 'memory'), pressureText(some, full));
    return (await own.sample()).find((c) => c.type === OWN_CONDITION_TYPES.memory)!;
  };
  const first = await memory(10);
  const high = await memory(55);
  const band = await memory(45);
  const stillBand = await memory(41);
  const low = await memory(40);
  assert.deepEqual([first, high, band, stillBand, low].map((c) => c.status), ['False', 'True', 'True', 'True', 'False']);
  assert.equal(high.reason, 'PressureStallHigh');
  assert.notDeepEqual(high.lastTransitionTime, first.lastTransitionTime);
  assert.deepEqual(stillBand.lastTransitionTime, high.lastTransitionTime, 'no transition inside the band');
  assert.notDeepEqual(stillBand.lastHeartbeatTime, high.lastHeartbeatTime, 'the heartbeat moves with every sample');
  assert.equal((await memory(5, 12)).status, 'True', 'memory full over its own threshold');
});

test('a malformed or unreadable pressure file keeps the last state and is counted; the next good file counts again', async () => {
  const root = procRoot({ io: pressureText(90) });
  const { statusOf, registry, logged } = sampler({ procRoot: root });
  assert.equal((await statusOf())[OWN_CONDITION_TYPES.io], 'True');
  fs.writeFileSync(path.join(root, 'pressure', 'io'), 'some avg10=garbage\n');
  assert.equal((await statusOf())[OWN_CONDITION_TYPES.io], 'True', 'kept');
  fs.rmSync(path.join(root, 'pressure', 'io'));
  assert.equal((await statusOf())[OWN_CONDITION_TYPES.io], 'True', 'kept');
  assert.equal(await metric(registry, 'kestrel_agent_node_sample_errors_total', { source: 'pressure' }), 2);
  assert.equal(logged.filter((l) => l.level === 'warn' && /sample failed/.test(l.message)).length, 1, 'logged once a minute, not per sample');
  fs.writeFileSync(path.join(root, 'pressure', 'io'), pressureText(1));
  assert.equal((await statusOf())[OWN_CONDITION_TYPES.io], 'False');
});

test('a pressure file that was never readable leaves its condition out', async () => {
  const root = procRoot({ cpu: 'nonsense' });
  const { statusOf } = sampler({ procRoot: root });
  assert.equal((await statusOf())[OWN_CONDITION_TYPES.cpu], undefined);
});

test('without <procRoot>/pressure (PSI off in the kernel): said once, counted in a metric, pressure left out', async () => {
  const root = fs.mkdtempSync(path.join(os.tmpdir(), 'node-proc-nopsi-'));
  const { statusOf, registry, logged, own } = sampler({ procRoot: root });
  for (let i = 0; i < 3; i++) {
    const statuses = await statusOf();
    assert.deepEqual(Object.keys(statuses), [OWN_CONDITION_TYPES.logFilesystem, OWN_CONDITION_TYPES.containerFilesystem]);
  }
  assert.equal(own.psi, 'unavailable');
  assert.equal(await metric(registry, 'kestrel_agent_node_psi_unavailable'), 1);
  assert.equal(logged.filter((l) => /pressure stall information is not available/.test(l.message)).length, 1);
  assert.equal(await metric(registry, 'kestrel_agent_node_sample_errors_total'), 0);
});

test('pressure thresholds all off: no pressure conditions and no look at /proc', async () => {
  const { statusOf, own } = sampler({ procRoot: '/nonexistent', pressureThresholds: { cpu: { some: 0, full: 0 }, memory: { some: 0, full: 0 }, io: { some: 0, full: 0 } } });
  assert.deepEqual(Object.keys(await statusOf()), [OWN_CONDITION_TYPES.logFilesystem, OWN_CONDITION_TYPES.containerFilesystem]);
  assert.equal(own.psi, 'unknown');
});

test('a filesystem turns True above the fill threshold (space or inodes) and back False only below the hysteresis', async () => {
  const { statusOf, fill } = sampler();
  const log = async (v: number | { space: number; inodes: number }) => {
    fill.set('/logs', v);
    return (await statusOf())[OWN_CONDITION_TYPES.logFilesystem];
  };
  assert.deepEqual([await log(80), await log(91), await log(87), await log(85), await log(89.9)], ['False', 'True', 'True', 'False', 'False']);
  assert.equal(await log({ space: 20, inodes: 95 }), 'True', 'out of inodes is full');
});

test('a missing container filesystem path is skipped (said once) and picked up when it appears', async () => {
  const { statusOf, fill, logged } = sampler();
  fill.delete('/containerd');
  for (let i = 0; i < 3; i++) assert.equal((await statusOf())[OWN_CONDITION_TYPES.containerFilesystem], undefined);
  assert.equal(logged.filter((l) => /filesystem path not found/.test(l.message)).length, 1);
  fill.set('/containerd', 95);
  assert.equal((await statusOf())[OWN_CONDITION_TYPES.containerFilesystem], 'True');
  assert.equal(logged.filter((l) => /filesystem path found/.test(l.message)).length, 1);
});

test('a statfs failure other than a missing path keeps the last state and is counted', async () => {
  const { statusOf, fill, registry } = sampler();
  fill.set('/logs', 95);
  assert.equal((await statusOf())[OWN_CONDITION_TYPES.logFilesystem], 'True');
  fill.set('/logs', 'EACCES');
  assert.equal((await statusOf())[OWN_CONDITION_TYPES.logFilesystem], 'True');
  assert.equal(await metric(registry, 'kestrel_agent_node_sample_errors_total', { source: 'log_filesystem' }), 1);
});

test('no container filesystem configured: its condition is never reported', async () => {
  const { statusOf } = sampler({ containerFilesystem: undefined });
  assert.equal((await statusOf())[OWN_CONDITION_TYPES.containerFilesystem], undefined);
});

test('the condition gauge shows the own conditions that are True', async () => {
  const { statusOf, registry, fill } = sampler();
  fill.set('/logs', 99);
  await statusOf();
  assert.equal(await metric(registry, 'kestrel_agent_node_condition_true', { type: OWN_CONDITION_TYPES.logFilesystem }), 1);
  assert.equal(await metric(registry, 'kestrel_agent_node_condition_true', { type: OWN_CONDITION_TYPES.memory }), 0);
});
