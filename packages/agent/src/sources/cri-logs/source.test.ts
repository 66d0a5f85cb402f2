// The container log source on real folders, as the kubelet and the runtimes change them: rotation, compression,
// deletion, replacement, restarts of containers and of the agent, truncation, pod deletion. A sink stands for the
// forwarder: it acknowledges at once, or holds chunks until told (the aggregator being slow or away).
import assert from 'node:assert/strict';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { test } from 'node:test';
import { gzipSync } from 'node:zlib';
import { createLogger, createRegistry, metricTotal, type Registry } from '@kestrel/core';
import type { CriLogsConfig } from './config.js';
import { CriLogEvents } from './events.js';
import { CriLogSource } from './index.js';
import type { FileChunk, LogLine, LogSink } from './types.js';

const TS = '2024-05-01T12:00:00.000000000Z';

class TestSink implements LogSink {
  readonly chunks: FileChunk[] = [];
  readonly held: FileChunk[] = [];
  acking = true;
  /** When set, push waits (backpressure) until released. */
  private gate: Promise<void> | undefined;
  private openGate: (() => void) | undefined;
  pending = 0;

  async push(chunk: FileChunk, signal: AbortSignal): Promise<void> {
    this.pending++;
    try {
      while (this.gate) {
        signal.throwIfAborted();
        await Promise.race([this.gate, new Promise((_, reject) => signal.addEventListener('abort', () => reject(signal.reason), { once: true }))]);
      }
    } finally {
      this.pending--;
    }
    this.chunks.push(chunk);
    if (this.acking) ack(chunk);
    else this.held.push(chunk);
  }

  block(): void {
    this.gate = new Promise((resolve) => (this.openGate = resolve));
  }

  unblock(): void {
    this.gate = undefined;
    this.openGate?.();
  }

  ackHeld(count = this.held.length): void {
    for (const c of this.held.splice(0, count)) ack(c);
  }

  lines(filter: (c: FileChunk) => boolean = () => true): LogLine[] {
    return this.chunks.filter(filter).flatMap((c) => c.lines);
  }

  messages(container?: string): string[] {
    return this.lines((c) => container === undefined || c.container.containerName === container).map((l) => l.message);
  }
}

function ack(c: FileChunk): void {
  c.owner.commit(c.resumeOffset, c.resumeLine, c.streamComplete);
}

interface Node {
  root: string;
  stateDir: string;
  container(ns: string, pod: string, name: string, uid?: string): string;
}

function node(): Node {
  const base = fs.mkdtempSync(path.join(os.tmpdir(), 'cri-source-'));
  const root = path.join(base, 'pods');
  fs.mkdirSync(root);
  return {
    root,
    stateDir: path.join(base, 'state'),
    container(ns, pod, name, uid = `uid-${pod}`) {
      const dir = path.join(root, `${ns}_${pod}_${uid}`, name);
      fs.mkdirSync(dir, { recursive: true });
      return dir;
    },
  };
}

const lines = (from: number, to: number, prefix = 'line') => Array.from({ length: to - from + 1 }, (_, i) => `${TS} stdout F ${prefix} ${from + i}\n`).join('');
const seq = (from: number, to: number, prefix = 'line') => Array.from({ length: to - from + 1 }, (_, i) => `${prefix} ${from + i}`);

function config(n: Node, overrides: Partial<CriLogsConfig> = {}): CriLogsConfig {
  return {
    root: n.root,
    stateDir: n.stateDir,
    startAt: 'beginning',
    onCorruptCheckpoint: 'beginning',
    scanIntervalMs: 100,
    pollIntervalMs: 100,
    fallbackPollIntervalMs: 100,
    readBufferBytes: 4096,
    readIntervalMs: 50,
    maxMessageBytes: 16 * 1024,
    readConcurrency: 2,
    checkpointIntervalMs: 20,
    maxDeletedFilesHeld: 5,
    multiline: { enabled: true, maxLines: 100, maxBytes: 16 * 1024, maxGapMs: 500 },
    filter: { includeNamespaces: [], excludeNamespaces: ['kube-system'], includePods: [], excludePods: [], includeContainers: [], excludeContainers: [], ownPod: undefined },
    rateLimitLines: 0,
    ...overrides,
  };
}

