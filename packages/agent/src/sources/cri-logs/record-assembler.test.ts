import assert from 'node:assert/strict';
import fs from 'node:fs';
import { test } from 'node:test';
import { RecordAssembler, type AssemblerHooks } from './record-assembler.js';
import { agentSample, sharedSample } from './testdata.js';
import type { LogLine } from './types.js';

const TS = '2024-05-01T12:00:00.000000001Z';
const rec = (stream: 'stdout' | 'stderr', tag: 'F' | 'P', message: string) => `${TS} ${stream} ${tag} ${message}\n`;

interface Run {
  lines: LogLine[];
  assembler: RecordAssembler;
  parseErrors: number;
  truncations: number;
}

/** Feeds the bytes to an assembler `readSize` bytes at a time, as the follower does, then finishes the file. */
function assemble(data: Buffer | string, options: { readSize?: number; max?: number; start?: { offset: number; lineNumber: number }; admit?: () => boolean; finish?: boolean; stackTraces?: boolean } = {}): Run {
  const bytes = typeof data === 'string' ? Buffer.from(data) : data;
  const counts = { parseErrors: 0, truncations: 0 };
  const hooks: AssemblerHooks = { parseError: () => counts.parseErrors++, truncation: () => counts.truncations++, admit: options.admit ?? (() => true) };
  const start = options.start ?? { offset: 0, lineNumber: 0 };
  const a = new RecordAssembler(start, { maxMessageBytes: options.max ?? 256 * 1024, stackTraces: options.stackTraces === false ? null : { maxLines: 1000, maxBytes: 64 * 1024, maxGapMs: 500 } }, hooks, () => 1714564800_000);
  const lines: LogLine[] = [];
  let carry = Buffer.alloc(0);
  let pos = start.offset;
  const readSize = options.readSize ?? 1 << 20;
  while (pos < bytes.length) {
    const n = Math.min(readSize, bytes.length - pos);
    const chunk = Buffer.concat([carry, bytes.subarray(pos, pos + n)]);
    pos += n;
    const consumed = a.consume(chunk, chunk.length, a.position, lines);
    carry = Buffer.from(chunk.subarray(consumed));
  }
  if (options.finish !== false) a.finish(carry, carry.length, a.position, lines);
  return { lines, assembler: a, ...counts };
}

/**
 * What must be the same on a replay: everything but the resume point, and the timestamp of a raw line (it has
 * none of its own: it takes the one of the record before it, which a replay may not have read).
 */
const content = (lines: LogLine[]) => lines.map((l) => ({ ...l, resumeOffset: 0, resumeLine: 0, ...(l.parseError ? { seconds: 0, nanos: 0 } : {}) }));

function mixedFile(): Buffer {
  const parts: (string | Buffer)[] = [
    rec('stdout', 'F', '{"level":"info","msg":"start"}'),
    rec('stdout', 'P', 'first half of a line, '),
    rec('stderr', 'F', 'E0501 12:00:00.000000 1 x.go:1] interleaved on stderr'),
    rec('stdout', 'F', 'second half'),
    rec('stderr', 'F', 'java.lang.IllegalStateException: boom'),
    rec('stderr', 'F', '\tat a.B.c(B.java:1)'),
    rec('stderr', 'F', '\tat a.B.d(B.java:2)'),
    rec('stdout', 'F', 'x'.repeat(2500)),
    Buffer.from([0x01, 0xff, 0xfe, 0x20, 0x67, 0x61, 0x72, 0x62, 0x61, 0x67, 0x65, 0x0a]),
    ...Array.from({ length: 5 }, () => rec('stdout', 'P', 'y'.repeat(300))),
    rec('stdout', 'F', 'end of long'),
    rec('stderr', 'F', 'WARN last'),
    `${TS} stdout P unterminated`,
  ];
  return Buffer.concat(parts.map((p) => (typeof p === 'string' ? Buffer.from(p) : p)));
}

test('joins partial records per stream and numbers lines in the order they complete, endOffsets increasing', () => {
  const text = rec('stdout', 'P', 'hel') + rec('stderr', 'F', 'other') + rec('stdout', 'F', 'lo');
  const { lines } = assemble(text);
  assert.deepEqual(lines.map((l) => [l.lineNumber, l.stream, l.message, l.offset, l.endOffset]), [
    [1, 'stderr', 'other', text.indexOf(`${TS} stderr`), text.lastIndexOf(TS)],
    [2, 'stdout', 'hello', 0, text.length],
  ]);
});

