#!/usr/bin/env node
// kestrel-agent: the per-node DaemonSet process. `kestrel-agent` runs it; `kestrel-agent debug <view>` asks a
// running one over its admin socket. The whole process graph is built here, top to bottom.
import { randomUUID, X509Certificate } from 'node:crypto';
import fs from 'node:fs';
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
  tuneGarbageCollection,
} from '@kestrel/core';
import { connView, renderConn, renderFiles, renderLosses, renderStatus, statusView } from './admin/views.js';
import { PREFIX, loadAgentConfig } from './config.js';
import { ForwarderEvents } from './forwarder/events.js';
import { Forwarder } from './forwarder/index.js';
import type { LinkCredentials } from './forwarder/link.js';
import type { OwnerReference } from '@kestrel/proto/cloud/v1';
import { CriLogEvents } from './sources/cri-logs/events.js';
import { CriLogSource } from './sources/cri-logs/index.js';
import { FlowSources, flowSourcesConfigFrom, renderFlows } from './sources/flows/index.js';
import { nodeSourceOptionsFrom } from './sources/node/config.js';
import { NodeSource } from './sources/node/index.js';

const VERSION = '0.1.0';

async function runAgent(argv: readonly string[]): Promise<void> {
  tuneGarbageCollection();
  const config = await exitOnConfigError(() => loadAgentConfig(argv));
  const logger = createLogger('kestrel-agent', config.logLevel);
  const registry = createRegistry('kestrel-agent');
  const signal = shutdownSignal();

  // Identity: a client certificate (local runs) is loaded and followed like any TLS material; with a token (in a
  // cluster) only the CA is needed. Either way the files are read again for each new connection.
  const tls =
    config.tlsCertFile && config.tlsKeyFile
      ? await exitOnConfigError(() =>
          loadTlsSettings(
            { certFile: config.tlsCertFile!, keyFile: config.tlsKeyFile!, caFile: config.tlsCaFile },
            { cert: settingName(PREFIX, 'tlsCertFile'), key: settingName(PREFIX, 'tlsKeyFile'), ca: settingName(PREFIX, 'tlsCaFile') },
          ).watch(),
        )
      : undefined;
  tls?.on('change', (m) => logger.info('TLS material reloaded', { subject: m.subject, notAfter: m.notAfter }));
  tls?.on('error', (err) => logger.warn('TLS files changed but cannot be used; keeping the previous ones', { error: err.message }));
  if (!tls) await exitOnConfigError(() => checkCaFile(config.tlsCaFile, settingName(PREFIX, 'tlsCaFile')));
  if (config.tokenFile) await exitOnConfigError(() => checkTokenFile(config.tokenFile!, settingName(PREFIX, 'tokenFile')));
  const credentials = (): LinkCredentials =>
    tls
      ? { ca: Buffer.from(tls.current.ca), key: Buffer.from(tls.current.key), cert: Buffer.from(tls.current.cert), tokenFile: config.tokenFile }
      : { ca: fs.readFileSync(config.tlsCaFile), tokenFile: config.tokenFile };
  const aggregators = config.aggregatorAddress?.join(',') ?? `file ${config.aggregatorAddressFile}`;

  const nodeOptions = await exitOnConfigError(() => nodeSourceOptionsFrom(config));
  // The node source's pod watch gives PodLogs their owners; its condition changes ride in the forwarder's batches.
  let ownersOf: (podUid: string) => OwnerReference[] = () => [];
  const criEvents = new CriLogEvents(registry, logger);
  const forwarderEvents = new ForwarderEvents(registry, logger);
  const forwarder = new Forwarder(
    {
      nodeName: config.nodeName,
      agentVersion: VERSION,
      instanceId: randomUUID(),
      endpoints: { entries: config.aggregatorAddress, file: config.aggregatorAddressFile, serverName: config.aggregatorServerName },
      resolveIntervalMs: config.aggregatorResolveInterval,
      maxInFlightBatches: config.maxInFlightBatches,
      maxInFlightBytes: config.maxInFlightBytes,
      ownersOf: (podUid) => ownersOf(podUid),
      compression: config.compression,
      compressionLevel: config.compressionLevel,
      maxLines: config.batchMaxLines,
      maxBytes: config.batchMaxSize,
      flushIntervalMs: config.flushInterval,
      maxPendingFlowWindows: config.flowMaxPendingWindows,
    },
    credentials,
    forwarderEvents,
    logger,
  );
  // Chunks carry their file's commit target: the forwarder advances checkpoints on acknowledgement through it.
  const source = new CriLogSource(
    {
      root: config.logRoot,
      stateDir: config.stateDir,
      startAt: config.startAt,
      onCorruptCheckpoint: config.onCorruptCheckpoint,
      scanIntervalMs: config.scanInterval,
      pollIntervalMs: config.pollInterval,
      fallbackPollIntervalMs: config.fallbackPollInterval,
      readBufferBytes: config.readBufferSize,
      readIntervalMs: config.readInterval,
      maxMessageBytes: config.maxMessageSize,
      readConcurrency: config.readConcurrency,
      checkpointIntervalMs: config.checkpointInterval,
      maxDeletedFilesHeld: config.maxDeletedFilesHeld,
      multiline: { enabled: config.multiline, maxLines: config.multilineMaxLines, maxBytes: config.multilineMaxSize, maxGapMs: config.multilineMaxGap },
      filter: {
        includeNamespaces: config.includeNamespaces,
        excludeNamespaces: config.excludeNamespaces,
        includePods: config.includePods,
        excludePods: config.excludePods,
        includeContainers: config.includeContainers,
        excludeContainers: config.excludeContainers,
        ownPod: config.podNamespace !== undefined && config.podName !== undefined ? { namespace: config.podNamespace, name: config.podName } : undefined,
      },
      rateLimitLines: config.rateLimitLines,
    },
    forwarder,
    criEvents,
    logger,
  );

  const node = new NodeSource(nodeOptions, forwarder, { registry, logger });
  ownersOf = (podUid) => node.ownersOf(podUid);
  // Flows are aggregated into windows on the node; the windows ride in the forwarder's batches (docs/flows.md).
  const flows = await FlowSources.create(flowSourcesConfigFrom(config), forwarder, { registry, logger, kubeConfig: nodeOptions.kubeConfig, watchEvents: node.events });

  const http = await startHttpServer({
    host: config.httpListen.slice(0, config.httpListen.lastIndexOf(':')).replace(/^\[|\]$/g, ''),
    port: Number(config.httpListen.slice(config.httpListen.lastIndexOf(':') + 1)),
    registry,
    readiness: () => (forwarder.state === 'connected' ? { ready: true } : { ready: false, reason: `aggregator connection ${forwarder.state}` }),
  });
  const admin = await startAdminServer(config.adminSocket, {
    status: () => statusView(config.nodeName, VERSION, aggregators, source, forwarder),
    conn: () => connView(config.nodeName, forwarder),
    node: () => node.view(),
    files: () => source.files(),
    losses: () => source.status().recentLosses,
    flows: () => flows.view(),
  });

  const sending = forwarder.run(signal);
  await node.start(signal);
  await source.start(signal);
  // Memory (docs/BENCHMARKS.md, "Idle files"): V8 keeps the pages that reading every log file at start touched, even
  // after its own GCs; only a last-resort GC gives them back (about 24 MiB with 2,000 files). Once, after the first
  // safety polls have parked the files read at start; only when node runs with --expose-gc (the agent image).
  const gc = (globalThis as { gc?: (options: object) => void }).gc;
  if (gc) {
    setTimeout(() => {
      const before = process.memoryUsage.rss();
      gc({ type: 'major', execution: 'sync', flavor: 'last-resort' });
      const mib = (bytes: number) => Math.round((bytes / 2 ** 20) * 10) / 10;
      logger.info('startup memory released', { rssMiBBefore: mib(before), rssMiBAfter: mib(process.memoryUsage.rss()) });
    }, 2 * config.pollInterval + 5000).unref();
  }
  await flows.start(signal);
  logger.info('kestrel-agent started', { node: config.nodeName, logRoot: config.logRoot, aggregator: aggregators, http: http.address, admin: config.adminSocket });

  await new Promise<void>((resolve) => signal.addEventListener('abort', () => resolve(), { once: true }));
  logger.info('stopping', { reason: String(signal.reason) });
  await source.stop();
  await flows.stop();
  await node.stop();
  await sending;
  tls?.close();
  await admin.close();
  await http.close();
  logger.info('stopped');
}

