// The aggregator's uplink and cloud-dev in one process, over real gRPC and real mTLS on loopback: for uplink tests
// that need to look inside (deliveries, stream states, the cloud's counters) or to steer the cloud directly.
import fs from 'node:fs';
import path from 'node:path';
import { createLogger, createRegistry, loadTlsSettings, type Logger, type TlsReloader } from '@kestrel/core';
import { readCloudMaterial, runInit, startCloudServer, type RunningCloudServer } from '@kestrel/cloud-dev';
import { certificateFilesWriter, tokenFileWriter, Uplink, type UplinkConfig } from '@kestrel/aggregator';
export { eventually } from './eventually.js';

export interface CloudOptions {
  heartbeatIntervalMs?: number;
  tokenTtlMs?: number;
  unimplemented?: ('data' | 'control' | 'flows' | 'events' | 'logs')[];
  enforceTokenExpiry?: boolean;
}

/** `cloud-dev init` into dir/<name> (tenant e2e-tenant), returning the directory. */
export async function initCloud(dir: string, name = 'cloud', tokenTtlMs = 3_600_000): Promise<string> {
  const root = path.join(dir, name);
  await runInit({ dir: root, tenant: 'e2e-tenant', clusterName: 'e2e', tokenTtl: tokenTtlMs, hosts: ['localhost', '127.0.0.1'], force: false });
  return root;
}

export async function startCloud(cloudDir: string, options: CloudOptions = {}, listen = '127.0.0.1:0'): Promise<RunningCloudServer> {
  return startCloudServer({
    material: readCloudMaterial(cloudDir),
    listen,
    dataDir: path.join(cloudDir, 'data'),
    heartbeatIntervalMs: options.heartbeatIntervalMs ?? 200,
    tokenTtlMs: options.tokenTtlMs ?? 3_600_000,
    summaryIntervalMs: 60_000,
    logger: createLogger('cloud-dev', 'error'),
    unimplemented: options.unimplemented ?? [],
    enforceTokenExpiry: options.enforceTokenExpiry ?? false,
  });
}

export interface CapturedLogger {
  logger: Logger;
  lines: Record<string, unknown>[];
}

/** A logger whose lines are kept for the test (and not printed). */
export function capturingLogger(level = 'info'): CapturedLogger {
  const logger = createLogger('kestrel-aggregator', level);
  logger.silent = false;
  const lines: Record<string, unknown>[] = [];
  for (const t of logger.transports) t.silent = true;
  logger.on('data', (info: Record<string, unknown>) => lines.push(info));
  return { logger, lines };
}

export interface InProcessUplink {
  uplink: Uplink;
  tls: TlsReloader;
  log: CapturedLogger;
  run: Promise<void>;
  stop(): Promise<void>;
}

export const FAST_STREAM_SETTINGS: UplinkConfig['stream'] = {
  queueMessages: 256,
  queueBytes: 32 * 1024 * 1024,
  replayWindowMs: 500,
  replayWindowBytes: 64 * 1024 * 1024,
  idleTimeoutMs: 3000,
  drainTimeoutMs: 3000,
  initialBackoffMs: 100,
  maxBackoffMs: 1000,
};

/** An uplink from the operator files of cloudDir to address; renewed credentials go back to those files. */
export function startUplink(cloudDir: string, address: string, overrides: Partial<UplinkConfig> = {}, cgroupRoot?: string): InProcessUplink {
  const operator = path.join(cloudDir, 'operator');
  const paths = { certFile: path.join(operator, 'tls.crt'), keyFile: path.join(operator, 'tls.key'), caFile: path.join(operator, 'ca.crt') };
  const tls = loadTlsSettings(paths, { cert: 'cert', key: 'key', ca: 'ca' }, 60_000).watch();
  const log = capturingLogger();
  const uplink = new Uplink(
    {
      address,
      serverName: 'localhost',
      compression: true,
      useSystemCas: false,
      tokenFile: path.join(operator, 'token'),
      tokenRenewMinFraction: 0.5,
      tokenRenewMaxFraction: 0.7,
      logs: { maxEntries: 1000, maxBytes: 1024 * 1024, lingerMs: 50 },
      stream: FAST_STREAM_SETTINGS,
      operatorStatsIntervalMs: 60_000,
      ...overrides,
    },
    {
      tls,
      registry: createRegistry('uplink-test', false),
      logger: log.logger,
      tokenWriters: [tokenFileWriter(path.join(operator, 'token'))],
      certificateWriters: [certificateFilesWriter(paths)],
      ...(cgroupRoot ? { cgroupRoot } : {}),
    },
  );
  const controller = new AbortController();
  const run = uplink.run(controller.signal);
  return {
    uplink,
    tls,
    log,
    run,
    async stop() {
      controller.abort();
      await run;
      uplink.close();
      tls.close();
    },
  };
}

export function readJsonLines(file: string): Record<string, unknown>[] {
  if (!fs.existsSync(file)) return [];
  return fs
    .readFileSync(file, 'utf8')
    .split('\n')
    .filter((l) => l.trim() !== '')
    .flatMap((l) => {
      try {
        return [JSON.parse(l) as Record<string, unknown>];
      } catch {
        return [];
      }
    });
}
