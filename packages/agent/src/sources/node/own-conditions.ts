// The node conditions only the node itself can see, under names of our own (a Kubernetes node has none of these
// types, so they never collide with the kubelet's or node-problem-detector's):
//
//   KestrelCPUPressure, KestrelMemoryPressure, KestrelIOPressure   pressure stall information over a threshold
//   KestrelLogFilesystemFull                                       the filesystem of the pod log root
//   KestrelContainerFilesystemFull                                 the container runtime's filesystem
//
// Each is sampled on an interval and carries status True/False, a reason, a message with the figures, the time of
// its last change of status (lastTransitionTime) and of its last sample (lastHeartbeatTime). A condition whose
// input cannot be read keeps its last state (the failure is counted); one whose input does not exist (no PSI in the
// kernel, no container filesystem path) is left out.
import fs from 'node:fs';
import path from 'node:path';
import type { NodeCondition } from '@kestrel/proto/cloud/v1';
import type { NodeSourceEvents } from './events.js';
import { fillLevel, type StatfsFn } from './filesystems.js';
import { timestampOf } from './kube-object.js';
import { Hysteresis, parsePressure, PRESSURE_RESOURCES, ResourcePressure, type PressureResource, type PressureThresholds } from './pressure.js';

export const OWN_CONDITION_TYPES = {
  cpu: 'KestrelCPUPressure',
  memory: 'KestrelMemoryPressure',
  io: 'KestrelIOPressure',
  logFilesystem: 'KestrelLogFilesystemFull',
  containerFilesystem: 'KestrelContainerFilesystemFull',
} as const;

const PRESSURE_TYPE: Record<PressureResource, string> = { cpu: OWN_CONDITION_TYPES.cpu, memory: OWN_CONDITION_TYPES.memory, io: OWN_CONDITION_TYPES.io };

export interface OwnConditionsOptions {
  /** Where the host's /proc is mounted (/proc, or /host/proc in the chart). */
  procRoot: string;
  /** The pod log root (its filesystem is the log filesystem). */
  logRoot: string;
  /** A path on the container runtime's filesystem, e.g. /var/lib/containerd; undefined: not watched. */
  containerFilesystem: string | undefined;
  pressureThresholds: PressureThresholds;
  /** Percentage points below a pressure threshold at which the condition turns False again. */
  pressureHysteresis: number;
  /** Space or inodes used, in percent, at which a filesystem condition turns True. */
  fsFullPercent: number;
  /** Percentage points below fsFullPercent at which it turns False again. */
  fsFullHysteresis: number;
  statfs: StatfsFn;
  now: () => number;
}

type Outcome = { status: 'True' | 'False'; reason: string; message: string } | 'absent' | 'keep';

interface WatchedFilesystem {
  type: string;
  source: 'log_filesystem' | 'container_filesystem';
  label: string;
  path: string;
  level: Hysteresis;
  missing: boolean;
}

export type PsiState = 'unknown' | 'available' | 'unavailable';

export class OwnConditions {
  private readonly conditions = new Map<string, NodeCondition>();
  private readonly pressure: ResourcePressure[];
  private readonly filesystems: WatchedFilesystem[] = [];
  psi: PsiState = 'unknown';
  lastSampleAt: number | undefined;

  constructor(
    private readonly options: OwnConditionsOptions,
    private readonly events: NodeSourceEvents,
  ) {
    this.pressure = PRESSURE_RESOURCES.map((r) => new ResourcePressure(r, options.pressureThresholds[r], options.pressureHysteresis)).filter((p) => p.enabled);
    const fsLevel = () => new Hysteresis(options.fsFullPercent, options.fsFullHysteresis);
    this.filesystems.push({ type: OWN_CONDITION_TYPES.logFilesystem, source: 'log_filesystem', label: 'log filesystem', path: options.logRoot, level: fsLevel(), missing: false });
    if (options.containerFilesystem) {
      this.filesystems.push({ type: OWN_CONDITION_TYPES.containerFilesystem, source: 'container_filesystem', label: 'container filesystem', path: options.containerFilesystem, level: fsLevel(), missing: false });
    }
  }

  /** The conditions as of the last sample, in a fixed order. */
  current(): NodeCondition[] {
    return [...this.conditions.values()].map((c) => ({ ...c }));
  }

