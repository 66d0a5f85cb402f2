// Reads what cloud-dev stored: <data-dir>/logs.jsonl, one StreamLogsRequest per line (its proto JSON under
// `message`), and flattens the PodLogs into entries a test can count.
import fs from 'node:fs';
import path from 'node:path';

export interface StoredEntry {
  namespace: string;
  pod: string;
  podUid: string;
  container: string;
  nodeName: string;
  message: string;
  timestamp: string;
  lineNumber: number;
}

interface StoredPodLogs {
  podName?: string;
  namespace?: string;
  podUid?: string;
  containerName?: string;
  nodeName?: string;
  logEntries?: { message?: string; timestamp?: string; lineNumber?: number | string }[];
}

export function readStoredLogEntries(dataDir: string): StoredEntry[] {
  const file = path.join(dataDir, 'logs.jsonl');
  if (!fs.existsSync(file)) return [];
  const out: StoredEntry[] = [];
  for (const line of fs.readFileSync(file, 'utf8').split('\n')) {
    if (!line) continue;
    const record = JSON.parse(line) as { message?: { podLogs?: StoredPodLogs } };
    const logs = record.message?.podLogs;
    if (!logs) continue;
    for (const e of logs.logEntries ?? []) {
      out.push({
        namespace: logs.namespace ?? '',
        pod: logs.podName ?? '',
        podUid: logs.podUid ?? '',
        container: logs.containerName ?? '',
        nodeName: logs.nodeName ?? '',
        message: e.message ?? '',
        timestamp: e.timestamp ?? '',
        lineNumber: Number(e.lineNumber ?? 0),
      });
    }
  }
  return out;
}

/** Cheap count from cloud-dev's summary.json (messages and log entries per stream), or 0 before the first flush. */
export function readSummary(dataDir: string): Record<string, unknown> {
  try {
    return JSON.parse(fs.readFileSync(path.join(dataDir, 'summary.json'), 'utf8')) as Record<string, unknown>;
  } catch {
    return {};
  }
}
