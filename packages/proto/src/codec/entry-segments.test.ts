import assert from 'node:assert/strict';
import { randomBytes } from 'node:crypto';
import { test } from 'node:test';
import zlib from 'node:zlib';
import { checkSegment, crc32Combine, deflateSegment, deflateSegmentSync, gzipFromSegments, inflateSegment, inflateSegmentSync, SegmentError, storedSegment } from './entry-segments.js';

/** Whether a view's memory was freed (its ArrayBuffer detached). */
const isDetached = (view: Uint8Array): boolean => (view.buffer as ArrayBuffer).detached;

const text = (seed: number, lines: number): Buffer =>
  Buffer.from(Array.from({ length: lines }, (_, i) => `{"level":"info","msg":"request done","path":"/items/${(i * 7919 + seed) % 1000}","status":200}\n`).join(''));

test('the CRC-32 combined from two parts equals the CRC-32 of the whole, for empty, short and long parts', () => {
  for (const [a, b] of [
    [Buffer.alloc(0), Buffer.from('abc')],
    [Buffer.from('abc'), Buffer.alloc(0)],
    [randomBytes(1), randomBytes(1)],
    [randomBytes(1000), randomBytes(70_001)],
    [randomBytes(65_536), randomBytes(3)],
  ] as const) {
    assert.equal(crc32Combine(zlib.crc32(a), zlib.crc32(b), b.length), zlib.crc32(Buffer.concat([a, b])));
  }
});

test('segments compressed apart, a stored header and a final block make one gzip member of their contents in order', async () => {
  const head = Buffer.from('header bytes of a PodLogs');
  const parts = [text(1, 300), text(2, 5), text(3, 2000)];
  const segments = [storedSegment(head), ...(await Promise.all(parts.map((p, i) => deflateSegment(p, i === 1 ? 1 : 6)))), deflateSegmentSync(text(4, 10), 1)];
  const gz = gzipFromSegments(segments);
  assert.deepEqual(zlib.gunzipSync(gz), Buffer.concat([head, ...parts, text(4, 10)]));
  // Compressed, not stored: the gain of the agents' compression survives the stitching.
  assert.ok(gz.length < Buffer.concat(parts).length / 4, `${gz.length} bytes`);
});

test('a stored segment longer than one stored block (64 KiB) is split into blocks', () => {
  const plain = randomBytes(150_000);
  const gz = gzipFromSegments([storedSegment(plain), storedSegment(Buffer.alloc(0))]);
  assert.deepEqual(zlib.gunzipSync(gz), plain);
});

test('a segment from a peer inflates to its entries when its length, CRC-32 and ending check out', async () => {
  const plain = text(5, 400);
  const s = await deflateSegment(plain, 6);
  assert.deepEqual(inflateSegment(s.bytes, s.length, s.crc32), plain);
  assert.deepEqual(inflateSegmentSync(s), plain);
});

test('checkSegment shows the inflated entries to its reader and frees them as soon as it returns', async () => {
  const plain = text(7, 2000); // ~190 KB inflated: a buffer of its own, not a slice of Buffer's pool
  const s = await deflateSegment(plain, 6);
  let seen: Buffer | undefined;
  const lines = checkSegment(s.bytes, s.length, s.crc32, (bytes) => {
    seen = bytes;
    assert.deepEqual(bytes, plain);
    return bytes.toString().split('\n').length - 1;
  });
  assert.equal(lines, 2000);
  assert.equal(isDetached(seen!), true, 'the inflated bytes were left for the garbage collector');
  assert.equal(seen!.length, 0);
  // The segment itself is the caller's and stays as it was.
  assert.deepEqual(inflateSegment(s.bytes, s.length, s.crc32), plain);
});

test("checkSegment of a small segment leaves Buffer's shared pool alone", async () => {
  const plain = text(8, 3); // a few hundred bytes inflated: zlib's output is a slice of the pool
  const s = await deflateSegment(plain, 6);
  const neighbour = Buffer.from('bytes of someone else in the same pool slab');
  let seen: Buffer | undefined;
  checkSegment(s.bytes, s.length, s.crc32, (bytes) => (seen = bytes));
  assert.equal(isDetached(seen!), false);
  assert.deepEqual(seen, plain);
  assert.equal(neighbour.toString(), 'bytes of someone else in the same pool slab');
});

test('checkSegment refuses what inflateSegment refuses, and frees the inflated bytes when its reader throws', async () => {
  const plain = text(9, 2000);
  const s = await deflateSegment(plain, 6);
  assert.throws(() => checkSegment(s.bytes, s.length, s.crc32 ^ 1, () => assert.fail('read a refused segment')), (err: unknown) => err instanceof SegmentError && /CRC-32/.test(err.message));
  let seen: Buffer | undefined;
  assert.throws(() => checkSegment(s.bytes, s.length, s.crc32, (bytes) => {
    seen = bytes;
    throw new Error('reader failed');
  }), /reader failed/);
  assert.equal(isDetached(seen!), true);
});

test('segments that would break the message they are put into are refused with a SegmentError', async () => {
  const plain = text(6, 400);
  const good = await deflateSegment(plain, 6);
  const refused = (bytes: Uint8Array, length: number, crc: number, why: RegExp) =>
    assert.throws(() => inflateSegment(bytes, length, crc), (err: unknown) => err instanceof SegmentError && why.test(err.message));
  refused(good.bytes, good.length, good.crc32 ^ 1, /CRC-32/);
  refused(good.bytes, good.length + 1, good.crc32, /inflate to/);
  refused(good.bytes, good.length - 1, good.crc32, /inflate/);
  // A complete stream (with its own final block) followed by a sync flush's bytes: the cloud would stop reading there.
  const final = Buffer.concat([zlib.deflateRawSync(plain), Buffer.from([0x00, 0x00, 0x00, 0xff, 0xff])]);
  refused(final, plain.length, zlib.crc32(plain), /end \d+ bytes before/);
  // Not ended by a sync flush (the end of a block inside a byte), cut short, or no DEFLATE at all.
  refused(zlib.deflateRawSync(plain, { finishFlush: zlib.constants.Z_FULL_FLUSH }).subarray(0, -4), plain.length, zlib.crc32(plain), /sync flush/);
  refused(good.bytes.subarray(Math.floor(good.bytes.length / 2)), plain.length, zlib.crc32(plain), /inflate/);
  refused(Buffer.concat([randomBytes(200), Buffer.from([0, 0, 0xff, 0xff])]), plain.length, zlib.crc32(plain), /inflate|before|CRC/);
  refused(Buffer.alloc(0), 0, 0, /sync flush/);
});

test('a stitched message owns its memory: small ones are not slices of Buffer pool slabs that they would keep alive', () => {
  const small = gzipFromSegments([storedSegment(Buffer.from('header')), deflateSegmentSync(Buffer.from('a short line'), 6)]);
  assert.ok(small.length < Buffer.poolSize / 2, 'small enough to come from the pool');
  assert.equal(small.buffer.byteLength, small.length);
  assert.equal(zlib.gunzipSync(small).toString(), 'headera short line');
});
