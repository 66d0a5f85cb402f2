// The container's limits as cgroup v2 states them (what the kubelet set from the pod's resources): memory.max and
// cpu.max under /sys/fs/cgroup. No limit ("max") or no cgroup v2 (files absent) reads as 0, as OperatorStats means.
import fs from 'node:fs';
import path from 'node:path';

export interface CgroupFacts {
  memoryLimitBytes: number;
  cpuLimitNanoCores: number;
  /** memory.current (what the kubelet counts against the limit), when present. */
  memoryCurrentBytes: number | undefined;
}

/** memory.max: a byte count, or "max" for none. */
export function parseMemoryMax(text: string): number {
  const t = text.trim();
  if (t === '' || t === 'max') return 0;
  const n = Number(t);
  return Number.isFinite(n) && n >= 0 ? n : 0;
}

/** cpu.max: "$QUOTA $PERIOD" in microseconds ("max 100000" for none) -> nano cores (quota / period * 1e9). */
export function parseCpuMax(text: string): number {
  const [quota, period] = text.trim().split(/\s+/);
  if (!quota || quota === 'max') return 0;
  const q = Number(quota);
  const p = Number(period ?? 100_000);
  if (!Number.isFinite(q) || !Number.isFinite(p) || p <= 0) return 0;
  return Math.round((q / p) * 1e9);
}

function read(file: string): string | undefined {
  try {
    return fs.readFileSync(file, 'utf8');
  } catch {
    return undefined;
  }
}

export function readCgroup(root = '/sys/fs/cgroup'): CgroupFacts {
  const memoryMax = read(path.join(root, 'memory.max'));
  const cpuMax = read(path.join(root, 'cpu.max'));
  const current = read(path.join(root, 'memory.current'));
  const currentBytes = current === undefined ? undefined : Number(current.trim());
  return {
    memoryLimitBytes: memoryMax === undefined ? 0 : parseMemoryMax(memoryMax),
    cpuLimitNanoCores: cpuMax === undefined ? 0 : parseCpuMax(cpuMax),
    memoryCurrentBytes: currentBytes !== undefined && Number.isFinite(currentBytes) ? currentBytes : undefined,
  };
}
