// A simulated container whose log the kubelet rotates by size, as containerLogMaxSize / containerLogMaxFiles do:
// when the live `0.log` reaches maxSize it is renamed to `0.log.<YYYYMMDD-hhmmss>` and a new `0.log` is started;
// beyond maxFiles files (the live one counted) the oldest rotated ones are deleted. Every file the container ever
// had is kept on record (name, device, inode, the sequence numbers it holds, its size), so a test knows exactly
// which lines went with a deleted file. Lines are the pod-writer's (messageFor: unique per container and seq).
import fs from 'node:fs';
import path from 'node:path';
import { createContainers, writeLines, type SimulatedContainer } from './pod-writer.js';

export interface RotatedFile {
  /** Current name in the container folder (0.log while live). */
  name: string;
  device: number;
  inode: number;
  /** Sequence numbers [from, to] written to it (to < from: none). */
  from: number;
  to: number;
  size: number;
  rotated: boolean;
  deleted: boolean;
}

export class KubeletRotatedContainer {
  readonly c: SimulatedContainer;
  readonly dir: string;
  /** Every file ever, oldest first; the last one is the live file. */
  readonly files: RotatedFile[] = [];
  rotations = 0;
  private readonly clockBase: number;

  constructor(
    root: string,
    spec: { namespace: string; pod: string; container: string },
    readonly maxSize: number,
    readonly maxFiles: number,
  ) {
    if (maxFiles < 2) throw new Error('maxFiles counts the live file: at least 2');
    this.c = createContainers(root, [{ namespace: spec.namespace, pod: spec.pod, containers: [spec.container] }])[0]!;
    this.dir = path.dirname(this.c.file);
    this.clockBase = Math.floor(Date.now() / 1000) * 1000;
    this.track();
  }

  private track(): void {
    const st = fs.statSync(this.c.file);
    this.files.push({ name: path.basename(this.c.file), device: st.dev, inode: st.ino, from: this.c.written + 1, to: this.c.written, size: st.size, rotated: false, deleted: false });
  }

  get live(): RotatedFile {
    return this.files[this.files.length - 1]!;
  }

  /** Appends n lines to the live file. */
  write(n: number): void {
    writeLines(this.c, n);
    const live = this.live;
    live.to = this.c.written;
    live.size = fs.statSync(this.c.file).size;
  }

  get needsRotation(): boolean {
    return this.live.size >= this.maxSize;
  }

  /**
   * Renames the live file away (a strictly increasing rotation time, in the kubelet's format) and starts a new
   * one. Returns the rotated files now beyond the budget, oldest first: the caller deletes them with remove().
   */
  rotate(): RotatedFile[] {
    this.rotations++;
    const at = new Date(this.clockBase + this.rotations * 1000).toISOString();
    const name = `0.log.${at.slice(0, 10).replaceAll('-', '')}-${at.slice(11, 19).replaceAll(':', '')}`;
    fs.renameSync(this.c.file, path.join(this.dir, name));
    const old = this.live;
    old.name = name;
    old.rotated = true;
    fs.writeFileSync(this.c.file, '');
    this.track();
    const present = this.files.filter((f) => !f.deleted);
    return present.slice(0, Math.max(0, present.length - this.maxFiles));
  }

  remove(f: RotatedFile): void {
    const file = path.join(this.dir, f.name);
    const st = fs.statSync(file);
    if (st.ino !== f.inode || st.size !== f.size) throw new Error(`${file} is not the file on record (inode ${st.ino}, ${st.size} bytes)`);
    fs.rmSync(file);
    f.deleted = true;
  }

  /** Sequence number -> the file it was written to. */
  fileOf(seq: number): RotatedFile | undefined {
    return this.files.find((f) => seq >= f.from && seq <= f.to);
  }
}
