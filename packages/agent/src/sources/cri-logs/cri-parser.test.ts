import assert from 'node:assert/strict';
import fs from 'node:fs';
import { test } from 'node:test';
import { daysFromCivil, newCriFields, parseCriLine, parseCriRecord, parseTimestamp } from './cri-parser.js';
import { agentSample, sharedSample } from './testdata.js';

test('parses containerd records with Z timestamps and nanoseconds', () => {
  assert.deepEqual(parseCriLine('2024-05-01T12:00:00.123456789Z stdout F hello world'), {
    timestamp: { seconds: Date.parse('2024-05-01T12:00:00Z') / 1000, nanos: 123456789 },
    stream: 'stdout',
    partial: false,
    message: 'hello world',
  });
});

test('parses CRI-O numeric offsets into the same instant', () => {
  const z = parseTimestamp('2024-05-01T12:00:00.5Z');
  const offset = parseTimestamp('2024-05-01T14:00:00.500000000+02:00');
  const negative = parseTimestamp('2024-05-01T07:30:00.5-04:30');
  assert.deepEqual(offset, z);
  assert.deepEqual(negative, z);
  assert.equal(z?.nanos, 500_000_000);
});

test('computes seconds from the digits exactly as Date.parse does, across months, leap years and centuries', () => {
  for (const iso of ['1970-01-01T00:00:00Z', '2000-02-29T23:59:59Z', '2024-02-29T12:34:56Z', '2024-12-31T23:59:59Z', '2100-03-01T00:00:00Z', '1999-12-31T23:59:59Z']) {
    assert.equal(parseTimestamp(iso)?.seconds, Date.parse(iso) / 1000, iso);
  }
  assert.equal(daysFromCivil(1970, 1, 1), 0);
});

test('keeps up to nine fraction digits and ignores more', () => {
  assert.equal(parseTimestamp('2024-05-01T12:00:00.1Z')?.nanos, 100_000_000);
  assert.equal(parseTimestamp('2024-05-01T12:00:00.000000001Z')?.nanos, 1);
  assert.equal(parseTimestamp('2024-05-01T12:00:00.1234567891234Z')?.nanos, 123_456_789);
  assert.equal(parseTimestamp('2024-05-01T12:00:00Z')?.nanos, 0);
});

test('rejects timestamps that are not RFC 3339', () => {
  for (const bad of ['2024-05-01 12:00:00Z', '2024-13-01T12:00:00Z', '2024-02-30T12:00:00Z', '2024-05-01T24:00:00Z', '2024-05-01T12:00:00', '2024-05-01T12:00:00.Z', '2024-05-01T12:00:00+0200', 'x024-05-01T12:00:00Z']) {
    assert.equal(parseTimestamp(bad), null, bad);
  }
});

test('keeps an empty message and tags with extra fields', () => {
  assert.equal(parseCriLine('2024-05-01T12:00:00Z stderr F')?.message, '');
  assert.equal(parseCriLine('2024-05-01T12:00:00Z stderr F ')?.message, '');
  assert.equal(parseCriLine('2024-05-01T12:00:00Z stderr P:future x')?.partial, true);
  assert.equal(parseCriLine('2024-05-01T12:00:00Z stderr P:future x')?.message, 'x');
});

test('keeps the message bytes as written: spaces, tabs, invalid UTF-8 replaced when decoded', () => {
  const bytes = Buffer.concat([Buffer.from('2024-05-01T12:00:00Z stdout F  two  spaces\tand '), Buffer.from([0xff, 0xfe, 0x41])]);
  const f = newCriFields();
  assert.equal(parseCriRecord(bytes, 0, bytes.length, f), true);
  assert.equal(bytes.toString('utf8', f.messageStart), ' two  spaces\tand \ufffd\ufffdA');
});

test('rejects records that are not CRI', () => {
  for (const bad of ['', 'hello', '2024-05-01T12:00:00Z stdin F x', 'not-a-time stdout F x', '2024-05-01T12:00:00Z stdout X x', '2024-05-01T12:00:00Z stdout FP x', '2024-05-01T12:00:00Z  stdout F x', '{"log":"x"}']) {
    assert.equal(parseCriLine(bad), null, bad);
  }
});

test('reads the real conmon sample: full, stderr, 8 KiB partial pieces and an unterminated last record', () => {
  const lines = fs.readFileSync(sharedSample('cri/conmon-k8s-file.log'), 'utf8').split('\n');
  const records = lines.filter((l) => l.length > 0).map(parseCriLine);
  assert.ok(records.every((r) => r !== null), 'every record of the sample parses');
  const parsed = records as NonNullable<(typeof records)[number]>[];
  assert.equal(parsed[0]!.message, '{"level":"info","msg":"started","port":8080}');
  assert.equal(parsed[2]!.stream, 'stderr');
  const long = parsed.slice(3).filter((r) => r.message.startsWith('a'));
  assert.ok(long.length >= 3);
  assert.ok(long.slice(0, -1).every((r) => r.partial && Buffer.byteLength(r.message) === 8192));
  assert.equal(long.map((r) => r.message).join('').length, 20_000);
  assert.equal(parsed[parsed.length - 1]!.partial, true, 'a line without newline at exit stays P');
});

test('reads the containerd sample: 16 KiB partial pieces, an empty message, stderr and an unterminated last record', () => {
  const records = fs.readFileSync(agentSample('containerd.log'), 'utf8').split('\n').filter((l) => l.length > 0).map(parseCriLine);
  assert.ok(records.every((r) => r !== null));
  const parsed = records as NonNullable<(typeof records)[number]>[];
  assert.equal(parsed[3]!.message, '');
  const pieces = parsed.slice(4, 7);
  assert.deepEqual(pieces.map((r) => [r.partial, Buffer.byteLength(r.message)]), [[true, 16384], [true, 16384], [false, 40000 - 2 * 16384]]);
  assert.equal(parsed[2]!.stream, 'stderr');
  assert.equal(parsed[parsed.length - 1]!.partial, true);
});
