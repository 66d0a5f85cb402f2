// What the uplink carries and on which stream. Every record the operator sends to the cloud is one case of
// StreamDataRequest's oneof (the data stream can carry them all); most also have a dedicated stream whose request
// oneof carries the same message under another field number. A record is encoded once (its inner message bytes)
// and wrapped with the field number of whichever stream writes it, so a fallback to StreamData or a replay never
// re-encodes.
import { StreamDataRequest } from '@kestrel/proto/cloud/v1';

export type UplinkRecord = NonNullable<StreamDataRequest['request']>;
export type RecordKind = UplinkRecord['$case'];

/** The five cloud.v1.StreamService streams, by the names cloud-dev stores them under. */
export type StreamName = 'data' | 'control' | 'flows' | 'events' | 'logs';
export const STREAM_NAMES: readonly StreamName[] = ['data', 'control', 'flows', 'events', 'logs'];

export const STREAM_METHODS: Record<StreamName, string> = {
  data: '/cloud.v1.StreamService/StreamData',
  control: '/cloud.v1.StreamService/StreamControl',
  flows: '/cloud.v1.StreamService/StreamFlows',
  events: '/cloud.v1.StreamService/StreamEvents',
  logs: '/cloud.v1.StreamService/StreamLogs',
};

/** Field numbers of StreamDataRequest's oneof (shared/protocols/kestrel-cloud-v1.md). */
const DATA_FIELDS: Record<RecordKind, number> = {
  flow: 1,
  networkPolicy: 2,
  networkPolicyWithErrors: 3,
  workload: 4,
  namespace: 5,
  inventoryCommit: 6,
  kubernetesApiResponse: 7,
  service: 8,
  shellCommandResponse: 9,
  l7AccessLog: 10,
  authorizationPolicy: 11,
  yamlDryRunResponse: 12,
  yamlApplyResponse: 13,
  pod: 14,
  certificateRenewalResponse: 15,
  operatorRestartResponse: 16,
  node: 17,
  kubernetesEvent: 18,
  podStatusChange: 19,
  nodeConditionChange: 20,
  workloadRolloutStatus: 21,
  podLogs: 22,
  metricsQueryResponse: 24,
  operatorStats: 25,
  datadogQueryResponse: 26,
  datadogMonitorAlert: 27,
};

/** Field numbers of the dedicated streams' request oneofs; a kind absent from a stream cannot go on it. */
const STREAM_FIELDS: Record<StreamName, Partial<Record<RecordKind, number>>> = {
  data: DATA_FIELDS,
  logs: { podLogs: 1 },
  events: { kubernetesEvent: 1, podStatusChange: 2, nodeConditionChange: 3, workloadRolloutStatus: 4, datadogMonitorAlert: 5 },
  flows: { flow: 1, l7AccessLog: 2 },
  control: {
    kubernetesApiResponse: 1,
    shellCommandResponse: 2,
    yamlDryRunResponse: 3,
    yamlApplyResponse: 4,
    certificateRenewalResponse: 5,
    operatorRestartResponse: 6,
    metricsQueryResponse: 7,
    datadogQueryResponse: 8,
  },
};

/** The field number of a kind on a stream, or undefined when that stream cannot carry it. */
export const fieldOn = (stream: StreamName, kind: RecordKind): number | undefined => STREAM_FIELDS[stream][kind];

/**
 * Where a kind goes by default: its dedicated stream. Answers to cloud requests do not use this: they go back on
 * the stream the request came from.
 */
export function homeStream(kind: RecordKind): StreamName {
  if (kind === 'podLogs') return 'logs';
  if (STREAM_FIELDS.events[kind] !== undefined) return 'events';
  if (STREAM_FIELDS.flows[kind] !== undefined) return 'flows';
  return 'data';
}

/**
 * Only PodLogs are sent again after a broken stream: line_number lets the receiver drop what it already has.
 * Everything else is at most once once written (flows carry counts, events are not idempotent for a receiver that
 * counts them); what was never written goes out on the next stream. See docs/uplink.md.
 */
export const isReplayable = (kind: RecordKind): boolean => kind === 'podLogs';

/** The encoded inner message of a record (e.g. the PodLogs bytes), without any stream's field tag. */
export function encodeRecord(record: UplinkRecord): Uint8Array {
  // Encoding as StreamDataRequest and stripping the one field's tag and length gives the inner message bytes for
  // every kind without a table of message types.
  const outer = StreamDataRequest.encode({ request: record }).finish();
  let pos = 0;
  pos = skipVarint(outer, pos); // tag
  pos = skipVarint(outer, pos); // length
  return outer.subarray(pos);
}

/** A stream's request message: one length-delimited field around the inner bytes. */
export function wrapRecord(field: number, inner: Uint8Array): Buffer {
  return wrapParts(field, [inner]).wire;
}

/**
 * A stream's request message made from parts in one allocation (the PodLogs header, then the agents' framed
 * entries): the wrapped bytes, and the inner message as a view into them. Saves wrapping's copy of every log byte.
 */
export function wrapParts(field: number, parts: readonly Uint8Array[]): { wire: Buffer; inner: Buffer } {
  let length = 0;
  for (const p of parts) length += p.length;
  const head = wrapperOf(field, length);
  const n = head.length;
  // Not from Buffer's shared pool (64 KiB slabs in Node 24): these bytes may wait in the queue and the replay window
  // for seconds, and a small slice kept that long would hold its whole slab.
  const wire = Buffer.allocUnsafeSlow(n + length);
  head.copy(wire, 0, 0, n);
  let at = n;
  for (const p of parts) {
    wire.set(p, at);
    at += p.length;
  }
  return { wire, inner: wire.subarray(n) };
}

/** The bytes before the inner message in a stream's request message: the field's tag and the inner length. */
export function wrapperOf(field: number, innerLength: number): Buffer {
  const head = Buffer.alloc(10);
  let n = writeVarint(head, 0, (field << 3) | 2);
  n = writeVarint(head, n, innerLength);
  return head.subarray(0, n);
}

/** The inner bytes of a stream's request message (a view: its tag and length skipped). */
export function unwrapRecord(wire: Uint8Array): Uint8Array {
  return wire.subarray(skipVarint(wire, skipVarint(wire, 0)));
}

/** Bytes a wrapped record takes beyond its inner bytes (tag and length varints), at most. */
export const WRAP_OVERHEAD = 8;

function skipVarint(bytes: Uint8Array, pos: number): number {
  while (bytes[pos]! & 0x80) pos++;
  return pos + 1;
}

function writeVarint(buf: Buffer, pos: number, value: number): number {
  while (value > 0x7f) {
    buf[pos++] = (value & 0x7f) | 0x80;
    value = Math.floor(value / 128);
  }
  buf[pos++] = value;
  return pos;
}
