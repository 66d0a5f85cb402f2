import assert from 'node:assert/strict';
import { test } from 'node:test';
import { LogChunk } from '../gen/kestrel/ingest/v1/ingest.js';
import { encodePositions, endOffsetsOf, lineNumbersOf } from './entry-positions.js';

test('positions beyond 2^32 travel as a base and small deltas and read back exactly, through the wire', () => {
  const start = 2 ** 40 + 17; // a file read far past 4 GiB (a long-lived container's log, counted from its first byte)
  const ends = [start + 120, start + 121, start + 5_000_000, start + 5_000_300];
  const numbers = [9_000_000_001, 9_000_000_002, 9_000_000_040, 9_000_000_041]; // a grouped stack trace took 38 lines
  const wire = LogChunk.decode(LogChunk.encode(LogChunk.fromPartial(encodePositions(start, ends, numbers))).finish());
  assert.deepEqual(endOffsetsOf(wire), ends);
  assert.deepEqual(lineNumbersOf(wire), numbers);
  assert.deepEqual(wire.entryEndOffsetDeltas, [120, 1, 4_999_879, 300]);
  assert.deepEqual(wire.entryLineNumberDeltas, [1, 1, 38, 1]);
});

test('no lines: empty positions; a first line number of 0 still reads back', () => {
  const none = encodePositions(500, [], []);
  assert.deepEqual(endOffsetsOf(none), []);
  assert.deepEqual(lineNumbersOf(none), []);
  const zero = encodePositions(0, [10, 20], [0, 1]);
  assert.deepEqual(lineNumbersOf(zero), [0, 1]);
  assert.deepEqual(endOffsetsOf(zero), [10, 20]);
});

test('positions that cannot be deltas are refused, never truncated: backwards, or a line of 4 GiB', () => {
  assert.throws(() => encodePositions(100, [90], [1]), /end offset 90 after 100/);
  assert.throws(() => encodePositions(0, [10, 20], [5, 4]), /line number 4 after 5/);
  assert.throws(() => encodePositions(0, [2 ** 32], [1]), /cannot be sent as a delta/);
  assert.throws(() => encodePositions(0, [10], [1, 2]), /1 end offsets but 2 line numbers/);
});
