import assert from 'node:assert/strict';
import { test } from 'node:test';
import { decodeClusterToken } from './token.js';

const jwt = (claims: object) => `e30.${Buffer.from(JSON.stringify(claims)).toString('base64url')}.sig`;

test('reads the tenant and expiry claims of the cluster token', () => {
  const t = decodeClusterToken(jwt({ tenant: 'acme', exp: 1_800_000_000 }));
  assert.equal(t.tenant, 'acme');
  assert.deepEqual(t.expiresAt, new Date(1_800_000_000_000));
});

test('refuses tokens that are not JWTs or have no tenant', () => {
  assert.throws(() => decodeClusterToken('abc'), /not a JWT/);
  assert.throws(() => decodeClusterToken('a.!!!.c'), /not JSON/);
  assert.throws(() => decodeClusterToken(jwt({ sub: 'x' })), /no tenant claim/);
});