  async sample(): Promise<NodeCondition[]> {
    const outcomes = new Map<string, Outcome>();
    await this.samplePressure(outcomes);
    for (const f of this.filesystems) outcomes.set(f.type, await this.sampleFilesystem(f));
    const now = this.options.now();
    this.lastSampleAt = now;
    // Rebuilt in a fixed order, so that conditions are always listed the same way.
    const before = new Map(this.conditions);
    this.conditions.clear();
    for (const type of Object.values(OWN_CONDITION_TYPES)) {
      const outcome = outcomes.get(type);
      const previous = before.get(type);
      if (outcome === undefined || outcome === 'absent') {
        if (previous) this.events.conditionState(type, undefined);
        continue;
      }
      if (outcome === 'keep') {
        if (previous) this.conditions.set(type, previous);
        continue;
      }
      this.conditions.set(type, {
        type,
        status: outcome.status,
        reason: outcome.reason,
        message: outcome.message,
        lastHeartbeatTime: timestampOf(now),
        lastTransitionTime: previous && previous.status === outcome.status ? previous.lastTransitionTime : timestampOf(now),
      });
      this.events.conditionState(type, outcome.status);
    }
    return this.current();
  }

  private async samplePressure(outcomes: Map<string, Outcome>): Promise<void> {
    if (this.pressure.length === 0 || this.psi === 'unavailable') return;
    const dir = path.join(this.options.procRoot, 'pressure');
    if (this.psi === 'unknown') {
      try {
        await fs.promises.access(dir);
        this.psi = 'available';
        this.events.psiAvailable();
      } catch (err) {
        if (errnoCode(err) !== 'ENOENT') {
          // Could not look (permissions): not a verdict on the kernel; try again next time.
          this.events.sampleError('pressure', err);
          for (const p of this.pressure) outcomes.set(PRESSURE_TYPE[p.resource], 'keep');
          return;
        }
        this.unavailable(dir, 'no such directory');
        return;
      }
    }
    for (const p of this.pressure) {
      const type = PRESSURE_TYPE[p.resource];
      const file = path.join(dir, p.resource);
      let text: string;
      try {
        text = await fs.promises.readFile(file, 'utf8');
      } catch (err) {
        // psi=0 on a kernel built with PSI: the files exist and reading them fails with EOPNOTSUPP.
        if (errnoCode(err) === 'EOPNOTSUPP') {
          this.unavailable(file, 'operation not supported');
          for (const q of this.pressure) outcomes.delete(PRESSURE_TYPE[q.resource]);
          return;
        }
        this.events.sampleError('pressure', err);
        outcomes.set(type, 'keep');
        continue;
      }
      try {
        const judged = p.judge(parsePressure(text));
        outcomes.set(type, { status: judged.pressured ? 'True' : 'False', reason: judged.pressured ? 'PressureStallHigh' : 'PressureStallNormal', message: judged.message });
      } catch (err) {
        this.events.sampleError('pressure', new Error(`${file}: ${err instanceof Error ? err.message : String(err)}`));
        outcomes.set(type, 'keep');
      }
    }
  }

  private unavailable(where: string, reason: string): void {
    this.psi = 'unavailable';
    this.events.psiUnavailable(where, reason);
  }

  private async sampleFilesystem(f: WatchedFilesystem): Promise<Outcome> {
    try {
      const level = fillLevel(await this.options.statfs(f.path));
      if (f.missing) {
        f.missing = false;
        this.events.pathMissing(f.source, f.path, false);
      }
      const used = Math.max(level.spacePercent, level.inodesPercent);
      const full = f.level.update(used);
      return {
        status: full ? 'True' : 'False',
        reason: full ? 'FilesystemFull' : 'FilesystemHasSpace',
        message: `${f.label} at ${f.path}: ${level.spacePercent.toFixed(1)}% of space and ${level.inodesPercent.toFixed(1)}% of inodes used (threshold ${f.level.threshold}%, clears at ${f.level.clearAt}%)`,
      };
    } catch (err) {
      if (errnoCode(err) === 'ENOENT') {
        if (!f.missing) {
          f.missing = true;
          f.level.active = false;
          this.events.pathMissing(f.source, f.path, true);
        }
        return 'absent';
      }
      this.events.sampleError(f.source, err);
      return 'keep';
    }
  }
}

function errnoCode(err: unknown): string {
  return typeof err === 'object' && err !== null && typeof (err as { code?: unknown }).code === 'string' ? (err as { code: string }).code : '';
}