async function start(n: Node, sink: LogSink, overrides: Partial<CriLogsConfig> = {}) {
  const registry = createRegistry('test', false);
  const events = new CriLogEvents(registry, createLogger('test', 'error'));
  const source = new CriLogSource(config(n, overrides), sink, events, createLogger('test', 'error'));
  const controller = new AbortController();
  await source.start(controller.signal);
  return { source, events, registry, stop: () => source.stop() };
}

async function until(what: string, check: () => boolean): Promise<void> {
  const ok = () => {
    try {
      return check();
    } catch {
      return false; // e.g. the state file not written yet
    }
  };
  for (let i = 0; i < 1000 && !ok(); i++) await new Promise((r) => setTimeout(r, 10));
  assert.ok(check(), `not reached: ${what}`);
}

const metric = (registry: Registry, name: string, labels?: Record<string, string>) => metricTotal(registry.getSingleMetric(name) as never, labels);
const state = (n: Node) => JSON.parse(fs.readFileSync(path.join(n.stateDir, 'cri-checkpoints.json'), 'utf8')) as { streams: Record<string, { files: { name: string; offset: number; size: number; done: boolean }[]; complete: boolean }> };

test('follows a kubelet rotation: the renamed file is read to its end, late writes included, before the new one', async () => {
  const n = node();
  const dir = n.container('shop', 'cart', 'app');
  fs.writeFileSync(path.join(dir, '0.log'), lines(1, 100));
  const sink = new TestSink();
  const s = await start(n, sink);
  try {
    await until('first lines', () => sink.lines().length === 100);
    fs.renameSync(path.join(dir, '0.log'), path.join(dir, '0.log.20240501-120000'));
    fs.appendFileSync(path.join(dir, '0.log.20240501-120000'), lines(101, 110)); // the runtime writes before it reopens
    fs.writeFileSync(path.join(dir, '0.log'), lines(111, 150));
    await until('all lines', () => sink.lines().length === 150);
    assert.deepEqual(sink.messages(), seq(1, 150));
    assert.deepEqual(sink.lines().map((l) => l.lineNumber), seq(1, 150, '').map((x) => Number(x)));
    assert.ok((await metric(s.registry, 'kestrel_agent_log_rotations_total', { kind: 'renamed' })) >= 1);
  } finally {
    await s.stop();
  }
});

test('after a restart, reads a rotated file the kubelet compressed meanwhile from its checkpoint, in uncompressed bytes', async () => {
  const n = node();
  const dir = n.container('shop', 'cart', 'app');
  fs.writeFileSync(path.join(dir, '0.log'), lines(1, 300));
  const first = new TestSink();
  first.acking = false;
  let s = await start(n, first);
  await until('lines read', () => first.lines().length === 300);
  first.ackHeld(Math.max(1, Math.floor(first.held.length / 2)));
  const acked = first.chunks[first.chunks.length - first.held.length - 1]!;
  await new Promise((r) => setTimeout(r, 100)); // the checkpoint is written within its interval
  await s.stop();
  // While the agent is down: rotation, more lines, another rotation, compression of the older rotated file.
  fs.renameSync(path.join(dir, '0.log'), path.join(dir, '0.log.20240501-120000'));
  fs.writeFileSync(path.join(dir, '0.log'), lines(301, 400));
  fs.renameSync(path.join(dir, '0.log'), path.join(dir, '0.log.20240501-120100'));
  fs.writeFileSync(path.join(dir, '0.log'), lines(401, 420));
  fs.writeFileSync(path.join(dir, '0.log.20240501-120000.gz'), gzipSync(fs.readFileSync(path.join(dir, '0.log.20240501-120000'))));
  fs.rmSync(path.join(dir, '0.log.20240501-120000'));
  const second = new TestSink();
  s = await start(n, second);
  try {
    await until('the rest', () => second.lines().at(-1)?.message === 'line 420');
    const got = second.lines();
    assert.equal(got[0]!.lineNumber, acked.resumeLine + 1, 'resumes right after the acknowledged line');
    assert.deepEqual(got.map((l) => l.message), seq(acked.resumeLine + 1, 420));
    assert.deepEqual(got.map((l) => l.lineNumber), seq(acked.resumeLine + 1, 420, '').map(Number));
    const fromGzip = second.chunks.find((c) => c.lines.length > 0)!;
    assert.deepEqual(fromGzip.file, first.chunks[0]!.file, 'under the identity of the file it came from');
    assert.equal(fromGzip.lines[0]!.offset, acked.resumeOffset);
  } finally {
    await s.stop();
  }
});

