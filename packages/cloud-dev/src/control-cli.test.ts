// The control commands against a running `cloud-dev serve`, as a test or a person uses them.
import assert from 'node:assert/strict';
import { spawn, spawnSync } from 'node:child_process';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { createInterface } from 'node:readline';
import { after, before, test } from 'node:test';
import { fileURLToPath } from 'node:url';

const MAIN = path.join(path.dirname(fileURLToPath(import.meta.url)), 'main.js');
let root: string;
let serve: ReturnType<typeof spawn>;

const run = (...args: string[]) => spawnSync(process.execPath, [MAIN, ...args], { encoding: 'utf8', env: { ...process.env, LOG_LEVEL: 'error' } });

before(async () => {
  root = fs.mkdtempSync(path.join(os.tmpdir(), 'cloud-dev-ctl-'));
  assert.equal(run('init', path.join(root, 'cloud')).status, 0);
  serve = spawn(process.execPath, [MAIN, 'serve', '--dir', path.join(root, 'cloud'), '--listen', '127.0.0.1:0', '--unimplemented', 'flows'], { stdio: ['ignore', 'pipe', 'inherit'] });
  for await (const line of createInterface({ input: serve.stdout! })) {
    if ((JSON.parse(line) as { msg?: string }).msg === 'listening') break;
  }
});

after(async () => {
  const exited = new Promise((resolve) => serve.once('exit', resolve));
  serve.kill('SIGTERM');
  await exited;
  fs.rmSync(root, { recursive: true, force: true });
});

test('status shows the controls given to serve; set changes them at runtime', () => {
  const status = run('status', '--dir', path.join(root, 'cloud'));
  assert.equal(status.status, 0, status.stderr);
  assert.deepEqual((JSON.parse(status.stdout) as { controls: { unimplemented: string[] } }).controls.unimplemented, ['flows']);
  const set = run('set', '--dir', path.join(root, 'cloud'), '--unimplemented', 'none', '--token-ttl', '10s', '--enforce-token-expiry');
  assert.equal(set.status, 0, set.stderr);
  const controls = JSON.parse(set.stdout) as { unimplemented: string[]; tokenTtlMs: number; enforceTokenExpiry: boolean };
  assert.deepEqual([controls.unimplemented, controls.tokenTtlMs, controls.enforceTokenExpiry], [[], 10_000, true]);
});

test('rotate-cert with no operator connected says so and exits 1; an unknown stream name is refused', () => {
  const rotate = run('rotate-cert', '--dir', path.join(root, 'cloud'), '--timeout', '1s');
  assert.equal(rotate.status, 1);
  assert.match(rotate.stderr, /cloud-dev rotate-cert: no operator is connected on a control or data stream/);
  const bad = run('set', '--dir', path.join(root, 'cloud'), '--unimplemented', 'everything');
  assert.equal(bad.status, 1);
  assert.match(bad.stderr, /unknown stream "everything"/);
});

test('a control command without a running serve names the socket it tried', () => {
  const result = run('drop-connections', '--control-socket', path.join(root, 'nothing.sock'));
  assert.equal(result.status, 1);
  assert.match(result.stderr, /cannot reach admin socket .*nothing\.sock/);
});
