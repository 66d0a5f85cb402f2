// Child process of ingest.bench: plays N agents against a real aggregator, so that their CPU is not the
// aggregator's (nor the bench's). Each simulated agent has its own node name, client certificate and TLS
// connection, its own pods (from log-corpus.ts: zap/pino JSON, Spring, nginx, Envoy, Python, logfmt, with unique
// ids), and sends batches as the real agent does: up to BATCH_LINES lines or BATCH_BYTES bytes (counted as the
// agent's batcher counts them), chunks of consecutive lines of one container file with their byte offsets and line
// numbers, the content encoded and gzip-compressed with the agent's codec (sealBatch), sequence numbers from 1, at
// most WINDOW batches unacknowledged (a new batch is sealed as soon as an Ack frees a place).
//
// Messages come from a ring of RING lines per container generated once (the corpus's generator is as costly per line
// as the aggregator's work, and would take the machine's second core); offsets, line numbers and timestamps are
// fresh on every line. A ring of 512 lines is far beyond gzip's 32 KiB window, so the compression is the corpus's.
//
// Talks to its parent over IPC: {type:'sample'} -> {type:'sample', ...counters}; {type:'drain'} stops sealing new
// batches and answers {type:'drained'} when every batch sent was acknowledged (or {type:'drain-timeout'}).
import { randomUUID } from 'node:crypto';
import { sealBatch } from '@kestrel/proto/ingest/v1/codec';
import { frameEntries } from '@kestrel/proto/cloud/v1/log-entries';
import { encodePositions, type ChunkPositions } from '@kestrel/proto/ingest/v1/positions';
import type { Batch, LogChunk, LogLine } from '@kestrel/proto/ingest/v1';
import { IngestClient } from '@kestrel/e2e/harness/ingest-client';
import { createCorpus, prng } from './log-corpus.js';

export interface ChildConfig {
  address: string;
  caFile: string;
  /** One per simulated agent: node name and its client certificate. */
  agents: { node: string; certFile: string; keyFile: string }[];
  window: number;
  batchLines: number;
  batchBytes: number;
  /** Lines of one container per chunk (what one read of a file gives the agent's batcher). */
  chunkLines: number;
  podsPerAgent: number;
  ring: number;
  /** Send lines as LogLine objects, as agents before the framed encoding did (to compare the aggregator's cost). */
  legacyLines: boolean;
  /** Records per second offered by all agents together, spread evenly; 0: as fast as acknowledgements allow. */
  rate: number;
}

export type ChildMessage =
  | { type: 'ready'; connected: number; aggregators: string[] }
  | { type: 'sample'; at: number; sentLines: number; sentBatches: number; ackedLines: number; ackedBatches: number; inFlight: number; cpuSeconds: number; errors: string[] }
  | { type: 'drained'; ackedLines: number; sentLines: number }
  | { type: 'drain-timeout'; ackedLines: number; sentLines: number; inFlight: number };

const config = JSON.parse(process.argv[2] ?? '') as ChildConfig;
const send = (m: ChildMessage) => process.send!(m);

interface RingLine {
  message: string;
  level: string;
  stream: string;
  /** Bytes of the CRI line in the file (prefix + message + newline). */
  fileBytes: number;
}

interface SimFile {
  chunkBase: Omit<LogChunk, 'lines' | 'lastLineNumber' | 'entries' | 'entrySizes' | 'entryFlags' | 'entriesDeflated' | 'entriesCrc32' | keyof ChunkPositions>;
  ring: RingLine[];
  next: number;
  offset: number;
  lineNumber: number;
}

const LEVELS: Record<string, string> = { info: 'INFO', warn: 'WARN', error: 'ERROR', debug: 'DEBUG' };

let sentLines = 0;
let sentBatches = 0;
let ackedLines = 0;
let ackedBatches = 0;
let draining = false;
const errors: string[] = [];

const noFramed = { entries: Buffer.alloc(0), entrySizes: [], entryFlags: [], ...encodePositions(0, [], []), entriesDeflated: new Uint8Array(0), entriesCrc32: 0 };
const legacy = (lines: LogLine[]) => ({ lines, ...noFramed });