test('data deleted while the agent was stopped is counted as lost, exactly, and the state forgets the file', async () => {
  const n = node();
  const dir = n.container('shop', 'cart', 'app');
  fs.writeFileSync(path.join(dir, '0.log'), lines(1, 50));
  const first = new TestSink();
  first.acking = false;
  let s = await start(n, first);
  await until('lines read', () => first.lines().length === 50);
  first.ackHeld(1);
  const acked = first.chunks[0]!;
  // A rotation seen while running: its size is in the state, so its loss can be counted exactly.
  fs.renameSync(path.join(dir, '0.log'), path.join(dir, '0.log.20240501-120000'));
  fs.writeFileSync(path.join(dir, '0.log'), lines(51, 60));
  await until('the state knows the rotated file', () => fs.existsSync(path.join(n.stateDir, 'cri-checkpoints.json')) && Object.values(state(n).streams)[0]!.files.some((f) => f.name === '0.log.20240501-120000'));
  await s.stop();
  const size = fs.statSync(path.join(dir, '0.log.20240501-120000')).size;
  fs.rmSync(path.join(dir, '0.log.20240501-120000'));
  const second = new TestSink();
  s = await start(n, second);
  try {
    await until('the live file', () => second.messages().at(-1) === 'line 60');
    assert.equal(await metric(s.registry, 'kestrel_agent_log_bytes_lost_total', { reason: 'deleted_before_read', pod: 'cart', container: 'app' }), size - acked.resumeOffset);
    assert.deepEqual(second.messages(), seq(51, 60));
    assert.equal(second.lines()[0]!.lineNumber, acked.resumeLine + 1, 'numbering goes on from what was acknowledged');
    await until('state without the deleted file', () => !Object.values(state(n).streams)[0]!.files.some((f) => f.name.startsWith('0.log.2024')));
  } finally {
    await s.stop();
  }
});

test('conmon style: a fresh file renamed over the path; the old one is read to its end first', async () => {
  const n = node();
  const dir = n.container('crio', 'web', 'app');
  fs.writeFileSync(path.join(dir, '0.log'), lines(1, 20));
  const sink = new TestSink();
  const s = await start(n, sink);
  try {
    await until('first', () => sink.lines().length === 20);
    fs.appendFileSync(path.join(dir, '0.log'), lines(21, 30));
    fs.writeFileSync(path.join(dir, '0.log.tmp'), lines(31, 40));
    fs.renameSync(path.join(dir, '0.log.tmp'), path.join(dir, '0.log'));
    await until('all', () => sink.lines().length === 40);
    assert.deepEqual(sink.messages(), seq(1, 40));
    const ids = new Set(sink.chunks.map((c) => `${c.file.inode}:${c.file.fingerprint}`));
    assert.equal(ids.size, 2);
  } finally {
    await s.stop();
  }
});

