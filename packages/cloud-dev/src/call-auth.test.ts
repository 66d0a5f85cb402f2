// The per-call rules on their own (the wire-level cases are in cloud-server.test.ts).
import assert from 'node:assert/strict';
import { createPublicKey } from 'node:crypto';
import type { PeerCertificate } from 'node:tls';
import { describe, it } from 'node:test';
import { Metadata } from '@grpc/grpc-js';
import { Status } from 'nice-grpc-common';
import { CallAuthenticator, CallRefused } from './call-auth.js';
import type { CallContext } from './grpc-handlers.js';
import { createSigningKey, signToken } from './tokens.js';

const key = createSigningKey();
const auth = new CallAuthenticator({ signingPublicKey: createPublicKey(key.publicKeyPem), tenant: 'acme' });
const verified = { raw: Buffer.from('x') } as PeerCertificate;

function context(entries: Record<string, string>, certificate: PeerCertificate | null = verified): CallContext {
  const metadata = new Metadata();
  for (const [k, v] of Object.entries(entries)) metadata.set(k, v);
  return { metadata, peer: '127.0.0.1:1', signal: new AbortController().signal, verifiedClientCertificate: certificate ?? undefined };
}

async function refusal(promise: Promise<unknown>): Promise<[Status, string]> {
  try {
    await promise;
  } catch (err) {
    assert.ok(err instanceof CallRefused, `expected CallRefused, got ${String(err)}`);
    return [err.code, err.details];
  }
  assert.fail('expected a refusal');
}

describe('call authentication', () => {
  it('accepts a valid bearer token with its tenant and returns the claims', async () => {
    const token = await signToken(key.privateKeyPem, { tenant: 'acme', sub: 'c1' }, 60_000);
    const claims = await auth.authenticate(context({ authorization: `Bearer ${token}`, 'autonp-tenantid': 'acme' }));
    assert.deepEqual([claims.tenant, claims.sub], ['acme', 'c1']);
  });

  it('refuses a call whose connection has no verified client certificate, whatever its token', async () => {
    const token = await signToken(key.privateKeyPem, { tenant: 'acme', sub: 'c1' }, 60_000);
    assert.deepEqual(await refusal(auth.authenticate(context({ authorization: `Bearer ${token}`, 'autonp-tenantid': 'acme' }, null))), [
      Status.UNAUTHENTICATED,
      'client certificate required',
    ]);
    assert.deepEqual(await refusal(auth.authenticateRenewal(token, context({}, null))), [Status.UNAUTHENTICATED, 'client certificate required']);
  });

  it('refuses an authorization that is not a Bearer token', async () => {
    assert.deepEqual(await refusal(auth.authenticate(context({ authorization: 'Basic dXNlcjpwYXNz', 'autonp-tenantid': 'acme' }))), [
      Status.UNAUTHENTICATED,
      'authorization metadata is not a Bearer token',
    ]);
  });

  it('refuses a garbled bearer token', async () => {
    assert.deepEqual(await refusal(auth.authenticate(context({ authorization: 'Bearer abc.def', 'autonp-tenantid': 'acme' }))), [
      Status.UNAUTHENTICATED,
      'bearer token is not a valid JWT',
    ]);
  });

  it('refuses a valid token for a tenant this cloud does not serve', async () => {
    const token = await signToken(key.privateKeyPem, { tenant: 'other', sub: 'c1' }, 60_000);
    assert.deepEqual(await refusal(auth.authenticate(context({ authorization: `Bearer ${token}`, 'autonp-tenantid': 'other' }))), [
      Status.PERMISSION_DENIED,
      'token tenant is not served by this cloud',
    ]);
  });

  it('renewal needs neither authorization nor tenant metadata, but a tenant given must match', async () => {
    const token = await signToken(key.privateKeyPem, { tenant: 'acme', sub: 'c1' }, 60_000);
    assert.equal((await auth.authenticateRenewal(token, context({}))).sub, 'c1');
    assert.deepEqual(await refusal(auth.authenticateRenewal(token, context({ 'autonp-tenantid': 'other' }))), [
      Status.PERMISSION_DENIED,
      'autonp-tenantid does not match the token tenant',
    ]);
    assert.deepEqual(await refusal(auth.authenticateRenewal('', context({}))), [Status.UNAUTHENTICATED, 'missing current_token']);
  });
});
