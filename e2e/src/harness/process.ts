// Runs one of our programs as a real child process with the same Node, collects its JSON log lines, and lets a
// test wait for a given line (e.g. the one that says which port it bound).
import { spawn, type ChildProcess } from 'node:child_process';
import fs from 'node:fs';
import readline from 'node:readline';

export type LogLine = Record<string, unknown> & { message?: string; msg?: string };

/**
 * Children in process groups of their own (the demo sets it): a terminal's Ctrl-C then reaches only the parent,
 * which lets the last lines arrive and stops the children in order; otherwise they all get SIGINT at once and the
 * lines in flight never arrive. Such children are killed when the parent exits, so none is left behind.
 */
export const childProcessGroups = { own: false };

export class RunningProcess {
  readonly lines: LogLine[] = [];
  private readonly waiters: { match: (l: LogLine) => boolean; resolve: (l: LogLine) => void }[] = [];
  readonly exited: Promise<number | null>;
  private readonly child: ChildProcess;

  constructor(
    readonly name: string,
    script: string,
    args: readonly string[],
    env: Record<string, string>,
    logFile?: string,
  ) {
    this.child = spawn(process.execPath, [script, ...args], { env: { PATH: process.env.PATH ?? '', ...env }, stdio: ['ignore', 'pipe', 'pipe'], detached: childProcessGroups.own });
    if (childProcessGroups.own) {
      const child = this.child;
      const kill = () => child.kill('SIGKILL');
      process.once('exit', kill);
      child.once('exit', () => process.off('exit', kill));
    }
    const sink = logFile ? fs.createWriteStream(logFile, { flags: 'a' }) : undefined;
    const onLine = (text: string) => {
      sink?.write(text + '\n');
      let parsed: LogLine;
      try {
        parsed = JSON.parse(text) as LogLine;
      } catch {
        parsed = { message: text };
      }
      this.lines.push(parsed);
      if (this.lines.length > 5000) this.lines.splice(0, 1000);
      for (const w of [...this.waiters]) {
        if (w.match(parsed)) {
          this.waiters.splice(this.waiters.indexOf(w), 1);
          w.resolve(parsed);
        }
      }
    };
    readline.createInterface({ input: this.child.stdout! }).on('line', onLine);
    readline.createInterface({ input: this.child.stderr! }).on('line', onLine);
    this.exited = new Promise((resolve) => this.child.on('exit', (code) => { sink?.end(); resolve(code); }));
  }

  get pid(): number | undefined {
    return this.child.pid;
  }

  /** Waits for a log line matching the predicate (also one already printed). */
  waitFor(match: (l: LogLine) => boolean, timeoutMs = 20_000): Promise<LogLine> {
    const seen = this.lines.find(match);
    if (seen) return Promise.resolve(seen);
    return new Promise((resolve, reject) => {
      const timer = setTimeout(() => reject(new Error(`${this.name}: no matching log line within ${timeoutMs} ms; last lines:\n${this.lines.slice(-15).map((l) => JSON.stringify(l)).join('\n')}`)), timeoutMs);
      this.waiters.push({ match, resolve: (l) => { clearTimeout(timer); resolve(l); } });
      void this.exited.then((code) => {
        clearTimeout(timer);
        reject(new Error(`${this.name} exited with ${code} before the expected log line; last lines:\n${this.lines.slice(-15).map((l) => JSON.stringify(l)).join('\n')}`));
      });
    });
  }

  /** SIGTERM, then SIGKILL if it has not exited within the grace period. */
  async stop(graceMs = 10_000): Promise<number | null> {
    if (this.child.exitCode !== null || this.child.signalCode !== null) return this.child.exitCode;
    this.child.kill('SIGTERM');
    const timer = setTimeout(() => this.child.kill('SIGKILL'), graceMs);
    const code = await this.exited;
    clearTimeout(timer);
    return code;
  }

  kill(): Promise<number | null> {
    this.child.kill('SIGKILL');
    return this.exited;
  }
}

/** Runs a program to completion and returns its exit code and output. */
export function runToEnd(script: string, args: readonly string[], env: Record<string, string> = {}): Promise<{ code: number | null; stdout: string; stderr: string }> {
  return new Promise((resolve) => {
    const child = spawn(process.execPath, [script, ...args], { env: { PATH: process.env.PATH ?? '', ...env } });
    let stdout = '';
    let stderr = '';
    child.stdout.on('data', (d: Buffer) => (stdout += d.toString()));
    child.stderr.on('data', (d: Buffer) => (stderr += d.toString()));
    child.on('exit', (code) => resolve({ code, stdout, stderr }));
  });
}
