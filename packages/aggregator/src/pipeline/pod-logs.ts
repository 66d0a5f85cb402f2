// Turns an agent's LogChunk into cloud.v1 PodLogs messages: one per container log stretch, split so that no
// message exceeds the entry and byte limits (the cloud refuses messages over 10 MiB; we stay well under).
import type { PodLogs, LogEntry } from '@kestrel/proto/cloud/v1';
import type { LogChunk, LogLine } from '@kestrel/proto/ingest/v1';

export interface PodLogsLimits {
  maxEntries: number;
  maxBytes: number;
}

/** Rough encoded size of an entry: message bytes plus timestamp, line number and framing. */
const entrySize = (line: LogLine): number => Buffer.byteLength(line.message) + 32;

export function toPodLogs(node: string, chunk: LogChunk, lines: readonly LogLine[], limits: PodLogsLimits, now: Date): PodLogs[] {
  const out: PodLogs[] = [];
  let entries: LogEntry[] = [];
  let bytes = 0;
  const seal = () => {
    if (entries.length === 0) return;
    out.push({
      podName: chunk.podName,
      namespace: chunk.namespace,
      podUid: chunk.podUid,
      containerName: chunk.containerName,
      logEntries: entries,
      previousContainer: false,
      collectionTimestamp: { seconds: Math.floor(now.getTime() / 1000), nanos: (now.getTime() % 1000) * 1e6 },
      totalLines: entries.length,
      streamComplete: false,
      // As the published operator: the line number of the last entry in the message.
      streamOffset: entries[entries.length - 1]!.lineNumber,
      ownerReferences: [],
      nodeName: node,
    });
    entries = [];
    bytes = 0;
  };
  for (const line of lines) {
    const size = entrySize(line);
    if (entries.length > 0 && (entries.length >= limits.maxEntries || bytes + size > limits.maxBytes)) seal();
    entries.push({ timestamp: line.timestamp, message: line.message, level: '', lineNumber: line.lineNumber, errorInfo: undefined });
    bytes += size;
  }
  seal();
  return out;
}
