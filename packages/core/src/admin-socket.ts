// The local admin socket that the debug CLI talks to. A unix socket, never a network port: only someone who can
// exec into the container (and so already owns the process) can ask. One JSON request per line, one JSON answer
// per line: {"command":"status","args":{}} -> {"ok":true,"result":...} or {"ok":false,"error":"..."}.
import fs from 'node:fs';
import net from 'node:net';
import readline from 'node:readline';

export type AdminHandler = (args: Record<string, unknown>) => unknown | Promise<unknown>;

export interface AdminServer {
  path: string;
  close(): Promise<void>;
}

const MAX_REQUEST_BYTES = 64 * 1024;

export async function startAdminServer(path: string, handlers: Record<string, AdminHandler>): Promise<AdminServer> {
  // A stale socket from a killed process would make listen fail with EADDRINUSE; it is ours to replace.
  if (fs.existsSync(path)) {
    const alive = await new Promise<boolean>((resolve) => {
      const probe = net.connect(path, () => {
        probe.destroy();
        resolve(true);
      });
      probe.on('error', () => resolve(false));
    });
    if (alive) throw new Error(`admin socket ${path} is in use by a running process`);
    fs.rmSync(path, { force: true });
  }
  const server = net.createServer((socket) => {
    const lines = readline.createInterface({ input: socket, crlfDelay: Infinity });
    lines.on('error', () => undefined); // the socket's error handler below closes it
    let received = 0;
    socket.on('data', (chunk: Buffer) => {
      received += chunk.length;
      if (received > MAX_REQUEST_BYTES) socket.destroy();
    });
    socket.on('error', () => socket.destroy());
    lines.on('line', (line) => {
      void answer(line).then((reply) => socket.write(JSON.stringify(reply) + '\n'));
    });
  });
  async function answer(line: string): Promise<{ ok: boolean; result?: unknown; error?: string }> {
    let request: { command?: unknown; args?: unknown };
    try {
      request = JSON.parse(line) as typeof request;
    } catch {
      return { ok: false, error: 'request is not JSON' };
    }
    const command = typeof request.command === 'string' ? request.command : '';
    const handler = Object.hasOwn(handlers, command) ? handlers[command] : undefined;
    if (!handler) return { ok: false, error: `unknown command "${command}"; known: ${Object.keys(handlers).join(', ')}` };
    try {
      const args = request.args && typeof request.args === 'object' ? (request.args as Record<string, unknown>) : {};
      return { ok: true, result: await handler(args) };
    } catch (err) {
      return { ok: false, error: err instanceof Error ? err.message : String(err) };
    }
  }
  await new Promise<void>((resolve, reject) => {
    server.once('error', reject);
    server.listen(path, () => resolve());
  });
  fs.chmodSync(path, 0o600);
  return {
    path,
    close: () =>
      new Promise<void>((resolve) => {
        server.close(() => resolve());
        fs.rmSync(path, { force: true });
      }),
  };
}

/** Sends one command to a process's admin socket and returns its result (throws the process's error). */
export function adminRequest(path: string, command: string, args: Record<string, unknown> = {}, timeoutMs = 5000): Promise<unknown> {
  return new Promise((resolve, reject) => {
    const socket = net.connect(path);
    const timer = setTimeout(() => {
      socket.destroy();
      reject(new Error(`no answer from ${path} within ${timeoutMs} ms`));
    }, timeoutMs);
    socket.on('error', (err) => {
      clearTimeout(timer);
      reject(new Error(`cannot reach admin socket ${path}: ${err.message}`));
    });
    socket.on('connect', () => socket.write(JSON.stringify({ command, args }) + '\n'));
    const lines = readline.createInterface({ input: socket });
    lines.on('error', () => undefined); // reported through the socket's own error handler above
    lines.once('line', (line) => {
      clearTimeout(timer);
      socket.destroy();
      try {
        const reply = JSON.parse(line) as { ok: boolean; result?: unknown; error?: string };
        if (reply.ok) resolve(reply.result);
        else reject(new Error(reply.error ?? 'failed'));
      } catch {
        reject(new Error('answer is not JSON'));
      }
    });
  });
}
