// A focused reader of observer.GetFlowsResponse bytes for aggregation: it reads only the fields a RawFlow needs
// (time, uuid, verdict, IPs, L4 ports, the two endpoints, direction, reply, the allowing policies) straight from the
// wire and skips the rest, instead of building the full flow.Flow object (about fifty fields, most unused here).
// Endpoints repeat from flow to flow, so an endpoint's bytes are looked up in a small cache before being read.
// The result is the same as hubbleToRaw(GetFlowsResponse.decode(bytes)) (checked in hubble-wire.test.ts on encoded
// samples); field numbers are those of ../shared/protocols/hubble-observer.md.
import type { Endpoint as CloudEndpoint, Policy as CloudPolicy } from '@kestrel/proto/cloud/v1';
import { endpointFromParts, orientRaw, type HubbleSkipReason } from './hubble-convert.js';
import type { RawFlow } from './raw-flow.js';

export type HubbleWireEvent =
  | { kind: 'flow'; flow: RawFlow | HubbleSkipReason; uuid: string; seconds: number; nanos: number; nodeName: string }
  | { kind: 'lost'; source: number; count: number; nodeName: string }
  | { kind: 'other' };

/**
 * A short string of the wire as JavaScript text. IPs, UUIDs and names are ASCII: built in JavaScript they cost no
 * call into Buffer's native decoder (which dominated this reader); anything else goes through it.
 */
function text(buf: Buffer, start: number, end: number): string {
  // Up to 12 characters V8 makes each `+=` result a flat string; longer ones (a UUID) would be a chain of pieces.
  if (end - start > 12) return buf.toString('utf8', start, end);
  let out = '';
  for (let i = start; i < end; i++) {
    const c = buf[i]!;
    if (c >= 0x80) return buf.toString('utf8', start, end);
    out += String.fromCharCode(c);
  }
  return out;
}

class Reader {
  pos: number;
  constructor(
    readonly buf: Buffer,
    pos: number,
    readonly end: number,
  ) {
    this.pos = pos;
  }

  varint(): number {
    let result = 0;
    let shift = 1;
    for (;;) {
      if (this.pos >= this.end) throw new RangeError('truncated varint');
      const b = this.buf[this.pos++]!;
      result += (b & 0x7f) * shift;
      if (b < 0x80) return result;
      shift *= 128;
      if (shift > 2 ** 63) throw new RangeError('varint too long');
    }
  }

  /** A length-delimited field: returns where its bytes start; they end where the reader now is (`pos`). */
  bytes(): number {
    const len = this.varint();
    const start = this.pos;
    this.pos += len;
    if (this.pos > this.end) throw new RangeError('truncated field');
    return start;
  }

  string(): string {
    const s = this.bytes();
    const e = this.pos;
    return text(this.buf, s, e);
  }

  skip(wireType: number): void {
    switch (wireType) {
      case 0:
        this.varint();
        return;
      case 1:
        this.pos += 8;
        break;
      case 2:
        this.bytes();
        return;
      case 5:
        this.pos += 4;
        break;
      default:
        throw new RangeError(`unsupported wire type ${wireType}`);
    }
    if (this.pos > this.end) throw new RangeError('truncated field');
  }
}

const ENDPOINT_CACHE_MAX = 4096;
/** Endpoints by a hash of their bytes; each entry keeps the bytes, compared before use (a hash is not an identity). */
let endpointCache = new Map<number, { bytes: Buffer; endpoint: CloudEndpoint | undefined }[]>();
let endpointCacheSize = 0;

