// The aggregator's settings: environment variables KESTREL_AGGREGATOR_* (set by the chart) or flags (local runs).
import os from 'node:os';
import { byteSize, duration, hostPort, integer, loadConfig, logLevel, z } from '@kestrel/core';

export const aggregatorSchema = z.object({
  aggregatorId: z.string().min(1).prefault(os.hostname()),
  ingestListen: hostPort().prefault('0.0.0.0:4800'),
  ingestTlsCertFile: z.string().min(1, 'expected the path of the ingest server certificate'),
  ingestTlsKeyFile: z.string().min(1, 'expected the path of the ingest server private key'),
  ingestTlsCaFile: z.string().min(1, 'expected the path of the internal CA that signs agent certificates'),
  ingestMaxMessageSize: byteSize().prefault('16MiB'),
  cloudAddress: hostPort().prefault('grpc.platform.usekestrel.ai:443'),
  cloudServerName: z.string().optional(),
  cloudCertFile: z.string().min(1, 'expected the path of the cloud client certificate (tls.crt)'),
  cloudKeyFile: z.string().min(1, 'expected the path of the cloud client key (tls.key)'),
  cloudCaFile: z.string().min(1, 'expected the path of the cloud CA (ca.crt)'),
  cloudTokenFile: z.string().min(1, 'expected the path of the cluster token (JWT)'),
  logsMaxEntriesPerMessage: integer(1, 100_000).prefault('1000'),
  logsMaxMessageSize: byteSize().prefault('4MiB'),
  uplinkQueueMessages: integer(1, 100_000).prefault('256'),
  reconnectMaxBackoff: duration().prefault('30s'),
  dedupeMaxFiles: integer(1000, 10_000_000).prefault('200000'),
  httpListen: hostPort().prefault('0.0.0.0:9103'),
  adminSocket: z.string().min(1).prefault('/tmp/kestrel-aggregator.sock'),
  logLevel: logLevel().prefault('info'),
});

export const PREFIX = 'KESTREL_AGGREGATOR_';

export type AggregatorConfig = z.infer<typeof aggregatorSchema>;

export const loadAggregatorConfig = (argv: readonly string[], env: NodeJS.ProcessEnv = process.env): AggregatorConfig =>
  loadConfig(aggregatorSchema, { envPrefix: PREFIX, argv, env });
