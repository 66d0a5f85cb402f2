// A writer process of the torture test (child_process.fork): it plays the container runtime and the kubelet for
// the containers it is given, on a fake node's /var/log/pods, on command from the test: write CRI lines, rotate
// like the kubelet (rename to N.log.<ts>, a few late writes to the renamed file, reopen), compress older rotated
// files (.gz.tmp then rename, then delete the plain file), delete the oldest beyond a number of files, restart a
// container (N+1.log), truncate, write a 10 MiB line, binary garbage, a stack trace, delete a pod folder. Every
// reply says what it did to which file (name, inode, size), so the test knows what was deleted.
import fs from 'node:fs';
import path from 'node:path';
import { gunzipSync, gzipSync } from 'node:zlib';
import { criRecords, garbageOf, messageOf, streamOf, traceOf } from './torture-lines.js';

export interface WriterContainer {
  key: string;
  namespace: string;
  pod: string;
  uid: string;
  container: string;
}

export type WriterCommand =
  | { op: 'init'; root: string; containers: WriterContainer[] }
  | { op: 'write'; key: string; count: number }
  | { op: 'rotate'; key: string; late: number }
  | { op: 'compress'; key: string }
  | { op: 'prune'; key: string; keep: number }
  | { op: 'restart'; key: string }
  | { op: 'truncate'; key: string }
  | { op: 'bigline'; key: string; bytes: number }
  | { op: 'garbage'; key: string; bytes: number; seed: number }
  | { op: 'trace'; key: string }
  | { op: 'deletePod'; key: string }
  | { op: 'files'; key: string };

export interface FileInfo {
  /** The writer's id of the file: the same through renames and compression (an inode may be reused later). */
  id: string;
  name: string;
  path: string;
  device: number;
  inode: number;
  size: number;
  /** Size of the content: uncompressed for a .gz file. */
  contentSize: number;
}

/** What a write put where: the sequence numbers [from, to] in a file, and the file's size after. */
export interface WriteReport {
  restart: number;
  /** Id of the file written to (see FileInfo.id). */
  id: string;
  file: string;
  from: number;
  to: number;
  size: number;
}

export interface WriterReply {
  id: number;
  ok: boolean;
  error?: string;
  writes?: WriteReport[];
  files?: FileInfo[];
  deleted?: FileInfo[];
}

interface State {
  c: WriterContainer;
  dir: string;
  restart: number;
  fd: number;
  seq: number;
  /** Simulated clock of this container: microseconds since 2024-05-01T00:00:00Z. */
  clock: number;
  rotations: number;
  /** File name -> id. */
  ids: Map<string, string>;
  files: number;
}

const BASE_MS = Date.UTC(2024, 4, 1);
const containers = new Map<string, State>();
let root = '';

function timestamp(s: State): string {
  s.clock += 1;
  const ms = BASE_MS + Math.floor(s.clock / 1000);
  return `${new Date(ms).toISOString().slice(0, 23)}${String(s.clock % 1000).padStart(3, '0')}000Z`;
}

const live = (s: State) => path.join(s.dir, `${s.restart}.log`);

function info(s: State, file: string): FileInfo {
  const st = fs.statSync(file);
  const contentSize = file.endsWith('.gz') ? gunzipSync(fs.readFileSync(file)).length : st.size;
  return { id: s.ids.get(path.basename(file)) ?? '?', name: path.basename(file), path: file, device: st.dev, inode: st.ino, size: st.size, contentSize };
}

/** Opens a new live file (and gives it an id). */
function openLive(s: State): void {
  s.fd = fs.openSync(live(s), 'a');
  s.ids.set(`${s.restart}.log`, `${s.c.key}/${++s.files}`);
}

/** Rotated files of the current restart count, oldest first (names sort by time). */
function rotated(s: State): string[] {
  const prefix = `${s.restart}.log.`;
  return fs
    .readdirSync(s.dir)
    .filter((n) => n.startsWith(prefix) && !n.endsWith('.tmp'))
    .sort();
}

function writeLines(s: State, fd: number, file: string, count: number): WriteReport {
  const from = s.seq + 1;
  let text = '';
  for (let i = 0; i < count; i++) {
    const seq = ++s.seq;
    text += criRecords(timestamp(s), streamOf(seq), messageOf(s.c.key, seq));
    if (text.length > 1 << 20) {
      fs.writeSync(fd, text);
      text = '';
    }
  }
  if (text) fs.writeSync(fd, text);
  return { restart: s.restart, id: s.ids.get(path.basename(file))!, file: path.basename(file), from, to: s.seq, size: fs.fstatSync(fd).size };
}

