// Configuration: one zod schema per process, read once at start from environment variables (what the Helm chart
// sets) and command-line flags (for local runs; a flag wins over the environment). A bad or missing value stops the
// process with one line that names the setting, as it is spelled in both places, and what is allowed.
import { z } from 'zod';

export { z };

export class ConfigError extends Error {
  constructor(
    readonly setting: string,
    readonly problem: string,
  ) {
    super(`invalid setting ${setting}: ${problem}`);
    this.name = 'ConfigError';
  }
}

export interface LoadConfigOptions {
  /** Prefix of environment variables, e.g. 'KESTREL_AGENT_' (KESTREL_AGENT_LOG_ROOT for key logRoot). */
  envPrefix: string;
  /** Command-line arguments after the command, e.g. ['--log-root', '/tmp/pods']. */
  argv?: readonly string[];
  env?: NodeJS.ProcessEnv;
}

const camelToWords = (key: string): string[] => key.replace(/([a-z0-9])([A-Z])/g, '$1 $2').toLowerCase().split(' ');
export const envName = (prefix: string, key: string): string => prefix + camelToWords(key).join('_').toUpperCase();
export const flagName = (key: string): string => '--' + camelToWords(key).join('-');

/** Where a setting can be given, as a user reads it: "KESTREL_AGENT_LOG_ROOT / --log-root". */
export const settingName = (prefix: string, key: string): string => `${envName(prefix, key)} / ${flagName(key)}`;

function parseFlags(argv: readonly string[], known: Map<string, string>): Map<string, string> {
  const values = new Map<string, string>();
  for (let i = 0; i < argv.length; i++) {
    const arg = argv[i]!;
    if (!arg.startsWith('--')) throw new ConfigError(arg, 'unexpected argument (settings are given as --name value)');
    const eq = arg.indexOf('=');
    const flag = eq === -1 ? arg : arg.slice(0, eq);
    const key = known.get(flag);
    if (key === undefined) throw new ConfigError(flag, `unknown flag; known flags: ${[...known.keys()].join(', ')}`);
    let value: string | undefined;
    if (eq !== -1) value = arg.slice(eq + 1);
    else {
      value = argv[i + 1];
      if (value === undefined || value.startsWith('--')) throw new ConfigError(flag, 'needs a value');
      i++;
    }
    values.set(key, value);
  }
  return values;
}

/** Describes what a failed schema accepts, in words, from zod's issue. */
function describeIssue(issue: z.core.$ZodIssue): string {
  return issue.message;
}

export function loadConfig<S extends z.ZodObject>(schema: S, options: LoadConfigOptions): z.infer<S> {
  const env = options.env ?? process.env;
  const keys = Object.keys(schema.shape);
  const flagToKey = new Map(keys.map((k) => [flagName(k), k]));
  const fromFlags = parseFlags(options.argv ?? [], flagToKey);
  const raw: Record<string, string> = {};
  for (const key of keys) {
    const value = fromFlags.get(key) ?? env[envName(options.envPrefix, key)];
    if (value !== undefined && value !== '') raw[key] = value;
  }
  const parsed = schema.safeParse(raw);
  if (!parsed.success) {
    // A value that was given and is wrong says more than one that is missing: report it first.
    const issues = parsed.error.issues;
    const issue = issues.find((i) => raw[String(i.path[0] ?? '')] !== undefined) ?? issues[0]!;
    const key = String(issue.path[0] ?? '');
    const given = raw[key];
    const setting = key ? settingName(options.envPrefix, key) : 'configuration';
    const problem = given === undefined ? 'required but not set' : `${describeIssue(issue)} (got ${JSON.stringify(given)})`;
    throw new ConfigError(setting, problem);
  }
  return parsed.data;
}

/** Runs a start-up function; a ConfigError becomes one line on stderr and exit status 2. */
export async function exitOnConfigError<T>(start: () => Promise<T> | T): Promise<T> {
  try {
    return await start();
  } catch (err) {
    if (err instanceof ConfigError) {
      process.stderr.write(`${err.message}\n`);
      process.exit(2);
    }
    throw err;
  }
}

const DURATION_UNITS: Record<string, number> = { ms: 1, s: 1000, m: 60_000, h: 3_600_000, d: 86_400_000 };

/** Parses "250ms", "30s", "5m", "24h", "1h30m" into milliseconds; undefined when malformed. */
export function parseDuration(text: string): number | undefined {
  const re = /(\d+(?:\.\d+)?)(ms|s|m|h|d)/gy;
  let total = 0;
  let matched = 0;
  for (let m = re.exec(text); m; m = re.exec(text)) {
    total += Number(m[1]) * DURATION_UNITS[m[2]!]!;
    matched = re.lastIndex;
  }
  return matched === text.length && text.length > 0 ? total : undefined;
}

/** A duration setting: "30s" in, milliseconds out. */
export const duration = () =>
  z.string().transform((text, ctx) => {
    const ms = parseDuration(text.trim());
    if (ms === undefined) {
      ctx.addIssue({ code: 'custom', message: 'expected a duration such as 250ms, 30s, 5m or 24h' });
      return z.NEVER;
    }
    return ms;
  });

const SIZE_UNITS: Record<string, number> = { '': 1, b: 1, kib: 1024, mib: 1024 ** 2, gib: 1024 ** 3, kb: 1000, mb: 1000 ** 2, gb: 1000 ** 3 };

/** A size setting: "256KiB", "10MiB" or a plain byte count in, bytes out. */
export const byteSize = () =>
  z.string().transform((text, ctx) => {
    const m = /^(\d+)\s*([a-z]*)$/i.exec(text.trim());
    const unit = m ? SIZE_UNITS[m[2]!.toLowerCase()] : undefined;
    if (!m || unit === undefined) {
      ctx.addIssue({ code: 'custom', message: 'expected a size such as 65536, 256KiB or 10MiB' });
      return z.NEVER;
    }
    return Number(m[1]) * unit;
  });

/** A whole number within bounds, given as text. */
export const integer = (min: number, max: number) =>
  z
    .string()
    .regex(/^-?\d+$/, `expected a whole number from ${min} to ${max}`)
    .transform(Number)
    .pipe(z.number().min(min, `expected a whole number from ${min} to ${max}`).max(max, `expected a whole number from ${min} to ${max}`));

/** A boolean given as true/false (also 1/0, yes/no). */
export const boolean = () =>
  z.enum(['true', 'false', '1', '0', 'yes', 'no'], { message: 'expected true or false' }).transform((v) => v === 'true' || v === '1' || v === 'yes');

/** host:port, port 0 allowed (bind to any free port). */
export const hostPort = () =>
  z.string().regex(/^(\[[0-9a-fA-F:.]+\]|[A-Za-z0-9.-]+):\d{1,5}$/, 'expected host:port, e.g. 127.0.0.1:8443');

/** A comma-separated list. */
export const list = () =>
  z.string().transform((s) => s.split(',').map((x) => x.trim()).filter((x) => x.length > 0));

export const logLevel = () => z.enum(['error', 'warn', 'info', 'debug'], { message: 'expected one of error, warn, info, debug' });
