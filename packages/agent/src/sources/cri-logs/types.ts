// What the container-log source hands to the forwarder: consecutive lines of one file, with everything needed to
// checkpoint them once acknowledged.
import type { Timestamp } from './cri-parser.js';
import type { ContainerLogIdentity } from './pod-path.js';

export interface FileIdentity {
  device: number;
  inode: number;
  /** Hash of the first `fingerprintLength` bytes: tells a reused inode from the file we knew. */
  fingerprint: number;
  fingerprintLength: number;
}

export interface LogLine {
  timestamp: Timestamp;
  stream: 'stdout' | 'stderr';
  message: string;
  offset: number;
  endOffset: number;
  lineNumber: number;
  parseError: boolean;
  truncated: boolean;
}

export interface FileChunk {
  path: string;
  container: ContainerLogIdentity;
  file: FileIdentity;
  lines: LogLine[];
  /** Bytes of the lines as read from the file (for batch sizing). */
  bytes: number;
}

/** The next stage: resolves once the chunk is taken (waits while the forwarder is full: that is backpressure). */
export interface LogSink {
  push(chunk: FileChunk, signal: AbortSignal): Promise<void>;
}
