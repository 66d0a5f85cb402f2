import assert from 'node:assert/strict';
import { test } from 'node:test';
import { promisify } from 'node:util';
import zlib from 'node:zlib';
import { BatchContent, Encoding } from '../gen/kestrel/ingest/v1/ingest.js';
import { inflateSegment } from './entry-segments.js';
import { frameEntries } from './log-entries.js';
import { BatchContentError, gzipOutputChunk, openBatch, sealBatch } from './ingest-batch.js';

const content = {
  logs: [
    {
      namespace: 'ns',
      podName: 'p',
      podUid: 'u',
      containerName: 'c',
      restartCount: 0,
      file: { device: 1, inode: 2, fingerprint: 3 },
      lines: Array.from({ length: 50 }, (_, i) => ({ timestamp: { seconds: 1, nanos: i }, stream: 'stdout', message: `GET /items/${i} 200`, offset: i * 40, endOffset: (i + 1) * 40, lineNumber: i + 1, parseError: false, truncated: false, level: '', errorInfo: undefined })),
      previousContainer: false,
      streamComplete: false,
      lastLineNumber: 50,
      ownerReferences: [],
      entries: Buffer.alloc(0),
      entrySizes: [],
      entryFlags: [],
      entriesStartOffset: 0,
      entryEndOffsetDeltas: [],
      entriesLineBase: 0,
      entryLineNumberDeltas: [],
      entriesDeflated: new Uint8Array(0),
      entriesCrc32: 0,
    },
  ],
  nodeConditions: [],
  flows: [],
};

test('a sealed batch opens to the same content, compressed or not, and counts its records', async () => {
  for (const compress of [true, false]) {
    const batch = await sealBatch(7, content, compress);
    assert.equal(batch.sequence, 7);
    assert.equal(batch.records, 50);
    assert.equal(batch.encoding, compress ? Encoding.ENCODING_GZIP : Encoding.ENCODING_NONE);
    const opened = await openBatch(batch, 1 << 20);
    assert.deepEqual(opened.logs[0]!.lines.map((l) => l.message), content.logs[0]!.lines.map((l) => l.message));
  }
  const plain = await sealBatch(1, content, false);
  const packed = await sealBatch(1, content, true);
  assert.ok(packed.content.length < plain.content.length / 2, `gzip should shrink repetitive log lines (${packed.content.length} vs ${plain.content.length})`);
});

test('garbage content, an unknown encoding and a zip bomb are refused with a clear error', async () => {
  await assert.rejects(openBatch({ sequence: 1, encoding: Encoding.ENCODING_GZIP, content: Buffer.from('not gzip'), records: 1 }, 1 << 20), BatchContentError);
  await assert.rejects(openBatch({ sequence: 2, encoding: Encoding.ENCODING_NONE, content: Buffer.from([0xff, 0xff, 0xff, 0xff, 0xff]), records: 1 }, 1 << 20), BatchContentError);
  await assert.rejects(openBatch({ sequence: 3, encoding: 9 as Encoding, content: Buffer.alloc(0), records: 0 }, 1 << 20), /unknown encoding 9/);
  const bomb = await promisify(zlib.gzip)(Buffer.alloc(8 << 20));
  await assert.rejects(openBatch({ sequence: 4, encoding: Encoding.ENCODING_GZIP, content: bomb, records: 1 }, 1 << 20), /within 1048576 bytes/);
});

test('inflating sizes its output from the size gzip recorded, within bounds; a trailer that lies is refused', async () => {
  const gzip = promisify(zlib.gzip);
  const big = Buffer.from('x'.repeat(3 << 20));
  assert.equal(gzipOutputChunk(await gzip(Buffer.alloc(200_000)), 8 << 20), 200_001);
  assert.equal(gzipOutputChunk(await gzip(Buffer.alloc(10)), 8 << 20), 64 * 1024, 'small outputs still get one 64 KiB chunk');
  assert.equal(gzipOutputChunk(await gzip(big), 1 << 20), (1 << 20) + 1, 'never more than the inflate limit');
  assert.equal(gzipOutputChunk(Buffer.from('short'), 1 << 20), 64 * 1024);
  // A trailer that claims 16 bytes for 3 MiB of content: zlib's own length check refuses it.
  const lying = await gzip(big);
  lying.writeUInt32LE(16, lying.length - 4);
  await assert.rejects(openBatch({ sequence: 5, encoding: Encoding.ENCODING_GZIP, content: lying, records: 1 }, 8 << 20), BatchContentError);
  // A trailer that claims 4 GiB is bounded by the inflate limit and the 4 MiB chunk bound.
  const huge = await gzip(Buffer.alloc(100));
  huge.writeUInt32LE(0xffffffff, huge.length - 4);
  assert.equal(gzipOutputChunk(huge, 64 << 20), 4 * 1024 * 1024);
  const many = { ...content, logs: Array.from({ length: 300 }, () => content.logs[0]!) };
  const sealed = await sealBatch(9, many, true);
  const opened = await openBatch(sealed, 16 << 20);
  assert.equal(opened.logs.length, 300);
  assert.deepEqual(opened.logs[299]!.lines.map((l) => l.message), content.logs[0]!.lines.map((l) => l.message));
});

/** The content with its lines framed for PodLogs, as agents send them. */
function framedContent(): BatchContent {
  const chunk = content.logs[0]!;
  const f = frameEntries(chunk.lines.map((l) => ({ timestamp: l.timestamp, message: l.message, level: l.level, lineNumber: l.lineNumber, errorInfo: undefined })));
  return { ...content, logs: [{ ...chunk, lines: [], entries: Buffer.from(f.bytes), entrySizes: [...f.sizes], entryEndOffsetDeltas: chunk.lines.map(() => 40), entryLineNumberDeltas: chunk.lines.map(() => 1) }] };
}

test('framed entries are sealed as a compressed segment that opens as it was sent; the batch around them is not compressed again', async () => {
  const framed = framedContent();
  const batch = await sealBatch(3, framed, true);
  assert.equal(batch.encoding, Encoding.ENCODING_NONE);
  assert.equal(batch.records, 50);
  const opened = (await openBatch(batch, 1 << 20)).logs[0]!;
  assert.equal(opened.entries.length, 0);
  const plain = framed.logs[0]!.entries;
  assert.ok(opened.entriesDeflated.length > 0 && opened.entriesDeflated.length < plain.length / 2, `${opened.entriesDeflated.length} compressed bytes`);
  assert.equal(opened.entriesCrc32, zlib.crc32(plain));
  assert.deepEqual(inflateSegment(opened.entriesDeflated, plain.length, opened.entriesCrc32), Buffer.from(plain));
  assert.deepEqual(opened.entrySizes, framed.logs[0]!.entrySizes);
  // Flows besides: the whole content is gzip-compressed as before (flow windows are not segments).
  const withFlows = await sealBatch(4, { ...framed, flows: [{ source: 1, windowStart: undefined, windowEnd: undefined, flows: [], sourceLost: 0, agentDropped: 0, rawFlows: 0 } as never] }, true);
  assert.equal(withFlows.encoding, Encoding.ENCODING_GZIP);
  assert.deepEqual(Buffer.from((await openBatch(withFlows, 1 << 20)).logs[0]!.entriesDeflated), Buffer.from(opened.entriesDeflated));
});

test('compressed entries that would inflate beyond the limit are refused before anything is inflated', async () => {
  const batch = await sealBatch(5, framedContent(), true);
  await assert.rejects(openBatch(batch, 1_000), (err: unknown) => err instanceof BatchContentError && /inflate beyond/.test(err.message));
});