test('a reused inode with other first bytes is another file: the known one is lost, the new one read from 0', async () => {
  const n = node();
  const dir = n.container('crio', 'web', 'app');
  fs.writeFileSync(path.join(dir, '0.log'), lines(1, 10));
  const first = new TestSink();
  let s = await start(n, first);
  await until('read', () => first.lines().length === 10);
  await s.stop();
  // Same inode (truncate and rewrite in place stands for conmon's inode reuse), other content, bigger than before.
  const known = fs.statSync(path.join(dir, '0.log')).size;
  fs.writeFileSync(path.join(dir, '0.log'), lines(1, 30, 'other'));
  const second = new TestSink();
  s = await start(n, second);
  try {
    await until('new content', () => second.lines().length === 30);
    assert.deepEqual(second.messages(), seq(1, 30, 'other'));
    assert.equal(await metric(s.registry, 'kestrel_agent_log_bytes_lost_total'), 0, `the known file was read to its end (${known} bytes)`);
    assert.notEqual(second.chunks[0]!.file.fingerprint, first.chunks[0]!.file.fingerprint);
  } finally {
    await s.stop();
  }
});

test('a rotated file read and deleted, its inode at once reused by a new file of the same size: the new file is read', async () => {
  const n = node();
  const dir = n.container('shop', 'cart', 'app');
  const live = path.join(dir, '0.log');
  const first = path.join(dir, '0.log.20240501-120000');
  fs.writeFileSync(live, lines(1, 10));
  const sink = new TestSink();
  const s = await start(n, sink);
  try {
    await until('first lines', () => sink.lines().length === 10);
    fs.renameSync(live, first);
    fs.writeFileSync(live, lines(11, 20));
    await until('the rotated file read to its end and listed', () => sink.lines().length === 20 && s.source.files().some((f) => f.path === first && f.state === 'done'));
    // Between two listings (synchronously, the agent runs in this process): the read rotated file is deleted, the
    // live one rotated, and the runtime's new file, which takes the freed inode, has the deleted file's size.
    // Whether a file system hands the freed inode to the next file is its own choice (ext4 often does, not always;
    // tmpfs and btrfs never do), so the test builds the same end state itself: the rotated file is rewritten in place
    // (same inode, same size, other bytes) and renamed to the live path. The agent sees, at its next listing, what
    // it would see after a real reuse: the done file's path gone, its inode at the live path with its size.
    const { ino, size } = fs.statSync(first);
    fs.renameSync(live, path.join(dir, '0.log.20240501-120100'));
    fs.writeFileSync(first, lines(1, 10, 'next'));
    fs.renameSync(first, live);
    const reused = fs.statSync(live);
    assert.equal(reused.ino, ino, 'the new live file has the done file\'s inode');
    assert.equal(reused.size, size);
    await until('the new file read', () => sink.messages().at(-1) === 'next 10');
    assert.deepEqual(sink.messages(), [...seq(1, 20), ...seq(1, 10, 'next')]);
    assert.deepEqual(sink.lines().map((l) => l.lineNumber), seq(1, 30, '').map(Number));
  } finally {
    await s.stop();
  }
});

test('a container restart: the previous instance is flagged, completes its stream, the new one numbers from 1', async () => {
  const n = node();
  const dir = n.container('shop', 'cart', 'app');
  fs.writeFileSync(path.join(dir, '0.log'), lines(1, 10, 'first'));
  const sink = new TestSink();
  const s = await start(n, sink);
  try {
    await until('first instance', () => sink.lines().length === 10);
    fs.appendFileSync(path.join(dir, '0.log'), lines(11, 12, 'first'));
    fs.writeFileSync(path.join(dir, '1.log'), lines(1, 5, 'second'));
    await until('second instance', () => sink.messages().includes('second 5') && sink.chunks.some((c) => c.streamComplete));
    const firstChunks = sink.chunks.filter((c) => c.container.restartCount === 0);
    assert.deepEqual(firstChunks.flatMap((c) => c.lines).map((l) => l.message), seq(1, 12, 'first'));
    const complete = firstChunks.filter((c) => c.streamComplete);
    assert.equal(complete.length, 1);
    assert.equal(firstChunks.at(-1), complete[0], 'nothing of the instance after its completion');
    assert.ok(complete[0]!.previousContainer);
    assert.deepEqual(sink.lines((c) => c.container.restartCount === 1).map((l) => l.lineNumber), [1, 2, 3, 4, 5]);
    await until('completion acknowledged', () => Object.entries(state(n).streams).some(([k, v]) => k.endsWith('/0') && v.complete));
  } finally {
    await s.stop();
  }
});

