// The flow sources' settings: a fragment the agent's schema spreads in (`...flowSourceSettings`, hence
// KESTREL_AGENT_FLOWS_HUBBLE / --flows-hubble and so on), validated at start. Both sources are off unless turned on
// (the chart turns on the one the cluster's CNI has).
import { byteSize, duration, integer, z } from '@kestrel/core';

/**
 * @kestrel/flows' DEFAULT_HUBBLE_SOCKET (config.test.ts keeps them equal): importing it from there would load the
 * Hubble client into every agent, flows on or off (index.ts).
 */
export const DEFAULT_HUBBLE_ADDRESS = 'unix:///var/run/cilium/hubble.sock';

const onOff = () => z.enum(['on', 'off'], { message: 'expected on or off' });

export const flowSourceSettings = {
  /** Cilium: follow the node's Hubble Observer socket. */
  flowsHubble: onOff().prefault('off'),
  /** The node's Hubble server: unix:///var/run/cilium/hubble.sock (the chart mounts /var/run/cilium). */
  hubbleAddress: z
    .string()
    .regex(/^(unix:\/\/\/.+|[^\s/]+:\d+)$/, 'expected unix:///path/to/hubble.sock or host:port')
    .prefault(DEFAULT_HUBBLE_ADDRESS),
  /** AWS VPC CNI: tail the network policy agent's flow log. */
  flowsVpcCni: onOff().prefault('off'),
  vpcCniFlowLog: z.string().min(1).prefault('/var/log/aws-routed-eni/network-policy-agent.log'),
  /** How long flows are aggregated on the node before a window is sent. */
  flowWindow: duration().pipe(z.number().min(100, 'expected at least 100ms').max(300_000, 'expected at most 5m')).prefault('10s'),
  /**
   * Distinct conversations per window and source, at most (beyond: counted as dropped, reason table_full). With
   * flowMaxPendingWindows this bounds the memory of flows waiting during an aggregator outage: about 400 bytes per
   * conversation, so 8 x 10,000 x 400 B = 32 MB at worst with the defaults.
   */
  flowMaxConversations: integer(16, 10_000_000).prefault('10000'),
  /** Flow windows waiting for a batch, at most (beyond: the oldest is dropped and counted, reason buffer_full). */
  flowMaxPendingWindows: integer(1, 100_000).prefault('8'),
  /** Longest flow log line read (longer: skipped and counted, reason line_too_long). */
  vpcCniMaxLineSize: byteSize().pipe(z.number().min(1024, 'expected at least 1KiB').max(16 * 1024 * 1024, 'expected at most 16MiB')).prefault('64KiB'),
};

export interface FlowSourcesConfig {
  nodeName: string;
  stateDir: string;
  hubble: { address: string } | undefined;
  vpcCni: { path: string; maxLineBytes: number; startAt: 'beginning' | 'end'; pollIntervalMs: number } | undefined;
  windowMs: number;
  maxConversations: number;
}

export function flowSourcesConfigFrom(c: {
  nodeName: string;
  stateDir: string;
  startAt: 'beginning' | 'end';
  fallbackPollInterval: number;
  flowsHubble: 'on' | 'off';
  hubbleAddress: string;
  flowsVpcCni: 'on' | 'off';
  vpcCniFlowLog: string;
  vpcCniMaxLineSize: number;
  flowWindow: number;
  flowMaxConversations: number;
}): FlowSourcesConfig {
  return {
    nodeName: c.nodeName,
    stateDir: c.stateDir,
    hubble: c.flowsHubble === 'on' ? { address: c.hubbleAddress } : undefined,
    vpcCni: c.flowsVpcCni === 'on' ? { path: c.vpcCniFlowLog, maxLineBytes: c.vpcCniMaxLineSize, startAt: c.startAt, pollIntervalMs: c.fallbackPollInterval } : undefined,
    windowMs: c.flowWindow,
    maxConversations: c.flowMaxConversations,
  };
}
