// `cloud-dev serve`: runs the cloud until SIGTERM/SIGINT, then stops accepting, ends the streams, flushes the
// store and exits 0.
import path from 'node:path';
import { ConfigError, createLogger, duration, hostPort, logLevel, settingName, shutdownSignal, z } from '@kestrel/core';
import { startCloudServer, type RunningCloudServer } from './cloud-server.js';
import { CloudDirError, readCloudMaterial, type CloudMaterial } from './layout.js';

export const ENV_PREFIX = 'CLOUD_DEV_';

export const serveConfigSchema = z.object({
  /** What `cloud-dev init` created. */
  dir: z.string({ message: 'expected the directory made by `cloud-dev init`' }).min(1, 'expected the directory made by `cloud-dev init`'),
  listen: hostPort().default('127.0.0.1:8443'),
  /** Where <stream>.jsonl and summary.json go; defaults to DIR/data. */
  dataDir: z.string().min(1).optional(),
  heartbeatInterval: duration()
    .refine((ms) => ms >= 10, 'expected at least 10ms')
    .default(30_000),
  tokenTtl: duration()
    .refine((ms) => ms >= 1000, 'expected at least 1s')
    .default(24 * 3_600_000),
  summaryInterval: duration()
    .refine((ms) => ms >= 100, 'expected at least 100ms')
    .default(30_000),
  logLevel: logLevel().default('info'),
});

export type ServeConfig = z.infer<typeof serveConfigSchema>;

/** Reads DIR's material; a missing or broken DIR is a bad --dir setting (one line, exit 2). */
export function loadMaterial(dir: string): CloudMaterial {
  try {
    return readCloudMaterial(dir);
  } catch (err) {
    if (err instanceof CloudDirError) throw new ConfigError(settingName(ENV_PREFIX, 'dir'), err.message);
    throw err;
  }
}

export async function startServe(config: ServeConfig): Promise<RunningCloudServer> {
  const material = loadMaterial(config.dir);
  const logger = createLogger('cloud-dev', config.logLevel);
  return startCloudServer({
    material,
    listen: config.listen,
    dataDir: config.dataDir ?? path.join(config.dir, 'data'),
    heartbeatIntervalMs: config.heartbeatInterval,
    tokenTtlMs: config.tokenTtl,
    summaryIntervalMs: config.summaryInterval,
    logger,
  });
}

/** Serves until the process is told to stop; resolves once everything is flushed. */
export async function runServe(config: ServeConfig): Promise<void> {
  const stopSignal = shutdownSignal();
  const running = await startServe(config);
  if (!stopSignal.aborted) await new Promise((resolve) => stopSignal.addEventListener('abort', resolve, { once: true }));
  await running.stop(String((stopSignal.reason as Error | undefined)?.message ?? 'signal'));
}
