// The container log source: discovery -> one follower per file -> the sink; checkpoints advanced on commit.
import fs from 'node:fs/promises';
import type { Logger } from '@kestrel/core';
import { CheckpointStore, sameFile } from './checkpoints.js';
import type { CriLogsConfig } from './config.js';
import { scanPodLogs } from './discovery.js';
import type { CriLogEvents } from './events.js';
import { FINGERPRINT_BYTES, fingerprintOf } from './fingerprint.js';
import { FileFollower } from './follower.js';
import type { ContainerLogIdentity } from './pod-path.js';
import type { FileChunk, FileIdentity, LogSink } from './types.js';

export interface TrackedFileView {
  path: string;
  namespace: string;
  pod: string;
  container: string;
  restartCount: number;
  device: number;
  inode: number;
  fingerprint: number;
  readOffset: number;
  checkpointOffset: number | null;
  size: number;
  lagBytes: number;
  lastLine: number;
  state: string;
}

export class CriLogSource {
  private readonly followers = new Map<string, { follower: FileFollower; done: Promise<void> }>();
  /** Last line number of a finished file, handed to its successor at the same path (same container instance). */
  private readonly lineNumberCarry = new Map<string, number>();
  private readonly checkpoints: CheckpointStore;
  private scanning: Promise<void> | undefined;
  private timer: NodeJS.Timeout | undefined;
  private signal: AbortSignal | undefined;

  constructor(
    private readonly config: CriLogsConfig,
    private readonly sink: LogSink,
    private readonly events: CriLogEvents,
    private readonly logger: Logger,
  ) {
    this.checkpoints = new CheckpointStore(config.stateDir, events);
  }

  start(signal: AbortSignal): void {
    this.signal = signal;
    const tick = () => {
      const scanning = this.scan().catch((err: unknown) => {
        this.logger.error('log discovery scan failed', { error: String(err) });
      });
      this.scanning = scanning;
      void scanning.finally(() => {
        if (!signal.aborted) this.timer = setTimeout(tick, this.config.scanIntervalMs);
      });
    };
    tick();
  }

  /** Stops following; waits for followers to end. Checkpoints keep only what was acknowledged. */
  async stop(): Promise<void> {
    if (this.timer) clearTimeout(this.timer);
    await this.scanning;
    await Promise.all([...this.followers.values()].map((f) => f.done));
    this.checkpoints.close();
  }

  /** Called by the forwarder once the aggregator acknowledged lines of this file up to endOffset. */
  commit(chunkPath: string, file: FileIdentity, endOffset: number, lineNumber: number): void {
    this.checkpoints.commit(chunkPath, { file, offset: endOffset, lineNumber });
  }

  private async scan(): Promise<void> {
    const signal = this.signal!;
    const files = await scanPodLogs(this.config.root);
    for (const found of files) {
      if (signal.aborted) return;
      if (this.followers.has(found.path)) continue;
      await this.follow(found.path, found.container, signal);
    }
    this.events.filesTracked.set(this.followers.size);
  }

  private async follow(filePath: string, container: ContainerLogIdentity, signal: AbortSignal): Promise<void> {
    let handle;
    try {
      handle = await fs.open(filePath, 'r');
    } catch (err) {
      if ((err as NodeJS.ErrnoException).code === 'ENOENT') return; // gone between scan and open
      throw err;
    }
    const stat = await handle.stat();
    const saved = this.checkpoints.get(filePath);
    let identity: FileIdentity;
    let start: { offset: number; lineNumber: number };
    if (saved && saved.file.device === stat.dev && saved.file.inode === stat.ino) {
      const again = await fingerprintOf(handle, saved.file.fingerprintLength);
      identity = { device: stat.dev, inode: stat.ino, ...again };
      start = sameFile(identity, saved.file) ? { offset: saved.offset, lineNumber: saved.lineNumber } : { offset: 0, lineNumber: saved.lineNumber };
    } else {
      identity = { device: stat.dev, inode: stat.ino, ...(await fingerprintOf(handle, FINGERPRINT_BYTES)) };
      const carried = this.lineNumberCarry.get(filePath) ?? saved?.lineNumber ?? 0;
      start = { offset: this.config.startAt === 'end' && !saved && !this.lineNumberCarry.has(filePath) ? stat.size : 0, lineNumber: carried };
    }
    if (start.offset > stat.size) start = { offset: 0, lineNumber: start.lineNumber };
    const follower = new FileFollower(filePath, container, handle, identity, start, this.sink, this.config, this.events);
    const done = follower.run(signal).then(
      (end) => {
        if (end !== 'stopped') {
          this.events.rotated();
          this.lineNumberCarry.set(filePath, follower.lastLineNumber);
        }
        if (end === 'deleted') this.checkpoints.forget(filePath);
      },
      (err: unknown) => {
        this.logger.error('log follower failed', { path: filePath, error: String(err) });
      },
    ).finally(() => {
      this.followers.delete(filePath);
      this.events.filesTracked.set(this.followers.size);
    });
    this.followers.set(filePath, { follower, done });
  }

  files(): TrackedFileView[] {
    return [...this.followers.values()].map(({ follower: f }) => {
      const cp = this.checkpoints.get(f.path);
      return {
        path: f.path,
        namespace: f.container.namespace,
        pod: f.container.podName,
        container: f.container.containerName,
        restartCount: f.container.restartCount,
        device: f.file.device,
        inode: f.file.inode,
        fingerprint: f.file.fingerprint,
        readOffset: f.position,
        checkpointOffset: cp && sameFile(cp.file, f.file) ? cp.offset : null,
        size: Math.max(f.size, f.position),
        lagBytes: Math.max(0, Math.max(f.size, f.position) - (cp && sameFile(cp.file, f.file) ? cp.offset : 0)),
        lastLine: f.lastLineNumber,
        state: f.state,
      };
    });
  }
}

export type { FileChunk, LogSink };