test('a deleted pod folder: its files are read to their end, then forgotten with their checkpoints', async () => {
  const n = node();
  const dir = n.container('batch', 'job-1', 'main');
  const other = n.container('shop', 'cart', 'app');
  fs.writeFileSync(path.join(dir, '0.log'), lines(1, 5));
  fs.writeFileSync(path.join(other, '0.log'), lines(1, 3));
  const sink = new TestSink();
  const s = await start(n, sink);
  try {
    await until('read', () => sink.lines().length === 8);
    fs.appendFileSync(path.join(dir, '0.log'), lines(6, 9));
    fs.rmSync(path.dirname(dir), { recursive: true });
    await until('forgotten', () => s.source.files().every((f) => f.pod !== 'job-1'));
    assert.deepEqual(sink.messages('main'), seq(1, 9));
    assert.ok(sink.chunks.filter((c) => c.container.podName === 'job-1').at(-1)!.streamComplete, 'its stream completed');
    await until('state forgot it', () => Object.values(state(n).streams).every((v) => !JSON.stringify(v).includes('job-1')));
    assert.equal(s.source.status().containers, 1);
  } finally {
    await s.stop();
  }
});

test('a truncated file is counted and read again from the start, numbers going on', async () => {
  const n = node();
  const dir = n.container('shop', 'cart', 'app');
  fs.writeFileSync(path.join(dir, '0.log'), lines(1, 10));
  const sink = new TestSink();
  const s = await start(n, sink);
  try {
    await until('read', () => sink.lines().length === 10);
    fs.truncateSync(path.join(dir, '0.log'), 0);
    fs.appendFileSync(path.join(dir, '0.log'), lines(1, 3, 'after'));
    await until('after truncation', () => sink.lines().length === 13);
    assert.deepEqual(sink.lines().slice(10).map((l) => [l.message, l.lineNumber]), [['after 1', 11], ['after 2', 12], ['after 3', 13]]);
    assert.equal(await metric(s.registry, 'kestrel_agent_log_files_truncated_total'), 1);
  } finally {
    await s.stop();
  }
});

test('backpressure: while the sink does not take chunks, reading pauses with at most one chunk per read permit', async () => {
  const n = node();
  for (let i = 0; i < 6; i++) fs.writeFileSync(path.join(n.container('load', `pod-${i}`, 'app'), '0.log'), lines(1, 2000));
  const sink = new TestSink();
  sink.block();
  const s = await start(n, sink, { readConcurrency: 2 });
  try {
    await until('readers blocked', () => sink.pending === 2);
    await new Promise((r) => setTimeout(r, 200));
    assert.equal(sink.pending, 2, 'no more than the read permits wait with lines');
    assert.equal(sink.chunks.length, 0);
    sink.unblock();
    await until('everything', () => sink.lines().length === 12_000);
    for (let i = 0; i < 6; i++) assert.deepEqual(sink.lines((c) => c.container.podName === `pod-${i}`).map((l) => l.message), seq(1, 2000));
  } finally {
    sink.unblock();
    await s.stop();
  }
});

test('deleted files not read yet are held open up to the limit; beyond it the oldest are given up and counted exactly', async () => {
  const n = node();
  const dir = n.container('shop', 'cart', 'app');
  fs.writeFileSync(path.join(dir, '0.log'), lines(1, 10, 'a'));
  const sink = new TestSink();
  sink.block();
  const s = await start(n, sink, { maxDeletedFilesHeld: 1, readConcurrency: 1, readBufferBytes: 1 << 20 });
  try {
    await until('blocked on the first read', () => sink.pending === 1);
    const sizes: number[] = [];
    for (const [i, name] of ['b', 'c', 'd'].entries()) {
      fs.renameSync(path.join(dir, '0.log'), path.join(dir, `0.log.20240501-12000${i}`));
      fs.writeFileSync(path.join(dir, '0.log'), lines(1, 10, name));
      await until(`rotation ${i} seen`, () => s.source.files().length === i + 2);
    }
    for (const i of [1, 2]) {
      sizes.push(fs.statSync(path.join(dir, `0.log.20240501-12000${i}`)).size);
      fs.rmSync(path.join(dir, `0.log.20240501-12000${i}`));
    }
    await until('one given up', () => s.events.totals.lostFiles === 1);
    assert.equal(s.events.totals.lostBytes, sizes[0], 'the oldest deleted file not read: all its bytes');
    sink.unblock();
    await until('the rest', () => sink.messages().at(-1) === 'd 10');
    assert.deepEqual(sink.messages(), [...seq(1, 10, 'a'), ...seq(1, 10, 'c'), ...seq(1, 10, 'd')]);
  } finally {
    sink.unblock();
    await s.stop();
  }
});

