// The node source's settings: a fragment the agent's schema spreads in (`...nodeSourceSettings`, hence
// KESTREL_AGENT_NODE_WATCH / --node-watch and so on), validated at start, and the NodeSource options built from the
// parsed values (this is where Kubernetes access is resolved: a kubeconfig file, the in-cluster service account, or
// none).
import type { KubeConfig } from '@kubernetes/client-node';
import { ConfigError, duration, integer, runningInCluster, serviceAccountPathPrefix, settingName, z } from '@kestrel/core';
import type { NodeSourceOptions } from './index.js';
import { DEFAULT_PRESSURE_THRESHOLDS, parsePressureThresholds } from './pressure.js';

/** The agent's environment prefix (src/config.ts); repeated here so this file does not import the agent's schema. */
const PREFIX = 'KESTREL_AGENT_';

const percent = (min: number) =>
  z
    .string()
    .regex(/^\d+(\.\d+)?$/, `expected a percentage from ${min} to 100`)
    .transform(Number)
    .pipe(z.number().min(min, `expected a percentage from ${min} to 100`).max(100, `expected a percentage from ${min} to 100`));

const DEFAULT_THRESHOLDS_TEXT = Object.entries(DEFAULT_PRESSURE_THRESHOLDS)
  .flatMap(([resource, kinds]) => Object.entries(kinds).filter(([, v]) => v > 0).map(([kind, v]) => `${resource}.${kind}=${v}`))
  .join(',');

export const nodeSourceSettings = {
  /** Watches of the Kubernetes API by the agent (its own Node, the pods on its node): auto = when access exists. */
  nodeWatch: z.enum(['auto', 'on', 'off'], { message: 'expected auto, on or off' }).prefault('auto'),
  /** A kubeconfig for local runs; unset: the in-cluster service account when running in a cluster. */
  kubeconfig: z.string().min(1).optional(),
  /** Where the host's /proc is mounted (the chart: /host/proc). */
  procRoot: z.string().min(1).prefault('/proc'),
  /** A path on the container runtime's filesystem (its fill level is reported); "none": not watched. */
  containerFilesystem: z
    .string()
    .min(1)
    .transform((v) => (v === 'none' ? undefined : v))
    .prefault('/var/lib/containerd'),
  /** avg10 percentages per resource.kind over the defaults; 0 turns one off, "none" all. */
  pressureThresholds: z
    .string()
    .transform((text, ctx) => {
      try {
        return parsePressureThresholds(text);
      } catch (err) {
        ctx.addIssue({ code: 'custom', message: err instanceof Error ? err.message : String(err) });
        return z.NEVER;
      }
    })
    .prefault(DEFAULT_THRESHOLDS_TEXT),
  /** Percentage points under a pressure threshold at which the condition turns False again. */
  pressureHysteresis: percent(0).prefault('10'),
  /** Space or inodes used (percent) at which a filesystem condition turns True. */
  fsFullPercent: percent(1).prefault('90'),
  /** Percentage points under fsFullPercent at which it turns False again. */
  fsFullHysteresis: percent(0).prefault('5'),
  nodeSampleInterval: duration().pipe(z.number().min(100, 'expected at least 100ms')).prefault('10s'),
  /** How long the first node report waits for the Node object before the agent's own conditions go alone. */
  nodeFirstReportTimeout: duration().prefault('30s'),
  nodeListPageSize: integer(10, 10_000).prefault('500'),
};

const settingsObject = z.object(nodeSourceSettings);
/** The parsed settings (optional keys stay optional, as in the agent's config type). */
export type NodeSourceSettings = z.infer<typeof settingsObject>;

/** True inside a pod with a service account (packages/core/src/service-account.ts). */
export { runningInCluster };

/**
 * Kubernetes access for the watches: off -> none; a kubeconfig file when set; the service account in a cluster;
 * otherwise none, which `on` refuses (ConfigError naming the setting).
 *
 * @kubernetes/client-node is loaded only here, when there is access to use: importing it costs the agent about
 * 60-85 MiB of RSS (its generated API models and undici; measured in docs/BENCHMARKS.md, "Agent memory"), which an
 * agent without Kubernetes access (local runs, nodeWatch=off) must not pay.
 */
export async function nodeKubeConfig(s: Pick<NodeSourceSettings, 'nodeWatch' | 'kubeconfig'>, inCluster: boolean = runningInCluster()): Promise<KubeConfig | undefined> {
  if (s.nodeWatch === 'off') return undefined;
  if (!s.kubeconfig && !inCluster) {
    if (s.nodeWatch === 'on') {
      throw new ConfigError(settingName(PREFIX, 'nodeWatch'), `on needs Kubernetes access (run in a cluster or set ${settingName(PREFIX, 'kubeconfig')})`);
    }
    return undefined;
  }
  const { KubeConfig } = await import('@kubernetes/client-node');
  if (s.kubeconfig) {
    const kc = new KubeConfig();
    try {
      kc.loadFromFile(s.kubeconfig);
    } catch (err) {
      throw new ConfigError(settingName(PREFIX, 'kubeconfig'), `cannot load ${s.kubeconfig}: ${err instanceof Error ? err.message : String(err)}`);
    }
    return kc;
  }
  const kc = new KubeConfig();
  kc.loadFromCluster(serviceAccountPathPrefix());
  return kc;
}

/** The NodeSource options from the agent's parsed settings (which include nodeName and logRoot). */
export async function nodeSourceOptionsFrom(c: NodeSourceSettings & { nodeName: string; logRoot: string }, inCluster: boolean = runningInCluster()): Promise<NodeSourceOptions> {
  return {
    nodeName: c.nodeName,
    kubeConfig: await nodeKubeConfig(c, inCluster),
    procRoot: c.procRoot,
    logRoot: c.logRoot,
    containerFilesystem: c.containerFilesystem,
    pressureThresholds: c.pressureThresholds,
    pressureHysteresis: c.pressureHysteresis,
    fsFullPercent: c.fsFullPercent,
    fsFullHysteresis: c.fsFullHysteresis,
    sampleIntervalMs: c.nodeSampleInterval,
    firstReportTimeoutMs: c.nodeFirstReportTimeout,
    listPageSize: c.nodeListPageSize,
  };
}
