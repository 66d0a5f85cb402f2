// Reads a V8 .cpuprofile (node --cpu-prof) and tells where the time went: functions by self time, functions of
// our own packages by inclusive time, self time by where the code lives (our packages, a dependency, Node's
// internals, V8's garbage collector, idle) and by the nearest of our own frames on the stack. The profile samples
// the main thread only: zlib's work on libuv's thread pool and V8's concurrent GC threads are not in it.
import fs from 'node:fs';

interface ProfileNode {
  id: number;
  callFrame: { functionName: string; url: string; lineNumber: number; columnNumber: number };
  hitCount?: number;
  children?: number[];
}

interface CpuProfile {
  nodes: ProfileNode[];
  startTime: number;
  endTime: number;
  samples: number[];
  timeDeltas: number[];
}

export interface ProfileRow {
  name: string;
  where: string;
  ms: number;
  percent: number;
}

export interface ProfileSummary {
  /** Sampled time, ms (idle included). */
  totalMs: number;
  /** Sampled time not idle, ms: the base of every percentage. */
  busyMs: number;
  self: ProfileRow[];
  inclusiveOwn: ProfileRow[];
  byPlace: ProfileRow[];
  /**
   * Self time by the nearest of our own frames on the stack (its package and folder; generated protobuf code counts
   * for its caller): which part of our code caused it.
   */
  byOwner: ProfileRow[];
}

/** Where a script lives: "@kestrel/aggregator dist/ingest/service.js", "nice-grpc", "node:zlib", "(gc)". */
export function placeOf(url: string, functionName: string): string {
  if (!url) return functionName.startsWith('(') ? functionName : '(native)';
  const pnpm = /node_modules\/\.pnpm\/[^/]+\/node_modules\/((?:@[^/]+\/)?[^/]+)\//.exec(url);
  if (pnpm) return pnpm[1]!;
  const own = /\/packages\/([^/]+)\/dist\/(.*)$/.exec(url);
  if (own) return `@kestrel/${own[1]} ${own[2]}`;
  if (url.startsWith('node:')) return url;
  return url.replace(/^file:\/\//, '');
}

const packageOf = (place: string): string => (place.startsWith('@kestrel/') ? place.split(' ')[0]! : place.startsWith('node:') ? `node:${place.slice(5).split('/')[0]}` : place);

export function summarizeCpuProfile(file: string, top = 25): ProfileSummary {
  const profile = JSON.parse(fs.readFileSync(file, 'utf8')) as CpuProfile;
  const byId = new Map<number, ProfileNode>();
  const parent = new Map<number, number>();
  for (const n of profile.nodes) {
    byId.set(n.id, n);
    for (const c of n.children ?? []) parent.set(c, n.id);
  }
  // Sample i lasted until the next one: timeDeltas[i + 1] (microseconds).
  const selfUs = new Map<number, number>();
  for (let i = 0; i < profile.samples.length; i++) {
    const dt = profile.timeDeltas[i + 1] ?? 0;
    selfUs.set(profile.samples[i]!, (selfUs.get(profile.samples[i]!) ?? 0) + dt);
  }
  let totalUs = 0;
  let idleUs = 0;
  const selfByFunction = new Map<string, { name: string; where: string; us: number }>();
  const byPlace = new Map<string, number>();
  const inclusive = new Map<string, { name: string; where: string; us: number }>();
  const byOwner = new Map<string, number>();
  for (const [id, us] of selfUs) {
    const node = byId.get(id)!;
    const { functionName, url, lineNumber } = node.callFrame;
    totalUs += us;
    if (functionName === '(idle)') {
      idleUs += us;
      continue;
    }
    const place = placeOf(url, functionName);
    const name = functionName || '(anonymous)';
    const key = `${name}|${url}|${lineNumber}`;
    const row = selfByFunction.get(key) ?? { name, where: `${place}${url ? `:${lineNumber + 1}` : ''}`, us: 0 };
    row.us += us;
    selfByFunction.set(key, row);
    const pkg = packageOf(place);
    byPlace.set(pkg, (byPlace.get(pkg) ?? 0) + us);
    // Inclusive time of our own functions: each distinct function on the stack counts once per sample.
    const seen = new Set<string>();
    let owner: string | undefined;
    for (let at: number | undefined = id; at !== undefined; at = parent.get(at)) {
      const f = byId.get(at)!.callFrame;
      if (!f.url.includes('/packages/')) continue;
      // Generated protobuf code works for whoever called it: the owner is the caller.
      if (owner === undefined && !f.url.includes('/proto/dist/gen/')) {
        const own = /\/packages\/([^/]+)\/dist\/(?:([^/]+)\/)?[^/]+$/.exec(f.url);
        owner = own ? `@kestrel/${own[1]}${own[2] ? ` ${own[2]}/` : ''}` : f.url;
      }
      const k = `${f.functionName}|${f.url}|${f.lineNumber}`;
      if (seen.has(k)) continue;
      seen.add(k);
      const r = inclusive.get(k) ?? { name: f.functionName || '(anonymous)', where: `${placeOf(f.url, f.functionName)}:${f.lineNumber + 1}`, us: 0 };
      r.us += us;
      inclusive.set(k, r);
    }
    const ownerKey = owner ?? `no own frame: ${pkg}`;
    byOwner.set(ownerKey, (byOwner.get(ownerKey) ?? 0) + us);
  }
  const busyUs = totalUs - idleUs;
  const rows = (xs: Iterable<{ name: string; where: string; us: number }>) =>
    [...xs]
      .sort((a, b) => b.us - a.us)
      .slice(0, top)
      .map((r) => ({ name: r.name, where: r.where, ms: r.us / 1000, percent: (100 * r.us) / busyUs }));
  return {
    totalMs: totalUs / 1000,
    busyMs: busyUs / 1000,
    self: rows(selfByFunction.values()),
    inclusiveOwn: rows(inclusive.values()),
    byPlace: rows([...byPlace].map(([name, us]) => ({ name, where: '', us }))),
    byOwner: rows([...byOwner].map(([name, us]) => ({ name, where: '', us }))),
  };
}

export function printProfileSummary(s: ProfileSummary, out: (line: string) => void): void {
  out(`profile: ${(s.busyMs / 1000).toFixed(1)} s busy of ${(s.totalMs / 1000).toFixed(1)} s sampled (percentages of busy time)`);
  out('  self time by place (where the code that ran lives):');
  for (const r of s.byPlace.filter((x) => x.percent >= 0.5)) out(`    ${r.percent.toFixed(1).padStart(5)} %  ${r.name}`);
  out('  self time by the nearest of our frames on the stack (which part of ours caused it):');
  for (const r of s.byOwner.filter((x) => x.percent >= 0.5)) out(`    ${r.percent.toFixed(1).padStart(5)} %  ${r.name}`);
  out('  top functions by self time:');
  for (const r of s.self) out(`    ${r.percent.toFixed(1).padStart(5)} %  ${r.name}  (${r.where})`);
  out('  our functions by inclusive time:');
  for (const r of s.inclusiveOwn) out(`    ${r.percent.toFixed(1).padStart(5)} %  ${r.name}  (${r.where})`);
}
