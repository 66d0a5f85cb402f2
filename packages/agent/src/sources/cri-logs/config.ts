// Settings of the container log source, validated once at start by the agent's config schema (src/config.ts).
import type { FilterConfig } from './filters.js';

export interface CriLogsConfig {
  root: string;
  stateDir: string;
  /** Where to start in files present at startup that the state does not know: their beginning, or their end. */
  startAt: 'beginning' | 'end';
  /** Where to start when the state file is corrupt (it is set aside): every file's beginning, or its end. */
  onCorruptCheckpoint: 'beginning' | 'end';
  /** Full rescan of the pods folder (the safety net behind file-system events). */
  scanIntervalMs: number;
  /** How often every followed file is looked at without an event (the safety net). */
  pollIntervalMs: number;
  /** How often files are looked at when their folder cannot be watched, or they are symlinks (Docker). */
  fallbackPollIntervalMs: number;
  readBufferBytes: number;
  /** A file read to its end is read again no sooner than this after (its writes meanwhile read together); 0: at once. */
  readIntervalMs: number;
  maxMessageBytes: number;
  /** Files read at the same time (each with a read buffer): bounds the memory of reading. */
  readConcurrency: number;
  checkpointIntervalMs: number;
  /** Deleted files not read yet kept open per container instance; beyond, the oldest are given up (counted). */
  maxDeletedFilesHeld: number;
  multiline: { enabled: boolean; maxLines: number; maxBytes: number; maxGapMs: number };
  filter: FilterConfig;
  /** Lines per second per container; 0: no limit. */
  rateLimitLines: number;
}
