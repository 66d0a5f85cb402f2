// The per-line facts of a LogChunk whose lines are framed for PodLogs (`entries`): flags that the cloud's LogEntry
// has no field for, and the way back to LogLine objects for readers that want them (whole-agent tests, tools).
// The aggregator itself never needs this: it moves the framed bytes as they are.
import type { LogChunk, LogLine } from '../gen/kestrel/ingest/v1/ingest.js';
import { endOffsetsOf, lineNumbersOf } from './entry-positions.js';
import { unframeEntries } from './log-entries.js';

export const ENTRY_PARSE_ERROR = 1;
export const ENTRY_TRUNCATED = 2;
export const ENTRY_STDERR = 4;

export const entryFlags = (line: { parseError: boolean; truncated: boolean; stream: string }): number =>
  (line.parseError ? ENTRY_PARSE_ERROR : 0) | (line.truncated ? ENTRY_TRUNCATED : 0) | (line.stream === 'stderr' ? ENTRY_STDERR : 0);

/**
 * A chunk's lines as LogLine objects, whichever way they were sent. A framed line's start offset is where the line
 * before it ended (the first one's: the chunk's start offset).
 */
export function chunkLines(chunk: LogChunk): LogLine[] {
  if (chunk.entrySizes.length === 0) return chunk.lines;
  const entries = unframeEntries({ bytes: chunk.entries, sizes: chunk.entrySizes, lineNumbers: lineNumbersOf(chunk) });
  const ends = endOffsetsOf(chunk);
  return entries.map((e, i) => {
    const flags = chunk.entryFlags[i] ?? 0;
    return {
      timestamp: e.timestamp,
      stream: flags & ENTRY_STDERR ? 'stderr' : 'stdout',
      message: e.message,
      offset: i > 0 ? ends[i - 1]! : chunk.entriesStartOffset,
      endOffset: ends[i]!,
      lineNumber: e.lineNumber,
      parseError: (flags & ENTRY_PARSE_ERROR) !== 0,
      truncated: (flags & ENTRY_TRUNCATED) !== 0,
      level: e.level,
      errorInfo: e.errorInfo,
    };
  });
}
