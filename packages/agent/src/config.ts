// The agent's settings: environment variables KESTREL_AGENT_* (set by the chart) or flags (local runs).
import os from 'node:os';
import { boolean, byteSize, duration, hostPort, integer, loadConfig, logLevel, z } from '@kestrel/core';

export const agentSchema = z.object({
  nodeName: z.string().min(1, 'expected the name of this node (the chart sets it from spec.nodeName)').prefault(os.hostname()),
  logRoot: z.string().min(1).prefault('/var/log/pods'),
  stateDir: z.string().min(1).prefault('/var/lib/kestrel-agent'),
  startAt: z.enum(['beginning', 'end'], { message: 'expected beginning or end' }).prefault('beginning'),
  scanInterval: duration().prefault('1s'),
  pollInterval: duration().prefault('250ms'),
  readBufferSize: byteSize().prefault('256KiB'),
  maxMessageSize: byteSize().prefault('256KiB'),
  aggregatorAddress: hostPort(),
  aggregatorServerName: z.string().optional(),
  tlsCertFile: z.string().min(1, 'expected the path of the agent certificate'),
  tlsKeyFile: z.string().min(1, 'expected the path of the agent private key'),
  tlsCaFile: z.string().min(1, 'expected the path of the internal CA certificate'),
  batchMaxLines: integer(1, 100_000).prefault('2000'),
  batchMaxSize: byteSize().prefault('1MiB'),
  flushInterval: duration().prefault('200ms'),
  maxInFlightBatches: integer(1, 1024).prefault('16'),
  compression: boolean().prefault('true'),
  httpListen: hostPort().prefault('0.0.0.0:9102'),
  adminSocket: z.string().min(1).prefault('/tmp/kestrel-agent.sock'),
  logLevel: logLevel().prefault('info'),
});

export const PREFIX = 'KESTREL_AGENT_';

export type AgentConfig = z.infer<typeof agentSchema>;

export const loadAgentConfig = (argv: readonly string[], env: NodeJS.ProcessEnv = process.env): AgentConfig =>
  loadConfig(agentSchema, { envPrefix: PREFIX, argv, env });
