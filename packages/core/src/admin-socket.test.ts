import assert from 'node:assert/strict';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { test } from 'node:test';
import { adminRequest, startAdminServer } from './admin-socket.js';

test('the admin socket answers known commands and names the known ones for an unknown command', async () => {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'admin-'));
  const sock = path.join(dir, 'admin.sock');
  const server = await startAdminServer(sock, {
    status: () => ({ files: 3 }),
    echo: (args) => args,
    broken: () => {
      throw new Error('view failed');
    },
  });
  try {
    assert.deepEqual(await adminRequest(sock, 'status'), { files: 3 });
    assert.deepEqual(await adminRequest(sock, 'echo', { a: 1 }), { a: 1 });
    await assert.rejects(adminRequest(sock, 'nope'), /unknown command "nope"; known: status, echo, broken/);
    await assert.rejects(adminRequest(sock, 'broken'), /view failed/);
    await assert.rejects(adminRequest(sock, 'constructor'), /unknown command/);
    assert.equal(fs.statSync(sock).mode & 0o777, 0o600);
  } finally {
    await server.close();
  }
});

test('a stale socket file left by a killed process is replaced, a live one is not', async () => {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'admin-'));
  const sock = path.join(dir, 'admin.sock');
  fs.writeFileSync(sock, '');
  const first = await startAdminServer(sock, { status: () => 1 });
  await assert.rejects(startAdminServer(sock, { status: () => 2 }), /in use/);
  assert.equal(await adminRequest(sock, 'status'), 1);
  await first.close();
});

test('an unreachable socket gives a clear error', async () => {
  await assert.rejects(adminRequest('/nonexistent/admin.sock', 'status'), /cannot reach admin socket \/nonexistent\/admin.sock/);
});