function handle(cmd: WriterCommand): Omit<WriterReply, 'id' | 'ok'> {
  if (cmd.op === 'init') {
    root = cmd.root;
    for (const c of cmd.containers) {
      const dir = path.join(root, `${c.namespace}_${c.pod}_${c.uid}`, c.container);
      fs.mkdirSync(dir, { recursive: true });
      const s: State = { c, dir, restart: 0, fd: -1, seq: 0, clock: 0, rotations: 0, ids: new Map(), files: 0 };
      openLive(s);
      containers.set(c.key, s);
    }
    return {};
  }
  const s = containers.get(cmd.key);
  if (!s) throw new Error(`unknown container ${cmd.key}`);
  switch (cmd.op) {
    case 'write':
      return { writes: [writeLines(s, s.fd, live(s), cmd.count)] };
    case 'rotate': {
      // The kubelet renames the live file; the runtime writes a little more before it reopens.
      s.rotations++;
      const at = new Date(BASE_MS + s.rotations * 1000).toISOString();
      const name = `${s.restart}.log.${at.slice(0, 10).replaceAll('-', '')}-${at.slice(11, 19).replaceAll(':', '')}`;
      fs.renameSync(live(s), path.join(s.dir, name));
      s.ids.set(name, s.ids.get(`${s.restart}.log`)!);
      const writes = cmd.late > 0 ? [writeLines(s, s.fd, path.join(s.dir, name), cmd.late)] : [];
      fs.closeSync(s.fd);
      openLive(s);
      return { writes, files: [info(s, path.join(s.dir, name))] };
    }
    case 'compress': {
      // All rotated files but the newest, as the kubelet does.
      const plain = rotated(s).filter((n) => !n.endsWith('.gz'));
      const compressed: FileInfo[] = [];
      for (const name of plain.slice(0, -1)) {
        const file = path.join(s.dir, name);
        fs.writeFileSync(`${file}.gz.tmp`, gzipSync(fs.readFileSync(file)));
        fs.renameSync(`${file}.gz.tmp`, `${file}.gz`);
        s.ids.set(`${name}.gz`, s.ids.get(name)!);
        compressed.push(info(s, `${file}.gz`));
        fs.rmSync(file);
      }
      return { files: compressed };
    }
    case 'prune': {
      // Beyond `keep` files (the live one counted), the oldest rotated ones are deleted.
      const all = rotated(s);
      const deleted: FileInfo[] = [];
      for (const name of all.slice(0, Math.max(0, all.length + 1 - cmd.keep))) {
        const file = path.join(s.dir, name);
        deleted.push(info(s, file));
        fs.rmSync(file);
      }
      return { deleted };
    }
    case 'restart': {
      // The container exits with an unterminated line; the next instance writes N+1.log.
      const seq = ++s.seq;
      fs.writeSync(s.fd, `${timestamp(s)} ${streamOf(seq)} P ${messageOf(s.c.key, seq).slice(0, 100)}`);
      const report: WriteReport = { restart: s.restart, id: s.ids.get(`${s.restart}.log`)!, file: `${s.restart}.log`, from: seq, to: seq, size: fs.fstatSync(s.fd).size };
      fs.closeSync(s.fd);
      s.restart++;
      openLive(s);
      return { writes: [report] };
    }
    case 'truncate': {
      const before = info(s, live(s));
      fs.ftruncateSync(s.fd, 0);
      return { files: [before] };
    }
    case 'bigline': {
      const seq = ++s.seq;
      const message = `${s.c.key}#${seq} ${'x'.repeat(cmd.bytes)}`;
      fs.writeSync(s.fd, criRecords(timestamp(s), 'stdout', message));
      return { writes: [{ restart: s.restart, id: s.ids.get(`${s.restart}.log`)!, file: `${s.restart}.log`, from: seq, to: seq, size: fs.fstatSync(s.fd).size }] };
    }
    case 'garbage':
      fs.writeSync(s.fd, garbageOf(cmd.seed, cmd.bytes));
      return { files: [info(s, live(s))] };
    case 'trace': {
      const seq = ++s.seq;
      let text = '';
      for (const line of traceOf(s.c.key, seq)) text += `${timestamp(s)} stderr F ${line}\n`;
      fs.writeSync(s.fd, text);
      return { writes: [{ restart: s.restart, id: s.ids.get(`${s.restart}.log`)!, file: `${s.restart}.log`, from: seq, to: seq, size: fs.fstatSync(s.fd).size }] };
    }
    case 'deletePod': {
      fs.closeSync(s.fd);
      fs.rmSync(path.dirname(s.dir), { recursive: true, force: true });
      containers.delete(cmd.key);
      return {};
    }
    case 'files':
      return { files: fs.readdirSync(s.dir).map((n) => info(s, path.join(s.dir, n))) };
  }
}

process.on('message', (m: { id: number; cmd: WriterCommand }) => {
  let reply: WriterReply;
  try {
    reply = { id: m.id, ok: true, ...handle(m.cmd) };
  } catch (err) {
    reply = { id: m.id, ok: false, error: err instanceof Error ? (err.stack ?? err.message) : String(err) };
  }
  process.send!(reply);
});
