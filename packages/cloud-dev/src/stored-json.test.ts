import assert from 'node:assert/strict';
import { test } from 'node:test';
import { LogEntry, StreamLogsRequest } from '@kestrel/proto/cloud/v1';
import { formatTimestamp, LOG_ENTRY_FIELDS, logEntryJson, toStoredJson } from './stored-json.js';

test('stored JSON keeps log timestamps to the nanosecond, inside oneofs and repeated fields', () => {
  const request: StreamLogsRequest = StreamLogsRequest.fromPartial({
    request: {
      $case: 'podLogs',
      value: {
        podName: 'p',
        collectionTimestamp: { seconds: 1714564800, nanos: 5_000_000 },
        logEntries: [
          { message: 'a', timestamp: { seconds: 1714564800, nanos: 123456789 }, lineNumber: 1 },
          { message: 'b', timestamp: { seconds: 1714564801, nanos: 1000 }, lineNumber: 2 },
        ],
      },
    },
  });
  const json = toStoredJson(StreamLogsRequest, request) as { podLogs: { collectionTimestamp: string; logEntries: { timestamp: string }[] } };
  assert.equal(json.podLogs.collectionTimestamp, '2024-05-01T12:00:00.005Z');
  assert.deepEqual(json.podLogs.logEntries.map((e) => e.timestamp), ['2024-05-01T12:00:00.123456789Z', '2024-05-01T12:00:01.000001Z']);
});

test('timestamps print with 0, 3, 6 or 9 fraction digits', () => {
  assert.equal(formatTimestamp(0, 0), '1970-01-01T00:00:00Z');
  assert.equal(formatTimestamp(0, 100_000_000), '1970-01-01T00:00:00.100Z');
  assert.equal(formatTimestamp(0, 100_000), '1970-01-01T00:00:00.000100Z');
  assert.equal(formatTimestamp(0, 1), '1970-01-01T00:00:00.000000001Z');
});

test('timestamps of different seconds one after another each print their own second', () => {
  assert.deepEqual(
    [formatTimestamp(0, 0), formatTimestamp(86_400, 5), formatTimestamp(86_400, 0), formatTimestamp(0, 1_000_000)],
    ['1970-01-01T00:00:00Z', '1970-01-02T00:00:00.000000005Z', '1970-01-02T00:00:00Z', '1970-01-01T00:00:00.001Z'],
  );
});

test('log entries keep their timestamps next to error details, and entries without one stay without', () => {
  const request: StreamLogsRequest = StreamLogsRequest.fromPartial({
    request: {
      $case: 'podLogs',
      value: {
        podName: 'p',
        logEntries: [
          { message: 'boom', timestamp: { seconds: 1714564800, nanos: 7 }, lineNumber: 1, errorInfo: { errorType: 'Panic', errorMessage: 'x' } },
          { message: 'no time', lineNumber: 2 },
        ],
      },
    },
  });
  const json = toStoredJson(StreamLogsRequest, request) as { podLogs: { logEntries: { timestamp?: string; errorInfo?: { errorType: string } }[] } };
  assert.equal(json.podLogs.logEntries[0]!.timestamp, '2024-05-01T12:00:00.000000007Z');
  assert.equal(json.podLogs.logEntries[0]!.errorInfo!.errorType, 'Panic');
  assert.equal(json.podLogs.logEntries[1]!.timestamp, undefined);
});

test('a log entry stores as the generated LogEntry.toJSON gives it, timestamps to the nanosecond, and every field is covered', () => {
  const full: LogEntry = { timestamp: { seconds: 1714564800, nanos: 123_456_789 }, message: 'm', level: 'ERROR', lineNumber: 42, errorInfo: { errorType: 'Panic', stackTrace: 'at x', errorMessage: 'boom', exitCode: 2 } };
  assert.deepEqual([...LOG_ENTRY_FIELDS].sort(), Object.keys(LogEntry.fromPartial({})).sort(), 'a field added to LogEntry must be written by logEntryJson too');
  assert.deepEqual(Object.keys(full).sort(), Object.keys(LogEntry.fromPartial({})).sort());
  const generic = LogEntry.toJSON(full) as Record<string, unknown>;
  generic['timestamp'] = '2024-05-01T12:00:00.123456789Z';
  assert.deepEqual(logEntryJson(full), generic);
  assert.deepEqual(logEntryJson(LogEntry.fromPartial({})), LogEntry.toJSON(LogEntry.fromPartial({})), 'default values left out alike');
});

test('a whole PodLogs request stores as the generic path does', () => {
  const request = StreamLogsRequest.fromPartial({
    request: {
      $case: 'podLogs',
      value: {
        podName: 'p',
        namespace: 'n',
        collectionTimestamp: { seconds: 1714564800, nanos: 5 },
        logEntries: [{ message: 'a', timestamp: { seconds: 1714564800, nanos: 1 }, lineNumber: 1 }, { message: 'b', lineNumber: 2 }],
      },
    },
  });
  const expected = StreamLogsRequest.toJSON(request) as { podLogs: { collectionTimestamp: string; logEntries: { timestamp?: string }[] } };
  expected.podLogs.collectionTimestamp = '2024-05-01T12:00:00.000000005Z';
  expected.podLogs.logEntries[0]!.timestamp = '2024-05-01T12:00:00.000000001Z';
  assert.deepEqual(toStoredJson(StreamLogsRequest, request), expected);
});
