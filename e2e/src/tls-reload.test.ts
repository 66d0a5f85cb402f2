// core's TlsReloader against real files and a real TLS server: new material is used without a restart, and a
// broken update is refused while the old material keeps working.
import assert from 'node:assert/strict';
import { once } from 'node:events';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import tls from 'node:tls';
import { test } from 'node:test';
import { createCa, issueCertificate } from '@kestrel/cloud-dev';
import { TlsReloader, reloadingServerCredentials } from '@kestrel/core';
import { Server, ServerCredentials } from '@grpc/grpc-js';

function writeSet(dir: string, ca: { certPem: string }, leaf: { certPem: string; keyPem: string }): void {
  // As a Kubernetes Secret volume does: new files in a fresh folder, then an atomic swap of the ..data link.
  const stamp = `..${Date.now()}-${Math.random().toString(16).slice(2)}`;
  fs.mkdirSync(path.join(dir, stamp));
  fs.writeFileSync(path.join(dir, stamp, 'tls.crt'), leaf.certPem);
  fs.writeFileSync(path.join(dir, stamp, 'tls.key'), leaf.keyPem);
  fs.writeFileSync(path.join(dir, stamp, 'ca.crt'), ca.certPem);
  fs.symlinkSync(stamp, path.join(dir, '..data_tmp'));
  fs.renameSync(path.join(dir, '..data_tmp'), path.join(dir, '..data'));
  for (const f of ['tls.crt', 'tls.key', 'ca.crt']) if (!fs.existsSync(path.join(dir, f))) fs.symlinkSync(path.join('..data', f), path.join(dir, f));
}

async function peerFingerprint(port: number, ca: string): Promise<string> {
  const socket = tls.connect({ host: '127.0.0.1', port, ca, servername: 'localhost', ALPNProtocols: ['h2'] });
  await once(socket, 'secureConnect');
  const fp = socket.getPeerX509Certificate()!.fingerprint256;
  socket.destroy();
  return fp;
}

test('a Secret-style update of the TLS files is picked up by a running gRPC server; a broken one is refused', { timeout: 30_000 }, async () => {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'tls-reload-'));
  const ca = createCa({ commonName: 'reload CA' });
  const first = issueCertificate(ca, { commonName: 'first', usage: 'server', hosts: ['localhost'] });
  writeSet(dir, ca, first);
  const reloader = new TlsReloader({ certFile: path.join(dir, 'tls.crt'), keyFile: path.join(dir, 'tls.key'), caFile: path.join(dir, 'ca.crt') }, 500).watch();
  const server = new Server();
  const port = await new Promise<number>((resolve, reject) =>
    server.bindAsync('127.0.0.1:0', reloadingServerCredentials(reloader, false) as ServerCredentials, (err, p) => (err ? reject(err) : resolve(p))),
  );
  try {
    assert.match(reloader.current.subject, /CN=first/);
    const before = await peerFingerprint(port, ca.certPem);
    assert.equal(before, reloader.current.fingerprint256);

    const second = issueCertificate(ca, { commonName: 'second', usage: 'server', hosts: ['localhost'] });
    const changed = once(reloader, 'change');
    writeSet(dir, ca, second);
    await changed;
    assert.match(reloader.current.subject, /CN=second/);
    assert.equal(await peerFingerprint(port, ca.certPem), reloader.current.fingerprint256, 'new connections get the new certificate');

    // A key that does not belong to the certificate: refused, the second certificate stays in use.
    const third = issueCertificate(ca, { commonName: 'third', usage: 'server', hosts: ['localhost'] });
    const failed = once(reloader, 'error');
    writeSet(dir, ca, { certPem: third.certPem, keyPem: second.keyPem });
    const [err] = (await failed) as [Error];
    assert.match(err.message, /does not belong to certificate/);
    assert.match(reloader.current.subject, /CN=second/);
    assert.equal(await peerFingerprint(port, ca.certPem), reloader.current.fingerprint256);
  } finally {
    reloader.close();
    server.forceShutdown();
  }
});
