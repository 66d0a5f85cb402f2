import assert from 'node:assert/strict';
import { test } from 'node:test';
import { ExportMetricsServiceRequest } from '@kestrel/proto/otlp/collector/metrics/v1';
import { AggregationTemporality } from '@kestrel/proto/otlp/metrics/v1';
import { decodeExportRequest } from './otlp-decode.js';
import { WireError } from './wire-reader.js';

const NOW_NS = 1_764_000_000_123_456_789; // beyond 2^53: the generated decoder throws on it

function request(): Uint8Array {
  return ExportMetricsServiceRequest.encode({
    resourceMetrics: [
      {
        resource: {
          attributes: [
            { key: 'k8s.namespace.name', value: { value: { $case: 'stringValue', value: 'shop' } } },
            { key: 'replicas', value: { value: { $case: 'intValue', value: -3 } } },
            { key: 'tags', value: { value: { $case: 'arrayValue', value: { values: [{ value: { $case: 'boolValue', value: true } }] } } } },
          ],
          droppedAttributesCount: 0,
        },
        schemaUrl: '',
        scopeMetrics: [
          {
            scope: { name: 'checkout', version: '1.2.3', attributes: [], droppedAttributesCount: 0 },
            schemaUrl: '',
            metrics: [
              {
                name: 'queue.depth',
                description: 'items waiting',
                unit: '{item}',
                metadata: [],
                data: { $case: 'gauge', value: { dataPoints: [{ attributes: [{ key: 'q', value: { value: { $case: 'stringValue', value: 'a' } } }], startTimeUnixNano: 0, timeUnixNano: NOW_NS, value: { $case: 'asDouble', value: NaN }, exemplars: [], flags: 0 }] } },
              },
              {
                name: 'requests',
                description: '',
                unit: '1',
                metadata: [],
                data: { $case: 'sum', value: { aggregationTemporality: AggregationTemporality.AGGREGATION_TEMPORALITY_CUMULATIVE, isMonotonic: true, dataPoints: [{ attributes: [], startTimeUnixNano: NOW_NS - 1e9, timeUnixNano: NOW_NS, value: { $case: 'asInt', value: 42 }, exemplars: [], flags: 0 }] } },
              },
              {
                name: 'latency',
                description: '',
                unit: 'ms',
                metadata: [],
                data: {
                  $case: 'histogram',
                  value: { aggregationTemporality: AggregationTemporality.AGGREGATION_TEMPORALITY_DELTA, dataPoints: [{ attributes: [], startTimeUnixNano: 0, timeUnixNano: NOW_NS, count: 3, sum: 30, bucketCounts: [1, 2, 0], explicitBounds: [5, 50], exemplars: [], flags: 0, min: 1, max: 20 }] },
                },
              },
              {
                name: 'size',
                description: '',
                unit: 'By',
                metadata: [],
                data: {
                  $case: 'exponentialHistogram',
                  value: {
                    aggregationTemporality: AggregationTemporality.AGGREGATION_TEMPORALITY_DELTA,
                    dataPoints: [{ attributes: [], startTimeUnixNano: 0, timeUnixNano: NOW_NS, count: 4, sum: 10, scale: -2, zeroCount: 1, positive: { offset: -1, bucketCounts: [1, 2] }, negative: undefined, flags: 0, exemplars: [], zeroThreshold: 0.5 }],
                  },
                },
              },
              {
                name: 'rpc.quantiles',
                description: '',
                unit: 's',
                metadata: [],
                data: { $case: 'summary', value: { dataPoints: [{ attributes: [], startTimeUnixNano: 0, timeUnixNano: NOW_NS, count: 7, sum: 3.5, quantileValues: [{ quantile: 0.99, value: 1.25 }], flags: 0 }] } },
              },
            ],
          },
        ],
      },
    ],
  }).finish();
}

test('decodes every OTLP metric kind with nanosecond timestamps beyond 2^53, attributes flattened to text', () => {
  const [rm] = decodeExportRequest(Buffer.from(request()));
  assert.deepEqual(rm!.resource, [
    ['k8s.namespace.name', 'shop'],
    ['replicas', '-3'],
    ['tags', '[true]'],
  ]);
  const scope = rm!.scopes[0]!;
  assert.equal(scope.name, 'checkout');
  assert.equal(scope.version, '1.2.3');
  const [gauge, sum, hist, exp, summary] = scope.metrics;
  assert.equal(gauge!.kind, 'gauge');
  assert.equal(gauge!.description, 'items waiting');
  assert.ok(Number.isNaN(gauge!.points[0]!.value));
  assert.deepEqual(gauge!.points[0]!.attributes, [['q', 'a']]);
  // Within the precision of a double (about 256 ns at this magnitude).
  assert.ok(Math.abs(gauge!.points[0]!.timeNs - NOW_NS) < 1024);
  assert.equal(sum!.kind, 'sum');
  assert.equal(sum!.monotonic, true);
  assert.equal(sum!.temporality, 2);
  assert.equal(sum!.points[0]!.value, 42);
  assert.equal(hist!.kind, 'histogram');
  assert.deepEqual([hist!.points[0]!.bounds, hist!.points[0]!.bucketCounts, hist!.points[0]!.count, hist!.points[0]!.sum, hist!.points[0]!.min, hist!.points[0]!.max], [[5, 50], [1, 2, 0], 3, 30, 1, 20]);
  assert.equal(exp!.kind, 'exponential_histogram');
  const e = exp!.points[0]!;
  assert.deepEqual([e.scale, e.zeroCount, e.zeroThreshold, e.positive, e.negative, e.count], [-2, 1, 0.5, { offset: -1, counts: [1, 2] }, undefined, 4]);
  assert.equal(summary!.kind, 'summary');
  assert.deepEqual(summary!.points[0]!.quantiles, [[0.99, 1.25]]);
  assert.equal(summary!.points[0]!.count, 7);
});

test('a truncated message is a WireError, not a crash or a partial result', () => {
  const bytes = Buffer.from(request());
  assert.throws(() => decodeExportRequest(bytes.subarray(0, bytes.length - 7)), WireError);
  assert.throws(() => decodeExportRequest(Buffer.from([0x0a, 0xff, 0xff, 0xff, 0xff, 0x0f])), WireError);
});

test('unknown fields (newer OTLP versions) are skipped', () => {
  // Field 99 (varint) and field 98 (length-delimited) before the known field 1.
  const known = Buffer.from(request());
  const extra = Buffer.concat([Buffer.from([0x98, 0x06, 0x01, 0x92, 0x06, 0x02, 0x41, 0x42]), known]);
  assert.deepEqual(decodeExportRequest(extra), decodeExportRequest(known));
});
