#!/usr/bin/env node
// kestrel-aggregator: the cluster-level Deployment. `kestrel-aggregator` runs it; `kestrel-aggregator debug
// <view>` asks a running one over its admin socket. The whole process graph is built here, top to bottom.
import path from 'node:path';
import {
  ConfigError,
  createLogger,
  loadTlsSettings,
  settingName,
  createRegistry,
  exitOnConfigError,
  runDebugCli,
  shutdownSignal,
  startAdminServer,
  startHttpServer,
  TlsFileError,
  tuneGarbageCollection,
  type Logger,
  type TlsMaterial,
} from '@kestrel/core';
import { renderAgents, renderStatus, statusView } from './admin/views.js';
import { PREFIX, loadAggregatorConfig } from './config.js';
import { IngestEvents } from './ingest/events.js';
import { CertificateIdentityCheck } from './ingest/certificate-identity.js';
import type { AgentIdentityCheck } from './ingest/identity.js';
import { IngestService } from './ingest/service.js';
import { kubeIdentityApi, TokenIdentityCheck } from './ingest/token-identity.js';
import { IngestTransport } from './ingest/transport.js';
import { ReplayFilter } from './pipeline/replay-filter.js';
import { certificateFilesWriter, certificateSecretWriter, tokenFileWriter, tokenSecretWriter, type CertificateWriter, type TokenWriter } from './uplink/credential-writers.js';
import { CloudCertificateFiles } from './uplink/cloud-certificate-files.js';
import { Uplink } from './uplink/index.js';
import { logCredentialChoice, runtimeCertificatePaths } from './uplink/runtime-credentials.js';
import { kubernetesSecretPatcher, logNoSecrets, podNamespace, runningInCluster } from './uplink/kube-secret.js';
import { ClusterRunner, loadKubeConfig } from './cluster/run.js';
import { Executors, executorsConfigFrom, isExecutorRequest } from './executors/index.js';
import { renderCluster } from './admin/cluster-view.js';
import { QueryDispatcher } from './queries/dispatch.js';
import { Metrics } from './metrics/index.js';
import { metricsConfigFrom } from './metrics/config.js';
import { renderMetrics } from './metrics/view.js';
import { Datadog, renderDatadog } from './datadog/index.js';
import { Remediation, remediationConfigFrom, renderRemediation } from './remediation/index.js';
import { Flows } from './flows/index.js';
import { flowsConfigFrom } from './flows/config.js';
import { renderFlows } from './flows/view.js';
import { alsConfigFrom } from './receivers/als/config.js';

function splitHostPort(address: string): { host: string; port: number } {
  const i = address.lastIndexOf(':');
  return { host: address.slice(0, i).replace(/^\[|\]$/g, ''), port: Number(address.slice(i + 1)) };
}

interface WatchedTls {
  on(event: 'change', listener: (m: TlsMaterial, choice?: { source: string; reason: string }) => void): unknown;
  on(event: 'error', listener: (err: Error) => void): unknown;
}

function watchTls<T extends WatchedTls & { watch(): T }>(what: string, tls: T, logger: Logger): T {
  tls.on('change', (m, choice) => logger.info(`${what} TLS material reloaded`, { subject: m.subject, notAfter: m.notAfter, ...(choice ? { source: choice.source, reason: choice.reason } : {}) }));
  tls.on('error', (err) => logger.warn(`${what} TLS files changed but cannot be used; keeping the previous ones`, { error: err.message }));
  return tls.watch();
}

const setting = (key: string) => settingName(PREFIX, key);

/** At shutdown, agent connections get this long to close after GOAWAY (agents move to another replica), then are cut. */
const INGEST_SHUTDOWN_GRACE_MS = 5000;