function readEndpoint(buf: Buffer, start: number, end: number): CloudEndpoint | undefined {
  let h = 0x811c9dc5;
  for (let i = start; i < end; i++) h = Math.imul(h ^ buf[i]!, 0x01000193);
  h >>>= 0;
  const bucket = endpointCache.get(h);
  if (bucket) {
    const len = end - start;
    // Compared in JavaScript: for an endpoint's ~100 bytes, Buffer.compare's checks and native call cost more.
    for (const c of bucket) {
      if (c.bytes.length !== len) continue;
      const b = c.bytes;
      let i = 0;
      while (i < len && b[i] === buf[start + i]) i++;
      if (i === len) return c.endpoint;
    }
  }
  const r = new Reader(buf, start, end);
  let namespace = '';
  let podName = '';
  const labels: string[] = [];
  let workload: { name: string; kind: string } | undefined;
  while (r.pos < r.end) {
    const tag = r.varint();
    const field = Math.floor(tag / 8);
    const wt = tag & 7;
    if (field === 3 && wt === 2) namespace = r.string();
    else if (field === 4 && wt === 2) labels.push(r.string());
    else if (field === 5 && wt === 2) podName = r.string();
    else if (field === 6 && wt === 2) {
      const s = r.bytes();
      const e = r.pos;
      if (workload) continue;
      const w = new Reader(buf, s, e);
      const out = { name: '', kind: '' };
      while (w.pos < w.end) {
        const t = w.varint();
        if (t === 10) out.name = w.string();
        else if (t === 18) out.kind = w.string();
        else w.skip(t & 7);
      }
      workload = out;
    } else r.skip(wt);
  }
  const endpoint = endpointFromParts(namespace, podName, labels, workload);
  if (endpointCacheSize >= ENDPOINT_CACHE_MAX) {
    endpointCache = new Map();
    endpointCacheSize = 0;
  }
  const entry = { bytes: Buffer.from(buf.subarray(start, end)), endpoint };
  if (bucket) bucket.push(entry);
  else endpointCache.set(h, [entry]);
  endpointCacheSize++;
  return endpoint;
}

function readPolicy(buf: Buffer, start: number, end: number): CloudPolicy {
  const r = new Reader(buf, start, end);
  const p: CloudPolicy = { name: '', namespace: '', labels: [], revision: 0, kind: '' };
  while (r.pos < r.end) {
    const tag = r.varint();
    const wt = tag & 7;
    switch (tag >>> 3) {
      case 1:
        p.name = r.string();
        break;
      case 2:
        p.namespace = r.string();
        break;
      case 3:
        p.labels.push(r.string());
        break;
      case 4:
        p.revision = r.varint();
        break;
      case 5:
        p.kind = r.string();
        break;
      default:
        r.skip(wt);
    }
  }
  return p;
}

