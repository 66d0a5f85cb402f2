import assert from 'node:assert/strict';
import { test } from 'node:test';
import type { ClientCertificateVerdict } from '@kestrel/core';
import { Metadata, Status } from 'nice-grpc';
import { CertificateIdentityCheck } from './certificate-identity.js';

const call = (peer: string) => ({ peer, metadata: Metadata() });

test("accepts the node named by the connection's certificate CN, and only that node", async () => {
  const verdicts = new Map<string, ClientCertificateVerdict>([
    ['10.0.0.1:4000', { trusted: true, subject: 'node-a', fingerprint256: 'AB:CD:EF:01:23:45:67:89:AB:CD:EF:01:23:45:67:89' }],
    ['10.0.0.2:4000', { trusted: false, problem: 'missing', detail: 'no certificate presented' }],
    ['10.0.0.3:4000', { trusted: false, problem: 'untrusted', detail: 'UNABLE_TO_VERIFY_LEAF_SIGNATURE' }],
    ['10.0.0.4:4000', { trusted: false, problem: 'expired', detail: 'CERT_HAS_EXPIRED' }],
  ]);
  const check = new CertificateIdentityCheck((peer) => verdicts.get(peer));

  const accepted = await check.verify(call('10.0.0.1:4000'), 'node-a');
  assert.equal(accepted.accepted, true);
  assert.ok(accepted.accepted && accepted.node === 'node-a' && accepted.subject.startsWith('certificate CN=node-a'));

  const refusal = async (peer: string, node: string) => {
    const v = await check.verify(call(peer), node);
    assert.equal(v.accepted, false);
    return v.accepted ? undefined : { status: v.status, reason: v.reason };
  };
  assert.deepEqual(await refusal('10.0.0.1:4000', 'node-b'), { status: Status.PERMISSION_DENIED, reason: 'wrong_node' });
  assert.deepEqual(await refusal('10.0.0.2:4000', 'node-a'), { status: Status.UNAUTHENTICATED, reason: 'no_client_certificate' });
  assert.deepEqual(await refusal('10.0.0.3:4000', 'node-a'), { status: Status.UNAUTHENTICATED, reason: 'untrusted_certificate' });
  assert.deepEqual(await refusal('10.0.0.4:4000', 'node-a'), { status: Status.UNAUTHENTICATED, reason: 'expired_certificate' });
  assert.deepEqual(await refusal('10.0.0.9:4000', 'node-a'), { status: Status.UNAUTHENTICATED, reason: 'unknown_connection' });
});
