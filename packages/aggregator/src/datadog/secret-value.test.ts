import assert from 'node:assert/strict';
import { test } from 'node:test';
import { format, inspect } from 'node:util';
import { scrub, SecretValue } from './secret-value.js';

test('a key cannot be printed by JSON, string conversion, util.inspect or format; reveal() alone gives it', () => {
  const key = new SecretValue('0123456789abcdef0123456789abcdef');
  const holder = { apiKey: key, nested: { key } };
  for (const text of [JSON.stringify(holder), String(key), `${key}`, inspect(holder, { depth: 5 }), format('%o %s %j', holder, key, holder)]) {
    assert.ok(!text.includes('0123456789abcdef'), text);
    assert.ok(text.includes('[redacted]'), text);
  }
  assert.equal(key.reveal(), '0123456789abcdef0123456789abcdef');
});

test('scrub removes every occurrence of the keys from a text', () => {
  const api = new SecretValue('aaaaaaaaaaaaaaaa');
  assert.equal(scrub('bad key aaaaaaaaaaaaaaaa; again aaaaaaaaaaaaaaaa', [api, undefined]), 'bad key [redacted]; again [redacted]');
});
