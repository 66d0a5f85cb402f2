// Settings of the container log source, validated once at start by the agent's config schema.
export interface CriLogsConfig {
  root: string;
  stateDir: string;
  scanIntervalMs: number;
  pollIntervalMs: number;
  readBufferBytes: number;
  maxMessageBytes: number;
  /** Where to start in a file that has no checkpoint: its beginning, or its end (only new lines). */
  startAt: 'beginning' | 'end';
}
