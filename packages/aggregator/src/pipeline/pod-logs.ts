// Turns an agent's LogChunk into cloud.v1 PodLogs messages: one per container log stretch, split so that no
// message exceeds the entry and byte limits (the cloud refuses messages over 10 MiB; we stay well under).
// The agent's findings map one to one: level and error info per entry, previous_container for the log of an
// instance that has ended, stream_complete on the last message of an instance read to its end (a chunk may carry
// it without lines: then one message without entries says it). owner_references are the agent's, from its watch of
// the pods on its node (empty while the pod is not known there yet).
import type { PodLogs, LogEntry } from '@kestrel/proto/cloud/v1';
import type { LogChunk, LogLine } from '@kestrel/proto/ingest/v1';
import type { PodLogsHeader } from '../uplink/log-batcher.js';

export interface PodLogsLimits {
  maxEntries: number;
  maxBytes: number;
}

/** Rough encoded size of an entry: message and error info bytes plus timestamp, line number, level and framing. */
const entrySize = (line: LogLine): number =>
  Buffer.byteLength(line.message) + 40 + (line.errorInfo ? Buffer.byteLength(line.errorInfo.stackTrace) + Buffer.byteLength(line.errorInfo.errorMessage) + line.errorInfo.errorType.length + 16 : 0);

/** The PodLogs fields of a chunk other than its entries (totals and stream_offset are set when sealed). */
export function podLogsHeader(node: string, chunk: LogChunk, now: Date): PodLogsHeader {
  return {
    podName: chunk.podName,
    namespace: chunk.namespace,
    podUid: chunk.podUid,
    containerName: chunk.containerName,
    previousContainer: chunk.previousContainer,
    collectionTimestamp: { seconds: Math.floor(now.getTime() / 1000), nanos: (now.getTime() % 1000) * 1e6 },
    totalLines: 0,
    streamComplete: chunk.streamComplete,
    streamOffset: chunk.lastLineNumber,
    ownerReferences: chunk.ownerReferences,
    nodeName: node,
  };
}

export function toPodLogs(node: string, chunk: LogChunk, lines: readonly LogLine[], limits: PodLogsLimits, now: Date): PodLogs[] {
  const out: PodLogs[] = [];
  let entries: LogEntry[] = [];
  let bytes = 0;
  const seal = (last: boolean) => {
    if (entries.length === 0 && !(last && chunk.streamComplete && out.length === 0)) return;
    out.push({
      podName: chunk.podName,
      namespace: chunk.namespace,
      podUid: chunk.podUid,
      containerName: chunk.containerName,
      logEntries: entries,
      previousContainer: chunk.previousContainer,
      collectionTimestamp: { seconds: Math.floor(now.getTime() / 1000), nanos: (now.getTime() % 1000) * 1e6 },
      totalLines: entries.length,
      streamComplete: last && chunk.streamComplete,
      // As the published operator: the line number of the last entry in the message (without entries: the last
      // line number of the stream, which the agent sends with the chunk).
      streamOffset: entries.length > 0 ? entries[entries.length - 1]!.lineNumber : chunk.lastLineNumber,
      ownerReferences: chunk.ownerReferences,
      nodeName: node,
    });
    entries = [];
    bytes = 0;
  };
  for (const line of lines) {
    const size = entrySize(line);
    if (entries.length > 0 && (entries.length >= limits.maxEntries || bytes + size > limits.maxBytes)) seal(false);
    const e = line.errorInfo;
    entries.push({
      timestamp: line.timestamp,
      message: line.message,
      level: line.level,
      lineNumber: line.lineNumber,
      errorInfo: e ? { errorType: e.errorType, stackTrace: e.stackTrace, errorMessage: e.errorMessage, exitCode: e.exitCode } : undefined,
    });
    bytes += size;
  }
  seal(true);
  return out;
}
