// One conversation in one bucket: (source, destination, destination port, protocol, verdict), where an endpoint is
// its workload when known and its IP otherwise — the agents' aggregation key without the direction.
//
// The direction is where a flow was observed, not part of the conversation: a pod-to-pod connection is observed
// leaving the source pod (egress, on the source's node) and entering the destination pod (ingress, on the
// destination's node), and both observations count the same packets. So a conversation keeps the egress and ingress
// counts apart and reports max(egress, ingress) — the whole conversation when either end saw all of it — instead of
// their sum. Observations without a direction add up on their own. See docs/flows.md, "Both ends".
import type { Endpoint, Flow, Policy } from '@kestrel/proto/cloud/v1';
import { timestampMs, timestampOf } from '@kestrel/core';
import { isEmptyEndpoint } from './workload.js';

/** Policies kept per direction of one conversation, at most (a flow names one or a few). */
const MAX_POLICIES = 16;

export function conversationKey(f: Flow): string {
  return `${endpointKey(f.src, f.srcIp)}>${endpointKey(f.dst, f.dstIp)}|${f.port}|${f.protocol}|${f.allowed ? 'allowed' : 'denied'}`;
}

function endpointKey(e: Endpoint | undefined, ip: string): string {
  return isEmptyEndpoint(e) ? `ip:${ip}` : `${e!.ns}/${e!.kind}/${e!.name}`;
}

export class Conversation {
  egress = 0;
  ingress = 0;
  /** Observations whose direction the source did not say. */
  other = 0;
  private firstMs = Number.POSITIVE_INFINITY;
  private lastMs = 0;
  private readonly ingressPolicies = new Map<string, Policy>();
  private readonly egressPolicies = new Map<string, Policy>();
  private readonly template: Flow;

  constructor(first: Flow) {
    // The first observation's IPs stand for the conversation (a workload has many pods; the agents do the same).
    this.template = { ...first, ingressAllowedBy: [], egressAllowedBy: [] };
  }

  add(f: Flow): void {
    const n = Math.max(0, f.count);
    const direction = f.direction.toLowerCase();
    if (direction === 'egress') this.egress += n;
    else if (direction === 'ingress') this.ingress += n;
    else this.other += n;
    const first = f.firstSeen ? timestampMs(f.firstSeen) : 0;
    const last = f.lastSeen ? timestampMs(f.lastSeen) : first;
    if (first > 0 && first < this.firstMs) this.firstMs = first;
    if (last > this.lastMs) this.lastMs = last;
    // Labels: the first observation that knew them (the node that hosts the pod knows them best).
    if (this.template.src && f.src && this.template.src.labels.length === 0 && f.src.labels.length > 0) this.template.src = { ...this.template.src, labels: f.src.labels };
    if (this.template.dst && f.dst && this.template.dst.labels.length === 0 && f.dst.labels.length > 0) this.template.dst = { ...this.template.dst, labels: f.dst.labels };
    keep(this.ingressPolicies, f.ingressAllowedBy);
    keep(this.egressPolicies, f.egressAllowedBy);
  }

  get seenOnBothEnds(): boolean {
    return this.egress > 0 && this.ingress > 0;
  }

  get count(): number {
    return Math.max(this.egress, this.ingress) + this.other;
  }

  toFlow(): Flow {
    // Seen entering the destination: reported as ingress (the end whose policy decided); else as observed.
    const direction = this.ingress > 0 ? 'ingress' : this.egress > 0 ? 'egress' : this.template.direction;
    return {
      ...this.template,
      direction,
      count: this.count,
      firstSeen: Number.isFinite(this.firstMs) ? timestampOf(this.firstMs) : this.template.firstSeen,
      lastSeen: this.lastMs > 0 ? timestampOf(this.lastMs) : this.template.lastSeen,
      ingressAllowedBy: [...this.ingressPolicies.values()],
      egressAllowedBy: [...this.egressPolicies.values()],
    };
  }
}

function keep(into: Map<string, Policy>, policies: Policy[]): void {
  for (const p of policies) {
    if (into.size >= MAX_POLICIES) return;
    const key = `${p.kind}/${p.namespace}/${p.name}`;
    if (!into.has(key)) into.set(key, p);
  }
}
