// `<process> debug <view> [-o json] [--socket PATH]`: asks the running process over its admin socket and prints
// the answer for a human (tables) or, with -o json, as JSON for tools.
import { adminRequest } from './admin-socket.js';

export type Renderer = (result: unknown) => string;

export interface DebugCliOptions {
  program: string;
  defaultSocket: string;
  views: Record<string, { help: string; render: Renderer }>;
}

/** Formats rows as an aligned text table with the given columns. */
export function table<T extends object>(rows: readonly T[], columns: readonly (keyof T & string)[]): string {
  const cells = rows.map((row) => columns.map((c) => formatCell(row[c])));
  const widths = columns.map((c, i) => Math.max(c.length, ...cells.map((r) => r[i]!.length)));
  const line = (values: readonly string[]) => values.map((v, i) => v.padEnd(widths[i]!)).join('  ').trimEnd();
  return [line(columns.map((c) => c.toUpperCase())), ...cells.map(line)].join('\n');
}

function formatCell(value: unknown): string {
  if (value === undefined || value === null) return '-';
  if (typeof value === 'object') return JSON.stringify(value);
  return String(value);
}

/** Returns the process exit code. */
export async function runDebugCli(argv: readonly string[], options: DebugCliOptions): Promise<number> {
  let view: string | undefined;
  let json = false;
  let socket = options.defaultSocket;
  for (let i = 0; i < argv.length; i++) {
    const arg = argv[i]!;
    if (arg === '-o' || arg === '--output') {
      const format = argv[++i];
      if (format !== 'json' && format !== 'text') {
        process.stderr.write(`${options.program} debug: -o takes json or text\n`);
        return 2;
      }
      json = format === 'json';
    } else if (arg === '--socket') {
      const value = argv[++i];
      if (!value) {
        process.stderr.write(`${options.program} debug: --socket needs a path\n`);
        return 2;
      }
      socket = value;
    } else if (!view && !arg.startsWith('-')) {
      view = arg;
    } else {
      process.stderr.write(`${options.program} debug: unexpected argument ${arg}\n`);
      return 2;
    }
  }
  const spec = view ? options.views[view] : undefined;
  if (!view || !spec) {
    const names = Object.entries(options.views).map(([name, v]) => `  ${name.padEnd(12)} ${v.help}`);
    process.stderr.write(`usage: ${options.program} debug <view> [-o json] [--socket PATH]\nviews:\n${names.join('\n')}\n`);
    return view ? 2 : 0;
  }
  try {
    const result = await adminRequest(socket, view);
    process.stdout.write((json ? JSON.stringify(result, null, 2) : spec.render(result)) + '\n');
    return 0;
  } catch (err) {
    process.stderr.write(`${options.program} debug ${view}: ${err instanceof Error ? err.message : String(err)}\n`);
    return 1;
  }
}
