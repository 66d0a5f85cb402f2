// A process's CPU and memory as Linux accounts them (/proc/<pid>/stat and status): all its threads, so libuv's
// thread pool (zlib) and V8's GC helpers count. Linux only, as the benchmarks' machine is.
import fs from 'node:fs';
import path from 'node:path';

const TICKS = 100; // USER_HZ on Linux

export interface ProcStats {
  /** utime + stime, seconds. */
  cpuSeconds: number;
  rssMiB: number;
  /** VmHWM: the peak RSS since the process started. */
  peakRssMiB: number;
}

export function procStats(pid: number): ProcStats {
  const stat = fs.readFileSync(`/proc/${pid}/stat`, 'utf8');
  const fields = stat.slice(stat.lastIndexOf(')') + 2).split(' ');
  const cpuSeconds = (Number(fields[11]) + Number(fields[12])) / TICKS;
  const status = fs.readFileSync(`/proc/${pid}/status`, 'utf8');
  const kib = (name: string) => Number(new RegExp(`^${name}:\\s+(\\d+) kB`, 'm').exec(status)?.[1] ?? 0);
  return { cpuSeconds, rssMiB: kib('VmRSS') / 1024, peakRssMiB: kib('VmHWM') / 1024 };
}

/** Counts the log entries cloud-dev stored in <dataDir>/logs.jsonl, reading only what was appended since last time. */
export class StoredEntryCounter {
  private position = 0;
  private carry = Buffer.alloc(0);
  entries = 0;
  private static readonly NEEDLE = Buffer.from('"lineNumber":');

  constructor(private readonly dataDir: string) {}

  /** Every stored entry has a line number (>= 1, so never omitted as a default). */
  poll(): number {
    const file = path.join(this.dataDir, 'logs.jsonl');
    let fd: number;
    try {
      fd = fs.openSync(file, 'r');
    } catch {
      return this.entries;
    }
    try {
      const size = fs.fstatSync(fd).size;
      const chunk = Buffer.allocUnsafe(8 * 1024 * 1024);
      while (this.position < size) {
        const n = fs.readSync(fd, chunk, 0, Math.min(chunk.length, size - this.position), this.position);
        if (n <= 0) break;
        this.position += n;
        const text = Buffer.concat([this.carry, chunk.subarray(0, n)]);
        let at = text.indexOf(StoredEntryCounter.NEEDLE);
        let end = 0;
        while (at >= 0) {
          this.entries++;
          end = at + StoredEntryCounter.NEEDLE.length;
          at = text.indexOf(StoredEntryCounter.NEEDLE, end);
        }
        // Keep a tail shorter than the needle for a match split over two reads.
        const keepFrom = Math.max(end, text.length - (StoredEntryCounter.NEEDLE.length - 1));
        this.carry = Buffer.from(text.subarray(keepFrom));
      }
    } finally {
      fs.closeSync(fd);
    }
    return this.entries;
  }
}

/** The whole machine's CPU time so far (/proc/stat), in seconds summed over all CPUs. */
export interface MachineCpu {
  busy: number;
  idle: number;
  /** Time the hypervisor gave to others while this VM wanted to run. */
  steal: number;
}

export function machineCpu(): MachineCpu {
  const line = fs.readFileSync('/proc/stat', 'utf8').split('\n')[0]!;
  const [user, nice, system, idle, iowait, irq, softirq, steal] = line.trim().split(/\s+/).slice(1).map(Number) as number[];
  return { busy: (user! + nice! + system! + irq! + softirq!) / TICKS, idle: (idle! + iowait!) / TICKS, steal: (steal ?? 0) / TICKS };
}

/** Between two readings: the machine's busy cores and the share of CPU time stolen by the hypervisor. */
export function describeMachine(a: MachineCpu, b: MachineCpu, seconds: number): string {
  const total = b.busy - a.busy + (b.idle - a.idle) + (b.steal - a.steal);
  return `machine: ${((b.busy - a.busy) / seconds).toFixed(2)} cores busy (all processes), ${total > 0 ? ((100 * (b.steal - a.steal)) / total).toFixed(1) : '0.0'} % stolen by the hypervisor`;
}
