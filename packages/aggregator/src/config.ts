// The aggregator's settings: environment variables KESTREL_AGGREGATOR_* (set by the chart) or flags (local runs).
import os from 'node:os';
import { boolean, byteSize, ConfigError, duration, hostPort, integer, loadConfig, logLevel, settingName, z } from '@kestrel/core';
import { investigationSettings } from './executors/config.js';
import { metricsSettings } from './metrics/config.js';
import { datadogSettings } from './datadog/config.js';
import { remediationSettings } from './remediation/settings.js';
import { crossCheckFlows, flowSettings } from './flows/config.js';
import { alsSettings, crossCheckAls } from './receivers/als/config.js';

export const aggregatorSchema = z.object({
  aggregatorId: z.string().min(1).prefault(os.hostname()),
  ingestListen: hostPort().prefault('0.0.0.0:4800'),
  ingestTlsCertFile: z.string().min(1, 'expected the path of the ingest server certificate'),
  ingestTlsKeyFile: z.string().min(1, 'expected the path of the ingest server private key'),
  ingestTlsCaFile: z.string().min(1, 'expected the path of the internal CA (it signs agent certificates with agentAuth=certificate)'),
  ingestMaxMessageSize: byteSize().prefault('16MiB'),
  /** Agents' batches inflated at once over all agents: the others wait compressed (docs/transport.md). */
  ingestMaxOpenBatches: integer(1, 1024).prefault('8'),
  /**
   * How an agent proves the node it speaks for (docs/transport.md): certificate = a client certificate of the internal
   * CA whose CN is the node name (local runs, tests); token = a projected ServiceAccount token bound to the agent's
   * pod, checked with a TokenReview (the chart's mode; needs Kubernetes access).
   */
  agentAuth: z.enum(['certificate', 'token'], { message: 'expected certificate or token' }).prefault('certificate'),
  /** agentAuth=token: the audience of the agents' projected tokens. */
  agentTokenAudience: z.string().min(1).prefault('kestrel-aggregator'),
  /** agentAuth=token: the agents' ServiceAccount, in the aggregator's namespace (kubernetesNamespace). */
  agentServiceAccount: z.string().min(1).prefault('kestrel-agent'),
  /** agentAuth=token: how long a verdict on a token is reused before it is reviewed again. */
  agentTokenCacheTtl: duration().prefault('60s'),
  cloudAddress: hostPort().prefault('grpc.platform.usekestrel.ai:443'),
  cloudServerName: z.string().optional(),
  cloudCertFile: z.string().min(1, 'expected the path of the cloud client certificate (tls.crt)'),
  cloudKeyFile: z.string().min(1, 'expected the path of the cloud client key (tls.key)'),
  cloudCaFile: z.string().min(1, 'expected the path of the cloud CA (ca.crt)'),
  cloudTokenFile: z.string().min(1, 'expected the path of the cluster token (JWT)'),
  /**
   * The runtime Secret (where renewed tokens and pushed certificates are written in a cluster), mounted read-only:
   * <cloudTokenSecretKey>, tls.crt, tls.key, ca.crt. At start, what it holds is used instead of the onboarding files
   * when valid and newer (docs/uplink.md, "Credentials across restarts"); unset: only the onboarding files.
   */
  cloudRuntimeDir: z.string().min(1).optional(),
  /** Verify the cloud against the system CA bundle as well as cloudCaFile (false: only cloudCaFile). */
  cloudUseSystemCas: boolean().prefault('true'),
  /** gRPC message compression towards the cloud (used only when the cloud accepts it). */
  cloudCompression: z.enum(['gzip', 'none'], { message: 'expected gzip or none' }).prefault('gzip'),
  /**
   * zlib level of log lines that reach the aggregator uncompressed (1 fastest, 9 smallest; docs/uplink.md,
   * "Compression"); agents compress their lines themselves (their compressionLevel), and those go on as they are.
   */
  cloudCompressionLevel: integer(1, 9).prefault('6'),
  /** Renew the token at a random point between these percentages of its lifetime (iat to exp). */
  cloudTokenRenewMinPercent: integer(1, 95).prefault('50'),
  cloudTokenRenewMaxPercent: integer(1, 95).prefault('70'),
  /** Write renewed tokens to this file (local runs; in a cluster the runtime Secret is written). */
  cloudTokenWriteFile: z.string().min(1).optional(),
  /** Write certificates renewed by the cloud over cloudCertFile, cloudKeyFile and cloudCaFile (local runs). */
  cloudCertWriteFiles: boolean().prefault('false'),
  /** In a cluster: the Secret (and key) holding the runtime token, and the Secret holding tls.crt, tls.key, ca.crt. */
  cloudTokenSecret: z.string().min(1).prefault('kestrel-aggregator-cloud-token'),
  cloudTokenSecretKey: z.string().min(1).prefault('token'),
  cloudCertSecret: z.string().min(1).prefault('kestrel-aggregator-cloud-tls'),
  /** The namespace of those Secrets (and of the agents with agentAuth=token); defaults to POD_NAMESPACE or the service account's namespace. */
  kubernetesNamespace: z.string().min(1).optional(),
  logsMaxEntriesPerMessage: integer(1, 100_000).prefault('1000'),
  logsMaxMessageSize: byteSize()
    .pipe(z.number().max(8 * 1024 * 1024, 'expected at most 8MiB (the cloud accepts messages up to 10 MiB)'))
    .prefault('4MiB'),
  /** How long PodLogs of one container may wait for more lines before their message is sealed. */
  logsBatchLinger: duration().prefault('200ms'),
  uplinkQueueMessages: integer(1, 100_000).prefault('256'),
  uplinkQueueBytes: byteSize().prefault('32MiB'),
  /** PodLogs stay in the replay window until written this long ago and followed by a message from the cloud. */
  replayWindow: duration().prefault('5s'),
  replayWindowBytes: byteSize().prefault('64MiB'),
  /** A cloud stream with neither data nor heartbeat for this long is dead (the cloud heartbeats about every 30 s). */
  streamIdleTimeout: duration().prefault('90s'),
  /** How long a stream being recycled (new token or certificate) or stopped may take to drain. */
  streamDrainTimeout: duration().prefault('10s'),
  reconnectInitialBackoff: duration().prefault('500ms'),
  reconnectMaxBackoff: duration().prefault('30s'),
  operatorStatsInterval: duration().prefault('60s'),
  /** A kubeconfig for local runs; unset: the in-cluster service account when running in a cluster. */
  kubeconfig: z.string().min(1).optional(),
  /** Cluster-wide watches (leader only): auto = when Kubernetes access exists (in a cluster or a kubeconfig). */
  clusterWatch: z.enum(['auto', 'on', 'off'], { message: 'expected auto, on or off' }).prefault('auto'),
  leaseName: z.string().min(1).prefault('kestrel-aggregator-leader'),
  leaseDuration: duration().prefault('15s'),
  leaseRenewDeadline: duration().prefault('10s'),
  leaseRetryPeriod: duration().prefault('2s'),
  clusterListPageSize: integer(10, 10_000).prefault('500'),
  inventoryResyncInterval: duration().prefault('30m'),
  podPendingTooLong: duration().prefault('5m'),
  clusterQueueMessages: integer(100, 1_000_000).prefault('50000'),
  ...investigationSettings,
  ...metricsSettings,
  ...datadogSettings,
  ...remediationSettings,
  ...flowSettings,
  ...alsSettings,
  dedupeMaxFiles: integer(1000, 10_000_000).prefault('200000'),
  httpListen: hostPort().prefault('0.0.0.0:9103'),
  adminSocket: z.string().min(1).prefault('/tmp/kestrel-aggregator.sock'),
  logLevel: logLevel().prefault('info'),
});

