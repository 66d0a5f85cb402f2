// Pressure stall information (PSI, Linux 4.20+): <procRoot>/pressure/{cpu,memory,io}, each a `some` line (share of
// time at least one task was stalled on the resource) and, except cpu on kernels before 5.13, a `full` line (all
// non-idle tasks stalled at once):
//
//   some avg10=1.53 avg60=0.87 avg300=0.21 total=4210981
//   full avg10=0.00 avg60=0.00 avg300=0.00 total=119102
//
// avg10 is the percentage over the last 10 seconds. A threshold turns a condition True and a lower level turns it
// back False (hysteresis), so a value hovering around the threshold does not flap.

export const PRESSURE_RESOURCES = ['cpu', 'memory', 'io'] as const;
export type PressureResource = (typeof PRESSURE_RESOURCES)[number];
export type StallKind = 'some' | 'full';

export interface PressureLine {
  avg10: number;
  avg60: number;
  avg300: number;
  total: number;
}

export interface PressureFile {
  some: PressureLine;
  full: PressureLine | undefined;
}

/** avg10 percentages at which a resource counts as under pressure; 0 leaves that line out. */
export type PressureThresholds = Record<PressureResource, Record<StallKind, number>>;

export const DEFAULT_PRESSURE_THRESHOLDS: PressureThresholds = {
  cpu: { some: 80, full: 0 },
  memory: { some: 50, full: 10 },
  io: { some: 80, full: 30 },
};

export class PressureParseError extends Error {
  override name = 'PressureParseError';
}

const NUMBER = /^\d+(?:\.\d+)?$/;

/** Parses one pressure file; throws PressureParseError when it is not in the kernel's format. */
export function parsePressure(text: string): PressureFile {
  const lines: Partial<Record<StallKind, PressureLine>> = {};
  for (const raw of text.split('\n')) {
    const line = raw.trim();
    if (!line) continue;
    const [kind, ...fields] = line.split(/\s+/);
    if (kind !== 'some' && kind !== 'full') throw new PressureParseError(`unexpected line ${JSON.stringify(line.slice(0, 80))}`);
    if (lines[kind]) throw new PressureParseError(`two "${kind}" lines`);
    const values = new Map<string, string>();
    for (const f of fields) {
      const eq = f.indexOf('=');
      if (eq <= 0) throw new PressureParseError(`malformed field ${JSON.stringify(f.slice(0, 40))} in the "${kind}" line`);
      values.set(f.slice(0, eq), f.slice(eq + 1));
    }
    const read = (key: keyof PressureLine, max: number): number => {
      const v = values.get(key);
      if (v === undefined) throw new PressureParseError(`no ${key} in the "${kind}" line`);
      if (!NUMBER.test(v) || Number(v) > max) throw new PressureParseError(`${key}=${JSON.stringify(v.slice(0, 20))} is not a percentage in the "${kind}" line`);
      return Number(v);
    };
    const total = values.get('total');
    lines[kind] = {
      avg10: read('avg10', 100),
      avg60: read('avg60', 100),
      avg300: read('avg300', 100),
      total: total !== undefined && /^\d+$/.test(total) ? Number(total) : 0,
    };
  }
  if (!lines.some) throw new PressureParseError('no "some" line');
  return { some: lines.some, full: lines.full };
}

/**
 * One threshold with hysteresis: becomes active when the value reaches `threshold`, and inactive again only when it
 * falls to `threshold - band` (at least 0) or below. A threshold of 0 or less is never active.
 */
export class Hysteresis {
  active = false;

  constructor(
    readonly threshold: number,
    readonly band: number,
  ) {}

  get clearAt(): number {
    return Math.max(0, this.threshold - this.band);
  }

  update(value: number): boolean {
    if (this.threshold <= 0) return (this.active = false);
    if (!this.active && value >= this.threshold) this.active = true;
    else if (this.active && value <= this.clearAt) this.active = false;
    return this.active;
  }
}

export interface PressureJudgement {
  pressured: boolean;
  message: string;
}

/** One resource's pressure: its `some` and `full` thresholds, each with its own hysteresis. */
export class ResourcePressure {
  private readonly some: Hysteresis;
  private readonly full: Hysteresis;

  constructor(
    readonly resource: PressureResource,
    thresholds: Record<StallKind, number>,
    band: number,
  ) {
    this.some = new Hysteresis(thresholds.some, band);
    this.full = new Hysteresis(thresholds.full, band);
  }

  /** False when no threshold is set: the resource is not reported at all. */
  get enabled(): boolean {
    return this.some.threshold > 0 || this.full.threshold > 0;
  }

  judge(file: PressureFile): PressureJudgement {
    const some = this.some.update(file.some.avg10);
    // cpu has no `full` line before Linux 5.13: that threshold then never fires (and a held state clears).
    const full = this.full.update(file.full?.avg10 ?? 0);
    const describe = (kind: StallKind, h: Hysteresis, line: PressureLine | undefined) =>
      line === undefined ? `${kind} n/a` : `${kind} avg10=${line.avg10.toFixed(2)}%` + (h.threshold > 0 ? ` (threshold ${h.threshold}%, clears at ${h.clearAt}%)` : '');
    return { pressured: some || full, message: `${this.resource} pressure stall: ${describe('some', this.some, file.some)}, ${describe('full', this.full, file.full)}` };
  }
}

/** Parses "cpu.some=80,memory.full=10" over the defaults; throws with a readable message. 0 turns a line off. */
export function parsePressureThresholds(text: string, defaults: PressureThresholds = DEFAULT_PRESSURE_THRESHOLDS): PressureThresholds {
  const out: PressureThresholds = { cpu: { ...defaults.cpu }, memory: { ...defaults.memory }, io: { ...defaults.io } };
  const trimmed = text.trim();
  if (trimmed === 'none') return { cpu: { some: 0, full: 0 }, memory: { some: 0, full: 0 }, io: { some: 0, full: 0 } };
  for (const entry of trimmed.split(',').map((e) => e.trim()).filter(Boolean)) {
    const m = /^(cpu|memory|io)\.(some|full)=(\d+(?:\.\d+)?)$/.exec(entry);
    if (!m || Number(m[3]) > 100) throw new Error(`"${entry}": expected resource.kind=percent with resource cpu, memory or io, kind some or full, percent 0 to 100 (0 = off), e.g. memory.full=10`);
    out[m[1] as PressureResource][m[2] as StallKind] = Number(m[3]);
  }
  return out;
}
