// Credentials kept alive under steady load, with real processes and real TLS: tokens that live seconds renewed
// again and again (cloud-dev ends any stream whose token expires), a revoked token renewed at once, and a client
// certificate rotation pushed by the cloud with `cloud-dev rotate-cert` (the old certificate refused afterwards).
// Every line written arrives exactly once and neither the aggregator nor the agent restarts.
import assert from 'node:assert/strict';
import { X509Certificate } from 'node:crypto';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { test } from 'node:test';
import { exactlyOnceProblems, readCloudSummary, readStoredLogs, waitForStored } from './harness/delivery-check.js';
import { runToEnd } from './harness/process.js';
import { programs } from './harness/repo.js';
import { startUplinkSystem, SteadyWriter, type UplinkSystem } from './harness/uplink-system.js';

const PODS = [
  { namespace: 'shop', pod: 'cart-1', containers: ['app'] },
  { namespace: 'payments', pod: 'ledger-0', containers: ['app', 'envoy'] },
];

async function until(what: string, check: () => boolean | Promise<boolean>, timeoutMs: number): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  while (Date.now() < deadline) {
    if (await check()) return;
    await new Promise((r) => setTimeout(r, 250));
  }
  assert.fail(`timed out after ${timeoutMs} ms waiting for ${what}`);
}

async function assertEveryLineOnce(system: UplinkSystem, writer: SteadyWriter): Promise<void> {
  writer.stop();
  const total = writer.written;
  assert.ok((await waitForStored(system.dataDir, total, 90_000)) >= total, `not every one of ${total} lines arrived`);
  await until('the logs stream to have nothing left to send', async () => {
    const logs = (await system.aggregatorStatus()).uplink.streams.find((s) => s.name === 'logs')!;
    return logs.state === 'open' && logs.queued === 0 && logs.inWindow === 0;
  }, 30_000);
  const problems = exactlyOnceProblems(writer.containers, readStoredLogs(system.dataDir));
  assert.deepEqual(problems.slice(0, 20), [], `${problems.length} problems`);
  assert.equal(system.aggregator.lines.filter((l) => l.message === 'kestrel-aggregator started').length, 1, 'the aggregator never restarted');
  assert.equal(system.agent.lines.filter((l) => l.message === 'connected to aggregator').length, 1, 'the agent never lost its aggregator');
}

const tokenClaims = (file: string) => JSON.parse(Buffer.from(fs.readFileSync(file, 'utf8').trim().split('.')[1]!, 'base64url').toString()) as { iat: number; exp: number };

test('tokens living 8 s are renewed again and again under load, a revoked one at once; every line stored exactly once', { timeout: 180_000 }, async () => {
  const workDir = fs.mkdtempSync(path.join(os.tmpdir(), 'kestrel-e2e-token-'));
  const system = await startUplinkSystem({
    workDir,
    nodeName: 'node-token',
    initArgs: ['--token-ttl', '8s'],
    serveArgs: ['--token-ttl', '8s', '--enforce-token-expiry'],
  });
  const tokenFile = path.join(system.cloudDir, 'operator', 'token');
  const onboarding = tokenClaims(tokenFile);
  const writer = new SteadyWriter(system.podsRoot, PODS);
  try {
    writer.start(10);
    // Each renewal comes at 50-70 % of the 8 s lifetime; three of them take 12 to 17 s.
    await until('three token renewals', () => system.aggregator.lines.filter((l) => l.message === 'cluster token renewed').length >= 3, 40_000);
    const renewed = tokenClaims(tokenFile);
    assert.ok(renewed.iat > onboarding.iat, 'the renewed token was written back to the token file');
    assert.equal(renewed.exp - renewed.iat, 8);

    // Streams end and reopen every 8 s (each token's expiry is enforced), so the revocation is sent at a moment when
    // all five are open with a token that has at least 3 s left: then it is the revocation that ends them.
    await until('all five streams open with a token 3 s from expiry', async () => {
      const status = (await system.control('status')) as { openStreams: { tokenIssuedAt: number }[] };
      const nowS = Date.now() / 1000;
      return status.openStreams.length === 5 && status.openStreams.every((s) => s.tokenIssuedAt + 8 - nowS >= 3);
    }, 30_000);
    const revoked = (await system.control('revoke-tokens')) as { streamsEnded: number };
    assert.ok(revoked.streamsEnded >= 1, 'open streams were ended with UNAUTHENTICATED');
    await until('the aggregator to see the rejection and renew', () => system.aggregator.lines.some((l) => l.message === 'the cloud rejected the cluster token; renewing it before reconnecting'), 20_000);
    await until('all streams open again', async () => (await system.aggregatorStatus()).uplink.streams.every((s) => s.state === 'open'), 30_000);
    const storedNow = readStoredLogs(system.dataDir).length;
    await waitForStored(system.dataDir, storedNow + 500, 30_000);
    await assertEveryLineOnce(system, writer);
    const summary = readCloudSummary(system.dataDir);
    assert.ok((summary['tokensIssued'] as number) >= 4, `tokens issued: ${String(summary['tokensIssued'])}`);
    assert.ok(((summary['streamsEnded'] as Record<string, number>)['bearer token revoked'] ?? 0) >= 1);
  } finally {
    writer.stop();
    await system.stop();
  }
});