test('gives the same lines, numbers and offsets whatever the read sizes', () => {
  const file = mixedFile();
  const whole = content(assemble(file, { max: 1000 }).lines);
  for (const readSize of [1, 7, 64, 100, 999, 1000, 1001, 4096]) {
    assert.deepEqual(content(assemble(file, { max: 1000, readSize }).lines), whole, `read size ${readSize}`);
  }
  const ends = whole.map((l) => l.endOffset);
  assert.ok(ends.every((e, i) => i === 0 || e > ends[i - 1]!), 'each endOffset is past the one before');
});

test('reading again from any resume point gives the same lines with the same numbers', () => {
  const file = mixedFile();
  for (const readSize of [1 << 20, 50]) {
    const all = assemble(file, { max: 1000, readSize }).lines;
    const points = new Map(all.map((l) => [l.resumeOffset, l.resumeLine]));
    assert.ok(points.size > 5);
    for (const [offset, lineNumber] of points) {
      const replay = assemble(file, { max: 1000, start: { offset, lineNumber } }).lines;
      assert.deepEqual(content(replay), content(all.filter((l) => l.lineNumber > lineNumber)), `from ${offset}`);
    }
  }
});

test('a resume point never passes a message that is still being joined', () => {
  const text = rec('stdout', 'P', 'a') + rec('stderr', 'F', 'b') + rec('stderr', 'F', 'c') + rec('stdout', 'F', 'd');
  const { lines } = assemble(text);
  assert.deepEqual(lines.map((l) => [l.message, l.resumeOffset]), [['b', 0], ['c', 0], ['ad', text.length]]);
});

test('a 10 MiB line in 16 KiB partial records comes out in truncated pieces of at most the maximum, with bounded memory', () => {
  const line = Buffer.alloc(10 * 1024 * 1024, 'abcdefghij').toString();
  const pieces: string[] = [];
  for (let i = 0; i < line.length; i += 16384) pieces.push(rec('stdout', i + 16384 < line.length ? 'P' : 'F', line.slice(i, i + 16384)));
  const max = 256 * 1024;
  const r = assemble(pieces.join('') + rec('stdout', 'F', 'next'), { max, readSize: 256 * 1024 });
  const cut = r.lines.slice(0, -1);
  assert.equal(cut.map((l) => l.message).join(''), line);
  assert.ok(cut.every((l) => l.truncated && Buffer.byteLength(l.message) <= max));
  assert.equal(r.truncations, 1, 'counted once per message');
  assert.ok(r.assembler.heldBytesHighWater <= max, `held ${r.assembler.heldBytesHighWater} bytes`);
  assert.deepEqual([r.lines.at(-1)!.message, r.lines.at(-1)!.truncated], ['next', false]);
});

test('one 10 MiB record without partial splits is read in pieces as it comes, the same pieces as when read whole', () => {
  const line = Buffer.alloc(10 * 1024 * 1024, 'klmnopqrst').toString();
  const file = rec('stderr', 'F', line) + rec('stderr', 'F', 'next');
  const max = 256 * 1024;
  const streamed = assemble(file, { max, readSize: 64 * 1024 });
  const whole = assemble(file, { max, readSize: 32 * 1024 * 1024 });
  assert.deepEqual(content(streamed.lines), content(whole.lines));
  assert.equal(streamed.lines.slice(0, -1).map((l) => l.message).join(''), line);
  assert.ok(streamed.lines.slice(0, -1).every((l) => l.truncated && l.stream === 'stderr' && Buffer.byteLength(l.message) <= max));
});

test('never cuts a UTF-8 character: neither between pieces nor where the runtime split a record', () => {
  const euros = '€'.repeat(1000); // 3 bytes each
  const bytes = Buffer.from(euros);
  // containerd splits by bytes: the split falls inside a character
  const text = `${TS} stdout P ${bytes.subarray(0, 1001).toString('latin1')}\n${TS} stdout F ${bytes.subarray(1001).toString('latin1')}\n`;
  const joined = assemble(Buffer.from(text, 'latin1')).lines;
  assert.deepEqual(joined.map((l) => l.message), [euros]);
  const pieces = assemble(rec('stdout', 'F', euros), { max: 1000, readSize: 77 }).lines;
  assert.equal(pieces.map((l) => l.message).join(''), euros);
  assert.ok(pieces.every((l) => !l.message.includes('\ufffd')));
});

