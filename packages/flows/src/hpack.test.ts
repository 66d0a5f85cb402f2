import assert from 'node:assert/strict';
import { test } from 'node:test';
import { encodeLiteralHeaders, HpackDecoder, HpackError, huffmanDecode } from './hpack.js';

const hex = (s: string) => Buffer.from(s.replace(/\s+/g, ''), 'hex');

// RFC 7541 Appendix C.4: three requests on one connection, Huffman-coded, the later ones using the dynamic table
// the earlier ones filled.
test('decodes the RFC 7541 C.4 requests: Huffman strings, static and dynamic table across blocks', () => {
  const d = new HpackDecoder();
  assert.deepEqual(d.decode(hex('8286 8441 8cf1 e3c2 e5f2 3a6b a0ab 90f4 ff')), [
    [':method', 'GET'],
    [':scheme', 'http'],
    [':path', '/'],
    [':authority', 'www.example.com'],
  ]);
  assert.deepEqual(d.decode(hex('8286 84be 5886 a8eb 1064 9cbf')), [
    [':method', 'GET'],
    [':scheme', 'http'],
    [':path', '/'],
    [':authority', 'www.example.com'],
    ['cache-control', 'no-cache'],
  ]);
  assert.deepEqual(d.decode(hex('8287 85bf 4088 25a8 49e9 5ba9 7d7f 8925 a849 e95b b8e8 b4bf')), [
    [':method', 'GET'],
    [':scheme', 'https'],
    [':path', '/index.html'],
    [':authority', 'www.example.com'],
    ['custom-key', 'custom-value'],
  ]);
});

test('a table size update evicts what no longer fits, and an index beyond the table is an error', () => {
  const d = new HpackDecoder();
  d.decode(hex('8286 8441 8cf1 e3c2 e5f2 3a6b a0ab 90f4 ff'));
  assert.deepEqual(d.decode(hex('be')), [[':authority', 'www.example.com']]);
  // Size update to 0 (001 00000), then the same index: the entry is gone.
  assert.throws(() => d.decode(hex('20 be')), HpackError);
  assert.throws(() => new HpackDecoder(4096).decode(hex('3fe21f')), /over the announced/);
});

test('literal fields without indexing round-trip, and leave the table alone', () => {
  const fields: [string, string][] = [
    [':method', 'POST'],
    [':path', '/observer.Observer/GetFlows'],
    ['grpc-message', 'x'.repeat(300)],
  ];
  const d = new HpackDecoder();
  assert.deepEqual(d.decode(encodeLiteralHeaders(fields)), fields);
  assert.throws(() => d.decode(hex('be')), /beyond the dynamic table/);
});

test('Huffman strings with bad padding or an EOS inside are refused', () => {
  // "a" is 00011 (5 bits); padded with 111 it is 0x1f.
  assert.equal(huffmanDecode(hex('1f'), 0, 1), 'a');
  // Padded with zeros instead of ones.
  assert.throws(() => huffmanDecode(hex('18'), 0, 1), /padding/);
  // Eight or more bits of padding (a whole 0xff byte after the symbol).
  assert.throws(() => huffmanDecode(hex('1fff'), 0, 2), /padding|EOS/);
  // EOS itself: thirty 1 bits.
  assert.throws(() => huffmanDecode(hex('ffffffff'), 0, 4), /EOS/);
});

test('truncated blocks are errors, not garbage', () => {
  assert.throws(() => new HpackDecoder().decode(hex('41 8c f1e3')), /truncated/);
  assert.throws(() => new HpackDecoder().decode(hex('ff')), /truncated/);
});