test('a certificate rotation pushed by the cloud under load: applied, answered, old certificate refused, every line stored exactly once', { timeout: 180_000 }, async () => {
  const workDir = fs.mkdtempSync(path.join(os.tmpdir(), 'kestrel-e2e-rotate-'));
  const system = await startUplinkSystem({ workDir, nodeName: 'node-rotate' });
  const certFile = path.join(system.cloudDir, 'operator', 'tls.crt');
  const before = new X509Certificate(fs.readFileSync(certFile));
  const writer = new SteadyWriter(system.podsRoot, PODS);
  try {
    writer.start(10);
    assert.ok((await waitForStored(system.dataDir, 500, 30_000)) >= 500);
    const rotated = await runToEnd(programs.cloudDev, ['rotate-cert', '--dir', system.cloudDir, '--timeout', '20s']);
    assert.equal(rotated.code, 0, rotated.stderr);
    const [result] = JSON.parse(rotated.stdout) as { success: boolean; requestId: string; fingerprint256: string; revoked: number; stream: string }[];
    assert.equal(result?.success, true);
    assert.equal(result?.stream, 'control');
    assert.ok((result?.revoked ?? 0) >= 1, 'the previous certificate is refused from now on');
    // Written back over the certificate files (local runs), and what the aggregator now presents.
    const after = new X509Certificate(fs.readFileSync(certFile));
    assert.equal(after.fingerprint256, result?.fingerprint256);
    assert.notEqual(after.fingerprint256, before.fingerprint256);
    await until('the aggregator to report the new certificate', async () => (await system.aggregatorStatus()).uplink.certificate.notAfter === new Date(after.validTo).toISOString(), 20_000);
    // Every stream the cloud now has open was opened with the new certificate…
    await until('all five streams open with the new certificate', async () => {
      const status = (await system.control('status')) as { openStreams: { certificate: string | null }[] };
      return status.openStreams.length === 5 && status.openStreams.every((s) => s.certificate === result?.fingerprint256);
    }, 30_000);
    // …and after every connection is cut, new ones can only be made with it.
    await system.control('drop-connections');
    const storedNow = readStoredLogs(system.dataDir).length;
    await waitForStored(system.dataDir, storedNow + 500, 30_000);
    await assertEveryLineOnce(system, writer);
    const answers = fs.readFileSync(path.join(system.dataDir, 'control.jsonl'), 'utf8').split('\n').filter((l) => l.includes('certificateRenewalResponse'));
    assert.equal(answers.length, 1);
    assert.equal((JSON.parse(answers[0]!) as { message: { certificateRenewalResponse: { requestId: string } } }).message.certificateRenewalResponse.requestId, result?.requestId);
  } finally {
    writer.stop();
    await system.stop();
  }
});
