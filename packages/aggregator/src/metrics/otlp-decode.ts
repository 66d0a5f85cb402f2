// Decodes ExportMetricsServiceRequest (opentelemetry-proto collector/metrics/v1, field numbers in
// ../shared/protocols/otlp-metrics.md and proto/opentelemetry) straight from the wire into the few shapes the store
// needs. Attribute values are flattened to strings (the cloud's OTelMetric carries map<string,string>); exemplars,
// metadata and schema URLs are skipped. Why not the generated decoder: it throws on 64-bit integers beyond 2^53,
// i.e. on every nanosecond timestamp (see wire-reader.ts).
import { WireReader, WireType } from './wire-reader.js';

export type Attributes = [key: string, value: string][];

export type MetricKind = 'gauge' | 'sum' | 'histogram' | 'exponential_histogram' | 'summary';

export interface Buckets {
  offset: number;
  counts: number[];
}

export interface DecodedPoint {
  attributes: Attributes;
  startNs: number;
  timeNs: number;
  flags: number;
  /** gauge, sum: as_double or as_int; undefined when the point carries neither. */
  value?: number;
  count?: number;
  sum?: number;
  min?: number;
  max?: number;
  /** histogram */
  bounds?: number[];
  bucketCounts?: number[];
  /** exponential histogram */
  scale?: number;
  zeroCount?: number;
  zeroThreshold?: number;
  positive?: Buckets;
  negative?: Buckets;
  /** summary */
  quantiles?: [quantile: number, value: number][];
}

export interface DecodedMetric {
  name: string;
  description: string;
  unit: string;
  /** undefined: the metric carried no data field (or one this version does not know). */
  kind: MetricKind | undefined;
  /** 1 delta, 2 cumulative, 0 unspecified (sum, histogram, exponential histogram). */
  temporality: number;
  monotonic: boolean;
  points: DecodedPoint[];
}

export interface DecodedScope {
  name: string;
  version: string;
  metrics: DecodedMetric[];
}

export interface DecodedResourceMetrics {
  resource: Attributes;
  scopes: DecodedScope[];
}

export function decodeExportRequest(buf: Buffer): DecodedResourceMetrics[] {
  const r = new WireReader(buf);
  const out: DecodedResourceMetrics[] = [];
  while (!r.done) {
    const [field, wt] = r.tag();
    if (field === 1 && wt === WireType.LengthDelimited) out.push(resourceMetrics(r.sub()));
    else r.skip(wt);
  }
  return out;
}

function resourceMetrics(r: WireReader): DecodedResourceMetrics {
  const rm: DecodedResourceMetrics = { resource: [], scopes: [] };
  while (!r.done) {
    const [field, wt] = r.tag();
    if (field === 1 && wt === WireType.LengthDelimited) {
      const res = r.sub();
      while (!res.done) {
        const [f, w] = res.tag();
        if (f === 1 && w === WireType.LengthDelimited) keyValue(res.sub(), rm.resource);
        else res.skip(w);
      }
    } else if (field === 2 && wt === WireType.LengthDelimited) rm.scopes.push(scopeMetrics(r.sub()));
    else r.skip(wt);
  }
  return rm;
}

function scopeMetrics(r: WireReader): DecodedScope {
  const scope: DecodedScope = { name: '', version: '', metrics: [] };
  while (!r.done) {
    const [field, wt] = r.tag();
    if (field === 1 && wt === WireType.LengthDelimited) {
      const s = r.sub();
      while (!s.done) {
        const [f, w] = s.tag();
        if (f === 1 && w === WireType.LengthDelimited) scope.name = s.string();
        else if (f === 2 && w === WireType.LengthDelimited) scope.version = s.string();
        else s.skip(w);
      }
    } else if (field === 2 && wt === WireType.LengthDelimited) scope.metrics.push(metric(r.sub()));
    else r.skip(wt);
  }
  return scope;
}

const DATA_FIELDS: Record<number, MetricKind> = { 5: 'gauge', 7: 'sum', 9: 'histogram', 10: 'exponential_histogram', 11: 'summary' };