function checkCaFile(file: string, setting: string): void {
  try {
    new X509Certificate(fs.readFileSync(file));
  } catch (err) {
    throw new ConfigError(setting, `cannot use ${file} as the CA certificate: ${(err as Error).message}`);
  }
}

function checkTokenFile(file: string, setting: string): void {
  try {
    if (fs.readFileSync(file, 'utf8').trim() === '') throw new Error('the file is empty');
  } catch (err) {
    throw new ConfigError(setting, `cannot read the token in ${file}: ${(err as Error).message}`);
  }
}

async function main(): Promise<void> {
  const [command, ...rest] = process.argv.slice(2);
  if (command === 'debug') {
    process.exitCode = await runDebugCli(rest, {
      program: 'kestrel-agent',
      defaultSocket: process.env.KESTREL_AGENT_ADMIN_SOCKET ?? '/tmp/kestrel-agent.sock',
      views: {
        status: { help: 'connection to the aggregator and the files followed', render: renderStatus },
        conn: { help: 'the aggregator replicas in this node\'s order, the one in use, in flight, last ack, reconnects, resent batches', render: renderConn },
        files: { help: 'each tracked file: identity, checkpoint, size, lag, state', render: renderFiles },
        node: { help: 'the node source: watches of the own Node and its pods, conditions last sent, pressure and filesystems', render: (r) => JSON.stringify(r, null, 2) },
        losses: { help: 'log data lost before it was read (recent), with bytes and reason', render: renderLosses },
        flows: { help: 'flow sources (Hubble, VPC CNI): where they read, rate, top talkers, lost at the source, dropped by reason', render: renderFlows },
      },
    });
    return;
  }
  await runAgent(process.argv.slice(2));
}

await main();
