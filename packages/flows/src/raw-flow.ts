// One observed flow, normalised from whichever source saw it (Hubble, the VPC CNI flow log), before aggregation.
// Sources fill what they know; the window table keys and counts it.
import type { Endpoint, Policy } from '@kestrel/proto/cloud/v1';

/** As observed on this node: "ingress" into, "egress" out of a local endpoint; "" when the source cannot tell. */
export type Direction = 'ingress' | 'egress' | '';

export interface RawFlow {
  /** When the source saw it (google.protobuf.Timestamp parts, so nothing is lost to float rounding). */
  seconds: number;
  nanos: number;
  srcIp: string;
  dstIp: string;
  /** The workload behind an IP when known (from the source or the node's pods); undefined: unresolved, keyed by IP. */
  src: Endpoint | undefined;
  dst: Endpoint | undefined;
  /** Destination port (the server's port: replies are turned around by the source); 0 for ICMP and the like. */
  port: number;
  /** "TCP", "UDP", "ICMP", "SCTP", ... */
  protocol: string;
  /** The source's own verdict word (FORWARDED, DROPPED, ACCEPT, DENY, ...): part of the key. */
  verdict: string;
  allowed: boolean;
  direction: Direction;
  ingressAllowedBy?: Policy[] | undefined;
  egressAllowedBy?: Policy[] | undefined;
}

/** An endpoint's identity in the aggregation key: the workload when resolved, otherwise the IP. */
export function endpointKey(endpoint: Endpoint | undefined, ip: string): string {
  return endpoint && endpoint.name ? `${endpoint.ns}/${endpoint.kind}/${endpoint.name}` : ip;
}