test('binary garbage and invalid UTF-8 never throw: raw lines flagged and counted, with the last timestamp read', () => {
  const garbage = Buffer.from(Array.from({ length: 4000 }, (_, i) => (i * 7919) % 256));
  const file = Buffer.concat([Buffer.from(rec('stdout', 'F', 'before')), garbage, Buffer.from('\n'), Buffer.from(rec('stdout', 'F', 'after'))]);
  const r = assemble(file, { max: 1000 });
  const raw = r.lines.filter((l) => l.parseError);
  const segments = Buffer.concat([garbage, Buffer.from('\n')]).toString('latin1').split('\n').slice(0, -1);
  assert.equal(r.parseErrors, segments.length);
  assert.ok(raw.length >= segments.length);
  assert.ok(raw.every((l) => l.seconds === Date.parse('2024-05-01T12:00:00Z') / 1000));
  assert.deepEqual([r.lines[0]!.message, r.lines.at(-1)!.message], ['before', 'after']);
});

test('the rate limit drops lines but keeps their numbers, so numbering does not depend on it', () => {
  let n = 0;
  const text = Array.from({ length: 10 }, (_, i) => rec('stdout', 'F', `line ${i + 1}`)).join('');
  const { lines } = assemble(text, { admit: () => n++ % 2 === 0 });
  assert.deepEqual(lines.map((l) => [l.lineNumber, l.message]), [[1, 'line 1'], [3, 'line 3'], [5, 'line 5'], [7, 'line 7'], [9, 'line 9']]);
});

test('reads the real conmon sample whole: joins its 8 KiB pieces and sends the unterminated last record at the end', () => {
  const r = assemble(fs.readFileSync(sharedSample('cri/conmon-k8s-file.log')));
  assert.deepEqual(r.lines.map((l) => [l.stream, l.message.length > 50 ? `${l.message.slice(0, 3)}…${l.message.length}` : l.message, l.level]), [
    ['stdout', '{"level":"info","msg":"started","port":8080}', 'INFO'],
    ['stdout', 'plain text line', ''],
    ['stderr', 'ERROR something failed', 'ERROR'],
    ['stdout', 'aaa…20000', ''],
    ['stdout', 'tail without newline', ''],
  ]);
  assert.equal(r.parseErrors, 0);
});

test('reads the containerd sample: 16 KiB pieces joined, levels, an empty message kept', () => {
  const r = assemble(fs.readFileSync(agentSample('containerd.log')));
  assert.deepEqual(r.lines.map((l) => [l.stream, l.message.length > 60 ? l.message.length : l.message, l.level]), [
    ['stdout', 98, 'INFO'],
    ['stdout', 95, ''],
    ['stderr', 90, 'WARN'],
    ['stdout', '', ''],
    ['stdout', 40000, ''],
    ['stderr', 'level=error msg="upstream timeout" path=/api/v1/items', 'ERROR'],
    ['stdout', 'unterminated line at exit', ''],
  ]);
});

test('detects Docker json-file logs from the first record: joins the 16 KiB split and groups the traceback', () => {
  const r = assemble(fs.readFileSync(agentSample('docker-json.log')));
  assert.equal(r.assembler.format, 'docker');
  assert.equal(r.parseErrors, 0);
  assert.deepEqual(r.lines.map((l) => (l.message.length > 60 ? l.message.length : l.message)), [
    '{"level":"warn","msg":"slow query","ms":1200}',
    'plain line with "quotes", a tab\tand unicode: café ☃',
    113,
    21384,
    'line with attrs',
    '',
  ]);
  assert.equal(r.lines[2]!.errorInfo?.errorType, 'ZeroDivisionError');
  assert.equal(r.lines[0]!.level, 'WARN');
});

test('without grouping, stack-trace lines stay one record each', () => {
  const text = rec('stderr', 'F', 'Error: x') + rec('stderr', 'F', '    at f (/a.js:1:1)');
  assert.equal(assemble(text, { stackTraces: false }).lines.length, 2);
  assert.equal(assemble(text).lines.length, 1);
});
