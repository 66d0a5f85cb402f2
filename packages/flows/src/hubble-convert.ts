// A Hubble flow.Flow turned into a RawFlow: the endpoints as Hubble resolved them (namespace, pod, workload, the
// k8s labels), the server's port, the verdict, the direction and the policies that allowed it.
//
// Replies (is_reply, or the deprecated reply) are turned around, so a conversation is one key whichever way its
// packets went: a reply from 10.0.0.2:443 to 10.0.0.1:51234 counts as 10.0.0.1 -> 10.0.0.2:443.
import type { Endpoint as CloudEndpoint, Policy as CloudPolicy } from '@kestrel/proto/cloud/v1';
import { TrafficDirection, Verdict, type Endpoint, type Flow, type Policy } from '@kestrel/proto/hubble/flow';
import type { Direction, RawFlow } from './raw-flow.js';

export type HubbleSkipReason = 'no_ip' | 'not_l3_l4';

const VERDICT_WORDS: Record<number, string> = {
  [Verdict.VERDICT_UNKNOWN]: 'UNKNOWN',
  [Verdict.FORWARDED]: 'FORWARDED',
  [Verdict.DROPPED]: 'DROPPED',
  [Verdict.ERROR]: 'ERROR',
  [Verdict.AUDIT]: 'AUDIT',
  [Verdict.REDIRECTED]: 'REDIRECTED',
  [Verdict.TRACED]: 'TRACED',
  [Verdict.TRANSLATED]: 'TRANSLATED',
};

/** Dropped and errored packets did not get through; everything else did (AUDIT: a policy would deny, not enforced). */
function allowedOf(verdict: Verdict): boolean {
  return verdict !== Verdict.DROPPED && verdict !== Verdict.ERROR;
}

function directionOf(d: TrafficDirection): Direction {
  return d === TrafficDirection.INGRESS ? 'ingress' : d === TrafficDirection.EGRESS ? 'egress' : '';
}

/**
 * Hubble labels are "source:key=value" (k8s:app=web, reserved:world); cloud.v1 wants "key=value" of the pod's own
 * labels, so the k8s: ones are kept without their prefix, minus those Cilium adds about the namespace and itself.
 */
function podLabels(labels: string[]): string[] {
  const out: string[] = [];
  for (const l of labels) {
    if (!l.startsWith('k8s:')) continue;
    const kv = l.slice(4);
    if (kv.startsWith('io.kubernetes.pod.namespace') || kv.startsWith('io.cilium.k8s.')) continue;
    out.push(kv);
  }
  return out;
}

/** The workload Hubble names (Deployment, StatefulSet ...), else the pod; undefined when it is not a pod. */
export function endpointFromParts(namespace: string, podName: string, labels: string[], workload: { name: string; kind: string } | undefined): CloudEndpoint | undefined {
  if (!podName || !namespace) return undefined;
  return workload && workload.name ? { ns: namespace, kind: workload.kind, name: workload.name, labels: podLabels(labels) } : { ns: namespace, kind: 'Pod', name: podName, labels: podLabels(labels) };
}

export function hubbleEndpoint(e: Endpoint | undefined): CloudEndpoint | undefined {
  return e ? endpointFromParts(e.namespace, e.podName, e.labels, e.workloads[0]) : undefined;
}

/** The raw flow of one observation; a reply is turned around to count for the conversation it answers. */
export function orientRaw(reply: boolean, seconds: number, nanos: number, srcIp: string, dstIp: string, src: CloudEndpoint | undefined, dst: CloudEndpoint | undefined, srcPort: number, dstPort: number, protocol: string, verdict: number, direction: number): RawFlow {
  const word = VERDICT_WORDS[verdict] ?? String(verdict);
  const allowed = allowedOf(verdict);
  const dir = directionOf(direction);
  return reply
    ? { seconds, nanos, srcIp: dstIp, dstIp: srcIp, src: dst, dst: src, port: srcPort, protocol, verdict: word, allowed, direction: dir }
    : { seconds, nanos, srcIp, dstIp, src, dst, port: dstPort, protocol, verdict: word, allowed, direction: dir };
}

function policies(list: Policy[]): CloudPolicy[] | undefined {
  if (list.length === 0) return undefined;
  return list.map((p) => ({ name: p.name, namespace: p.namespace, labels: p.labels, revision: p.revision, kind: p.kind }));
}

export function hubbleToRaw(flow: Flow): RawFlow | HubbleSkipReason {
  const ip = flow.IP;
  if (!ip || !ip.source || !ip.destination) return 'no_ip';
  let protocol: string;
  let srcPort = 0;
  let dstPort = 0;
  const l4 = flow.l4?.protocol;
  switch (l4?.$case) {
    case 'TCP':
    case 'UDP':
    case 'SCTP':
      protocol = l4.$case;
      srcPort = l4.value.sourcePort;
      dstPort = l4.value.destinationPort;
      break;
    case 'ICMPv4':
      protocol = 'ICMP';
      break;
    case 'ICMPv6':
      protocol = 'ICMPv6';
      break;
    case 'VRRP':
    case 'IGMP':
      protocol = l4.$case;
      break;
    default:
      return 'not_l3_l4';
  }
  const raw = orientRaw(flow.isReply ?? flow.reply, flow.time?.seconds ?? 0, flow.time?.nanos ?? 0, ip.source, ip.destination, hubbleEndpoint(flow.source), hubbleEndpoint(flow.destination), srcPort, dstPort, protocol, flow.verdict, flow.trafficDirection);
  if (flow.ingressAllowedBy.length) raw.ingressAllowedBy = policies(flow.ingressAllowedBy);
  if (flow.egressAllowedBy.length) raw.egressAllowedBy = policies(flow.egressAllowedBy);
  return raw;
}
