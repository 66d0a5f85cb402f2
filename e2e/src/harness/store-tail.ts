// Follows cloud-dev's logs.jsonl as it grows and counts the log entries that arrived, per message text, so the
// demo and tests can compare what was written with what was received without re-reading the whole file.
import fs from 'node:fs';
import path from 'node:path';

export class StoreTail {
  private position = 0;
  private carry = '';
  entries = 0;
  /** Newest write-to-arrival delay seen, from the `t=` stamp the demo writers put in messages. */
  lastLagMs = 0;
  readonly seen = new Map<string, number>();

  constructor(
    private readonly dataDir: string,
    private readonly keepMessages = false,
  ) {}

  poll(): void {
    const file = path.join(this.dataDir, 'logs.jsonl');
    let fd: number;
    try {
      fd = fs.openSync(file, 'r');
    } catch {
      return;
    }
    try {
      const size = fs.fstatSync(fd).size;
      if (size <= this.position) return;
      const buffer = Buffer.alloc(size - this.position);
      fs.readSync(fd, buffer, 0, buffer.length, this.position);
      this.position = size;
      const text = this.carry + buffer.toString('utf8');
      const lines = text.split('\n');
      this.carry = lines.pop() ?? '';
      for (const line of lines) this.take(line);
    } finally {
      fs.closeSync(fd);
    }
  }

  private take(line: string): void {
    if (!line) return;
    const record = JSON.parse(line) as { receivedAt?: string; message?: { podLogs?: { logEntries?: { message?: string }[] } } };
    const entries = record.message?.podLogs?.logEntries ?? [];
    this.entries += entries.length;
    const received = record.receivedAt ? Date.parse(record.receivedAt) : Date.now();
    for (const e of entries) {
      const m = / t=(\d+)/.exec(e.message ?? '');
      if (m) this.lastLagMs = received - Number(m[1]);
      if (this.keepMessages && e.message) this.seen.set(e.message, (this.seen.get(e.message) ?? 0) + 1);
    }
  }
}
