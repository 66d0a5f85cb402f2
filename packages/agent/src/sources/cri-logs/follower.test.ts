import assert from 'node:assert/strict';
import fs from 'node:fs';
import fsp from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { test } from 'node:test';
import { gzipSync } from 'node:zlib';
import { GzipSource, PlainSource, type ByteSource } from './byte-source.js';
import { hashBytes } from './fingerprint.js';
import { FileFollower, readBufferBytesFor, type FollowedFile, type FollowerOptions } from './follower.js';
import { ReadPermits } from './read-permits.js';
import type { FileChunk, FileIdentity } from './types.js';

const container = { namespace: 'ns', podName: 'p', podUid: 'u', containerName: 'c', restartCount: 0 };
const TS = '2024-05-01T12:00:00Z';

class File implements FollowedFile {
  ended = false;
  previousContainer = false;
  completesStream = false;
  provisionalIdentity = false;
  knownSize = 0;
  identities: { identity: FileIdentity; truncated: boolean }[] = [];
  commits: number[] = [];
  owner = { commit: (offset: number) => void this.commits.push(offset) };
  constructor(
    readonly path: string,
    public identity: FileIdentity,
  ) {}
  readonly container = container;
  setIdentity(identity: FileIdentity, truncated: boolean): void {
    this.identity = identity;
    this.identities.push({ identity, truncated });
  }
}

async function follow(content: string | Buffer, options: Partial<FollowerOptions> & { gzip?: boolean; start?: number } = {}) {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'follower-'));
  const file = path.join(dir, '0.log');
  const data = typeof content === 'string' ? Buffer.from(content) : content;
  fs.writeFileSync(file, options.gzip ? gzipSync(data) : data);
  const handle = await fsp.open(file, 'r');
  const st = await handle.stat();
  const followed = new File(file, { device: st.dev, inode: st.ino, fingerprint: hashBytes(data.subarray(0, 256)), fingerprintLength: Math.min(256, data.length) });
  const source: ByteSource = options.gzip ? new GzipSource(handle, options.start ?? 0) : new PlainSource(handle, true);
  const chunks: FileChunk[] = [];
  const opts: FollowerOptions = { readBufferBytes: options.readBufferBytes ?? 64, maxMessageBytes: options.maxMessageBytes ?? 1024, stackTraces: null, readIntervalMs: options.readIntervalMs ?? 0 };
  const counts = { lines: 0, bytes: 0, parseErrors: 0, truncated: [] as number[] };
  const follower = new FileFollower(
    followed,
    source,
    { offset: options.start ?? 0, lineNumber: 0 },
    { push: async (c) => void chunks.push(c) },
    new ReadPermits(1, readBufferBytesFor(opts)),
    opts,
    {
      read: (l, b) => {
        counts.lines += l;
        counts.bytes += b;
      },
      parseError: () => counts.parseErrors++,
      truncation: () => undefined,
      admit: () => true,
      truncated: (_path, u) => counts.truncated.push(u),
    },
  );
  const controller = new AbortController();
  const done = follower.run(controller.signal).finally(async () => {
    await source.close();
    await handle.close().catch(() => undefined);
  });
  return { file, followed, chunks, follower, counts, done, stop: () => controller.abort(), lines: () => chunks.flatMap((c) => c.lines) };
}

async function until(check: () => boolean): Promise<void> {
  for (let i = 0; i < 500 && !check(); i++) await new Promise((r) => setTimeout(r, 10));
  assert.ok(check(), 'condition not reached');
}

test('reads what is there in bounded reads, then what is appended once woken', async () => {
  const f = await follow(`${TS} stdout F one\n${TS} stdout F two\n`);
  await until(() => f.lines().length === 2);
  fs.appendFileSync(f.file, `${TS} stdout F three\n`);
  f.follower.wake();
  await until(() => f.lines().length === 3);
  f.stop();
  assert.equal(await f.done, 'stopped');
  assert.deepEqual(f.lines().map((l) => [l.message, l.lineNumber]), [['one', 1], ['two', 2], ['three', 3]]);
  assert.equal(f.counts.lines, 3);
  assert.equal(f.counts.bytes, fs.statSync(f.file).size);
});

