// `cloud-dev serve`: runs the cloud until SIGTERM/SIGINT, then stops accepting, ends the streams, flushes the
// store and exits 0.
import path from 'node:path';
import { boolean, ConfigError, createLogger, duration, hostPort, logLevel, settingName, shutdownSignal, z } from '@kestrel/core';
import { startCloudServer, type RunningCloudServer } from './cloud-server.js';
import { parseStreamList } from './control-socket.js';
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
  /** Streams answered with UNIMPLEMENTED ("logs,events"), as a cloud without those methods would. */
  unimplemented: z
    .string()
    .transform((text, ctx) => {
      try {
        return parseStreamList(text);
      } catch (err) {
        ctx.addIssue({ code: 'custom', message: (err as Error).message });
        return z.NEVER;
      }
    })
    .default([]),
  /** End open streams with UNAUTHENTICATED "bearer token expired" when the token they were opened with expires. */
  enforceTokenExpiry: boolean().default(false),
  /** The control socket (rotate-cert, drop-connections, revoke-tokens, set, status); defaults to DIR/control.sock. */
  controlSocket: z.string().min(1).optional(),
});

export type ServeConfig = z.infer<typeof serveConfigSchema>;

/** Where serve listens for controls and the control commands find it. */
export const controlSocketPath = (config: { dir: string; controlSocket?: string | undefined }): string => config.controlSocket ?? path.join(config.dir, 'control.sock');

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
    unimplemented: config.unimplemented,
    enforceTokenExpiry: config.enforceTokenExpiry,
    controlSocket: controlSocketPath(config),
  });
}

/** Serves until the process is told to stop; resolves once everything is flushed. */
export async function runServe(config: ServeConfig): Promise<void> {
  const stopSignal = shutdownSignal();
  const running = await startServe(config);
  if (!stopSignal.aborted) await new Promise((resolve) => stopSignal.addEventListener('abort', resolve, { once: true }));
  await running.stop(String((stopSignal.reason as Error | undefined)?.message ?? 'signal'));
}
