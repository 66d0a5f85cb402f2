import assert from 'node:assert/strict';
import fs from 'node:fs';
import { test } from 'node:test';
import { newDockerFields, parseDockerRecord } from './docker-parser.js';
import { agentSample } from './testdata.js';

const parse = (line: string) => {
  const b = Buffer.from(line);
  const f = newDockerFields();
  return parseDockerRecord(b, 0, b.length, f) ? { ...f } : null;
};

test('parses a json-file record: message without its newline, stream, timestamp with nanoseconds', () => {
  assert.deepEqual(parse('{"log":"hello\\n","stream":"stderr","time":"2024-05-01T12:00:00.123456789Z"}'), {
    seconds: Date.parse('2024-05-01T12:00:00Z') / 1000,
    nanos: 123456789,
    stream: 'stderr',
    partial: false,
    message: 'hello',
  });
});

test('a log value without a trailing newline is a partial line', () => {
  assert.equal(parse('{"log":"first 16 KiB","stream":"stdout","time":"2024-05-01T12:00:00Z"}')?.partial, true);
});

test('rejects what is not a json-file record, never throwing on broken JSON', () => {
  for (const bad of ['{', '{"log":1,"stream":"stdout","time":"2024-05-01T12:00:00Z"}', '{"log":"x\\n","stream":"stdin","time":"2024-05-01T12:00:00Z"}', '{"log":"x\\n","stream":"stdout","time":"yesterday"}', '[1,2]', 'null', '2024-05-01T12:00:00Z stdout F x']) {
    assert.equal(parse(bad), null, bad);
  }
});

test('reads the Docker sample: escapes, unicode, attrs, a 16 KiB split and an empty line', () => {
  const records = fs.readFileSync(agentSample('docker-json.log'), 'utf8').split('\n').filter((l) => l.length > 0).map(parse);
  assert.ok(records.every((r) => r !== null));
  const r = records as NonNullable<(typeof records)[number]>[];
  assert.equal(r[0]!.message, '{"level":"warn","msg":"slow query","ms":1200}');
  assert.equal(r[1]!.message, 'plain line with "quotes", a tab\tand unicode: café ☃');
  assert.equal(r[2]!.stream, 'stderr');
  assert.deepEqual([r[5]!.partial, r[5]!.message.length, r[6]!.partial, r[6]!.message.length], [true, 16384, false, 5000]);
  assert.equal(r[7]!.message, 'line with attrs');
  assert.equal(r[8]!.message, '');
});