function readFlow(buf: Buffer, start: number, end: number, nodeName: string): HubbleWireEvent {
  const r = new Reader(buf, start, end);
  let seconds = 0;
  let nanos = 0;
  let uuid = '';
  let verdict = 0;
  let srcIp = '';
  let dstIp = '';
  let protocol: string | undefined;
  let srcPort = 0;
  let dstPort = 0;
  let src: CloudEndpoint | undefined;
  let dst: CloudEndpoint | undefined;
  let reply = false;
  let isReply: boolean | undefined;
  let direction = 0;
  let egress: CloudPolicy[] | undefined;
  let ingress: CloudPolicy[] | undefined;
  let flowNode = '';
  while (r.pos < r.end) {
    const tag = r.varint();
    const field = Math.floor(tag / 8);
    const wt = tag & 7;
    if (wt === 2) {
      const s = r.bytes();
      const e = r.pos;
      switch (field) {
        case 1: {
          const t = new Reader(buf, s, e);
          while (t.pos < t.end) {
            const tt = t.varint();
            if (tt === 8) seconds = t.varint();
            else if (tt === 16) nanos = t.varint();
            else t.skip(tt & 7);
          }
          break;
        }
        case 34:
          uuid = text(buf, s, e);
          break;
        case 5: {
          const ip = new Reader(buf, s, e);
          while (ip.pos < ip.end) {
            const tt = ip.varint();
            if (tt === 10) srcIp = ip.string();
            else if (tt === 18) dstIp = ip.string();
            else ip.skip(tt & 7);
          }
          break;
        }
        case 6: {
          const l4 = new Reader(buf, s, e);
          while (l4.pos < l4.end) {
            const tt = l4.varint();
            const which = tt >>> 3;
            if ((tt & 7) !== 2 || which < 1 || which > 7) {
              l4.skip(tt & 7);
              continue;
            }
            const ps = l4.bytes();
            const pe = l4.pos;
            protocol = ['', 'TCP', 'UDP', 'ICMP', 'ICMPv6', 'SCTP', 'VRRP', 'IGMP'][which];
            srcPort = 0;
            dstPort = 0;
            if (which === 1 || which === 2 || which === 5) {
              const p = new Reader(buf, ps, pe);
              while (p.pos < p.end) {
                const pt = p.varint();
                if (pt === 8) srcPort = p.varint();
                else if (pt === 16) dstPort = p.varint();
                else p.skip(pt & 7);
              }
            }
          }
          break;
        }
        case 8:
          src = readEndpoint(buf, s, e);
          break;
        case 9:
          dst = readEndpoint(buf, s, e);
          break;
        case 11:
          flowNode = text(buf, s, e);
          break;
        case 26: {
          const b = new Reader(buf, s, e);
          isReply = false;
          while (b.pos < b.end) {
            const bt = b.varint();
            if (bt === 8) isReply = b.varint() !== 0;
            else b.skip(bt & 7);
          }
          break;
        }
        case 21001:
          (egress ??= []).push(readPolicy(buf, s, e));
          break;
        case 21002:
          (ingress ??= []).push(readPolicy(buf, s, e));
          break;
        default:
          break;
      }
    } else if (wt === 0) {
      const v = r.varint();
      if (field === 2) verdict = v;
      else if (field === 16) reply = v !== 0;
      else if (field === 22) direction = v;
    } else r.skip(wt);
  }
  let flow: RawFlow | HubbleSkipReason;
  if (!srcIp || !dstIp) flow = 'no_ip';
  else if (protocol === undefined) flow = 'not_l3_l4';
  else {
    flow = orientRaw(isReply ?? reply, seconds, nanos, srcIp, dstIp, src, dst, srcPort, dstPort, protocol, verdict, direction);
    if (ingress) flow.ingressAllowedBy = ingress;
    if (egress) flow.egressAllowedBy = egress;
  }
  return { kind: 'flow', flow, uuid, seconds, nanos, nodeName: nodeName || flowNode };
}

/** Reads one GetFlowsResponse; throws RangeError on bytes that are not one. */
export function readGetFlowsResponse(bytes: Uint8Array): HubbleWireEvent {
  const buf = Buffer.isBuffer(bytes) ? bytes : Buffer.from(bytes.buffer, bytes.byteOffset, bytes.byteLength);
  return readGetFlowsResponseAt(buf, 0, buf.length);
}

/** The same, for a response that is `buf[start, end)` (as grpc-h2.ts hands them out, without a Buffer each). */
export function readGetFlowsResponseAt(buf: Buffer, start: number, end: number): HubbleWireEvent {
  const r = new Reader(buf, start, end);
  let flowAt: [number, number] | undefined;
  let lostAt: [number, number] | undefined;
  let nodeName = '';
  while (r.pos < r.end) {
    const tag = r.varint();
    const field = Math.floor(tag / 8);
    const wt = tag & 7;
    if (wt !== 2) {
      r.skip(wt);
      continue;
    }
    const s = r.bytes();
    const e = r.pos;
    if (field === 1) flowAt = [s, e];
    else if (field === 3) lostAt = [s, e];
    else if (field === 1000) nodeName = text(buf, s, e);
  }
  if (flowAt) return readFlow(buf, flowAt[0], flowAt[1], nodeName);
  if (lostAt) {
    const l = new Reader(buf, lostAt[0], lostAt[1]);
    let source = 0;
    let count = 0;
    while (l.pos < l.end) {
      const t = l.varint();
      if (t === 8) source = l.varint();
      else if (t === 16) count = l.varint();
      else l.skip(t & 7);
    }
    return { kind: 'lost', source, count, nodeName };
  }
  return { kind: 'other' };
}
