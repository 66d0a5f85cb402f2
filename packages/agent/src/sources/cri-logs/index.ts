// The container log source: discovery -> one ContainerDir per container folder -> one ContainerLog per container
// instance, reading its files in order -> the sink. Checkpoints advance only through the commits the forwarder
// makes on acknowledgement; the state is written by CheckpointStore. Built and started by the agent's main.
import { setMaxListeners } from 'node:events';
import fs from 'node:fs';
import path from 'node:path';
import type { Logger } from '@kestrel/core';
import { CheckpointStore, streamKey, type SavedStream, type StateDocument } from './checkpoints.js';
import type { CriLogsConfig } from './config.js';
import { ContainerDir } from './containers.js';
import { PodLogsDiscovery } from './discovery.js';
import type { CriLogEvents, LossRecord } from './events.js';
import { LogFilter } from './filters.js';
import { readBufferBytesFor, type FollowerOptions } from './follower.js';
import type { ContainerIdentity } from './pod-path.js';
import { ReadPermits } from './read-permits.js';
import type { LogEnvironment, StartPolicy } from './rotation.js';
import type { LogSink } from './types.js';

export interface TrackedFileView {
  path: string;
  namespace: string;
  pod: string;
  container: string;
  restartCount: number;
  device: number;
  inode: number;
  fingerprint: number;
  /** Acknowledged up to this offset (null: nothing yet) and line. */
  checkpointOffset: number | null;
  checkpointLine: number | null;
  readOffset: number;
  size: number;
  lagBytes: number;
  lastLine: number | null;
  state: string;
  previousContainer: boolean;
  format: string | null;
}

export interface SourceStatus {
  containers: number;
  files: number;
  filesByState: Record<string, number>;
  watchedFolders: number;
  lostBytes: number;
  lostFiles: number;
  parseErrors: number;
  truncatedFiles: number;
  rotations: number;
  droppedLines: number;
  recentLosses: LossRecord[];
  checkpointWrites: number;
}

export class CriLogSource {
  private readonly dirs = new Map<string, ContainerDir>();
  /** Saved state of container instances not seen yet since start, by `<pod uid>/<container>`. */
  private readonly unclaimed = new Map<string, SavedStream[]>();
  private readonly checkpoints: CheckpointStore;
  private readonly permits: ReadPermits;
  private readonly env: LogEnvironment;
  private readonly controller = new AbortController();
  private discovery: PodLogsDiscovery | undefined;
  private startPolicy: StartPolicy;
  private timers: NodeJS.Timeout[] = [];

  constructor(
    private readonly config: CriLogsConfig,
    sink: LogSink,
    private readonly events: CriLogEvents,
    private readonly logger: Logger,
    now: () => number = Date.now,
  ) {
    this.checkpoints = new CheckpointStore(config.stateDir, events, config.checkpointIntervalMs);
    const follower: FollowerOptions = {
      readBufferBytes: config.readBufferBytes,
      readIntervalMs: config.readIntervalMs,
      maxMessageBytes: config.maxMessageBytes,
      stackTraces: config.multiline.enabled ? { maxLines: config.multiline.maxLines, maxBytes: config.multiline.maxBytes, maxGapMs: config.multiline.maxGapMs } : null,
    };
    this.permits = new ReadPermits(config.readConcurrency, readBufferBytesFor(follower));
    this.env = {
      sink,
      permits: this.permits,
      follower,
      events,
      stateChanged: (atOnce) => this.checkpoints.changed(atOnce),
      maxDeletedFilesHeld: config.maxDeletedFilesHeld,
      now,
    };
    this.startPolicy = config.startAt;
    // Followers waiting for a read permit or for the forwarder listen to this signal: as many as files at startup.
    setMaxListeners(0, this.controller.signal);
    events.trackedBy(() => {
      let files = 0;
      let containers = 0;
      for (const d of this.dirs.values()) {
        containers += d.logs.size;
        for (const log of d.logs.values()) files += log.files.length;
      }
      return { files, containers };
    });
  }

  /** Loads the state, lists every folder once and starts following. Resolves when the first scan is done. */
  async start(signal: AbortSignal): Promise<void> {
    if (signal.aborted) this.controller.abort(signal.reason);
    else signal.addEventListener('abort', () => this.controller.abort(signal.reason), { once: true });
    const loaded = this.checkpoints.load();
    if (loaded.status === 'corrupt') {
      this.startPolicy = this.config.onCorruptCheckpoint;
      this.logger.error('checkpoint state is corrupt or unreadable; it was set aside and files are read by the configured policy', {
        error: loaded.error,
        keptAs: loaded.keptAs,
        policy: this.config.onCorruptCheckpoint,
      });
    }
    for (const s of loaded.streams.values()) {
      const key = `${s.podUid}/${s.container}`;
      const list = this.unclaimed.get(key);
      if (list) list.push(s);
      else this.unclaimed.set(key, [s]);
    }
    this.checkpoints.setSnapshot(() => this.snapshot());
    const filter = new LogFilter(this.config.filter);
    this.discovery = new PodLogsDiscovery(
      this.config.root,
      filter,
      {
        containerListed: (dir, container, entries, initial, watched) => this.containerListed(dir, container, entries, initial, watched),
        fileChanged: (dir, name) => this.dirs.get(dir)?.fileChanged(name) ?? false,
      },
      this.events,
      { scanIntervalMs: this.config.scanIntervalMs },
    );
    await this.discovery.start();
    this.resolveOrphans();
    const every = (ms: number, fn: () => void) => this.timers.push(setInterval(fn, ms).unref());
    every(this.config.pollIntervalMs, () => {
      for (const d of this.dirs.values()) d.poll();
    });
    every(this.config.fallbackPollIntervalMs, () => {
      for (const d of this.dirs.values()) if (d.needsFastPoll) d.poll();
    });
  }

