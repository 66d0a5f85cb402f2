// The agent under torture, as a real process on a fake node, sending real kestrel.ingest.v1 over TLS to a
// recording ingest server: three writer processes play the runtime and the kubelet (rotation with late writes,
// compression, deletion beyond the file limit, container restarts, a deleted pod, a truncated file, a 10 MiB line,
// binary garbage, a stack trace), the network is partitioned, and the agent is SIGKILLed and restarted. Every step
// is a fixed sequence; every wait is for a condition (never a sleep); the writers' content is a pure function of
// (container, sequence number) (harness/torture-lines.ts). Then it checks what arrived against what was written:
//   - every line not deleted before it could be read arrives, in order per container instance;
//   - a line arrives twice only after a kill, and only if it was past that instance's checkpoint (its
//     unacknowledged window); checkpoints never pass what was acknowledged; a replay carries the same line numbers;
//   - what was deleted unread is exactly what the agent reported lost, in bytes.
import assert from 'node:assert/strict';
import { fork, type ChildProcess } from 'node:child_process';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { test } from 'node:test';
import { adminRequest } from '@kestrel/core';
import { fileKey, IngestRecorder, type ReceivedLine } from './harness/ingest-recorder.js';
import type { RunningProcess } from './harness/process.js';
import { createInternalPki, startAgent } from './harness/system.js';
import { garbageOf, messageOf, traceOf } from './harness/torture-lines.js';
import type { FileInfo, WriteReport, WriterCommand, WriterContainer, WriterReply } from './harness/torture-writer.js';

// ---- writers ----

class Writer {
  private next = 1;
  private readonly waiting = new Map<number, (r: WriterReply) => void>();

  constructor(private readonly child: ChildProcess) {
    child.on('message', (r: WriterReply) => {
      this.waiting.get(r.id)?.(r);
      this.waiting.delete(r.id);
    });
  }

  async call(cmd: WriterCommand): Promise<WriterReply> {
    const id = this.next++;
    const reply = await new Promise<WriterReply>((resolve) => {
      this.waiting.set(id, resolve);
      this.child.send({ id, cmd });
    });
    if (!reply.ok) throw new Error(`writer ${cmd.op} failed: ${reply.error}`);
    return reply;
  }

  stop(): void {
    this.child.kill('SIGKILL');
  }
}

/** A line the test expects: written to file `file` (writer's id) of instance `restart` of container `key`. */
interface Written {
  key: string;
  seq: number;
  restart: number;
  file: string;
  message: string;
}

const idOf = (l: ReceivedLine): string | undefined => {
  const m = /^([\w.-]+)#(\d+) /.exec(l.line.message) ?? /^java\.lang\.IllegalStateException: ([\w.-]+)#(\d+) /.exec(l.line.message);
  return m ? `${m[1]}#${m[2]}` : undefined;
};
const instanceOf = (l: ReceivedLine) => `${l.chunk.podUid}/${l.chunk.containerName}/${l.chunk.restartCount}`;

async function until(what: string, check: () => boolean | Promise<boolean>, timeoutMs = 60_000): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    let ok = false;
    try {
      ok = await check();
    } catch {
      ok = false;
    }
    if (ok) return;
    if (Date.now() > deadline) throw new Error(`timed out waiting for: ${what}`);
    await new Promise((r) => setTimeout(r, 50));
  }
}

interface SavedFileState {
  device: number;
  inode: number;
  fingerprint: number;
  name: string;
  size: number;
  offset: number;
  line: number;
  done: boolean;
}
interface StateDoc {
  streams: Record<string, { pod: string; container: string; restartCount: number; files: SavedFileState[] }>;
}

