// Access log observations aggregated into cloud.v1 L7AccessLog records: one record per key and time bucket, with
// count, first_seen and last_seen, byte totals and the mean duration.
//
// One request between two pods with sidecars is logged twice (the client's outbound entry and the server's inbound
// entry): an aggregate keeps the two sides apart and reports the larger of them, the inbound side's figures when both
// saw the same number (bytes and duration as the server measured them), plus what other reporters (gateways,
// passthrough) saw. Buckets are aligned on the wall clock and sent once ended and the grace passed, so that both
// sides of an exchange meet in one bucket. Bounded: at most maxRecords aggregates over all open buckets.
import { timestampOf } from '@kestrel/core';
import type { L7AccessLog } from '@kestrel/proto/cloud/v1';
import type { Observation, Side } from './to-l7.js';

interface SideTotals {
  count: number;
  bytesSent: number;
  bytesReceived: number;
  requestSize: number;
  responseSize: number;
  durationSum: number;
}

const zero = (): SideTotals => ({ count: 0, bytesSent: 0, bytesReceived: 0, requestSize: 0, responseSize: 0, durationSum: 0 });

class Aggregate {
  private readonly sides: Record<Side, SideTotals> = { inbound: zero(), outbound: zero(), other: zero() };
  private firstMs: number;
  private lastMs: number;
  /** The first entry of the side whose figures are reported (the inbound one once seen). */
  private template: L7AccessLog;
  private templateSide: Side;
  /** Only the client's side knows the service it called (from its outbound cluster). */
  private serviceName = '';

  constructor(o: Observation) {
    this.template = o.record;
    this.templateSide = o.side;
    this.firstMs = o.startMs;
    this.lastMs = o.startMs + o.record.durationMs;
  }

  add(o: Observation): void {
    const s = this.sides[o.side];
    const r = o.record;
    s.count += r.count;
    s.bytesSent += r.bytesSent;
    s.bytesReceived += r.bytesReceived;
    s.requestSize += r.httpData?.requestSize ?? 0;
    s.responseSize += r.httpData?.responseSize ?? 0;
    s.durationSum += r.durationMs;
    this.firstMs = Math.min(this.firstMs, o.startMs);
    this.lastMs = Math.max(this.lastMs, o.startMs + r.durationMs);
    if (!this.serviceName && r.destination?.serviceName) this.serviceName = r.destination.serviceName;
    // The server's view names the destination best (its own pod), and its bytes are what it served.
    if (o.side === 'inbound' && this.templateSide !== 'inbound') {
      this.template = r;
      this.templateSide = 'inbound';
    }
  }

  get seenOnBothSides(): boolean {
    return this.sides.inbound.count > 0 && this.sides.outbound.count > 0;
  }

  toRecord(): L7AccessLog {
    const { inbound, outbound, other } = this.sides;
    const main = inbound.count >= outbound.count ? inbound : outbound;
    const count = main.count + other.count;
    const t = this.template;
    const many = count > 1;
    return {
      ...t,
      // The source's ephemeral port differs per connection: an aggregate names none.
      source: t.source ? { ...t.source, port: many ? 0 : t.source.port } : undefined,
      destination: t.destination ? { ...t.destination, serviceName: t.destination.serviceName || this.serviceName } : undefined,
      timestamp: timestampOf(this.firstMs),
      count,
      durationMs: count > 0 ? Math.round((main.durationSum + other.durationSum) / count) : 0,
      bytesSent: main.bytesSent + other.bytesSent,
      bytesReceived: main.bytesReceived + other.bytesReceived,
      httpData: t.httpData
        ? { ...t.httpData, requestSize: main.requestSize + other.requestSize, responseSize: main.responseSize + other.responseSize, streamId: many ? '' : t.httpData.streamId }
        : undefined,
      tcpData: t.tcpData ? { ...t.tcpData, sentBytes: main.bytesSent + other.bytesSent, receivedBytes: main.bytesReceived + other.bytesReceived, streamId: many ? '' : t.tcpData.streamId } : undefined,
      firstSeen: timestampOf(this.firstMs),
      lastSeen: timestampOf(this.lastMs),
    };
  }
}

export interface TakenBucket {
  records: L7AccessLog[];
  bothSides: number;
}

export class L7Table {
  private readonly open = new Map<number, Map<string, Aggregate>>();
  private size_ = 0;
  private sentThrough = -1;

  constructor(
    private readonly bucketMs: number,
    private readonly graceMs: number,
    readonly maxRecords: number,
  ) {}

  get size(): number {
    return this.size_;
  }

  /** Adds an observation; false when it would open a new aggregate beyond the bound (nothing added). */
  add(o: Observation, nowMs: number): boolean {
    const current = Math.floor(nowMs / this.bucketMs);
    let index = Math.min(Math.floor(o.startMs / this.bucketMs), current);
    if (index <= this.sentThrough) index = Math.max(current, this.sentThrough + 1);
    let bucket = this.open.get(index);
    const existing = bucket?.get(o.key);
    if (existing) {
      existing.add(o);
      return true;
    }
    if (this.size_ >= this.maxRecords) return false;
    if (!bucket) {
      bucket = new Map();
      this.open.set(index, bucket);
    }
    const a = new Aggregate(o);
    a.add(o);
    bucket.set(o.key, a);
    this.size_++;
    return true;
  }

  /** The buckets due at nowMs, oldest first; with `oldest`, at least the oldest one. */
  takeDue(nowMs: number, oldest = false): TakenBucket[] {
    const out: TakenBucket[] = [];
    for (const i of [...this.open.keys()].sort((a, b) => a - b)) {
      const due = (i + 1) * this.bucketMs + this.graceMs <= nowMs;
      if (!due && !(oldest && out.length === 0)) break;
      const bucket = this.open.get(i)!;
      this.open.delete(i);
      this.size_ -= bucket.size;
      if (i > this.sentThrough) this.sentThrough = i;
      let bothSides = 0;
      const records: L7AccessLog[] = [];
      for (const a of bucket.values()) {
        if (a.seenOnBothSides) bothSides++;
        records.push(a.toRecord());
      }
      out.push({ records, bothSides });
    }
    return out;
  }

  takeAll(): TakenBucket[] {
    return this.takeDue(Number.MAX_SAFE_INTEGER);
  }
}
