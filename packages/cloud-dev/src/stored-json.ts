// Proto3 JSON of a received message for the store, with timestamps at full precision.
//
// ts-proto's generated toJSON (useDate=false) turns Timestamp fields into JSON through a JavaScript Date, which
// keeps milliseconds only; log timestamps carry nanoseconds and tests compare them. So we take the generated JSON
// and put back every timestamp from the decoded message, walking both side by side (oneofs are {$case, value} in
// the message and {case: value} in the JSON).

import { LogErrorInfo, type LogEntry, type PodLogs } from '@kestrel/proto/cloud/v1';

interface JsonCodec<T> {
  toJSON(message: T): unknown;
}

export function toStoredJson<T>(type: JsonCodec<T>, message: T): Record<string, unknown> {
  const oneof = (message as { request?: { $case: string; value: unknown } }).request;
  if (oneof?.$case === 'podLogs') {
    // PodLogs, the bulk of what is stored: the header the generic way, the entries directly (logEntryJson).
    const logs = oneof.value as PodLogs;
    const header = { ...message, request: { $case: 'podLogs', value: { ...logs, logEntries: [] } } } as T;
    const json = type.toJSON(header) as { podLogs: Record<string, unknown> };
    restoreTimestamps(header, json);
    if (logs.logEntries.length > 0) json.podLogs['logEntries'] = logs.logEntries.map(logEntryJson);
    return json;
  }
  const json = type.toJSON(message) as Record<string, unknown>;
  restoreTimestamps(message, json);
  return json;
}

/** What LogEntry.toJSON gives (default values left out), with the timestamp to the nanosecond. */
export function logEntryJson(entry: LogEntry): Record<string, unknown> {
  const obj: Record<string, unknown> = {};
  if (entry.timestamp !== undefined) obj['timestamp'] = formatTimestamp(entry.timestamp.seconds, entry.timestamp.nanos);
  if (entry.message !== '') obj['message'] = entry.message;
  if (entry.level !== '') obj['level'] = entry.level;
  if (entry.lineNumber !== 0) obj['lineNumber'] = Math.round(entry.lineNumber);
  if (entry.errorInfo !== undefined) obj['errorInfo'] = LogErrorInfo.toJSON(entry.errorInfo);
  return obj;
}

/** The LogEntry fields logEntryJson writes (a test compares them with the generated type's). */
export const LOG_ENTRY_FIELDS = ['timestamp', 'message', 'level', 'lineNumber', 'errorInfo'] as const;

function isTimestamp(v: unknown): v is { seconds: number; nanos: number } {
  if (typeof v !== 'object' || v === null) return false;
  const keys = Object.keys(v);
  return keys.length === 2 && typeof (v as { seconds?: unknown }).seconds === 'number' && typeof (v as { nanos?: unknown }).nanos === 'number';
}

// Log entries of one message mostly share their second: its text is made once (a Date per entry was a tenth of
// cloud-dev's CPU under load).
let lastSeconds = NaN;
let lastWhole = '';

/** RFC 3339 with 0, 3, 6 or 9 fraction digits, as proto3 JSON prints a Timestamp. */
export function formatTimestamp(seconds: number, nanos: number): string {
  if (seconds !== lastSeconds) {
    lastWhole = new Date(seconds * 1000).toISOString().slice(0, 19);
    lastSeconds = seconds;
  }
  const whole = lastWhole;
  if (nanos === 0) return `${whole}Z`;
  const padded = String(nanos).padStart(9, '0');
  const digits = nanos % 1_000_000 === 0 ? 3 : nanos % 1000 === 0 ? 6 : 9;
  return `${whole}.${padded.slice(0, digits)}Z`;
}

function restoreTimestamps(source: unknown, json: unknown): void {
  if (typeof source !== 'object' || source === null || typeof json !== 'object' || json === null) return;
  if (Array.isArray(source)) {
    if (!Array.isArray(json)) return;
    source.forEach((item, i) => {
      if (isTimestamp(item) && typeof json[i] === 'string') json[i] = formatTimestamp(item.seconds, item.nanos);
      else restoreTimestamps(item, json[i]);
    });
    return;
  }
  const target = json as Record<string, unknown>;
  const from = source as Record<string, unknown>;
  for (const key in from) {
    const value = from[key];
    if (typeof value !== 'object' || value === null) continue; // a scalar holds no timestamp
    if ('$case' in value && 'value' in value) {
      const name = String((value as { $case: unknown }).$case);
      const inner = (value as { value: unknown }).value;
      if (isTimestamp(inner) && typeof target[name] === 'string') target[name] = formatTimestamp(inner.seconds, inner.nanos);
      else restoreTimestamps(inner, target[name]);
    } else if (isTimestamp(value) && typeof target[key] === 'string') {
      target[key] = formatTimestamp(value.seconds, value.nanos);
    } else {
      restoreTimestamps(value, target[key]);
    }
  }
}
