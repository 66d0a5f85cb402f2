// Checks what cloud-dev stored against what the simulated containers wrote: every line present exactly once.
// Reads the store files line by line and skips a line that is not JSON (cloud-dev killed mid-write leaves one,
// which its next start terminates), so a test can read the store after a crash.
import fs from 'node:fs';
import path from 'node:path';
import { messageFor, type SimulatedContainer } from './pod-writer.js';

export interface StoredLog {
  stream: string;
  podUid: string;
  container: string;
  message: string;
  lineNumber: number;
}

export function readStoredLogs(dataDir: string, streams: readonly string[] = ['logs']): StoredLog[] {
  const out: StoredLog[] = [];
  for (const stream of streams) {
    const file = path.join(dataDir, `${stream}.jsonl`);
    if (!fs.existsSync(file)) continue;
    for (const line of fs.readFileSync(file, 'utf8').split('\n')) {
      if (!line.includes('"podLogs"')) continue;
      let logs: { podUid?: string; containerName?: string; logEntries?: { message?: string; lineNumber?: number | string }[] } | undefined;
      try {
        logs = (JSON.parse(line) as { message?: { podLogs?: typeof logs } }).message?.podLogs;
      } catch {
        continue;
      }
      for (const e of logs?.logEntries ?? []) {
        out.push({ stream, podUid: logs?.podUid ?? '', container: logs?.containerName ?? '', message: e.message ?? '', lineNumber: Number(e.lineNumber ?? 0) });
      }
    }
  }
  return out;
}

/** Waits (polling) until at least `total` log entries are stored, or the deadline passes; returns the count seen. */
export async function waitForStored(dataDir: string, total: number, timeoutMs: number, streams: readonly string[] = ['logs']): Promise<number> {
  const deadline = Date.now() + timeoutMs;
  let seen = 0;
  while (Date.now() < deadline) {
    seen = readStoredLogs(dataDir, streams).length;
    if (seen >= total) return seen;
    await new Promise((r) => setTimeout(r, 500));
  }
  return seen;
}

/** Every written line found exactly once, with its line number; returns the problems (empty when all is well). */
export function exactlyOnceProblems(containers: readonly SimulatedContainer[], stored: readonly StoredLog[]): string[] {
  const byMessage = new Map<string, StoredLog[]>();
  for (const e of stored) {
    const list = byMessage.get(e.message);
    if (list) list.push(e);
    else byMessage.set(e.message, [e]);
  }
  const problems: string[] = [];
  let expected = 0;
  for (const c of containers) {
    for (let seq = 1; seq <= c.written; seq++) {
      expected++;
      const found = byMessage.get(messageFor(c, seq)) ?? [];
      if (found.length !== 1) problems.push(`${c.pod}/${c.container} seq=${seq} stored ${found.length} times`);
      else if (found[0]!.lineNumber !== seq || found[0]!.podUid !== c.uid) problems.push(`${c.pod}/${c.container} seq=${seq} stored as line ${found[0]!.lineNumber} of ${found[0]!.podUid}`);
    }
  }
  if (stored.length !== expected) problems.unshift(`${stored.length} entries stored for ${expected} lines written`);
  return problems;
}

/** cloud-dev's summary.json (counts, replays, renewals, refusals). */
export function readCloudSummary(dataDir: string): Record<string, unknown> {
  try {
    return JSON.parse(fs.readFileSync(path.join(dataDir, 'summary.json'), 'utf8')) as Record<string, unknown>;
  } catch {
    return {};
  }
}
