// The aggregator's flow settings (KESTREL_AGGREGATOR_FLOWS_* / --flows-*): a fragment merged into the aggregator's
// schema, and the typed config the flow merger takes. See docs/flows.md, "Aggregator".
import { duration, hostPort, integer, z } from '@kestrel/core';

/**
 * Where Hubble flows come from: `agents` = each agent reads its node's Hubble socket (the aggregator merges their
 * windows); `relay` = the aggregator reads Hubble Relay, and Hubble windows from agents are ignored (acknowledged,
 * counted, never merged), so the two can never count the same flow twice. VPC CNI windows are merged in both modes.
 */
export type HubbleMode = 'agents' | 'relay';

/**
 * Where a Hubble conversation between two pods is counted: `either` = max(egress, ingress) of what this replica got
 * (exact within one replica; with several replicas, the two ends of a conversation may reach different replicas and
 * be counted by each); `destination` = only where it entered the destination pod (allowed egress observations to a
 * known pod are left to the destination node's agent), exact whatever the replicas, as long as every node with pods
 * runs Cilium and the agent. See docs/flows.md, "Several replicas".
 */
export type HubbleCountAt = 'either' | 'destination';

export interface FlowsConfig {
  hubbleMode: HubbleMode;
  hubbleCountAt: HubbleCountAt;
  /** Merged flows are counted per bucket of this length (by the window start the agents report). */
  bucketMs: number;
  /**
   * A bucket is sent this long after it ends: time for the windows of every node (both ends of a conversation) to
   * arrive. Windows that arrive later go into a new bucket (counted as late).
   */
  graceMs: number;
  /** Conversations held over all open buckets; at the bound the oldest bucket is sent early, then agents wait. */
  maxConversations: number;
  /** Windows remembered (node, source, start, end) to drop an agent's resend of a window already merged. */
  maxRememberedWindows: number;
  /** Pods kept in the IP index (pod IP → workload); beyond it, new pods are not indexed (counted). */
  maxIndexedPods: number;
  relay: RelayConfig;
}

export interface RelayConfig {
  /** host:port of Hubble Relay (relay mode only). */
  address: string;
  /** TLS towards Relay: files of the CA, and of a client certificate when Relay requires mTLS; all unset: plaintext. */
  caFile: string | undefined;
  certFile: string | undefined;
  keyFile: string | undefined;
  /** The name Relay's certificate is checked against (default: the host of `address`). */
  serverName: string | undefined;
}

export const flowSettings = {
  flowsHubbleMode: z.enum(['agents', 'relay'], { message: 'expected agents or relay' }).prefault('agents'),
  flowsHubbleCountAt: z.enum(['either', 'destination'], { message: 'expected either or destination' }).prefault('either'),
  flowsBucket: duration().prefault('10s'),
  flowsGrace: duration().prefault('10s'),
  flowsMaxConversations: integer(100, 10_000_000).prefault('100000'),
  flowsMaxRememberedWindows: integer(100, 10_000_000).prefault('100000'),
  flowsMaxIndexedPods: integer(100, 10_000_000).prefault('200000'),
  flowsRelayAddress: hostPort().prefault('hubble-relay.kube-system.svc:443'),
  flowsRelayCaFile: z.string().min(1).optional(),
  flowsRelayCertFile: z.string().min(1).optional(),
  flowsRelayKeyFile: z.string().min(1).optional(),
  flowsRelayServerName: z.string().min(1).optional(),
};

// Optional settings stay optional (a mapped type over the fragment would make them required).
const schema = z.object(flowSettings);
type Settings = z.infer<typeof schema>;

export function flowsConfigFrom(s: Settings): FlowsConfig {
  return {
    hubbleMode: s.flowsHubbleMode,
    hubbleCountAt: s.flowsHubbleCountAt,
    bucketMs: s.flowsBucket,
    graceMs: s.flowsGrace,
    maxConversations: s.flowsMaxConversations,
    maxRememberedWindows: s.flowsMaxRememberedWindows,
    maxIndexedPods: s.flowsMaxIndexedPods,
    relay: { address: s.flowsRelayAddress, caFile: s.flowsRelayCaFile, certFile: s.flowsRelayCertFile, keyFile: s.flowsRelayKeyFile, serverName: s.flowsRelayServerName },
  };
}

/** Checks that need two flow settings at once; returns [key, problem] or undefined. */
export function crossCheckFlows(s: Settings): [string, string] | undefined {
  if ((s.flowsRelayCertFile === undefined) !== (s.flowsRelayKeyFile === undefined)) return ['flowsRelayCertFile', 'set both flowsRelayCertFile and flowsRelayKeyFile, or neither'];
  if (s.flowsRelayCertFile && !s.flowsRelayCaFile) return ['flowsRelayCaFile', 'a client certificate for Relay needs the CA that signs Relay\'s certificate'];
  return undefined;
}