function metric(r: WireReader): DecodedMetric {
  const m: DecodedMetric = { name: '', description: '', unit: '', kind: undefined, temporality: 0, monotonic: false, points: [] };
  while (!r.done) {
    const [field, wt] = r.tag();
    const kind = DATA_FIELDS[field];
    if (field === 1 && wt === WireType.LengthDelimited) m.name = r.string();
    else if (field === 2 && wt === WireType.LengthDelimited) m.description = r.string();
    else if (field === 3 && wt === WireType.LengthDelimited) m.unit = r.string();
    else if (kind && wt === WireType.LengthDelimited) {
      m.kind = kind;
      data(r.sub(), kind, m);
    } else r.skip(wt);
  }
  return m;
}

/** Gauge, Sum, Histogram, ExponentialHistogram, Summary: 1 data_points, 2 temporality, 3 is_monotonic (Sum). */
function data(r: WireReader, kind: MetricKind, m: DecodedMetric): void {
  while (!r.done) {
    const [field, wt] = r.tag();
    if (field === 1 && wt === WireType.LengthDelimited) {
      const p = r.sub();
      m.points.push(kind === 'gauge' || kind === 'sum' ? numberPoint(p) : kind === 'histogram' ? histogramPoint(p) : kind === 'exponential_histogram' ? exponentialPoint(p) : summaryPoint(p));
    } else if (field === 2 && wt === WireType.Varint && kind !== 'gauge' && kind !== 'summary') m.temporality = r.varint();
    else if (field === 3 && wt === WireType.Varint && kind === 'sum') m.monotonic = r.bool();
    else r.skip(wt);
  }
}

const newPoint = (): DecodedPoint => ({ attributes: [], startNs: 0, timeNs: 0, flags: 0 });

function numberPoint(r: WireReader): DecodedPoint {
  const p = newPoint();
  while (!r.done) {
    const [field, wt] = r.tag();
    if (field === 7 && wt === WireType.LengthDelimited) keyValue(r.sub(), p.attributes);
    else if (field === 2 && wt === WireType.Fixed64) p.startNs = r.fixed64();
    else if (field === 3 && wt === WireType.Fixed64) p.timeNs = r.fixed64();
    else if (field === 4 && wt === WireType.Fixed64) p.value = r.double();
    else if (field === 6 && wt === WireType.Fixed64) p.value = r.sfixed64();
    else if (field === 8 && wt === WireType.Varint) p.flags = r.varint();
    else r.skip(wt);
  }
  return p;
}

function histogramPoint(r: WireReader): DecodedPoint {
  const p: DecodedPoint = { ...newPoint(), bounds: [], bucketCounts: [] };
  while (!r.done) {
    const [field, wt] = r.tag();
    if (field === 9 && wt === WireType.LengthDelimited) keyValue(r.sub(), p.attributes);
    else if (field === 2 && wt === WireType.Fixed64) p.startNs = r.fixed64();
    else if (field === 3 && wt === WireType.Fixed64) p.timeNs = r.fixed64();
    else if (field === 4 && wt === WireType.Fixed64) p.count = r.fixed64();
    else if (field === 5 && wt === WireType.Fixed64) p.sum = r.double();
    else if (field === 6) r.repeated(wt, (x) => x.fixed64(), p.bucketCounts!);
    else if (field === 7) r.repeated(wt, (x) => x.double(), p.bounds!);
    else if (field === 10 && wt === WireType.Varint) p.flags = r.varint();
    else if (field === 11 && wt === WireType.Fixed64) p.min = r.double();
    else if (field === 12 && wt === WireType.Fixed64) p.max = r.double();
    else r.skip(wt);
  }
  return p;
}

function exponentialPoint(r: WireReader): DecodedPoint {
  const p: DecodedPoint = { ...newPoint(), scale: 0, zeroCount: 0, zeroThreshold: 0 };
  while (!r.done) {
    const [field, wt] = r.tag();
    if (field === 1 && wt === WireType.LengthDelimited) keyValue(r.sub(), p.attributes);
    else if (field === 2 && wt === WireType.Fixed64) p.startNs = r.fixed64();
    else if (field === 3 && wt === WireType.Fixed64) p.timeNs = r.fixed64();
    else if (field === 4 && wt === WireType.Fixed64) p.count = r.fixed64();
    else if (field === 5 && wt === WireType.Fixed64) p.sum = r.double();
    else if (field === 6 && wt === WireType.Varint) p.scale = r.sint32();
    else if (field === 7 && wt === WireType.Fixed64) p.zeroCount = r.fixed64();
    else if (field === 8 && wt === WireType.LengthDelimited) p.positive = buckets(r.sub());
    else if (field === 9 && wt === WireType.LengthDelimited) p.negative = buckets(r.sub());
    else if (field === 10 && wt === WireType.Varint) p.flags = r.varint();
    else if (field === 12 && wt === WireType.Fixed64) p.min = r.double();
    else if (field === 13 && wt === WireType.Fixed64) p.max = r.double();
    else if (field === 14 && wt === WireType.Fixed64) p.zeroThreshold = r.double();
    else r.skip(wt);
  }
  return p;
}

