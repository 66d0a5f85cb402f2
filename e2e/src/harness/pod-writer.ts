// Simulated pods on a fake node: each writes CRI lines into <root>/<ns>_<pod>_<uid>/<container>/0.log as the
// container runtime would. Every message carries its pod, container and sequence number so a test can find each
// line at the other end, and the timestamp it was written with.
import { randomUUID } from 'node:crypto';
import fs from 'node:fs';
import path from 'node:path';

export interface SimulatedContainer {
  namespace: string;
  pod: string;
  uid: string;
  container: string;
  file: string;
  written: number;
}

export function createContainers(root: string, spec: { namespace: string; pod: string; containers: string[] }[]): SimulatedContainer[] {
  const out: SimulatedContainer[] = [];
  for (const p of spec) {
    const uid = randomUUID();
    for (const container of p.containers) {
      const dir = path.join(root, `${p.namespace}_${p.pod}_${uid}`, container);
      fs.mkdirSync(dir, { recursive: true });
      const file = path.join(dir, '0.log');
      fs.writeFileSync(file, '');
      out.push({ namespace: p.namespace, pod: p.pod, uid, container, file, written: 0 });
    }
  }
  return out;
}

/** CRI timestamp with nanoseconds, containerd style. */
export function criTimestamp(ms: number, extraNanos = 0): string {
  const iso = new Date(ms).toISOString(); // 2024-05-01T12:00:00.123Z
  return `${iso.slice(0, 23)}${String(extraNanos).padStart(6, '0')}Z`;
}

export function messageFor(c: SimulatedContainer, seq: number): string {
  return `${c.namespace}/${c.pod}/${c.container} seq=${seq} level=info msg="request handled" path=/api/v1/items/${seq % 97}`;
}

/** Appends n lines to the container's log in one write; returns the lines' timestamps (ms). */
export function writeLines(c: SimulatedContainer, n: number): void {
  let text = '';
  const now = Date.now();
  for (let i = 0; i < n; i++) {
    const seq = ++c.written;
    text += `${criTimestamp(now, seq % 1_000_000)} ${seq % 10 === 0 ? 'stderr' : 'stdout'} F ${messageFor(c, seq)}\n`;
  }
  fs.appendFileSync(c.file, text);
}
