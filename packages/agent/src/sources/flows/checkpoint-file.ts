// One small JSON state file per flow source in the agent's state folder (hubble-checkpoint.json,
// vpc-cni-checkpoint.json), holding the resume point of the newest acknowledged window. Written atomically
// (temporary file, fsync, rename) so a crash leaves the old or the new point, never half of one. A file that cannot be
// read or parsed is kept aside as <name>.corrupt and the source starts without a point (from now, or as startAt says).
import fs from 'node:fs';
import path from 'node:path';
import type { FlowSourceEvents } from './events.js';

export class CheckpointFile<T> {
  readonly file: string;
  writes = 0;

  constructor(
    stateDir: string,
    name: string,
    private readonly events: FlowSourceEvents,
    private readonly valid: (v: unknown) => v is T,
  ) {
    this.file = path.join(stateDir, name);
  }

  load(): { point: T | undefined; problem?: string } {
    let text: string;
    try {
      text = fs.readFileSync(this.file, 'utf8');
    } catch (err) {
      if ((err as NodeJS.ErrnoException).code === 'ENOENT') return { point: undefined };
      return { point: undefined, problem: String(err) };
    }
    try {
      const v: unknown = JSON.parse(text);
      if (this.valid(v)) return { point: v };
      throw new Error('not a checkpoint of this source');
    } catch (err) {
      try {
        fs.renameSync(this.file, `${this.file}.corrupt`);
      } catch {
        // kept in place; it is overwritten at the next acknowledgement
      }
      return { point: undefined, problem: `${err instanceof Error ? err.message : String(err)} (kept as ${this.file}.corrupt)` };
    }
  }

  save(point: T): void {
    const tmp = `${this.file}.tmp`;
    try {
      fs.mkdirSync(path.dirname(this.file), { recursive: true });
      const fd = fs.openSync(tmp, 'w');
      try {
        fs.writeSync(fd, JSON.stringify(point));
        fs.fsyncSync(fd);
      } finally {
        fs.closeSync(fd);
      }
      fs.renameSync(tmp, this.file);
      this.writes++;
    } catch (err) {
      this.events.checkpointError(this.file, err);
    }
  }
}
