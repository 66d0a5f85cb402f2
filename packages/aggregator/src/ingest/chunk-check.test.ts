import assert from 'node:assert/strict';
import { test } from 'node:test';
import { LogChunk, type BatchContent } from '@kestrel/proto/ingest/v1';
import { frameEntries } from '@kestrel/proto/cloud/v1/log-entries';
import { encodePositions } from '@kestrel/proto/ingest/v1/positions';
import { deflateSegmentSync } from '@kestrel/proto/ingest/v1/segments';
import { checkChunks } from './chunk-check.js';

const framedChunk = (first: number, count: number, seconds: number): LogChunk => {
  const entries = Array.from({ length: count }, (_, i) => ({ timestamp: { seconds, nanos: (first + i) * 1_000_000 }, message: `line ${first + i}`, level: '', lineNumber: first + i, errorInfo: undefined }));
  const framed = frameEntries(entries);
  return LogChunk.fromPartial({ namespace: 'shop', podName: 'web-1', containerName: 'app', entries: Buffer.from(framed.bytes), entrySizes: [...framed.sizes], ...encodePositions(0, entries.map((_, i) => (i + 1) * 10), framed.lineNumbers) });
};
const compressed = (c: LogChunk): LogChunk => {
  const s = deflateSegmentSync(c.entries, 6);
  return { ...c, entries: new Uint8Array(0), entriesDeflated: s.bytes, entriesCrc32: s.crc32 };
};
const content = (...logs: LogChunk[]): BatchContent => ({ logs, nodeConditions: [], flows: [] });

test("a compressed chunk is inflated to check it; its bytes are kept only for an uplink that cannot send segments; the newest line's time is read", () => {
  const plain = framedChunk(1, 20, 1_700_000_000);
  for (const keep of [false, true]) {
    const c = compressed(plain);
    const check = checkChunks(content(framedChunk(1, 2, 1_600_000_000), c), keep);
    assert.equal(check.problem, undefined);
    assert.equal(check.newestMs, 1_700_000_000_000 + 20);
    assert.deepEqual(Buffer.from(c.entries), keep ? Buffer.from(plain.entries) : Buffer.alloc(0));
  }
});

test('a chunk whose segment, sizes or per-line fields do not agree is named in the problem', () => {
  const bad = compressed(framedChunk(1, 5, 1));
  bad.entrySizes = [...bad.entrySizes.slice(0, 4), bad.entrySizes[4]! + 1];
  assert.match(checkChunks(content(bad), false).problem ?? '', /shop\/web-1\/app: compressed entries (do not )?inflate/);
  const both = { ...compressed(framedChunk(1, 5, 1)), entries: Buffer.from('x') };
  assert.match(checkChunks(content(both), false).problem ?? '', /both plain and compressed/);
  const offsets = { ...framedChunk(1, 5, 1), entryEndOffsetDeltas: [1, 2] };
  assert.match(checkChunks(content(offsets), false).problem ?? '', /5 entries but 2 end offsets/);
  const framing = { ...framedChunk(1, 5, 1), entrySizes: [4, 4, 4, 4, 4] };
  assert.match(checkChunks(content(framing), false).problem ?? '', /size|frame|add up/);
});