/** What the agent's forwarder sends: the lines framed for PodLogs (packages/agent/src/forwarder/index.ts). */
function framed(lines: LogLine[]) {
  const f = frameEntries(lines.map((l) => ({ timestamp: l.timestamp, message: l.message, level: l.level, lineNumber: l.lineNumber, errorInfo: l.errorInfo })));
  return { lines: [], entries: Buffer.from(f.bytes.buffer, f.bytes.byteOffset, f.bytes.byteLength), entrySizes: [...f.sizes], ...encodePositions(lines[0]?.offset ?? 0, lines.map((l) => l.endOffset), f.lineNumbers), entryFlags: [], entriesDeflated: new Uint8Array(0), entriesCrc32: 0 };
}

class SimAgent {
  private readonly files: SimFile[] = [];
  private sequence = 0;
  private fileIndex = 0;
  private readonly inFlight = new Map<number, number>();
  private sealing = false;
  private client: IngestClient | undefined;
  private clock = Date.now();
  private nanos = 0;

  constructor(
    readonly node: string,
    index: number,
    private readonly certFile: string,
    private readonly keyFile: string,
  ) {
    const random = prng(9000 + index);
    for (const c of createCorpus(1000 + index, config.podsPerAgent)) {
      const ring: RingLine[] = [];
      for (let i = 0; i < config.ring; i++) {
        const l = c.next();
        ring.push({ message: l.message, level: LEVELS[l.level] ?? '', stream: l.stream, fileBytes: 31 + l.stream.length + 3 + Buffer.byteLength(l.message) + 1 });
      }
      this.files.push({
        chunkBase: {
          namespace: c.namespace,
          podName: c.pod,
          podUid: c.podUid,
          containerName: c.container,
          restartCount: 0,
          file: { device: 64769, inode: 100_000 + Math.floor(random() * 1e9), fingerprint: Math.floor(random() * 2 ** 52) },
          previousContainer: false,
          streamComplete: false,
          ownerReferences: [{ apiVersion: 'apps/v1', kind: 'ReplicaSet', name: c.pod.split('-').slice(0, 2).join('-'), uid: randomUUID(), controller: true, blockOwnerDeletion: true }],
        },
        ring,
        next: Math.floor(random() * config.ring),
        offset: 0,
        lineNumber: 0,
      });
    }
  }

  async connect(): Promise<string> {
    this.client = new IngestClient({ address: config.address, serverName: 'localhost', caFile: config.caFile, certFile: this.certFile, keyFile: this.keyFile, nodeName: this.node, instanceId: randomUUID() }, (seq) => this.acked(seq));
    void this.client.closed.then((err) => {
      if (!draining || err) errors.push(`${this.node}: stream ended${err ? `: ${err.message}` : ''}`);
    });
    return this.client.welcomed;
  }

  /** Sent and not acknowledged, and the one being sealed (sent next). */
  get unacknowledged(): number {
    return this.inFlight.size + (this.sealing ? 1 : 0);
  }

  private acked(sequence: number): void {
    const lines = this.inFlight.get(sequence);
    if (lines === undefined) return;
    this.inFlight.delete(sequence);
    ackedLines += lines;
    ackedBatches++;
    this.pump();
  }

  /** With an offered rate: when this agent may send its next batch, and the timer that waits for it. */
  private nextAt = 0;
  private paced: NodeJS.Timeout | undefined;

