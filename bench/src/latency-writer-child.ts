// Child process of latency.bench: writes CRI log lines into simulated pods' files as the container runtime would,
// at a steady rate per node, each line carrying its sequence number in its container and the time it was written
// (`seq=N wt=<ms since the epoch>` at the end of the message: Date.now(), the clock cloud-dev's receivedAt uses). Kept out of the bench's process so that
// the writing is not delayed by the bench reading cloud-dev's store, and the other way round.
//
// Pacing: every TICK_MS each node writes what it owes (rate x elapsed minus written), spread round robin over its
// containers, one write() per container per tick; the write time is taken just before the write. Messages come from
// log-corpus.ts (a ring of lines per container generated once), so lines look like production's (JSON, access
// logs, Spring, logfmt ...). Prints one JSON line at the end: lines written per file and the pacing achieved.
import fs from 'node:fs';
import { createCorpus } from './log-corpus.js';

export interface WriterConfig {
  /** Per file, `seqFrom`: the sequence number of its last line already written (a warm-up run's), 0 if none. */
  nodes: { files: { file: string; pod: string; container: string; seqFrom?: number }[] }[];
  linesPerSecondPerNode: number;
  seconds: number;
}

export interface WriterResult {
  /** Per file, `lines`: the sequence number of its last line (lines written by this run and any before it). */
  files: { file: string; lines: number }[];
  seconds: number;
  /** Largest shortfall of a node behind its schedule, in lines (how far writing fell behind the rate). */
  maxBehindLines: number;
  /** Longest gap between two ticks (the writer's own event loop delays). */
  maxTickGapMs: number;
}

const TICK_MS = 10;
const RING = 512;
const config = JSON.parse(process.argv[2] ?? '') as WriterConfig;

interface Writer {
  fd: number;
  ring: { prefix: string; message: string }[];
  next: number;
  seq: number;
  file: string;
}

const nodes = config.nodes.map((n, i) => {
  const corpus = createCorpus(500 + i, n.files.length);
  const writers: Writer[] = n.files.map((f, j) => {
    const c = corpus[j % corpus.length]!;
    const ring = Array.from({ length: RING }, () => {
      const l = c.next();
      return { prefix: ` ${l.stream} F `, message: l.message };
    });
    return { fd: fs.openSync(f.file, 'a'), ring, next: 0, seq: f.seqFrom ?? 0, file: f.file };
  });
  return { writers, written: 0, rr: 0 };
});

/** containerd style, nanosecond digits. */
function criTime(ms: number): string {
  return `${new Date(ms).toISOString().slice(0, 23)}000000Z`;
}

const start = performance.now();
let maxBehind = 0;
let maxGap = 0;
let lastTick = start;
await new Promise<void>((resolve) => {
  const tick = () => {
    const now = performance.now();
    maxGap = Math.max(maxGap, now - lastTick);
    lastTick = now;
    const elapsed = Math.min(now - start, config.seconds * 1000);
    for (const node of nodes) {
      const due = Math.floor((config.linesPerSecondPerNode * elapsed) / 1000) - node.written;
      maxBehind = Math.max(maxBehind, due);
      if (due <= 0) continue;
      // Spread over the containers: each gets due / n, the remainder round robin.
      const n = node.writers.length;
      const base = Math.floor(due / n);
      let extra = due - base * n;
      for (let k = 0; k < n; k++) {
        const w = node.writers[(node.rr + k) % n]!;
        let count = base;
        if (extra > 0) {
          count++;
          extra--;
        }
        if (count === 0) continue;
        const wt = Date.now();
        const stamp = String(wt);
        const ts = criTime(wt);
        let text = '';
        for (let i = 0; i < count; i++) {
          const r = w.ring[w.next++ % RING]!;
          text += `${ts}${r.prefix}${r.message} seq=${++w.seq} wt=${stamp}\n`;
        }
        fs.writeSync(w.fd, text);
      }
      node.rr = (node.rr + 1) % n;
      node.written += due;
    }
    if (now - start >= config.seconds * 1000) resolve();
    else setTimeout(tick, Math.max(0, TICK_MS - (performance.now() - now)));
  };
  tick();
});
const result: WriterResult = {
  files: nodes.flatMap((n) => n.writers.map((w) => ({ file: w.file, lines: w.seq }))),
  seconds: (performance.now() - start) / 1000,
  maxBehindLines: maxBehind,
  maxTickGapMs: Math.round(maxGap),
};
for (const n of nodes) for (const w of n.writers) fs.closeSync(w.fd);
process.stdout.write(JSON.stringify(result) + '\n');
