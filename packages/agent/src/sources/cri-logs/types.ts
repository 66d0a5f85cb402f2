// What the container-log source hands to the forwarder: consecutive lines of one file, with everything needed to
// checkpoint them once acknowledged.
import type { Stream } from './cri-parser.js';
import type { Level } from './log-level.js';
import type { ContainerLogIdentity } from './pod-path.js';

export interface FileIdentity {
  device: number;
  inode: number;
  /** Hash of the first `fingerprintLength` bytes (uncompressed): tells a reused inode from the file we knew. */
  fingerprint: number;
  fingerprintLength: number;
}

export interface ErrorInfo {
  errorType: string;
  errorMessage: string;
  stackTrace: string;
  exitCode: number;
}

export interface LogLine {
  /** The runtime's timestamp of the (first) record. */
  seconds: number;
  nanos: number;
  stream: Stream;
  message: string;
  /** Byte offset in the (uncompressed) file where the line's first record starts, and where its last one ends. */
  offset: number;
  endOffset: number;
  /** Counts lines from 1 within one container instance (its <restart>.log and all its rotations). */
  lineNumber: number;
  /**
   * Where reading resumes once this line is acknowledged: an offset at which no message was half joined, and the
   * line number reached there. Reading again from it gives the same lines with the same numbers.
   */
  resumeOffset: number;
  resumeLine: number;
  parseError: boolean;
  truncated: boolean;
  level: Level;
  errorInfo: ErrorInfo | undefined;
}

/** The source's side of a chunk: told when the forwarder's downstream acknowledged it (in order per file). */
export interface ChunkOwner {
  commit(resumeOffset: number, resumeLine: number, streamComplete: boolean): void;
}

export interface FileChunk {
  owner: ChunkOwner;
  /** The file's path when read (for humans and logs). */
  path: string;
  container: ContainerLogIdentity;
  file: FileIdentity;
  lines: LogLine[];
  /** Bytes of the lines as read from the file (for batch sizing). */
  bytes: number;
  /** A lower restart count than the newest of its container: the log of an instance that has ended. */
  previousContainer: boolean;
  /** The last chunk of a container instance that has ended: nothing of it comes after. */
  streamComplete: boolean;
  /** Where reading resumes once this chunk is acknowledged (the checkpoint it commits). */
  resumeOffset: number;
  resumeLine: number;
}

/** The next stage: resolves once the chunk is taken (waits while the forwarder is full: that is backpressure). */
export interface LogSink {
  push(chunk: FileChunk, signal: AbortSignal): Promise<void>;
}
