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
import v8 from 'node:v8';

export const GC_FLAGS = ['--incremental-marking-soft-trigger=80', '--incremental-marking-hard-trigger=95'] as const;

/**
 * Sets the flags (read by V8 at each decision, so setting them while running takes effect). Idempotent.
 * KESTREL_GC_TUNING=off leaves V8's defaults (comparisons; a Node.js upgrade that changes these heuristics).
 */
export function tuneGarbageCollection(env: NodeJS.ProcessEnv = process.env): boolean {
  if (env['KESTREL_GC_TUNING'] === 'off') return false;
  for (const flag of GC_FLAGS) v8.setFlagsFromString(flag);
  return true;
}