  /** Stops following; waits for the followers to end. Checkpoints keep only what was acknowledged. */
  async stop(): Promise<void> {
    this.controller.abort(new Error('stopping'));
    for (const t of this.timers) clearInterval(t);
    this.timers = [];
    await this.discovery?.stop();
    await Promise.all([...this.dirs.values()].map((d) => d.stopped()));
    this.checkpoints.close();
  }

  private async containerListed(dir: string, container: ContainerIdentity, entries: Parameters<ContainerDir['listed']>[0], initial: boolean, watched: boolean): Promise<void> {
    let d = this.dirs.get(dir);
    if (!d) {
      if (entries === null) return;
      d = new ContainerDir(dir, container, this.env, () => this.claim(container), this.startPolicy, this.config.rateLimitLines, this.controller.signal, (gone) => {
        if (this.dirs.get(gone.dir) === gone) this.dirs.delete(gone.dir);
        this.checkpoints.changed();
      });
      this.dirs.set(dir, d);
    }
    await d.listed(entries, initial, watched);
  }

  private claim(c: ContainerIdentity): SavedStream[] {
    const key = `${c.podUid}/${c.containerName}`;
    const list = this.unclaimed.get(key);
    if (!list) return [];
    this.unclaimed.delete(key);
    return list;
  }

  /** Saved instances whose folder was not found by the first scan: deleted while the agent was stopped. */
  private resolveOrphans(): void {
    if (this.unclaimed.size === 0) return;
    for (const list of this.unclaimed.values()) {
      for (const s of list) {
        const dir = path.join(this.config.root, `${s.namespace}_${s.pod}_${s.podUid}`, s.container);
        if (fs.existsSync(dir)) {
          this.logger.info('forgetting the checkpoints of a container that is no longer collected', { namespace: s.namespace, pod: s.pod, container: s.container });
          continue;
        }
        const c = { namespace: s.namespace, podName: s.pod, podUid: s.podUid, containerName: s.container, restartCount: s.restartCount };
        for (const f of s.files) {
          if (!f.done && f.size > f.offset) this.events.lost(c, path.join(dir, f.name), f.size - f.offset, 'deleted_before_read');
        }
      }
    }
    this.unclaimed.clear();
    this.checkpoints.changed(true);
  }

  private snapshot(): StateDocument {
    const streams: Record<string, SavedStream> = {};
    for (const d of this.dirs.values()) {
      for (const s of d.saved()) streams[streamKey(s.podUid, s.container, s.restartCount)] = s;
    }
    for (const list of this.unclaimed.values()) {
      for (const s of list) streams[streamKey(s.podUid, s.container, s.restartCount)] = s;
    }
    return { version: 2, streams };
  }

  files(): TrackedFileView[] {
    const out: TrackedFileView[] = [];
    for (const d of this.dirs.values()) {
      for (const log of d.logs.values()) {
        for (const f of log.files) {
          const position = f.position;
          const size = Math.max(f.knownSize, position);
          const checkpoint = f.committed?.offset ?? null;
          out.push({
            path: f.path,
            namespace: log.container.namespace,
            pod: log.container.podName,
            container: log.container.containerName,
            restartCount: log.container.restartCount,
            device: f.identity.device,
            inode: f.identity.inode,
            fingerprint: f.identity.fingerprint,
            checkpointOffset: checkpoint,
            checkpointLine: f.committed?.line ?? null,
            readOffset: position,
            size,
            lagBytes: f.lost ? 0 : Math.max(0, size - (checkpoint ?? f.startOffset)),
            lastLine: f.follower?.lineNumber ?? f.parked?.lineNumber ?? f.endLine ?? f.committed?.line ?? null,
            state: f.present ? f.state : `${f.state} (deleted)`,
            previousContainer: log.superseded,
            format: f.follower?.format ?? null,
          });
        }
      }
    }
    return out;
  }

  status(): SourceStatus {
    const files = this.files();
    const filesByState: Record<string, number> = {};
    for (const f of files) filesByState[f.state] = (filesByState[f.state] ?? 0) + 1;
    let containers = 0;
    for (const d of this.dirs.values()) containers += d.logs.size;
    const t = this.events.totals;
    return {
      containers,
      files: files.length,
      filesByState,
      watchedFolders: this.discovery?.watchedFolders ?? 0,
      lostBytes: t.lostBytes,
      lostFiles: t.lostFiles,
      parseErrors: t.parseErrors,
      truncatedFiles: t.truncatedFiles,
      rotations: t.rotations,
      droppedLines: t.dropped,
      recentLosses: [...this.events.recentLosses],
      checkpointWrites: this.checkpoints.writes,
    };
  }
}

export type { FileChunk, LogSink } from './types.js';