function buckets(r: WireReader): Buckets {
  const b: Buckets = { offset: 0, counts: [] };
  while (!r.done) {
    const [field, wt] = r.tag();
    if (field === 1 && wt === WireType.Varint) b.offset = r.sint32();
    else if (field === 2) r.repeated(wt, (x) => x.varint(), b.counts);
    else r.skip(wt);
  }
  return b;
}

function summaryPoint(r: WireReader): DecodedPoint {
  const p: DecodedPoint = { ...newPoint(), quantiles: [] };
  while (!r.done) {
    const [field, wt] = r.tag();
    if (field === 7 && wt === WireType.LengthDelimited) keyValue(r.sub(), p.attributes);
    else if (field === 2 && wt === WireType.Fixed64) p.startNs = r.fixed64();
    else if (field === 3 && wt === WireType.Fixed64) p.timeNs = r.fixed64();
    else if (field === 4 && wt === WireType.Fixed64) p.count = r.fixed64();
    else if (field === 5 && wt === WireType.Fixed64) p.sum = r.double();
    else if (field === 6 && wt === WireType.LengthDelimited) {
      const q = r.sub();
      let quantile = 0;
      let value = 0;
      while (!q.done) {
        const [f, w] = q.tag();
        if (f === 1 && w === WireType.Fixed64) quantile = q.double();
        else if (f === 2 && w === WireType.Fixed64) value = q.double();
        else q.skip(w);
      }
      p.quantiles!.push([quantile, value]);
    } else if (field === 8 && wt === WireType.Varint) p.flags = r.varint();
    else r.skip(wt);
  }
  return p;
}

function keyValue(r: WireReader, into: Attributes): void {
  let key = '';
  let value = '';
  while (!r.done) {
    const [field, wt] = r.tag();
    if (field === 1 && wt === WireType.LengthDelimited) key = r.string();
    else if (field === 2 && wt === WireType.LengthDelimited) value = anyValue(r.sub());
    else r.skip(wt);
  }
  into.push([key, value]);
}

/** AnyValue as text: strings as they are, numbers and booleans printed, arrays and maps as JSON, bytes as base64. */
function anyValue(r: WireReader): string {
  const v = anyValueJson(r);
  return typeof v === 'string' ? v : JSON.stringify(v);
}

type Json = string | number | boolean | null | Json[] | { [k: string]: Json };

function anyValueJson(r: WireReader): Json {
  let out: Json = '';
  while (!r.done) {
    const [field, wt] = r.tag();
    if (field === 1 && wt === WireType.LengthDelimited) out = r.string();
    else if (field === 2 && wt === WireType.Varint) out = r.bool();
    else if (field === 3 && wt === WireType.Varint) out = r.int64();
    else if (field === 4 && wt === WireType.Fixed64) out = r.double();
    else if (field === 5 && wt === WireType.LengthDelimited) {
      const a = r.sub();
      const values: Json[] = [];
      while (!a.done) {
        const [f, w] = a.tag();
        if (f === 1 && w === WireType.LengthDelimited) values.push(anyValueJson(a.sub()));
        else a.skip(w);
      }
      out = values;
    } else if (field === 6 && wt === WireType.LengthDelimited) {
      const l = r.sub();
      const pairs: Attributes = [];
      while (!l.done) {
        const [f, w] = l.tag();
        if (f === 1 && w === WireType.LengthDelimited) keyValue(l.sub(), pairs);
        else l.skip(w);
      }
      out = Object.fromEntries(pairs);
    } else if (field === 7 && wt === WireType.LengthDelimited) out = r.bytes().toString('base64');
    else r.skip(wt);
  }
  return out;
}
