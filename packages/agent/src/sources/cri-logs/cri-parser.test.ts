import assert from 'node:assert/strict';
import fs from 'node:fs';
import path from 'node:path';
import { test } from 'node:test';
import { parseCriLine, parseTimestamp } from './cri-parser.js';

function sharedTestdata(file: string): string {
  let dir = import.meta.dirname;
  while (!fs.existsSync(path.join(dir, 'pnpm-workspace.yaml'))) {
    const up = path.dirname(dir);
    if (up === dir) throw new Error('repository root not found');
    dir = up;
  }
  return path.join(dir, '..', 'shared', 'testdata', file);
}

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
  assert.deepEqual(offset, z);
  assert.equal(z?.nanos, 500_000_000);
});

test('keeps an empty message and tags with extra fields', () => {
  assert.equal(parseCriLine('2024-05-01T12:00:00Z stderr F')?.message, '');
  assert.equal(parseCriLine('2024-05-01T12:00:00Z stderr P:future x')?.partial, true);
});

test('rejects records that are not CRI', () => {
  for (const bad of ['', 'hello', '2024-05-01T12:00:00Z stdin F x', 'not-a-time stdout F x', '2024-05-01T12:00:00Z stdout X x', '{"log":"x"}']) {
    assert.equal(parseCriLine(bad), null, bad);
  }
});

test('reads the real conmon sample: full, stderr, 8 KiB partial pieces and an unterminated last record', () => {
  const lines = fs.readFileSync(sharedTestdata('cri/conmon-k8s-file.log'), 'utf8').split('\n');
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