  /** Seals and sends batches while the window has room; one seal at a time so that batches go out in order. */
  pump(): void {
    if (this.sealing || draining || this.inFlight.size >= config.window || this.paced) return;
    if (config.rate > 0) {
      const interval = (config.batchLines * config.agents.length * 1000) / config.rate;
      const now = Date.now();
      if (this.nextAt === 0) this.nextAt = now + Math.random() * interval;
      if (now < this.nextAt) {
        this.paced = setTimeout(() => {
          this.paced = undefined;
          this.pump();
        }, this.nextAt - now);
        return;
      }
      // A late agent does not make up for lost time with a burst.
      this.nextAt = Math.max(this.nextAt + interval, now - interval);
    }
    this.sealing = true;
    const sequence = ++this.sequence;
    const { content, lines } = this.build();
    void sealBatch(sequence, content, true).then(
      (batch: Batch) => {
        this.sealing = false;
        this.inFlight.set(sequence, lines);
        sentLines += lines;
        sentBatches++;
        this.client!.send(batch);
        this.pump();
      },
      (err: unknown) => {
        errors.push(`${this.node}: seal failed: ${String(err)}`);
      },
    );
  }

  /** One batch: chunks of consecutive lines of one file each, round robin over the node's files. */
  private build(): { content: { logs: LogChunk[]; nodeConditions: []; flows: [] }; lines: number } {
    const logs: LogChunk[] = [];
    let lines = 0;
    let bytes = 0;
    const now = Date.now();
    if (now > this.clock) {
      this.clock = now;
      this.nanos = 0;
    }
    while (lines < config.batchLines && bytes < config.batchBytes) {
      const f = this.files[this.fileIndex++ % this.files.length]!;
      const chunkLines: LogLine[] = [];
      while (chunkLines.length < config.chunkLines && lines < config.batchLines) {
        const r = f.ring[f.next++ % f.ring.length]!;
        const size = r.message.length + 64; // as the agent's batcher counts
        if (lines > 0 && bytes + size > config.batchBytes) break;
        this.nanos += 1000;
        const offset = f.offset;
        f.offset += r.fileBytes;
        chunkLines.push({
          timestamp: { seconds: Math.floor(this.clock / 1000), nanos: (this.clock % 1000) * 1_000_000 + (this.nanos % 1_000_000) },
          stream: r.stream,
          message: r.message,
          offset,
          endOffset: f.offset,
          lineNumber: ++f.lineNumber,
          parseError: false,
          truncated: false,
          level: r.level,
          errorInfo: undefined,
        });
        lines++;
        bytes += size;
      }
      if (chunkLines.length === 0) break;
      logs.push({ ...f.chunkBase, ...(config.legacyLines ? legacy(chunkLines) : framed(chunkLines)), lastLineNumber: f.lineNumber });
    }
    return { content: { logs, nodeConditions: [], flows: [] }, lines };
  }

  async close(): Promise<void> {
    await this.client?.close();
  }
}

const agents = config.agents.map((a, i) => new SimAgent(a.node, i, a.certFile, a.keyFile));
const aggregators = await Promise.all(agents.map((a) => a.connect()));
send({ type: 'ready', connected: agents.length, aggregators: [...new Set(aggregators)] });
for (const a of agents) a.pump();

const inFlight = () => agents.reduce((n, a) => n + a.unacknowledged, 0);

process.on('message', (m: { type: string; timeoutMs?: number }) => {
  if (m.type === 'sample') {
    const cpu = process.cpuUsage();
    send({ type: 'sample', at: Date.now(), sentLines, sentBatches, ackedLines, ackedBatches, inFlight: inFlight(), cpuSeconds: (cpu.user + cpu.system) / 1e6, errors: errors.splice(0) });
  } else if (m.type === 'drain') {
    // Waits for every batch sent to be acknowledged; gives up only when no acknowledgement came for stallMs.
    draining = true;
    const stallMs = m.timeoutMs ?? 60_000;
    let lastAcked = ackedLines;
    let lastProgress = Date.now();
    const check = setInterval(() => {
      if (ackedLines !== lastAcked) {
        lastAcked = ackedLines;
        lastProgress = Date.now();
      }
      if (inFlight() === 0) {
        clearInterval(check);
        send({ type: 'drained', ackedLines, sentLines });
      } else if (Date.now() - lastProgress > stallMs) {
        clearInterval(check);
        send({ type: 'drain-timeout', ackedLines, sentLines, inFlight: inFlight() });
      }
    }, 100);
  } else if (m.type === 'exit') {
    void Promise.all(agents.map((a) => a.close())).then(() => process.exit(0));
  }
});