test('a corrupt state file is set aside and reported; with policy end, files are read from their end, no crash', async () => {
  const n = node();
  const dir = n.container('shop', 'cart', 'app');
  fs.writeFileSync(path.join(dir, '0.log'), lines(1, 10));
  fs.writeFileSync(path.join(dir, '0.log.20240501-120000'), lines(1, 10, 'old'));
  fs.mkdirSync(n.stateDir, { recursive: true });
  fs.writeFileSync(path.join(n.stateDir, 'cri-checkpoints.json'), '{"version":2,"streams":{"x":');
  const sink = new TestSink();
  const s = await start(n, sink, { onCorruptCheckpoint: 'end' });
  try {
    fs.appendFileSync(path.join(dir, '0.log'), lines(11, 12));
    await until('new lines', () => sink.lines().length === 2);
    assert.deepEqual(sink.messages(), seq(11, 12));
    assert.ok(fs.readdirSync(n.stateDir).some((f) => f.startsWith('cri-checkpoints.json.corrupt-')));
    assert.equal(await metric(s.registry, 'kestrel_agent_checkpoint_errors_total', { kind: 'read' }), 1);
  } finally {
    await s.stop();
  }
});

test('a corrupt state file with policy beginning: every file is read from its start', async () => {
  const n = node();
  const dir = n.container('shop', 'cart', 'app');
  fs.writeFileSync(path.join(dir, '0.log.20240501-120000'), lines(1, 5));
  fs.writeFileSync(path.join(dir, '0.log'), lines(6, 10));
  fs.mkdirSync(n.stateDir, { recursive: true });
  fs.writeFileSync(path.join(n.stateDir, 'cri-checkpoints.json'), 'not json at all');
  const sink = new TestSink();
  const s = await start(n, sink, { onCorruptCheckpoint: 'beginning' });
  try {
    await until('all', () => sink.lines().length === 10);
    assert.deepEqual(sink.messages(), seq(1, 10));
  } finally {
    await s.stop();
  }
});

test('start at end: what exists at startup is skipped, new pods later are read from their beginning', async () => {
  const n = node();
  const dir = n.container('shop', 'cart', 'app');
  fs.writeFileSync(path.join(dir, '0.log.20240501-120000'), lines(1, 5));
  fs.writeFileSync(path.join(dir, '0.log'), lines(6, 10));
  const sink = new TestSink();
  const s = await start(n, sink, { startAt: 'end' });
  try {
    fs.appendFileSync(path.join(dir, '0.log'), lines(11, 11));
    fs.writeFileSync(path.join(n.container('shop', 'later', 'app'), '0.log'), lines(1, 3, 'later'));
    await until('new', () => sink.lines().length === 4);
    assert.deepEqual(sink.messages('app').sort(), ['later 1', 'later 2', 'later 3', 'line 11']);
  } finally {
    await s.stop();
  }
});

