import assert from 'node:assert/strict';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { after, test } from 'node:test';
import { FlowLogTailer, type FlowLogHandlers, type FlowLogPosition } from './flow-log-tailer.js';

const root = fs.mkdtempSync(path.join(os.tmpdir(), 'flow-log-tailer-'));
after(() => fs.rmSync(root, { recursive: true, force: true }));
let n = 0;

function run(file: string, start: FlowLogPosition | undefined, options: { startAt?: 'beginning' | 'end'; maxLineBytes?: number } = {}) {
  const lines: string[] = [];
  const lost: { bytes: number; reason: string }[] = [];
  const tooLong: number[] = [];
  const handlers: FlowLogHandlers = {
    line: (t) => lines.push(t),
    tooLong: (b) => tooLong.push(b),
    lost: (bytes, reason) => lost.push({ bytes, reason }),
    rotated: () => undefined,
    readError: (err) => assert.fail(String(err)),
  };
  const tailer = new FlowLogTailer({ path: file, startAt: options.startAt ?? 'beginning', maxLineBytes: options.maxLineBytes ?? 1024, pollIntervalMs: 10, readBufferBytes: 64 }, start, handlers);
  const controller = new AbortController();
  const running = tailer.run(controller.signal);
  return {
    tailer,
    lines,
    lost,
    tooLong,
    stop: async () => {
      controller.abort();
      await running;
    },
  };
}

async function until(what: string, check: () => boolean): Promise<void> {
  const end = Date.now() + 10_000;
  while (!check()) {
    if (Date.now() > end) throw new Error(`timed out waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 5));
  }
}

const lineOf = (i: number) => `{"msg":"Flow Info: ","n":${i},"pad":"${'x'.repeat(i % 50)}"}`;
const write = (file: string, from: number, to: number) => fs.appendFileSync(file, Array.from({ length: to - from }, (_, k) => lineOf(from + k) + '\n').join(''));
const expected = (from: number, to: number) => Array.from({ length: to - from }, (_, k) => lineOf(from + k));

function dir(): string {
  const d = path.join(root, String(++n));
  fs.mkdirSync(d);
  return d;
}

test('lines are handed out whole as they are written, a line still being written only once it ends', async () => {
  const file = path.join(dir(), 'network-policy-agent.log');
  write(file, 0, 20);
  fs.appendFileSync(file, '{"msg":"Flow Info: ","half');
  const t = run(file, undefined);
  try {
    await until('20 lines', () => t.lines.length === 20);
    fs.appendFileSync(file, '":1}\n');
    write(file, 20, 30);
    await until('31 lines', () => t.lines.length === 31);
    assert.deepEqual(t.lines, [...expected(0, 20), '{"msg":"Flow Info: ","half":1}', ...expected(20, 30)]);
    assert.equal(t.tailer.position()!.offset, fs.statSync(file).size);
  } finally {
    await t.stop();
  }
});

test('a rotation (rename, then a new file) reads the renamed file to its end before the new one, losing nothing', async () => {
  const d = dir();
  const file = path.join(d, 'network-policy-agent.log');
  write(file, 0, 50);
  const t = run(file, undefined);
  try {
    await until('50 lines', () => t.lines.length === 50);
    write(file, 50, 60);
    fs.renameSync(file, path.join(d, 'network-policy-agent-2024-09-23T12-36-53.562.log'));
    write(file, 60, 100);
    await until('100 lines', () => t.lines.length === 100);
    assert.deepEqual(t.lines, expected(0, 100));
    assert.equal(t.tailer.rotations, 1);
    assert.deepEqual(t.lost, []);
  } finally {
    await t.stop();
  }
});

test('from a saved position it resumes after the last line handed out, also when that file was rotated away meanwhile', async () => {
  const d = dir();
  const file = path.join(d, 'network-policy-agent.log');
  write(file, 0, 40);
  const first = run(file, undefined);
  await until('40 lines', () => first.lines.length === 40);
  const saved = first.tailer.position()!;
  await first.stop();
  // While stopped: more lines, then a rotation, then lines in the new file.
  write(file, 40, 45);
  fs.renameSync(file, path.join(d, 'network-policy-agent-2024-09-23T12-40-00.000.log'));
  write(file, 45, 70);
  const second = run(file, saved);
  try {
    await until('30 lines', () => second.lines.length === 30);
    assert.deepEqual(second.lines, expected(40, 70));
    assert.deepEqual(second.lost, []);
  } finally {
    await second.stop();
  }
});

test('a saved file that is gone is counted as lost from its position, and the current file is read from its start', async () => {
  const d = dir();
  const file = path.join(d, 'network-policy-agent.log');
  write(file, 0, 10);
  const first = run(file, undefined);
  await until('10 lines', () => first.lines.length === 10);
  const saved = first.tailer.position()!;
  await first.stop();
  write(file, 10, 20);
  const sizeThen = fs.statSync(file).size;
  fs.rmSync(file);
  write(file, 20, 25);
  const second = run(file, { ...saved, size: sizeThen });
  try {
    await until('5 lines', () => second.lines.length === 5);
    assert.deepEqual(second.lines, expected(20, 25));
    assert.deepEqual(second.lost, [{ bytes: sizeThen - saved.offset, reason: 'rotated_away' }]);
  } finally {
    await second.stop();
  }
});

test('a truncated file counts what was not read as lost and is read again from 0; an overlong line is skipped and counted', async () => {
  const file = path.join(dir(), 'network-policy-agent.log');
  write(file, 0, 5);
  const t = run(file, undefined, { maxLineBytes: 100 });
  try {
    await until('5 lines', () => t.lines.length === 5);
    fs.truncateSync(file, 0);
    await until('the truncation to be seen', () => t.lost.length === 1);
    fs.appendFileSync(file, `${'y'.repeat(300)}\n`);
    write(file, 5, 8);
    await until('8 lines', () => t.lines.length === 8);
    assert.deepEqual(t.lines, expected(0, 8));
    assert.equal(t.lost.length, 1);
    assert.equal(t.lost[0]!.reason, 'truncated');
    assert.equal(t.tooLong.length, 1);
  } finally {
    await t.stop();
  }
});

test('startAt=end without a saved position starts after the last complete line', async () => {
  const file = path.join(dir(), 'network-policy-agent.log');
  write(file, 0, 10);
  const t = run(file, undefined, { startAt: 'end' });
  try {
    await until('the file to be open', () => t.tailer.position() !== undefined);
    write(file, 10, 12);
    await until('2 lines', () => t.lines.length === 2);
    assert.deepEqual(t.lines, expected(10, 12));
  } finally {
    await t.stop();
  }
});
