// V8's trigger for full garbage collections, tuned for long-running services whose heap is mostly loaded code.
//
// By default V8 starts marking the old generation as soon as the room left below its limit is smaller than the
// young generation's capacity (tens of MiB on a machine with a large heap limit). After each collection the
// aggregator's old generation (~45 MiB, most of it loaded code) got a limit only ~40 MiB above it, so marking
// started again at once: a full mark-compact every second at 10,000 lines/s, each reclaiming ~2 MiB, for a quarter
// of the process's CPU (`--trace-gc --trace-incremental-marking`: "Start (task)" with 40 MiB of room left).
// With percentage triggers V8 starts marking once that share of the room since the last collection is used
// (soft: in a task; hard: at once), so collections follow what is actually allocated. Measured in
// docs/BENCHMARKS.md ("Latency: write to cloud", session 6; in the ingest bench they change nothing measurable).
//
// `heapGrowingPercent` (the aggregator's choice) caps how far the old generation may grow past what the last full
// collection kept: V8 otherwise lets it grow by a factor of up to 4 when collections look cheap. Once the aggregator
// freed its large buffers itself (@kestrel/proto/buffers), its external memory stopped prompting V8's full
// collections, and the old generation grew into the room: the RSS saved outside the heap came back inside it. With
// 20 % the ingest bench's aggregator peaked at 223 MiB instead of 289-298 at 110,000 records/s, for ~0.4 more CPU
// seconds per million records (docs/BENCHMARKS.md, "Aggregator ingest", session 9).
import v8 from 'node:v8';

export const GC_FLAGS = ['--incremental-marking-soft-trigger=80', '--incremental-marking-hard-trigger=95'] as const;

export interface GcTuning {
  /** The old generation's limit after a full collection: this percentage above what it kept. V8 decides if unset. */
  heapGrowingPercent?: number;
}

/**
 * Sets the flags (read by V8 at each decision, so setting them while running takes effect). Idempotent.
 * KESTREL_GC_TUNING=off leaves V8's defaults (comparisons; a Node.js upgrade that changes these heuristics).
 */
export function tuneGarbageCollection(env: NodeJS.ProcessEnv = process.env, tuning: GcTuning = {}): boolean {
  if (env['KESTREL_GC_TUNING'] === 'off') return false;
  for (const flag of gcFlags(tuning)) v8.setFlagsFromString(flag);
  return true;
}

/** The V8 flags that tuneGarbageCollection sets. */
export function gcFlags(tuning: GcTuning = {}): string[] {
  const flags: string[] = [...GC_FLAGS];
  const percent = tuning.heapGrowingPercent;
  if (percent !== undefined) {
    if (!Number.isInteger(percent) || percent < 1 || percent > 300) throw new RangeError(`heapGrowingPercent must be an integer from 1 to 300, not ${percent}`);
    flags.push(`--heap-growing-percent=${percent}`);
  }
  return flags;
}
