// Aggregates raw flows of one source into windows: one entry per (source endpoint, destination endpoint, destination
// port, protocol, verdict, direction) with a count and first/last seen, so what leaves the node grows with distinct
// conversations, not packets. The table is bounded: a raw flow that would need a new entry when it is full is not
// kept but counted as dropped (agent_dropped, reason table_full), never silently.
//
// An entry keeps the IPs of the first raw flow that created it: with workloads resolved, several pods of one workload
// share an entry, and cloud.v1 Flow has room for one IP per side.
import type { Endpoint, Flow, Policy } from '@kestrel/proto/cloud/v1';
import type { FlowSource, FlowWindow } from '@kestrel/proto/ingest/v1';
import { endpointKey, type RawFlow } from './raw-flow.js';

interface Entry {
  flow: RawFlow;
  count: number;
  firstSeconds: number;
  firstNanos: number;
  lastSeconds: number;
  lastNanos: number;
  ingressAllowedBy: Policy[] | undefined;
  egressAllowedBy: Policy[] | undefined;
}

/** The empty cloud.v1 Endpoint of an IP the node could not resolve; one shared object (encoders only read it). */
const UNRESOLVED: Endpoint = Object.freeze({ ns: '', kind: '', name: '', labels: Object.freeze([]) as unknown as string[] });

export type WindowDropReason = 'table_full' | 'unparseable' | 'line_too_long' | 'buffer_full';

export interface WindowTableOptions {
  source: FlowSource;
  /** Distinct conversations held per window at most. */
  maxEntries: number;
  now?: () => number;
}

// The key is looked up in three steps: source endpoint -> destination endpoint -> (port, protocol, verdict,
// direction) packed into one number, so no long key string is built and hashed per flow. An endpoint's key string is
// made once per endpoint object and kept on it (a non-enumerable symbol property: invisible to encoders and equality):
// the agent's endpoints come from caches (pods by IP, Hubble endpoints by their bytes), so a lookup hashes nothing
// new. This is what keeps the table far above 200,000 raw flows/s on one core (bench/src/flows.bench.ts).
const KEY = Symbol('kestrel.flows.endpointKey');

function sideKey(endpoint: RawFlow['src'], ip: string): string {
  if (!endpoint || !endpoint.name) return ip;
  const cached = (endpoint as { [KEY]?: string })[KEY];
  if (cached !== undefined) return cached;
  const key = endpoint.ns + '/' + endpoint.kind + '/' + endpoint.name;
  Object.defineProperty(endpoint, KEY, { value: key });
  return key;
}

/** Small dictionaries of the words that go into the packed part of the key; grown as new words appear. */
class Words {
  private readonly ids = new Map<string, number>();
  id(word: string): number {
    let id = this.ids.get(word);
    if (id === undefined) {
      id = this.ids.size;
      this.ids.set(word, id);
    }
    return id;
  }
}
const protocols = new Words();
const verdicts = new Words();
const DIRECTIONS: Record<string, number> = { '': 0, ingress: 1, egress: 2 };

export class FlowWindowTable {
  private entries = new Map<string, Map<string, Map<number, Entry>>>();
  private entryCount = 0;
  private all: Entry[] = [];
  private windowStartMs: number;
  private rawFlows = 0;
  private sourceLost = 0;
  private readonly dropped = new Map<string, number>();
  private droppedTotal = 0;
  private readonly now: () => number;

  constructor(private readonly options: WindowTableOptions) {
    if (options.maxEntries < 1) throw new RangeError('maxEntries must be at least 1');
    this.now = options.now ?? Date.now;
    this.windowStartMs = this.now();
  }

  /** Distinct conversations in the open window. */
  get size(): number {
    return this.entryCount;
  }

  /** Raw flows counted into the open window so far. */
  get counted(): number {
    return this.rawFlows;
  }

