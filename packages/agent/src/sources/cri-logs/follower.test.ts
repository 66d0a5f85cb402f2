import assert from 'node:assert/strict';
import fs from 'node:fs';
import fsp from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { test } from 'node:test';
import { createLogger, createRegistry } from '@kestrel/core';
import { CriLogEvents } from './events.js';
import { FileFollower } from './follower.js';
import type { FileChunk } from './types.js';

const container = { namespace: 'ns', podName: 'p', podUid: 'u', containerName: 'c', restartCount: 0 };

async function follow(content: string, options: { maxMessageBytes?: number } = {}) {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'follower-'));
  const file = path.join(dir, '0.log');
  fs.writeFileSync(file, content);
  const handle = await fsp.open(file, 'r');
  const st = await handle.stat();
  const chunks: FileChunk[] = [];
  const events = new CriLogEvents(createRegistry('t', false), createLogger('t', 'error'));
  const follower = new FileFollower(
    file,
    container,
    handle,
    { device: st.dev, inode: st.ino, fingerprint: 0, fingerprintLength: 0 },
    { offset: 0, lineNumber: 0 },
    { push: async (c) => void chunks.push(c) },
    { readBufferBytes: 64, maxMessageBytes: options.maxMessageBytes ?? 1024, pollIntervalMs: 10 },
    events,
  );
  const controller = new AbortController();
  const done = follower.run(controller.signal);
  return { file, chunks, follower, done, stop: () => controller.abort() };
}

async function until(check: () => boolean): Promise<void> {
  for (let i = 0; i < 200 && !check(); i++) await new Promise((r) => setTimeout(r, 10));
  assert.ok(check(), 'condition not reached');
}

test('joins partial records into one line whose offsets span them, and numbers lines from 1', async () => {
  const text = '2024-05-01T12:00:00Z stdout P hel\n2024-05-01T12:00:00Z stdout F lo\n2024-05-01T12:00:01Z stderr F second\n';
  const f = await follow(text);
  await until(() => f.chunks.flatMap((c) => c.lines).length === 2);
  f.stop();
  await f.done;
  const lines = f.chunks.flatMap((c) => c.lines);
  assert.deepEqual(lines.map((l) => [l.message, l.offset, l.endOffset, l.lineNumber, l.stream]), [
    ['hello', 0, text.indexOf('2024-05-01T12:00:01Z'), 1, 'stdout'],
    ['second', text.indexOf('2024-05-01T12:00:01Z'), text.length, 2, 'stderr'],
  ]);
});

test('a line that grows past the maximum message size is sent in truncated pieces with bounded memory', async () => {
  const piece = 'x'.repeat(100);
  const text = Array.from({ length: 30 }, () => `2024-05-01T12:00:00Z stdout P ${piece}\n`).join('') + '2024-05-01T12:00:00Z stdout F end\n';
  const f = await follow(text, { maxMessageBytes: 1000 });
  await until(() => f.chunks.flatMap((c) => c.lines).some((l) => l.message.endsWith('end')));
  f.stop();
  await f.done;
  const lines = f.chunks.flatMap((c) => c.lines);
  assert.ok(lines.length >= 3);
  assert.ok(lines.slice(0, -1).every((l) => l.truncated && l.message.length <= 1100));
  assert.equal(lines.map((l) => l.message).join(''), piece.repeat(30) + 'end');
});

test('a record that is not CRI is forwarded raw with a parse-error flag', async () => {
  const f = await follow('garbage \xff\xfe line\n2024-05-01T12:00:00Z stdout F ok\n');
  await until(() => f.chunks.flatMap((c) => c.lines).length === 2);
  f.stop();
  await f.done;
  const [raw, ok] = f.chunks.flatMap((c) => c.lines);
  assert.equal(raw!.parseError, true);
  assert.match(raw!.message, /garbage/);
  assert.equal(ok!.parseError, false);
});

test('reads lines appended later and ends after a rename once the file is read to its end', async () => {
  const f = await follow('2024-05-01T12:00:00Z stdout F one\n');
  await until(() => f.chunks.length === 1);
  fs.appendFileSync(f.file, '2024-05-01T12:00:00Z stdout F two\n');
  fs.renameSync(f.file, `${f.file}.20240501-120000`);
  fs.appendFileSync(`${f.file}.20240501-120000`, '2024-05-01T12:00:00Z stdout F three\n');
  fs.writeFileSync(f.file, '');
  assert.equal(await f.done, 'rotated');
  assert.deepEqual(f.chunks.flatMap((c) => c.lines).map((l) => l.message), ['one', 'two', 'three']);
});