test('the agent loses no line it could read through rotation, compression, deletion, restarts, truncation, huge lines, garbage, partitions and SIGKILLs', { timeout: 240_000 }, async (t) => {
  const workDir = fs.mkdtempSync(path.join(os.tmpdir(), 'kestrel-e2e-torture-'));
  const podsRoot = path.join(workDir, 'pods');
  fs.mkdirSync(podsRoot);
  const pki = createInternalPki(path.join(workDir, 'pki'));
  const recorder = new IngestRecorder();
  await recorder.start(pki);

  const containers: Record<string, WriterContainer> = {
    cart: { key: 'cart.app', namespace: 'shop', pod: 'cart-7d9f8', uid: 'uid-cart', container: 'app' },
    sidecar: { key: 'cart.sidecar', namespace: 'shop', pod: 'cart-7d9f8', uid: 'uid-cart', container: 'sidecar' },
    ledger: { key: 'ledger.app', namespace: 'payments', pod: 'ledger-0', uid: 'uid-ledger', container: 'app' },
    job: { key: 'job.main', namespace: 'batch', pod: 'job-42', uid: 'uid-job', container: 'main' },
    indexer: { key: 'indexer.worker', namespace: 'search', pod: 'indexer-1', uid: 'uid-indexer', container: 'worker' },
    coredns: { key: 'coredns.coredns', namespace: 'kube-system', pod: 'coredns-5d78c', uid: 'uid-coredns', container: 'coredns' },
    self: { key: 'agent.agent', namespace: 'kestrel', pod: 'kestrel-agent-x1', uid: 'uid-agent', container: 'agent' },
  };
  const writerScript = path.join(import.meta.dirname, 'harness', 'torture-writer.js');
  const groups = [[containers.cart!, containers.sidecar!], [containers.ledger!, containers.job!], [containers.indexer!, containers.coredns!, containers.self!]];
  const writers = groups.map(() => new Writer(fork(writerScript, [], { stdio: ['ignore', 'inherit', 'inherit', 'ipc'] })));
  const writerOf = new Map<string, Writer>();
  groups.forEach((g, i) => g.forEach((c) => writerOf.set(c.key, writers[i]!)));
  await Promise.all(groups.map((g, i) => writers[i]!.call({ op: 'init', root: podsRoot, containers: g })));

  // ---- what was written, and what was deleted ----
  const written = new Map<string, Written>();
  const deleted: (FileInfo & { key: string })[] = [];
  const record = (key: string, writes: WriteReport[] | undefined, message: (seq: number) => string = (seq) => messageOf(key, seq)) => {
    for (const w of writes ?? []) for (let seq = w.from; seq <= w.to; seq++) written.set(`${key}#${seq}`, { key, seq, restart: w.restart, file: w.id, message: message(seq) });
  };
  const write = async (c: WriterContainer, count: number) => record(c.key, (await writerOf.get(c.key)!.call({ op: 'write', key: c.key, count })).writes);
  const rotate = async (c: WriterContainer, late: number) => {
    const r = await writerOf.get(c.key)!.call({ op: 'rotate', key: c.key, late });
    record(c.key, r.writes);
    return r.files![0]!;
  };
  const compress = (c: WriterContainer) => writerOf.get(c.key)!.call({ op: 'compress', key: c.key });
  const filesOf = async (c: WriterContainer) => (await writerOf.get(c.key)!.call({ op: 'files', key: c.key })).files!;
  const prune = async (c: WriterContainer, keep: number) => {
    const r = await writerOf.get(c.key)!.call({ op: 'prune', key: c.key, keep });
    for (const d of r.deleted!) deleted.push({ ...d, key: c.key });
    return r.deleted!;
  };

  // ---- the agent, killed and restarted ----
  let agent: RunningProcess | undefined;
  const processes: RunningProcess[] = [];
  let adminSocket = '';
  let httpAddress = '';
  const stateFile = path.join(workDir, 'agent-state', 'cri-checkpoints.json');
  const kills: { instance: string; checkpoints: Map<string, number> }[] = [];
  const readState = (): StateDoc => JSON.parse(fs.readFileSync(stateFile, 'utf8')) as StateDoc;
  const startTheAgent = async () => {
    const before = recorder.instances.length;
    const started = startAgent(workDir, 'agent', podsRoot, recorder.address, pki, {
      KESTREL_AGENT_SCAN_INTERVAL: '2s',
      KESTREL_AGENT_POLL_INTERVAL: '1s',
      KESTREL_AGENT_CHECKPOINT_INTERVAL: '50ms',
      KESTREL_AGENT_MAX_DELETED_FILES_HELD: '1',
      KESTREL_AGENT_MAX_IN_FLIGHT_BATCHES: '8',
      KESTREL_AGENT_BATCH_MAX_LINES: '500',
      KESTREL_AGENT_COMPRESSION: 'false',
      KESTREL_AGENT_POD_NAMESPACE: containers.self!.namespace,
      KESTREL_AGENT_POD_NAME: containers.self!.pod,
    });
    agent = started.agent;
    processes.push(agent);
    adminSocket = started.adminSocket;
    const line = await agent.waitFor((l) => l.message === 'kestrel-agent started', 30_000);
    httpAddress = String(line.http);
    await until('the agent connected', () => recorder.instances.length > before);
  };
  const kill = async () => {
    await agent!.kill();
    const instance = recorder.instances.at(-1)!;
    const checkpoints = new Map<string, number>();
    for (const s of Object.values(readState().streams)) for (const f of s.files) checkpoints.set(fileKey(f), f.offset);
    kills.push({ instance, checkpoints });
  };
  const trackedNames = async (): Promise<Set<string>> => new Set(((await adminRequest(adminSocket, 'files')) as { path: string }[]).map((f) => path.basename(f.path)));
  /** Waits until the agent tracks every file the container folder has now (so none is deleted unseen). */
  const agentSees = async (c: WriterContainer) => {
    const names = (await filesOf(c)).map((f) => f.name).filter((n) => !n.endsWith('.tmp'));
    await until(`the agent tracks ${names.join(', ')}`, async () => {
      const tracked = await trackedNames();
      return names.every((n) => tracked.has(n));
    });
  };
  /** Waits until the state file has every file of the container acknowledged to its end. */
  const committed = async (c: WriterContainer) => {
    const sizes = new Map((await filesOf(c)).map((f) => [f.name, f.contentSize]));
    await until(`${c.key} acknowledged and checkpointed to its end`, () =>
      Object.values(readState().streams)
        .filter((s) => s.pod === c.pod && s.container === c.container)
        .every((s) => s.files.every((f) => !sizes.has(f.name) || f.offset === sizes.get(f.name))),
    );
  };

  // ---- what arrived ----
  const arrivedIds = new Set<string>();
  let indexed = 0;
  const index = () => {
    for (; indexed < recorder.lines.length; indexed++) {
      const id = idOf(recorder.lines[indexed]!);
      if (id) arrivedIds.add(id);
    }
  };
  const lostCandidates = () => new Set(deleted.map((d) => d.id));
  /** Everything written has arrived, except what was in files deleted since (those may be lost). */
  const allArrived = (except: (w: Written) => boolean = () => false) => {
    index();
    const maybeLost = lostCandidates();
    for (const [id, w] of written) if (!arrivedIds.has(id) && !maybeLost.has(w.file) && !except(w)) return false;
    return true;
  };
  const waitAllArrived = (what: string) => until(`${what}: every line written arrived`, () => allArrived(), 90_000);

  let finished = false;
  try {
    await startTheAgent();

    // ---- 1. steady writing, kubelet rotation with compression and pruning, a container restart, a trace ----
    await Promise.all([
      (async () => {
        for (let r = 0; r < 3; r++) {
          await write(containers.cart!, 1500);
          await rotate(containers.cart!, 3);
          await compress(containers.cart!);
          await agentSees(containers.cart!);
          await prune(containers.cart!, 4);
        }
      })(),
      (async () => {
        await write(containers.sidecar!, 300);
        const r = await writerOf.get(containers.sidecar!.key)!.call({ op: 'restart', key: containers.sidecar!.key });
        record(containers.sidecar!.key, r.writes, (seq) => messageOf(containers.sidecar!.key, seq).slice(0, 100));
        await write(containers.sidecar!, 200);
      })(),
      (async () => {
        await write(containers.ledger!, 500);
        const t = await writerOf.get(containers.ledger!.key)!.call({ op: 'trace', key: containers.ledger!.key });
        record(containers.ledger!.key, t.writes, (seq) => traceOf(containers.ledger!.key, seq).join('\n'));
        await write(containers.ledger!, 500);
        await write(containers.job!, 200);
      })(),
      (async () => {
        await write(containers.indexer!, 500);
        await writerOf.get(containers.coredns!.key)!.call({ op: 'write', key: containers.coredns!.key, count: 100 });
        await writerOf.get(containers.self!.key)!.call({ op: 'write', key: containers.self!.key, count: 100 });
      })(),
    ]);
    await waitAllArrived('steady writing');

    // ---- 2. SIGKILL in the middle of a burst; while down: rotation, compression of the file being read, a pod deleted ----
    await committed(containers.job!);
    const burstFrom = Math.max(...[...written.values()].filter((w) => w.key === containers.cart!.key).map((w) => w.seq));
    const burst = (async () => {
      for (let i = 0; i < 40; i++) await write(containers.cart!, 500);
    })();
    await until('part of the burst arrived', () => {
      index();
      return [...arrivedIds].filter((id) => id.startsWith(`${containers.cart!.key}#`) && Number(id.split('#')[1]) > burstFrom).length >= 2000;
    });
    await kill();
    await burst;
    await rotate(containers.cart!, 3);
    await write(containers.cart!, 500);
    await rotate(containers.cart!, 0);
    await compress(containers.cart!);
    await write(containers.cart!, 200);
    await writerOf.get(containers.job!.key)!.call({ op: 'deletePod', key: containers.job!.key });
    await startTheAgent();
    await waitAllArrived('after the first restart');

    // ---- 3. partitioned, a rotated file deleted while the agent is down: lost, and counted exactly ----
    await committed(containers.cart!);
    recorder.partition();
    await write(containers.cart!, 2000);
    const x = await rotate(containers.cart!, 5);
    await write(containers.cart!, 500);
    await until('the state knows the final size of the rotated file', () =>
      Object.values(readState().streams).some((s) => s.container === 'app' && s.pod === containers.cart!.pod && s.files.some((f) => f.name === x.name && f.size === x.size)),
    );
    await kill();
    await prune(containers.cart!, 1);
    recorder.heal();
    await startTheAgent();
    await waitAllArrived('after the partition and a deletion while down');

    // ---- 4. partitioned while rotated files are deleted: deleted files beyond the held limit are given up ----
    recorder.partition();
    await write(containers.indexer!, 10_000); // more than the agent's unacknowledged window: it stops reading in this file
    for (let r = 0; r < 3; r++) {
      await rotate(containers.indexer!, 0);
      await write(containers.indexer!, r < 2 ? 3000 : 1000);
    }
    await agentSees(containers.indexer!);
    await prune(containers.indexer!, 1);
    recorder.heal();
    await waitAllArrived('after deletions while partitioned');

    // ---- 5. truncation, a 10 MiB line, binary garbage, and a SIGKILL while the huge line is read ----
    await committed(containers.ledger!);
    await writerOf.get(containers.ledger!.key)!.call({ op: 'truncate', key: containers.ledger!.key });
    await write(containers.ledger!, 300);
    await waitAllArrived('after the truncation');
    const big = await writerOf.get(containers.ledger!.key)!.call({ op: 'bigline', key: containers.ledger!.key, bytes: 10 * 1024 * 1024 });
    const bigSeq = big.writes![0]!.from;
    const bigMessage = `${containers.ledger!.key}#${bigSeq} ${'x'.repeat(10 * 1024 * 1024)}`;
    record(containers.ledger!.key, big.writes, () => bigMessage);
    const garbage = garbageOf(42, 3000);
    await writerOf.get(containers.ledger!.key)!.call({ op: 'garbage', key: containers.ledger!.key, bytes: 3000, seed: 42 });
    await write(containers.ledger!, 200);
    await until('a piece of the 10 MiB line arrived', () => recorder.lines.some((l) => l.line.truncated && l.line.message.startsWith(`${containers.ledger!.key}#${bigSeq} `)));
    await kill();
    await startTheAgent();
    await waitAllArrived('after the last restart');

    // The agent's own /metrics and debug view before it stops.
    const metrics = await (await fetch(`http://${httpAddress}/metrics`)).text();
    const status = (await adminRequest(adminSocket, 'status')) as { logs: { lostBytes: number } };
    await agent!.stop();
    const finalState = readState();

    // ==== checks ====
    index();
    const lines = recorder.lines;
    const instanceOrder = new Map(recorder.instances.map((id, i) => [id, i]));

    // Nothing of excluded namespaces or of the agent's own pod.
    assert.deepEqual(lines.filter((l) => l.chunk.namespace === 'kube-system' || l.chunk.podName === containers.self!.pod).length, 0, 'excluded pods are never shipped');

    // Every line that was not deleted before it could be read arrived; the others were in deleted files.
    const deletedIds = lostCandidates();
    const missing = [...written.values()].filter((w) => !arrivedIds.has(`${w.key}#${w.seq}`));
    assert.deepEqual(missing.filter((w) => !deletedIds.has(w.file)).map((w) => `${w.key}#${w.seq}`), [], 'lines missing that were never deleted');
    assert.ok(missing.length > 0, 'the scenario did delete unread lines');

    // Content: each line as written (the trace grouped, the huge line in pieces, the restart's last line unterminated).
    const byId = new Map<string, ReceivedLine[]>();
    for (const l of lines) {
      const id = idOf(l);
      if (id) byId.set(id, [...(byId.get(id) ?? []), l]);
    }
    for (const [id, w] of written) {
      if (w.message === bigMessage) continue;
      for (const l of byId.get(id) ?? []) assert.equal(l.line.message, w.message, `content of ${id}`);
    }
    const trace = [...written.values()].find((w) => w.message.startsWith('java.lang.'))!;
    assert.equal(byId.get(`${trace.key}#${trace.seq}`)![0]!.line.errorInfo?.errorType, 'java.lang.IllegalStateException');
    assert.equal(byId.get(`${trace.key}#${trace.seq}`)![0]!.line.level, 'ERROR');

    // The 10 MiB line: truncated pieces of at most 256 KiB, whose consecutive line numbers join to the line.
    const ledgerLines = lines.filter((l) => l.chunk.podName === containers.ledger!.pod);
    const firstPiece = ledgerLines.find((l) => l.line.message.startsWith(`${containers.ledger!.key}#${bigSeq} `))!;
    const pieces = new Map<number, string>();
    for (const l of ledgerLines) if (l.line.truncated && l.line.lineNumber >= firstPiece.line.lineNumber) pieces.set(l.line.lineNumber, l.line.message);
    let joined = '';
    for (let n = firstPiece.line.lineNumber; pieces.has(n) && joined.length < bigMessage.length; n++) joined += pieces.get(n)!;
    assert.equal(joined.length, bigMessage.length);
    assert.ok(joined === bigMessage, 'the 10 MiB line arrives whole, in pieces');
    assert.ok([...pieces.values()].every((m) => Buffer.byteLength(m) <= 256 * 1024));

    // Garbage: every segment forwarded raw, flagged.
    const raw = new Set(ledgerLines.filter((l) => l.line.parseError).map((l) => l.line.message));
    const segments = garbage.subarray(0, -1).toString('latin1').split('\n').map((s) => Buffer.from(s, 'latin1').toString('utf8'));
    assert.deepEqual(segments.filter((s) => !raw.has(s)), [], 'every garbage segment arrives as a raw line');

    // Order per container instance, line numbers the same on every copy and increasing with the writer's order.
    const perInstance = new Map<string, ReceivedLine[]>();
    for (const l of lines) if (idOf(l)) perInstance.set(instanceOf(l), [...(perInstance.get(instanceOf(l)) ?? []), l]);
    for (const [instance, ls] of perInstance) {
      const seen = new Set<string>();
      let lastSeq = 0;
      const numberOf = new Map<string, number>();
      for (const l of ls) {
        const id = idOf(l)!;
        const seq = Number(id.slice(id.lastIndexOf('#') + 1));
        if (numberOf.has(id)) assert.equal(l.line.lineNumber, numberOf.get(id), `${id}: a replay carries the same line number`);
        if (l.line.truncated && !l.line.message.startsWith(id)) continue;
        numberOf.set(id, l.line.lineNumber);
        if (seen.has(id)) continue;
        seen.add(id);
        assert.ok(seq > lastSeq, `${instance}: ${id} arrived after #${lastSeq}`);
        lastSeq = seq;
      }
      const numbers = [...numberOf.entries()].sort((a, b) => Number(a[0].split('#')[1]) - Number(b[0].split('#')[1])).map((e) => e[1]);
      assert.ok(numbers.every((n, i) => i === 0 || n > numbers[i - 1]!), `${instance}: line numbers increase with the lines`);
    }

    // Duplicates only after a kill, only past that instance's checkpoint; checkpoints never past what was acknowledged.
    const firstCopy = new Map<string, ReceivedLine>();
    let duplicates = 0;
    for (const l of lines) {
      const key = `${instanceOf(l)}|${l.line.lineNumber}`;
      const first = firstCopy.get(key);
      if (!first) {
        firstCopy.set(key, l);
        continue;
      }
      duplicates++;
      assert.equal(l.line.message, first.line.message, `${key}: a replay carries the same content`);
      assert.ok(instanceOrder.get(l.instance)! > instanceOrder.get(first.instance)!, `${key}: sent twice by one agent process`);
      const k = kills.find((kill) => kill.instance === first.instance);
      assert.ok(k, `${key}: a duplicate from an agent process that was not killed`);
      const checkpoint = k.checkpoints.get(fileKey(first.chunk.file)) ?? 0;
      assert.ok(first.line.endOffset > checkpoint, `${key}: sent again although acknowledged and checkpointed (${first.line.endOffset} <= ${checkpoint})`);
    }
    for (const k of kills) {
      for (const [file, offset] of k.checkpoints) {
        let acked = 0;
        for (const [instance, perFile] of recorder.acked) if (instanceOrder.get(instance)! <= instanceOrder.get(k.instance)!) acked = Math.max(acked, perFile.get(file) ?? 0);
        assert.ok(offset <= acked || offset === 0, `checkpoint ${offset} of ${file} is past what was acknowledged (${acked})`);
      }
    }
    assert.ok(kills.length >= 3, 'killed several times');

    // Losses: exactly the bytes of deleted files after what arrived of them, as the agent reported them.
    let expectedLoss = 0;
    for (const d of deleted) {
      let arrivedEnd = 0;
      for (const w of written.values()) {
        if (w.file !== d.id) continue;
        for (const l of byId.get(`${w.key}#${w.seq}`) ?? []) arrivedEnd = Math.max(arrivedEnd, l.line.endOffset);
      }
      const lostOfFile = [...written.values()].filter((w) => w.file === d.id && !arrivedIds.has(`${w.key}#${w.seq}`));
      const arrivedOfFile = [...written.values()].filter((w) => w.file === d.id && arrivedIds.has(`${w.key}#${w.seq}`));
      assert.ok(lostOfFile.every((lw) => arrivedOfFile.every((aw) => aw.seq < lw.seq)), `${d.name}: what was lost is the end of the file`);
      expectedLoss += d.contentSize - arrivedEnd;
    }
    const reported = processes.flatMap((p) => p.lines.filter((l) => l.message === 'log data lost before it was read')) as unknown as { bytes: number; reason: string }[];
    assert.ok(expectedLoss > 0);
    assert.equal(reported.reduce((n, r) => n + r.bytes, 0), expectedLoss, 'the agent reported exactly the bytes deleted unread');
    assert.ok(reported.every((r) => r.reason === 'deleted_before_read'));
    const metricLoss = [...metrics.matchAll(/^kestrel_agent_log_bytes_lost_total\{[^}]*\} (\d+)/gm)].reduce((n, m) => n + Number(m[1]), 0);
    assert.equal(metricLoss, status.logs.lostBytes, '/metrics and the debug view agree on the loss of the last process');

    // The restarted container's previous instance completed its stream after its last line.
    const sidecarComplete = [...lines.filter((l) => l.chunk.containerName === 'sidecar' && l.chunk.restartCount === 0 && l.chunk.streamComplete), ...recorder.emptyChunks.filter((c) => c.chunk.containerName === 'sidecar' && c.chunk.restartCount === 0 && c.chunk.streamComplete)];
    assert.ok(sidecarComplete.length >= 1, 'stream_complete for the previous container');
    assert.ok(lines.some((l) => l.chunk.containerName === 'sidecar' && l.chunk.restartCount === 0 && l.chunk.previousContainer));

    // The pod deleted while the agent was down is forgotten, with its checkpoints.
    assert.ok(Object.values(finalState.streams).every((s) => s.pod !== containers.job!.pod), 'no state left for the deleted pod');
    finished = true;
    t.diagnostic(
      `${written.size} lines written, ${lines.length} received (${duplicates} again after a kill), ${missing.length} deleted unread = ${expectedLoss} bytes reported lost in ${reported.length} events; ` +
        `${kills.length} kills, ${recorder.instances.length} agent processes, ${deleted.length} files deleted`,
    );
  } finally {
    await agent?.stop().catch(() => undefined);
    for (const w of writers) w.stop();
    await recorder.stop();
    if (finished) fs.rmSync(workDir, { recursive: true, force: true });
    else {
      // What arrived, to understand a failure (the agent's logs and state are in the same folder).
      const out = recorder.lines.map((l) => JSON.stringify({ instance: recorder.instances.indexOf(l.instance), batch: l.batch, pod: l.chunk.podName, container: l.chunk.containerName, restart: l.chunk.restartCount, file: fileKey(l.chunk.file), id: idOf(l), lineNumber: l.line.lineNumber, offset: l.line.offset, endOffset: l.line.endOffset, truncated: l.line.truncated, parseError: l.line.parseError }));
      fs.writeFileSync(path.join(workDir, 'received.jsonl'), out.join('\n'));
      fs.writeFileSync(path.join(workDir, 'written.json'), JSON.stringify({ deleted, kills: kills.map((k) => ({ instance: recorder.instances.indexOf(k.instance), checkpoints: [...k.checkpoints] })) }));
      t.diagnostic(`failed: what arrived is in ${workDir}`);
    }
  }
});