export const PREFIX = 'KESTREL_AGGREGATOR_';

/** Checks that need two settings at once; returns [key, problem] or undefined. */
export function crossCheck(config: z.infer<typeof aggregatorSchema>): [string, string] | undefined {
  if (config.cloudTokenRenewMinPercent > config.cloudTokenRenewMaxPercent) {
    return ['cloudTokenRenewMinPercent', `must not exceed cloudTokenRenewMaxPercent (${config.cloudTokenRenewMaxPercent})`];
  }
  if (!(config.leaseRenewDeadline < config.leaseDuration)) return ['leaseRenewDeadline', `must be shorter than leaseDuration (${config.leaseDuration} ms)`];
  if (!(config.leaseRetryPeriod < config.leaseRenewDeadline)) return ['leaseRetryPeriod', `must be shorter than leaseRenewDeadline (${config.leaseRenewDeadline} ms)`];
  const flows = crossCheckFlows(config) ?? crossCheckAls(config);
  if (flows) return flows;
  return undefined;
}

export type AggregatorConfig = z.infer<typeof aggregatorSchema>;

export function loadAggregatorConfig(argv: readonly string[], env: NodeJS.ProcessEnv = process.env): AggregatorConfig {
  const config = loadConfig(aggregatorSchema, { envPrefix: PREFIX, argv, env });
  const problem = crossCheck(config);
  if (problem) throw new ConfigError(settingName(PREFIX, problem[0]), problem[1]);
  return config;
}
