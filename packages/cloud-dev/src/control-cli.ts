// The control commands of the CLI (`cloud-dev rotate-cert | drop-connections | revoke-tokens | set | status | request`): each
// sends one request to a running serve's control socket and prints its answer as one JSON line.
import { adminRequest, ConfigError, boolean, duration, loadConfig, settingName, z } from '@kestrel/core';
import { ENV_PREFIX, controlSocketPath } from './serve.js';

const target = {
  /** The directory `cloud-dev init` made (the socket is DIR/control.sock unless serve was told otherwise). */
  dir: z.string().min(1).optional(),
  controlSocket: z.string().min(1).optional(),
};

const schemas = {
  'rotate-cert': z.object({
    ...target,
    revokePrevious: boolean().default(true),
    validFor: duration().default(365 * 86_400_000),
    timeout: duration().default(30_000),
  }),
  'drop-connections': z.object(target),
  'revoke-tokens': z.object({ ...target, issuedBefore: z.string().min(1).optional() }),
  set: z.object({ ...target, unimplemented: z.string().optional(), tokenTtl: z.string().optional(), enforceTokenExpiry: boolean().optional() }),
  status: z.object(target),
  request: z.object({ ...target, kind: z.string().min(1), body: z.string().prefault('{}'), timeout: duration().default(60_000) }),
};

export type ControlCommand = keyof typeof schemas;

export async function runControlCommand(command: ControlCommand, argv: readonly string[]): Promise<number> {
  const config = loadConfig(schemas[command], { envPrefix: ENV_PREFIX, argv }) as z.infer<(typeof schemas)['set']> & Record<string, unknown>;
  if (config.dir === undefined && config.controlSocket === undefined) {
    throw new ConfigError(`${settingName(ENV_PREFIX, 'dir')} or ${settingName(ENV_PREFIX, 'controlSocket')}`, 'required but not set');
  }
  const socket = controlSocketPath({ dir: config.dir ?? '', controlSocket: config.controlSocket });
  const { dir: _dir, controlSocket: _socket, ...args } = config;
  const timeoutMs = command === 'rotate-cert' || command === 'request' ? Number(args['timeout']) + 5000 : 10_000;
  try {
    const result = await adminRequest(socket, command, args, timeoutMs);
    process.stdout.write(JSON.stringify(result) + '\n');
    if (command === 'rotate-cert' && (result as { success: boolean }[]).some((r) => !r.success)) return 1;
    return 0;
  } catch (err) {
    process.stderr.write(`cloud-dev ${command}: ${err instanceof Error ? err.message : String(err)}\n`);
    return 1;
  }
}
