import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { decodeJwt, decodeProtectedHeader, SignJWT } from 'jose';
import { createPrivateKey } from 'node:crypto';
import { createSigningKey, signToken, TokenRejected, verifyToken, type TokenRejectionReason } from './tokens.js';

const key = createSigningKey();
const subject = { tenant: 'acme', sub: 'cluster-1' };

async function rejection(promise: Promise<unknown>): Promise<TokenRejectionReason> {
  try {
    await promise;
  } catch (err) {
    assert.ok(err instanceof TokenRejected, `expected TokenRejected, got ${String(err)}`);
    return err.reason;
  }
  assert.fail('expected the token to be rejected');
}

describe('tokens', () => {
  it('signs an ES256 JWT with tenant, sub, iat, exp and iss, which verifies with the public key', async () => {
    const token = await signToken(key.privateKeyPem, subject, 3_600_000);
    assert.deepEqual(decodeProtectedHeader(token), { alg: 'ES256', typ: 'JWT' });
    const claims = await verifyToken(key.publicKeyPem, token);
    assert.equal(claims.tenant, 'acme');
    assert.equal(claims.sub, 'cluster-1');
    assert.equal(claims.iss, 'cloud-dev');
    assert.equal(claims.exp - claims.iat, 3600);
    assert.ok(Math.abs(claims.iat - Date.now() / 1000) < 5);
    // The operator reads the tenant without verifying: it must be a plain top-level claim.
    assert.equal(decodeJwt(token)['tenant'], 'acme');
  });

  it('rejects an expired token as expired', async () => {
    const token = await signToken(key.privateKeyPem, subject, 60_000, { issuedAt: new Date(Date.now() - 120_000) });
    assert.equal(await rejection(verifyToken(key.publicKeyPem, token)), 'expired');
  });

  it('accepts the same token until its expiry', async () => {
    const token = await signToken(key.privateKeyPem, subject, 60_000);
    await verifyToken(key.publicKeyPem, token, { now: new Date(Date.now() + 50_000) });
    assert.equal(await rejection(verifyToken(key.publicKeyPem, token, { now: new Date(Date.now() + 70_000) })), 'expired');
  });

  it('rejects a token signed by another key as bad-signature, even when it is also expired', async () => {
    const other = createSigningKey();
    assert.equal(await rejection(verifyToken(key.publicKeyPem, await signToken(other.privateKeyPem, subject, 60_000))), 'bad-signature');
    const expiredForgery = await signToken(other.privateKeyPem, subject, 1000, { issuedAt: new Date(Date.now() - 3_600_000) });
    assert.equal(await rejection(verifyToken(key.publicKeyPem, expiredForgery)), 'bad-signature');
  });

  it('rejects a token with another algorithm as bad-signature', async () => {
    const hs256 = await new SignJWT({ tenant: 'acme' }).setProtectedHeader({ alg: 'HS256' }).setSubject('c').setIssuer('cloud-dev').setIssuedAt().setExpirationTime('1h').sign(new Uint8Array(32));
    assert.equal(await rejection(verifyToken(key.publicKeyPem, hs256)), 'bad-signature');
  });

  it('rejects a token from another issuer', async () => {
    const token = await signToken(key.privateKeyPem, subject, 60_000, { issuer: 'someone-else' });
    assert.equal(await rejection(verifyToken(key.publicKeyPem, token)), 'wrong-issuer');
  });

  it('rejects a token without a tenant claim', async () => {
    const token = await new SignJWT({}).setProtectedHeader({ alg: 'ES256' }).setSubject('c').setIssuer('cloud-dev').setIssuedAt().setExpirationTime('1h').sign(createPrivateKey(key.privateKeyPem));
    assert.equal(await rejection(verifyToken(key.publicKeyPem, token)), 'missing-claim');
  });

  it('rejects text that is not a JWT as malformed', async () => {
    assert.equal(await rejection(verifyToken(key.publicKeyPem, 'not-a-jwt')), 'malformed');
    assert.equal(await rejection(verifyToken(key.publicKeyPem, '')), 'malformed');
  });
});
