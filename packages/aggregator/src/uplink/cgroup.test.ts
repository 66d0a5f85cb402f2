import assert from 'node:assert/strict';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { test } from 'node:test';
import { parseCpuMax, parseMemoryMax, readCgroup } from './cgroup.js';

test('cgroup v2 limits: "max" means no limit (0), cpu.max quota/period becomes nano cores', () => {
  assert.equal(parseMemoryMax('max\n'), 0);
  assert.equal(parseMemoryMax('268435456\n'), 268435456);
  assert.equal(parseCpuMax('max 100000\n'), 0);
  assert.equal(parseCpuMax('50000 100000\n'), 500_000_000);
  assert.equal(parseCpuMax('200000 100000'), 2_000_000_000);
});

test('reads the files under the cgroup root; absent files read as 0', () => {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'cgroup-'));
  try {
    assert.deepEqual(readCgroup(dir), { memoryLimitBytes: 0, cpuLimitNanoCores: 0, memoryCurrentBytes: undefined });
    fs.writeFileSync(path.join(dir, 'memory.max'), '1073741824\n');
    fs.writeFileSync(path.join(dir, 'cpu.max'), '25000 100000\n');
    fs.writeFileSync(path.join(dir, 'memory.current'), '52428800\n');
    assert.deepEqual(readCgroup(dir), { memoryLimitBytes: 1073741824, cpuLimitNanoCores: 250_000_000, memoryCurrentBytes: 52428800 });
  } finally {
    fs.rmSync(dir, { recursive: true, force: true });
  }
});
