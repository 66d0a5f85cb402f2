// The executors' settings: a typed config with defaults (what the executors take), and the settings fragment the
// aggregator's schema can merge (KESTREL_AGGREGATOR_INVESTIGATIONS_* / --investigations-*), validated at start.
import { boolean, byteSize, duration, integer, z } from '@kestrel/core';

export interface ExecutorsConfig {
  /** kubectl: a path, or a name looked up on PATH once at start. */
  kubectl: string;
  /** Paths, commands or manifests in one request; more makes the request malformed. */
  maxItemsPerRequest: number;
  /** Used when a request's timeout_seconds is 0. */
  defaultTimeoutMs: number;
  /** A request's timeout_seconds is capped at this. */
  maxTimeoutMs: number;
  maxParallelApiCalls: number;
  maxParallelCommands: number;
  /** One path's response_data, one command's stdout: cut here with a marker. */
  maxResultBytes: number;
  /** All results of one answer together (the cloud takes messages up to 10 MiB): split evenly between items. */
  maxResponseBytes: number;
  /** A JSON answer is parsed to be redacted; one larger than this cannot be checked and is refused (413). */
  maxCheckedBytes: number;
  maxStderrBytes: number;
  /** API calls one kubectl command may make through the policy proxy. */
  maxApiCallsPerCommand: number;
  /** Items (paths, commands, manifests, restarts) started per minute, all kinds together. */
  itemsPerMinute: number;
  /** Let ConfigMap data values through (default: redacted). */
  configMapData: boolean;
  /** Let environment variable values through (default: redacted). */
  envValues: boolean;
  /** Carry out YamlApplyRequest (default: refused). */
  applyEnabled: boolean;
  maxManifestBytes: number;
  /** An OperatorRestartRequest's delay_seconds is capped at this. */
  maxRestartDelayMs: number;
  /** How long a graceful drain may take before the process exits anyway. */
  drainTimeoutMs: number;
}

export const DEFAULT_EXECUTORS_CONFIG: ExecutorsConfig = {
  kubectl: 'kubectl',
  maxItemsPerRequest: 50,
  defaultTimeoutMs: 30_000,
  maxTimeoutMs: 120_000,
  maxParallelApiCalls: 4,
  maxParallelCommands: 2,
  maxResultBytes: 1024 * 1024,
  maxResponseBytes: 8 * 1024 * 1024,
  maxCheckedBytes: 16 * 1024 * 1024,
  maxStderrBytes: 64 * 1024,
  maxApiCallsPerCommand: 200,
  itemsPerMinute: 120,
  configMapData: false,
  envValues: false,
  applyEnabled: false,
  maxManifestBytes: 1024 * 1024,
  maxRestartDelayMs: 600_000,
  drainTimeoutMs: 30_000,
};

/** Settings to merge into the aggregator's schema: `aggregatorSchema.extend(investigationSettings)`. */
export const investigationSettings = {
  investigationsKubectl: z.string().min(1).prefault('kubectl'),
  investigationsDefaultTimeout: duration().prefault('30s'),
  investigationsMaxTimeout: duration().prefault('120s'),
  investigationsParallelApiCalls: integer(1, 64).prefault('4'),
  investigationsParallelCommands: integer(1, 16).prefault('2'),
  investigationsMaxResultSize: byteSize().prefault('1MiB'),
  investigationsMaxResponseSize: byteSize()
    .pipe(z.number().max(9 * 1024 * 1024, 'expected at most 9MiB (the cloud accepts messages up to 10 MiB)'))
    .prefault('8MiB'),
  investigationsMaxCheckedSize: byteSize().prefault('16MiB'),
  investigationsItemsPerMinute: integer(1, 100_000).prefault('120'),
  investigationsConfigMapData: boolean().prefault('false'),
  investigationsEnvValues: boolean().prefault('false'),
  investigationsApplyEnabled: boolean().prefault('false'),
};

type Settings = { [K in keyof typeof investigationSettings]: z.infer<(typeof investigationSettings)[K]> };

export function executorsConfigFrom(s: Settings): ExecutorsConfig {
  return {
    ...DEFAULT_EXECUTORS_CONFIG,
    kubectl: s.investigationsKubectl,
    defaultTimeoutMs: s.investigationsDefaultTimeout,
    maxTimeoutMs: s.investigationsMaxTimeout,
    maxParallelApiCalls: s.investigationsParallelApiCalls,
    maxParallelCommands: s.investigationsParallelCommands,
    maxResultBytes: s.investigationsMaxResultSize,
    maxResponseBytes: s.investigationsMaxResponseSize,
    maxCheckedBytes: s.investigationsMaxCheckedSize,
    itemsPerMinute: s.investigationsItemsPerMinute,
    configMapData: s.investigationsConfigMapData,
    envValues: s.investigationsEnvValues,
    applyEnabled: s.investigationsApplyEnabled,
  };
}

/** A request's timeout_seconds as a deadline: 0 or less means the default, more than the cap means the cap. */
export function timeoutFor(config: ExecutorsConfig, timeoutSeconds: number): number {
  if (!Number.isFinite(timeoutSeconds) || timeoutSeconds <= 0) return config.defaultTimeoutMs;
  return Math.min(timeoutSeconds * 1000, config.maxTimeoutMs);
}

/** What one item of an answer with `items` items may use. */
export function itemBudget(config: ExecutorsConfig, items: number): number {
  return Math.max(1024, Math.min(config.maxResultBytes, Math.floor(config.maxResponseBytes / Math.max(1, items))));
}