  /** Counts one raw flow; false when it was dropped because the table is full (already counted as such). */
  add(flow: RawFlow): boolean {
    const srcKey = sideKey(flow.src, flow.srcIp);
    const dstKey = sideKey(flow.dst, flow.dstIp);
    // port: 16 bits; then direction (2 bits), protocol and verdict ids: exact integers far below 2^53.
    const packed = flow.port + 65536 * ((DIRECTIONS[flow.direction] ?? 3) + 4 * (protocols.id(flow.protocol) + 4096 * verdicts.id(flow.verdict)));
    let bySrc = this.entries.get(srcKey);
    let byDst = bySrc?.get(dstKey);
    const entry = byDst?.get(packed);
    if (entry) {
      entry.count++;
      if (flow.seconds < entry.firstSeconds || (flow.seconds === entry.firstSeconds && flow.nanos < entry.firstNanos)) {
        entry.firstSeconds = flow.seconds;
        entry.firstNanos = flow.nanos;
      }
      if (flow.seconds > entry.lastSeconds || (flow.seconds === entry.lastSeconds && flow.nanos > entry.lastNanos)) {
        entry.lastSeconds = flow.seconds;
        entry.lastNanos = flow.nanos;
      }
      if (flow.ingressAllowedBy?.length) entry.ingressAllowedBy = mergePolicies(entry.ingressAllowedBy, flow.ingressAllowedBy);
      if (flow.egressAllowedBy?.length) entry.egressAllowedBy = mergePolicies(entry.egressAllowedBy, flow.egressAllowedBy);
      this.rawFlows++;
      return true;
    }
    if (this.entryCount >= this.options.maxEntries) {
      this.drop('table_full', 1);
      return false;
    }
    if (!bySrc) this.entries.set(srcKey, (bySrc = new Map()));
    if (!byDst) bySrc.set(dstKey, (byDst = new Map()));
    const created: Entry = {
      flow,
      count: 1,
      firstSeconds: flow.seconds,
      firstNanos: flow.nanos,
      lastSeconds: flow.seconds,
      lastNanos: flow.nanos,
      ingressAllowedBy: flow.ingressAllowedBy?.length ? [...flow.ingressAllowedBy] : undefined,
      egressAllowedBy: flow.egressAllowedBy?.length ? [...flow.egressAllowedBy] : undefined,
    };
    byDst.set(packed, created);
    this.all.push(created);
    this.entryCount++;
    this.rawFlows++;
    return true;
  }

  /** Events the source reported lost (Hubble lost_events), for the open window. */
  addSourceLost(count: number): void {
    this.sourceLost += count;
  }

  /** Raw flows the agent could not count (bad line, buffer full ...), for the open window, by reason. */
  drop(reason: WindowDropReason, count: number): void {
    this.dropped.set(reason, (this.dropped.get(reason) ?? 0) + count);
    this.droppedTotal += count;
  }

  /** Drops by reason in the open window (the caller's metrics already have them). */
  droppedByReason(): Record<string, number> {
    return Object.fromEntries(this.dropped);
  }

  /** True when the open window has nothing to say (no flows, losses or drops). */
  get empty(): boolean {
    return this.entryCount === 0 && this.sourceLost === 0 && this.droppedTotal === 0;
  }

  /** Closes the open window, returns it and starts the next one. */
  drain(): FlowWindow {
    const endMs = Math.max(this.now(), this.windowStartMs);
    const flows: Flow[] = [];
    for (const e of this.all) {
      const f = e.flow;
      flows.push({
        srcIp: f.srcIp,
        dstIp: f.dstIp,
        src: f.src ?? UNRESOLVED,
        dst: f.dst ?? UNRESOLVED,
        direction: f.direction,
        port: f.port,
        protocol: f.protocol,
        allowed: f.allowed,
        count: e.count,
        firstSeen: { seconds: e.firstSeconds, nanos: e.firstNanos },
        lastSeen: { seconds: e.lastSeconds, nanos: e.lastNanos },
        ingressAllowedBy: e.ingressAllowedBy ?? [],
        egressAllowedBy: e.egressAllowedBy ?? [],
      });
    }
    const window: FlowWindow = {
      source: this.options.source,
      windowStart: timestampOfMs(this.windowStartMs),
      windowEnd: timestampOfMs(endMs),
      flows,
      sourceLost: this.sourceLost,
      agentDropped: this.droppedTotal,
      rawFlows: this.rawFlows,
    };
    this.entries = new Map();
    this.all = [];
    this.entryCount = 0;
    this.windowStartMs = endMs;
    this.rawFlows = 0;
    this.sourceLost = 0;
    this.dropped.clear();
    this.droppedTotal = 0;
    return window;
  }
}

function timestampOfMs(ms: number): { seconds: number; nanos: number } {
  return { seconds: Math.floor(ms / 1000), nanos: (ms % 1000) * 1_000_000 };
}

/** Policies are few per flow; the same policy (kind/namespace/name) is listed once. */
function mergePolicies(into: Policy[] | undefined, more: Policy[]): Policy[] {
  const out = into ?? [];
  for (const p of more) if (!out.some((q) => q.name === p.name && q.namespace === p.namespace && q.kind === p.kind)) out.push(p);
  return out;
}
