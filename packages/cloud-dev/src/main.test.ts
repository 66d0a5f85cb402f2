// The CLI as other processes use it: init lays out the files, serve announces its address, SIGTERM exits 0 with
// the store flushed, and a bad setting is one line and exit 2.
import assert from 'node:assert/strict';
import { spawn, spawnSync } from 'node:child_process';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { createInterface } from 'node:readline';
import { after, before, describe, it } from 'node:test';
import { fileURLToPath } from 'node:url';
import { readStoreSummary } from './record-store.js';

const MAIN = path.join(path.dirname(fileURLToPath(import.meta.url)), 'main.js');
let root: string;

const run = (...args: string[]) => spawnSync(process.execPath, [MAIN, ...args], { encoding: 'utf8', env: { ...process.env, LOG_LEVEL: 'error' } });

before(() => {
  root = fs.mkdtempSync(path.join(os.tmpdir(), 'cloud-dev-cli-'));
});
after(() => fs.rmSync(root, { recursive: true, force: true }));

describe('cloud-dev CLI', () => {
  it('init lays out operator, server, jwt and ca files with private keys at 0600, and prints what it made', () => {
    const dir = path.join(root, 'cloud');
    const result = run('init', dir, '--tenant', 'acme', '--cluster-name', 'prod-1', '--hosts', 'localhost,127.0.0.1,cloud.test');
    assert.equal(result.status, 0, result.stderr);
    const printed = JSON.parse(result.stdout) as { msg: string; identity: { tenant: string; clusterName: string; clusterId: string } };
    assert.equal(printed.msg, 'initialized');
    assert.deepEqual([printed.identity.tenant, printed.identity.clusterName], ['acme', 'prod-1']);
    const files = ['operator/tls.crt', 'operator/tls.key', 'operator/ca.crt', 'operator/token', 'server/tls.crt', 'server/tls.key', 'server/ca.crt', 'jwt/signing.key', 'jwt/signing.pub', 'ca/ca.crt', 'ca/ca.key', 'cloud-dev.json'];
    for (const file of files) assert.ok(fs.existsSync(path.join(dir, file)), file);
    for (const key of ['operator/tls.key', 'operator/token', 'server/tls.key', 'jwt/signing.key', 'ca/ca.key']) {
      assert.equal(fs.statSync(path.join(dir, key)).mode & 0o777, 0o600, key);
    }
  });

  it('init refuses a directory that already holds material, and replaces it with --force', () => {
    const dir = path.join(root, 'twice');
    assert.equal(run('init', dir).status, 0);
    const token = fs.readFileSync(path.join(dir, 'operator/token'), 'utf8');
    const again = run('init', dir);
    assert.equal(again.status, 1);
    assert.match(again.stderr, /already holds cloud-dev material.*--force/);
    assert.equal(fs.readFileSync(path.join(dir, 'operator/token'), 'utf8'), token, 'nothing was touched');
    assert.equal(run('init', dir, '--force').status, 0);
    assert.notEqual(fs.readFileSync(path.join(dir, 'operator/token'), 'utf8'), token);
  });

  it('an invalid setting is one line naming it, exit 2', () => {
    const result = run('serve', '--dir', path.join(root, 'cloud'), '--heartbeat-interval', 'soon');
    assert.equal(result.status, 2);
    assert.equal(result.stderr.trim().split('\n').length, 1);
    assert.match(result.stderr, /CLOUD_DEV_HEARTBEAT_INTERVAL \/ --heartbeat-interval/);
    const missing = run('serve', '--dir', path.join(root, 'nothing-here'));
    assert.equal(missing.status, 2);
    assert.match(missing.stderr, /CLOUD_DEV_DIR \/ --dir: cannot read/);
  });

  it('serve prints {"msg":"listening","address":…} once bound, and on SIGTERM flushes and exits 0', async () => {
    const dataDir = path.join(root, 'data');
    const child = spawn(process.execPath, [MAIN, 'serve', '--dir', path.join(root, 'cloud'), '--listen', '127.0.0.1:0', '--data-dir', dataDir], {
      stdio: ['ignore', 'pipe', 'inherit'],
    });
    const exited = new Promise<number | null>((resolve) => child.once('exit', (code) => resolve(code)));
    let address: string | undefined;
    for await (const line of createInterface({ input: child.stdout })) {
      const entry = JSON.parse(line) as { msg?: string; address?: string };
      if (entry.msg === 'listening') {
        address = entry.address;
        break;
      }
    }
    assert.match(address ?? '', /^127\.0\.0\.1:\d+$/);
    child.kill('SIGTERM');
    assert.equal(await exited, 0);
    assert.deepEqual((await readStoreSummary(dataDir))?.messages, { data: 0, control: 0, flows: 0, events: 0, logs: 0 });
  });
});
