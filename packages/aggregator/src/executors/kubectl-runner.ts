// Runs kubectl: argv straight to the binary (no shell), a clean environment (only KUBECONFIG pointing at the policy
// proxy session, HOME in the operator's temp folder, PATH to an empty folder so no plugin can be found), its own
// process group so a timeout kills it and anything it started, and a cap on output: past it, reading stops, the
// process group is killed and the answer says so.
import { spawn } from 'node:child_process';
import fs from 'node:fs';
import path from 'node:path';

export interface KubectlRunOptions {
  binary: string;
  args: string[];
  kubeconfig: string;
  home: string;
  timeoutMs: number;
  maxStdout: number;
  maxStderr: number;
}

export interface KubectlRun {
  /** null when killed by a signal or not started. */
  exitCode: number | null;
  signal: string | null;
  stdout: Buffer;
  stderr: Buffer;
  /** Output went past maxStdout: reading stopped and kubectl was stopped. */
  stdoutTruncated: boolean;
  stderrTruncated: boolean;
  timedOut: boolean;
  /** kubectl could not be started (e.g. not installed). */
  startError?: string;
}

/** Resolves a command name on PATH once, at start, so that a run never searches PATH. */
export function resolveBinary(name: string, envPath = process.env['PATH'] ?? ''): string {
  if (name.includes('/')) {
    fs.accessSync(name, fs.constants.X_OK);
    return path.resolve(name);
  }
  for (const dir of envPath.split(path.delimiter)) {
    if (!dir) continue;
    const candidate = path.join(dir, name);
    try {
      fs.accessSync(candidate, fs.constants.X_OK);
      if (fs.statSync(candidate).isFile()) return candidate;
    } catch {
      // not here
    }
  }
  throw new Error(`${name} was not found on PATH (${envPath}); investigations' commands need it`);
}

function killGroup(pid: number | undefined, signal: NodeJS.Signals): void {
  if (pid === undefined) return;
  try {
    process.kill(-pid, signal);
  } catch {
    // already gone
  }
}

export function runKubectl(o: KubectlRunOptions): Promise<KubectlRun> {
  const emptyPath = path.join(o.home, 'no-plugins');
  fs.mkdirSync(emptyPath, { recursive: true });
  const env = { KUBECONFIG: o.kubeconfig, HOME: o.home, PATH: emptyPath };
  return new Promise((resolve) => {
    const child = spawn(o.binary, o.args, { env, cwd: o.home, detached: true, shell: false, stdio: ['ignore', 'pipe', 'pipe'], windowsHide: true });
    const out: Buffer[] = [];
    const err: Buffer[] = [];
    let outSize = 0;
    let errSize = 0;
    let stdoutTruncated = false;
    let stderrTruncated = false;
    let timedOut = false;
    let startError: string | undefined;
    let killTimer: NodeJS.Timeout | undefined;

    const timer = setTimeout(() => {
      timedOut = true;
      killGroup(child.pid, 'SIGTERM');
      killTimer = setTimeout(() => killGroup(child.pid, 'SIGKILL'), 2000);
    }, o.timeoutMs);

    child.stdout.on('data', (chunk: Buffer) => {
      if (stdoutTruncated) return;
      const room = o.maxStdout - outSize;
      if (chunk.length > room) {
        out.push(chunk.subarray(0, Math.max(0, room)));
        outSize = o.maxStdout;
        stdoutTruncated = true;
        child.stdout.destroy();
        killGroup(child.pid, 'SIGKILL');
        return;
      }
      out.push(chunk);
      outSize += chunk.length;
    });
    child.stderr.on('data', (chunk: Buffer) => {
      if (stderrTruncated) return;
      const room = o.maxStderr - errSize;
      if (chunk.length > room) {
        err.push(chunk.subarray(0, Math.max(0, room)));
        errSize = o.maxStderr;
        stderrTruncated = true;
        return;
      }
      err.push(chunk);
      errSize += chunk.length;
    });
    child.on('error', (e) => {
      startError = e.message;
    });
    child.on('close', (code, signal) => {
      clearTimeout(timer);
      if (killTimer) clearTimeout(killTimer);
      resolve({ exitCode: code, signal, stdout: Buffer.concat(out), stderr: Buffer.concat(err), stdoutTruncated, stderrTruncated, timedOut, ...(startError ? { startError } : {}) });
    });
  });
}