test('filters: excluded namespaces, the agent\'s own pod and globs are never read', async () => {
  const n = node();
  fs.writeFileSync(path.join(n.container('kube-system', 'coredns-1', 'coredns'), '0.log'), lines(1, 3));
  fs.writeFileSync(path.join(n.container('kestrel', 'kestrel-agent-x', 'agent'), '0.log'), lines(1, 3));
  fs.writeFileSync(path.join(n.container('shop', 'cart', 'istio-proxy'), '0.log'), lines(1, 3));
  fs.writeFileSync(path.join(n.container('shop', 'cart', 'app'), '0.log'), lines(1, 3));
  const sink = new TestSink();
  const s = await start(n, sink, {
    filter: { includeNamespaces: [], excludeNamespaces: ['kube-*'], includePods: [], excludePods: [], includeContainers: [], excludeContainers: ['istio-*'], ownPod: { namespace: 'kestrel', name: 'kestrel-agent-x' } },
  });
  try {
    await until('app', () => sink.lines().length === 3);
    await new Promise((r) => setTimeout(r, 200));
    assert.deepEqual([...new Set(sink.chunks.map((c) => `${c.container.namespace}/${c.container.containerName}`))], ['shop/app']);
    assert.equal(s.source.files().length, 1);
  } finally {
    await s.stop();
  }
});

test('the per-container rate limit drops and counts lines; checkpoints still advance past them', async () => {
  const n = node();
  const dir = n.container('shop', 'noisy', 'app');
  fs.writeFileSync(path.join(dir, '0.log'), lines(1, 1000));
  const sink = new TestSink();
  const s = await start(n, sink, { rateLimitLines: 100 });
  try {
    await until('dropped counted', () => s.events.totals.dropped + sink.lines().length === 1000);
    assert.ok(sink.lines().length < 1000 && sink.lines().length >= 100);
    await until('checkpoint at the end', () => Object.values(state(n).streams)[0]!.files[0]!.offset === fs.statSync(path.join(dir, '0.log')).size);
  } finally {
    await s.stop();
  }
});

test('backpressure: the size and lag of paused files stay current at each safety poll, without a read or a rescan', async () => {
  const n = node();
  const blockedLog = path.join(n.container('load', 'pod-a', 'app'), '0.log');
  const waitingLog = path.join(n.container('load', 'pod-b', 'app'), '0.log');
  fs.writeFileSync(blockedLog, lines(1, 100, 'a'));
  fs.writeFileSync(waitingLog, lines(1, 100, 'b'));
  const sink = new TestSink();
  sink.block();
  // One read permit: one follower waits in the sink holding it, the other waits for it. No rescan during the test.
  const s = await start(n, sink, { readConcurrency: 1, readBufferBytes: 1 << 20, scanIntervalMs: 3_600_000, pollIntervalMs: 100 });
  const view = (file: string) => s.source.files().find((f) => f.path === file)!;
  try {
    await until('one reader blocked in the sink', () => sink.pending === 1);
    const before = new Map([blockedLog, waitingLog].map((f) => [f, view(f).readOffset]));
    fs.appendFileSync(blockedLog, lines(101, 300, 'a'));
    fs.appendFileSync(waitingLog, lines(101, 400, 'b'));
    for (const [label, file] of [['blocked in the sink', blockedLog], ['waiting for a read permit', waitingLog]] as const) {
      const size = fs.statSync(file).size;
      await until(`the new size of the file ${label}, seen by a poll`, () => view(file).size === size);
      assert.equal(view(file).lagBytes, size, 'nothing acknowledged: the whole file is lag');
      // The state keeps the last known size too (what a deletion while the agent is stopped would lose).
      await until('size saved', () => Object.values(state(n).streams).some((st) => st.files.some((f) => f.size === size)));
    }
    // Still paused: no further read, nothing taken.
    assert.equal(sink.pending, 1);
    assert.equal(sink.chunks.length, 0);
    for (const [file, offset] of before) assert.equal(view(file).readOffset, offset, 'the paused reader did not move');
    sink.unblock();
    await until('everything', () => sink.lines().length === 700);
    assert.deepEqual(sink.messages().filter((m) => m.startsWith('a ')), seq(1, 300, 'a'));
    assert.deepEqual(sink.messages().filter((m) => m.startsWith('b ')), seq(1, 400, 'b'));
    await until('no lag once acknowledged', () => [blockedLog, waitingLog].every((f) => view(f).lagBytes === 0));
  } finally {
    sink.unblock();
    await s.stop();
  }
});
