// Drops PodLogs entries the store already holds, as a receiver of the real protocol can: the operator sends again
// what it wrote in its replay window when a stream breaks, and `line_number` (with `stream_offset`, the line number
// of a message's last entry) says where each entry sits in its container's log stream.
//
// Per log stream (pod uid, container, previous-container flag) we remember the highest line number stored and that
// entry's timestamp. An entry is a replay when its line number is at or below the high-water mark and its timestamp
// is not later than the mark's: a container that restarts numbers its lines from 1 again, but with later timestamps,
// so its new lines are kept (and move the mark back). Entries without a line number are always kept.
//
// The marks are rebuilt from the store's files at start (logs.jsonl and the pod_logs of data.jsonl), so a restarted
// cloud-dev still recognises replays of what an earlier run stored.
import { createReadStream } from 'node:fs';
import readline from 'node:readline';
import type { PodLogs } from '@kestrel/proto/cloud/v1';
import type { Timestamp } from '@kestrel/proto/google/protobuf/timestamp';

interface Mark {
  line: number;
  seconds: number;
  nanos: number;
}

export interface ReplayVerdict {
  /** The message to store (entries filtered), or undefined when every entry was a replay. */
  keep: PodLogs | undefined;
  /** Entries dropped as replays. */
  replayed: number;
}

export interface ReplayCounts {
  /** Messages dropped whole because every entry was already stored. */
  messages: number;
  /** Entries dropped (in whole or partly replayed messages). */
  entries: number;
}

export class LogReplayFilter {
  private readonly marks = new Map<string, Mark>();
  readonly counts: ReplayCounts = { messages: 0, entries: 0 };

  static key(logs: Pick<PodLogs, 'podUid' | 'namespace' | 'podName' | 'containerName' | 'previousContainer'>): string {
    const pod = logs.podUid !== '' ? logs.podUid : `${logs.namespace}/${logs.podName}`;
    return `${pod}|${logs.containerName}|${logs.previousContainer ? 'previous' : 'current'}`;
  }

  /** Decides what of a received message to store, and remembers what was stored. */
  admit(logs: PodLogs): ReplayVerdict {
    const key = LogReplayFilter.key(logs);
    const kept = logs.logEntries.filter((entry) => this.take(key, entry.lineNumber, entry.timestamp));
    const replayed = logs.logEntries.length - kept.length;
    if (replayed === 0) return { keep: logs, replayed: 0 };
    this.counts.entries += replayed;
    if (kept.length === 0) {
      this.counts.messages++;
      return { keep: undefined, replayed };
    }
    return { keep: { ...logs, logEntries: kept }, replayed };
  }

  /** Feeds an entry already in the store (at start); stored JSON carries the timestamp as RFC 3339 text. */
  remember(key: string, lineNumber: number, timestamp: string | undefined): void {
    this.take(key, lineNumber, timestamp === undefined ? undefined : parseTimestamp(timestamp));
  }

  get size(): number {
    return this.marks.size;
  }

  /** True (and the mark moves) when the entry is new. */
  private take(key: string, line: number, timestamp: Timestamp | undefined): boolean {
    if (!line) return true;
    const seconds = timestamp?.seconds ?? 0;
    const nanos = timestamp?.nanos ?? 0;
    const mark = this.marks.get(key);
    if (mark && line <= mark.line && (seconds < mark.seconds || (seconds === mark.seconds && nanos <= mark.nanos))) return false;
    this.marks.set(key, { line, seconds, nanos });
    return true;
  }
}

/** RFC 3339 (as proto3 JSON prints a Timestamp, 0 to 9 fraction digits) to seconds and nanos. */
export function parseTimestamp(text: string): Timestamp | undefined {
  const m = /^(\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d)(?:\.(\d{1,9}))?(Z|[+-]\d\d:\d\d)$/.exec(text);
  if (!m) return undefined;
  const ms = Date.parse(`${m[1]}${m[3]}`);
  if (Number.isNaN(ms)) return undefined;
  return { seconds: Math.floor(ms / 1000), nanos: Number((m[2] ?? '').padEnd(9, '0')) };
}

interface StoredPodLogs {
  podUid?: string;
  namespace?: string;
  podName?: string;
  containerName?: string;
  previousContainer?: boolean;
  logEntries?: { lineNumber?: number | string; timestamp?: string }[];
}

/** Rebuilds the marks from what the store files already hold (lines that are not JSON, e.g. cut by a crash, are skipped). */
export async function rememberStored(filter: LogReplayFilter, files: readonly string[]): Promise<void> {
  for (const file of files) {
    let lines: readline.Interface;
    try {
      const input = createReadStream(file, { encoding: 'utf8' });
      await new Promise<void>((resolve, reject) => {
        input.once('open', () => resolve());
        input.once('error', reject);
      });
      lines = readline.createInterface({ input, crlfDelay: Infinity });
    } catch (err) {
      if ((err as NodeJS.ErrnoException).code === 'ENOENT') continue;
      throw err;
    }
    for await (const line of lines) {
      if (!line.includes('"podLogs"')) continue;
      let logs: StoredPodLogs | undefined;
      try {
        logs = (JSON.parse(line) as { message?: { podLogs?: StoredPodLogs } }).message?.podLogs;
      } catch {
        continue;
      }
      if (!logs) continue;
      const key = LogReplayFilter.key({
        podUid: logs.podUid ?? '',
        namespace: logs.namespace ?? '',
        podName: logs.podName ?? '',
        containerName: logs.containerName ?? '',
        previousContainer: logs.previousContainer ?? false,
      });
      for (const entry of logs.logEntries ?? []) filter.remember(key, Number(entry.lineNumber ?? 0), entry.timestamp);
    }
  }
}