async function runAggregator(argv: readonly string[]): Promise<void> {
  // A bounded old generation: the aggregator frees its large buffers itself (packages/core/src/gc-tuning.ts).
  tuneGarbageCollection(process.env, { heapGrowingPercent: 20 });
  const config = await exitOnConfigError(() => loadAggregatorConfig(argv));
  // Agent identity (docs/transport.md): tokens are checked with the API server, in the aggregator's namespace.
  const agentNamespace = podNamespace(config.kubernetesNamespace);
  if (config.agentAuth === 'token' && !config.kubeconfig && !runningInCluster()) {
    process.stderr.write(`invalid setting ${setting('agentAuth')}: token needs Kubernetes access to review agents' tokens (run in a cluster or set ${setting('kubeconfig')})\n`);
    process.exit(2);
  }
  if (config.agentAuth === 'token' && !agentNamespace) {
    process.stderr.write(`invalid setting ${setting('kubernetesNamespace')}: ${setting('agentAuth')}=token needs the namespace of the agents' ServiceAccount (set it, or POD_NAMESPACE)\n`);
    process.exit(2);
  }
  const logger = createLogger('kestrel-aggregator', config.logLevel);
  const registry = createRegistry('kestrel-aggregator');
  const signal = shutdownSignal();

  const { ingestTls, cloudTls } = await exitOnConfigError(() => {
    const ingestTls = loadTlsSettings(
      { certFile: config.ingestTlsCertFile, keyFile: config.ingestTlsKeyFile, caFile: config.ingestTlsCaFile },
      { cert: setting('ingestTlsCertFile'), key: setting('ingestTlsKeyFile'), ca: setting('ingestTlsCaFile') },
    );
    // The onboarding files, or the runtime Secret's when newer and valid (uplink/runtime-credentials.ts); both
    // followed while running (uplink/cloud-certificate-files.ts).
    let cloudTls: CloudCertificateFiles;
    try {
      cloudTls = new CloudCertificateFiles(
        { certFile: config.cloudCertFile, keyFile: config.cloudKeyFile, caFile: config.cloudCaFile },
        config.cloudRuntimeDir ? runtimeCertificatePaths(config.cloudRuntimeDir) : undefined,
      );
    } catch (err) {
      if (err instanceof TlsFileError) throw new ConfigError(setting({ cert: 'cloudCertFile', key: 'cloudKeyFile', ca: 'cloudCaFile' }[err.file]), err.message);
      throw err;
    }
    const chosen = cloudTls.chosen;
    logCredentialChoice(logger, 'certificate', chosen, { subject: chosen.material.subject, notAfter: chosen.material.notAfter.toISOString(), fingerprint256: chosen.material.fingerprint256 });
    return { ingestTls: watchTls('ingest', ingestTls, logger), cloudTls: watchTls('cloud', cloudTls, logger) };
  });

  // Where renewed credentials are written back: files when configured (local runs), Secrets in a cluster.
  const tokenWriters: TokenWriter[] = [];
  const certificateWriters: CertificateWriter[] = [];
  if (config.cloudTokenWriteFile) tokenWriters.push(tokenFileWriter(config.cloudTokenWriteFile));
  if (config.cloudCertWriteFiles) certificateWriters.push(certificateFilesWriter({ certFile: config.cloudCertFile, keyFile: config.cloudKeyFile, caFile: config.cloudCaFile }));
  if (runningInCluster()) {
    const namespace = podNamespace(config.kubernetesNamespace);
    if (!namespace) {
      logger.error('running in a cluster but the namespace is unknown: renewed credentials are not written to Secrets', { setting: setting('kubernetesNamespace') });
    } else {
      const patcher = await kubernetesSecretPatcher(namespace);
      tokenWriters.push(tokenSecretWriter(patcher, config.cloudTokenSecret, config.cloudTokenSecretKey));
      certificateWriters.push(certificateSecretWriter(patcher, config.cloudCertSecret));
    }
  } else {
    logNoSecrets(logger, [...tokenWriters, ...certificateWriters].map((w) => w.target));
  }

  const uplink = await exitOnConfigError(() => {
    try {
      return new Uplink(
        {
          address: config.cloudAddress,
          serverName: config.cloudServerName,
          compression: config.cloudCompression === 'gzip',
          compressionLevel: config.cloudCompressionLevel,
          useSystemCas: config.cloudUseSystemCas,
          tokenFile: config.cloudTokenFile,
          runtimeTokenFile: config.cloudRuntimeDir ? path.join(config.cloudRuntimeDir, config.cloudTokenSecretKey) : undefined,
          tokenRenewMinFraction: config.cloudTokenRenewMinPercent / 100,
          tokenRenewMaxFraction: config.cloudTokenRenewMaxPercent / 100,
          logs: { maxEntries: config.logsMaxEntriesPerMessage, maxBytes: config.logsMaxMessageSize, lingerMs: config.logsBatchLinger },
          stream: {
            queueMessages: config.uplinkQueueMessages,
            queueBytes: config.uplinkQueueBytes,
            replayWindowMs: config.replayWindow,
            replayWindowBytes: config.replayWindowBytes,
            idleTimeoutMs: config.streamIdleTimeout,
            drainTimeoutMs: config.streamDrainTimeout,
            initialBackoffMs: config.reconnectInitialBackoff,
            maxBackoffMs: config.reconnectMaxBackoff,
          },
          operatorStatsIntervalMs: config.operatorStatsInterval,
        },
        { tls: cloudTls, registry, logger, tokenWriters, certificateWriters },
      );
    } catch (err) {
      throw new ConfigError(setting('cloudTokenFile'), err instanceof Error ? err.message : String(err));
    }
  });

  // Kubernetes access: the service account in a cluster, a kubeconfig for local runs, none otherwise (then the
  // cluster watch is off and investigation requests are answered as unsupported).
  const inCluster = runningInCluster();
  const kubeConfig = config.kubeconfig || inCluster ? loadKubeConfig(config.kubeconfig) : undefined;
  if (config.clusterWatch === 'on' && !kubeConfig) {
    process.stderr.write(`invalid setting ${setting('clusterWatch')}: on needs Kubernetes access (run in a cluster or set ${setting('kubeconfig')})\n`);
    process.exit(2);
  }
  const stopping = new AbortController();
  // DatadogQueryRequest (Datadog, Argo CD, Rollouts, Flux, Karpenter): always answered; families register below
  // when they are configured, the others are answered as not available (queries/dispatch.ts).
  const queries = new QueryDispatcher();
  uplink.requests.handlers.push(queries);
  // Datadog (datadog/README.md): query types 1-9 and the monitor alert poller, when datadogEnabled.
  const datadog = config.datadogEnabled ? await exitOnConfigError(() => new Datadog(config, { registry, logger, kubeConfig }, setting)) : undefined;
  if (datadog) queries.register(datadog.family);
  const executors = kubeConfig ? await Executors.start(executorsConfigFrom(config), { kubeConfig, registry, logger }) : undefined;
  if (executors) {
    uplink.requests.handlers.push({
      handles: (m) => isExecutorRequest(m),
      handle: (m) =>
        executors.handle(m as Parameters<Executors['handle']>[0], {
          // OperatorRestartRequest: answered first, then a graceful stop of the whole process.
          drain: async () => {
            stopping.abort(new Error('restart requested by Kestrel Cloud'));
          },
          exit: (code) => {
            process.exitCode = code;
          },
        }),
    });
  }
  // OTLP metrics receiver and store (metrics/README.md): on when otlpListen is set; MetricsQueryRequest is answered
  // from this replica's store (docs/metrics.md, "Several replicas").
  const metricsConfig = metricsConfigFrom(config);
  if (Array.isArray(metricsConfig)) {
    process.stderr.write(`invalid setting ${setting(metricsConfig[0])}: ${metricsConfig[1]}\n`);
    process.exit(2);
  }
  const otlpTls = metricsConfig?.tlsFiles
    ? await exitOnConfigError(() =>
        watchTls('otlp', loadTlsSettings(metricsConfig.tlsFiles!, { cert: setting('otlpTlsCertFile'), key: setting('otlpTlsKeyFile'), ca: setting('otlpTlsCaFile') }), logger),
      )
    : undefined;
  const metrics = metricsConfig ? new Metrics(metricsConfig, { registry, logger, tls: otlpTls, kubeConfig }) : undefined;
  if (metrics) uplink.requests.handlers.push(metrics);
  const namespace = podNamespace(config.kubernetesNamespace);
  const cluster =
    kubeConfig && config.clusterWatch !== 'off'
      ? new ClusterRunner(
          {
            kubeconfig: config.kubeconfig,
            namespace: namespace ?? 'default',
            leaseName: config.leaseName,
            identity: config.aggregatorId,
            leaseDurationMs: config.leaseDuration,
            renewDeadlineMs: config.leaseRenewDeadline,
            retryPeriodMs: config.leaseRetryPeriod,
            pageSize: config.clusterListPageSize,
            resyncIntervalMs: config.inventoryResyncInterval,
            pendingTooLongMs: config.podPendingTooLong,
            queueCapacity: config.clusterQueueMessages,
          },
          {
            // Taken by the uplink (not yet delivered): what the leader's watermark needs.
            sendData: async (request, s) => void (await uplink.submit(request, s)),
            sendEvent: async (request, s) => void (await uplink.submit(request, s)),
          },
          registry,
          logger,
          kubeConfig,
        )
      : undefined;
  if (cluster) uplink.informers = () => ({ synced: cluster.watch.informersSynced, total: cluster.watch.informersTotal });
  // Remediation (remediation/index.ts): Argo CD, Rollouts, Flux and Karpenter families registered on `queries` while
  // discovery finds their tool; network policy pushes on the data stream. Writes stay off unless their family is on.
  const remediation = kubeConfig
    ? new Remediation(remediationConfigFrom(config), { kubeConfig, registry, logger, queries, presenceChanged: () => cluster?.watch.presenceChanged() })
    : undefined;
  if (remediation) uplink.requests.handlers.push(remediation.networkPolicies);
  if (cluster) cluster.watch.presence = () => ({ hasDatadog: queries.has('Datadog'), ...(remediation?.flags() ?? { hasArgocd: false, hasRollouts: false, hasFlux: false, hasKarpenter: false }) });

  // Flows and Istio access logs (flows/README.md): agents' flow windows merged, Hubble Relay in relay mode (leader
  // only), the Envoy ALS receiver when alsEnabled; all sent on StreamFlows.
  const flows = await exitOnConfigError(
    () =>
      new Flows(flowsConfigFrom(config), config.alsEnabled ? alsConfigFrom(config) : undefined, {
        registry,
        logger,
        uplink,
        kubeConfig,
        listPageSize: config.clusterListPageSize,
        // Without a cluster watch there is no election: this replica is taken to be the only one.
        isLeader: () => (cluster ? cluster.elector.isLeader : true),
      }),
  );

  const ingestEvents = new IngestEvents(registry, logger);
  const transport = new IngestTransport({
    listen: config.ingestListen,
    tls: ingestTls,
    agentAuth: config.agentAuth,
    maxReceiveMessageBytes: config.ingestMaxMessageSize,
    registry,
    logger,
    // Oversized or undecodable messages: grpc-js ends those calls itself, the service never sees why.
    onCallFailed: (reason, peer, details) => ingestEvents.protocolError(reason, peer, details),
  });
  const identity: AgentIdentityCheck =
    config.agentAuth === 'token'
      ? new TokenIdentityCheck(
          { audience: config.agentTokenAudience, namespace: agentNamespace!, serviceAccount: config.agentServiceAccount, cacheTtlMs: config.agentTokenCacheTtl },
          kubeIdentityApi(kubeConfig!),
          registry,
        )
      : new CertificateIdentityCheck((peer) => transport.certificateOf(peer));
  const ingest = new IngestService(
    config.aggregatorId,
    { submitLogs: (logs, s) => uplink.submitLogs(logs, s), submitFramedLogs: (header, entries, s, copied) => uplink.submitFramedLogs(header, entries, s, copied), takesSegments: () => uplink.takesSegments(), submitNodeCondition: (change, s) => uplink.submit({ $case: 'nodeConditionChange', value: change }, s), submitFlowWindow: (node, w, s) => flows.submitFlowWindow(node, w, s) },
    new ReplayFilter(config.dedupeMaxFiles),
    { maxEntries: config.logsMaxEntriesPerMessage, maxBytes: config.logsMaxMessageSize, maxBatchContentBytes: config.ingestMaxMessageSize * 8, maxOpenBatches: config.ingestMaxOpenBatches },
    identity,
    ingestEvents,
    logger,
  );

  const ingestPort = await transport.start(ingest);
  const otlpPort = await metrics?.start();
  const alsPort = await exitOnConfigError(async () => {
    try {
      return await flows.start();
    } catch (err) {
      throw new ConfigError(setting('alsListen'), `cannot serve Envoy access logs: ${err instanceof Error ? err.message : String(err)}`);
    }
  });

  const { host, port } = splitHostPort(config.httpListen);
  const http = await startHttpServer({
    host,
    port,
    registry,
    // Ready while the cloud streams are open; /healthz stays ok through an outage (the process is fine, it waits).
    readiness: () => uplink.readiness(),
  });
  const admin = await startAdminServer(config.adminSocket, {
    status: () => statusView(config.aggregatorId, uplink, ingest),
    agents: () => ingest.connectedAgents(),
    cluster: () => cluster?.view() ?? { enabled: false, reason: kubeConfig ? `${setting('clusterWatch')} is off` : 'no Kubernetes access (not in a cluster, no kubeconfig)' },
    metrics: () => metrics?.view() ?? { enabled: false, reason: `${setting('otlpListen')} is not set` },
    datadog: () => datadog?.view() ?? { enabled: false, reason: `${setting('datadogEnabled')} is false` },
    remediation: () => remediation?.view() ?? { enabled: false, reason: 'no Kubernetes access (not in a cluster, no kubeconfig)' },
    flows: () => flows.view(),
  });

  const uplinkRunning = uplink.run(signal);
  const clusterRunning = cluster?.run(AbortSignal.any([signal, stopping.signal]));
  const remediationRunning = remediation?.run(AbortSignal.any([signal, stopping.signal]));
  const flowsRunning = flows.run(AbortSignal.any([signal, stopping.signal]));
  // DatadogMonitorAlert goes to the events stream (the uplink's home stream for it).
  const datadogRunning = datadog?.run(async (alert, s) => void (await uplink.submit({ $case: 'datadogMonitorAlert', value: alert }, s)), AbortSignal.any([signal, stopping.signal]));
  logger.info('kestrel-aggregator started', {
    ingest: `${splitHostPort(config.ingestListen).host}:${ingestPort}`,
    agentAuth: config.agentAuth,
    ...(metricsConfig ? { otlp: `${splitHostPort(metricsConfig.listen).host}:${otlpPort}` } : {}),
    ...(alsPort !== undefined ? { als: `${splitHostPort(config.alsListen).host}:${alsPort}` } : {}),
    flowsHubbleMode: config.flowsHubbleMode,
    cloud: config.cloudAddress,
    tenant: uplink.tenant,
    http: http.address,
    admin: config.adminSocket,
  });

  const stop = AbortSignal.any([signal, stopping.signal]);
  await new Promise<void>((resolve) => stop.addEventListener('abort', () => resolve(), { once: true }));
  logger.info('stopping', { reason: String(stop.reason) });
  await clusterRunning;
  await executors?.stop();
  await metrics?.stop();
  otlpTls?.close();
  await remediationRunning;
  await datadogRunning;
  await flowsRunning;
  await flows.stop();
  await transport.stop(INGEST_SHUTDOWN_GRACE_MS);
  await uplinkRunning;
  uplink.close();
  ingestTls.close();
  cloudTls.close();
  await admin.close();
  await http.close();
  logger.info('stopped');
}

async function main(): Promise<void> {
  const [command, ...rest] = process.argv.slice(2);
  if (command === 'debug') {
    process.exitCode = await runDebugCli(rest, {
      program: 'kestrel-aggregator',
      defaultSocket: process.env.KESTREL_AGGREGATOR_ADMIN_SOCKET ?? '/tmp/kestrel-aggregator.sock',
      views: {
        status: { help: 'uplink streams and connected agents', render: renderStatus },
        agents: { help: 'connected agents: node, batches, lines', render: renderAgents },
        cluster: { help: 'leader election, informers and their sync state, object counts', render: renderCluster },
        metrics: { help: 'OTLP receiver, metrics store size and limits, refused points and evictions', render: renderMetrics },
        datadog: { help: 'Datadog integration: site, key source (never keys), writes switch, monitor alerts', render: renderDatadog },
        remediation: { help: 'remediation: tools found in the cluster, write families on/off, actions by decision', render: renderRemediation },
        flows: { help: 'flows: sources per node, rate, top talkers, lost and dropped; pod IP index, Relay, Istio access logs', render: renderFlows },
      },
    });
    return;
  }
  await runAggregator(process.argv.slice(2));
}

await main();