test('writes soon after the follower caught up are read together once its read interval has passed; with no interval, each at once', async () => {
  for (const readIntervalMs of [0, 400]) {
    const f = await follow(`${TS} stdout F one\n`, { readIntervalMs, readBufferBytes: 4096 });
    await until(() => f.lines().length === 1);
    await new Promise((r) => setTimeout(r, 20)); // it waits for a wake now
    fs.appendFileSync(f.file, `${TS} stdout F two\n`);
    f.follower.wake();
    await new Promise((r) => setTimeout(r, 50)); // time enough to read "two" on its own, unless it waits out the interval
    fs.appendFileSync(f.file, `${TS} stdout F three\n`);
    f.follower.wake();
    await until(() => f.lines().length === 3);
    f.stop();
    await f.done;
    const byChunk = f.chunks.filter((c) => c.lines.length > 0).map((c) => c.lines.map((l) => l.message));
    assert.deepEqual(byChunk, readIntervalMs === 0 ? [['one'], ['two'], ['three']] : [['one'], ['two', 'three']], `read interval ${readIntervalMs} ms`);
  }
});

test('a file that has ended is read once more after the end is known, then finished', async () => {
  const f = await follow(`${TS} stdout F one\n`);
  await until(() => f.lines().length === 1);
  fs.renameSync(f.file, `${f.file}.20240501-120000`);
  fs.appendFileSync(`${f.file}.20240501-120000`, `${TS} stdout F late write after the rename\n${TS} stdout P unterminated`);
  f.followed.ended = true;
  f.follower.wake();
  assert.equal(await f.done, 'finished');
  assert.deepEqual(f.lines().map((l) => l.message), ['one', 'late write after the rename', 'unterminated']);
});

test('the last chunk of a file that completes its stream says so, even with no line left', async () => {
  const f = await follow(`${TS} stdout F one\n`);
  await until(() => f.lines().length === 1);
  f.followed.ended = true;
  f.followed.completesStream = true;
  f.follower.wake();
  assert.equal(await f.done, 'finished');
  const last = f.chunks.at(-1)!;
  assert.deepEqual([last.lines.length, last.streamComplete, f.follower.sentComplete], [0, true, true]);
});

test('a file that shrank is counted as truncated and read again from 0 under a new identity, numbers going on', async () => {
  const f = await follow(`${TS} stdout F old one\n${TS} stdout F old two\n`);
  await until(() => f.lines().length === 2);
  fs.writeFileSync(f.file, `${TS} stdout F new\n`);
  f.follower.wake();
  await until(() => f.lines().length === 3);
  f.stop();
  await f.done;
  assert.deepEqual(f.lines().map((l) => [l.message, l.lineNumber, l.offset]), [['old one', 1, 0], ['old two', 2, 38], ['new', 3, 0]]);
  assert.deepEqual(f.counts.truncated, [0], 'nothing was written that was not read');
  assert.equal(f.followed.identities.length, 1);
  assert.equal(f.followed.identities[0]!.truncated, true);
  assert.notEqual(f.chunks.at(-1)!.file.fingerprint, f.chunks[0]!.file.fingerprint);
});

test('reads a gzip-compressed file from an offset in uncompressed bytes', async () => {
  const text = Array.from({ length: 200 }, (_, i) => `${TS} stdout F line ${i + 1}\n`).join('');
  const start = text.indexOf(`${TS} stdout F line 151\n`);
  const f = await follow(text, { gzip: true, start });
  f.followed.ended = true;
  assert.equal(await f.done, 'finished');
  const lines = f.lines();
  assert.deepEqual([lines[0]!.message, lines[0]!.offset, lines.length, lines.at(-1)!.message], ['line 151', start, 50, 'line 200']);
});

test('a line longer than the read buffer and the maximum is read in bounded pieces: memory stays bounded', async () => {
  const big = 'z'.repeat(100_000);
  const f = await follow(`${TS} stdout F ${big}\n${TS} stdout F small\n`, { readBufferBytes: 4096, maxMessageBytes: 8192 });
  await until(() => f.lines().some((l) => l.message === 'small'));
  f.stop();
  await f.done;
  const pieces = f.lines().filter((l) => l.truncated);
  assert.equal(pieces.map((l) => l.message).join(''), big);
  assert.ok(f.follower.heldBytesHighWater <= 8192 + 4096 + 256, `held ${f.follower.heldBytesHighWater}`);
});

test('on a safety poll with nothing new and nothing half read, the follower parks at its position', async () => {
  const f = await follow(`${TS} stdout F one\n${TS} stdout F half`);
  await until(() => f.lines().length === 1);
  f.follower.poll();
  await new Promise((r) => setTimeout(r, 50));
  assert.equal(f.follower.state, 'waiting', 'a half-written record keeps it following');
  fs.appendFileSync(f.file, ' done\n');
  f.follower.wake();
  await until(() => f.lines().length === 2);
  f.follower.poll();
  assert.equal(await f.done, 'parked');
  assert.equal(f.follower.position, fs.statSync(f.file).size);
  assert.equal(f.follower.lineNumber, 2);
});
