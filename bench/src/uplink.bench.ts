// Uplink benchmark: how many bytes a log line costs on the wire to Kestrel Cloud, and how fast the uplink moves them.
//
// A deterministic corpus of mixed application logs from many pods (log-corpus.ts) is handed to the aggregator's
// uplink in container chunks, as the ingest side does, with the aggregator's default batching settings. The uplink
// talks mTLS gRPC to a real `cloud-dev serve` process through a TCP proxy that counts every byte going up: TLS
// records, HTTP/2 frames, gRPC framing and gzip-compressed messages. Run once with gzip and once without.
//
// Printed per run: records/s (submit to delivered, the replay window included), wire bytes per line, wire bytes
// as a percentage of the raw CRI bytes of the same lines (target: at most 15 %), the protobuf bytes per line before
// compression, the compression ratio (protobuf / wire), the uplink's CPU seconds per million lines, and that
// cloud-dev stored every line. The connection's handshake is not counted (a one-off per connection).
import fs from 'node:fs';
import zlib from 'node:zlib';
import os from 'node:os';
import path from 'node:path';
import { createLogger, createRegistry, loadTlsSettings, metricTotal } from '@kestrel/core';
import type { PodLogs } from '@kestrel/proto/cloud/v1';
import { aggregatorSchema, Uplink } from '@kestrel/aggregator';
import { initCloud } from '@kestrel/e2e/harness/in-process-uplink';
import { RunningProcess } from '@kestrel/e2e/harness/process';
import { programs } from '@kestrel/e2e/harness/repo';
import { TcpProxy } from '@kestrel/e2e/harness/tcp-proxy';
import { createCorpus, criLine, prng, type CorpusContainer } from './log-corpus.js';

const LINES = Number(process.env.UPLINK_BENCH_LINES ?? 300_000);
const PODS = 80;
/** Lines per chunk handed to the uplink (what one agent batch carries for one container, roughly). */
const CHUNK = 100;

interface Chunk {
  logs: PodLogs;
  rawCriBytes: number;
}

/** The corpus as the uplink receives it: container chunks of up to CHUNK lines, generated as they are consumed. */
function* chunks(uniqueIds: boolean): Generator<Chunk> {
  const containers = createCorpus(42, PODS, { uniqueIds });
  const random = prng(7);
  let lines = 0;
  while (lines < LINES) {
    const c = containers[Math.floor(random() * containers.length)]!;
    const n = Math.min(CHUNK, LINES - lines);
    const entries = [];
    let rawCriBytes = 0;
    for (let i = 0; i < n; i++) {
      const line = c.next();
      rawCriBytes += Buffer.byteLength(criLine(line));
      entries.push({ timestamp: { seconds: line.seconds, nanos: line.nanos }, message: line.message, level: line.level, lineNumber: c.lineNumber, errorInfo: undefined });
    }
    lines += n;
    const logs: PodLogs = {
      podName: c.pod,
      namespace: c.namespace,
      podUid: c.podUid,
      containerName: c.container,
      logEntries: entries,
      previousContainer: false,
      collectionTimestamp: entries[entries.length - 1]!.timestamp,
      totalLines: n,
      streamComplete: false,
      streamOffset: c.lineNumber,
      ownerReferences: [{ apiVersion: 'apps/v1', kind: 'ReplicaSet', name: c.pod.split('-').slice(0, 2).join('-'), uid: c.podUid, controller: true, blockOwnerDeletion: true }],
      nodeName: 'ip-10-0-3-80.ec2.internal',
    };
    yield { logs, rawCriBytes };
  }
}

/**
 * For context: gzip (level 6, as gRPC's) of the raw CRI text itself, in blocks of 1000 lines of one container (what
 * the uplink puts in one message): what gzip can do on these lines before any protocol framing.
 */
function criTextGzipBytes(uniqueIds: boolean): number {
  const containers = createCorpus(42, PODS, { uniqueIds });
  const random = prng(7);
  const open = new Map<CorpusContainer, string[]>();
  let total = 0;
  const flush = (lines: string[]) => (total += zlib.gzipSync(lines.join('')).length);
  for (let lines = 0; lines < LINES; lines += CHUNK) {
    const c = containers[Math.floor(random() * containers.length)]!;
    const block = open.get(c) ?? [];
    for (let i = 0; i < Math.min(CHUNK, LINES - lines); i++) block.push(criLine(c.next()));
    if (block.length >= 1000) {
      flush(block);
      open.delete(c);
    } else open.set(c, block);
  }
  for (const block of open.values()) flush(block);
  return total;
}

/** CPU seconds and raw CRI bytes of generating the corpus alone (subtracted from the uplink's CPU). */
function generationCost(uniqueIds: boolean): { cpuSeconds: number; rawCriBytes: number; containers: number } {
  const cpu0 = process.cpuUsage();
  let rawCriBytes = 0;
  for (const c of chunks(uniqueIds)) rawCriBytes += c.rawCriBytes;
  const cpu = process.cpuUsage(cpu0);
  return { cpuSeconds: (cpu.user + cpu.system) / 1e6, rawCriBytes, containers: createCorpus(42, PODS, { uniqueIds }).length };
}

interface Result {
  label: string;
  rawCriBytes: number;
  compression: string;
  level: number;
  seconds: number;
  wireBytes: number;
  protobufBytes: number;
  cpuSeconds: number;
  stored: number;
}

/** The aggregator's settings with nothing set but the required files (placeholders). */
function defaultsOf() {
  return aggregatorSchema.parse({ ingestTlsCertFile: '-', ingestTlsKeyFile: '-', ingestTlsCaFile: '-', cloudCertFile: '-', cloudKeyFile: '-', cloudCaFile: '-', cloudTokenFile: '-' });
}

async function runOnce(root: string, label: string, uniqueIds: boolean, compression: 'gzip' | 'none', level: number): Promise<Result> {
  const generation = generationCost(uniqueIds);
  const cloudDir = await initCloud(root, `cloud-${label}-${compression}-${level}`);
  const dataDir = path.join(cloudDir, 'data');
  const cloud = new RunningProcess('cloud-dev', programs.cloudDev, ['serve', '--dir', cloudDir, '--listen', '127.0.0.1:0', '--data-dir', dataDir, '--heartbeat-interval', '100ms'], {});
  const listening = await cloud.waitFor((l) => l.message === 'listening');
  const proxy = await TcpProxy.start(String(listening['address']));
  const defaults = defaultsOf();
  const operator = path.join(cloudDir, 'operator');
  const tls = loadTlsSettings({ certFile: path.join(operator, 'tls.crt'), keyFile: path.join(operator, 'tls.key'), caFile: path.join(operator, 'ca.crt') }, { cert: 'cert', key: 'key', ca: 'ca' });
  const logger = createLogger('bench', 'error');
  const uplink = new Uplink(
    {
      address: proxy.address,
      serverName: 'localhost',
      compression: compression === 'gzip',
      compressionLevel: level,
      useSystemCas: false,
      tokenFile: path.join(operator, 'token'),
      tokenRenewMinFraction: 0.5,
      tokenRenewMaxFraction: 0.7,
      logs: { maxEntries: defaults.logsMaxEntriesPerMessage, maxBytes: defaults.logsMaxMessageSize, lingerMs: defaults.logsBatchLinger },
      stream: {
        queueMessages: defaults.uplinkQueueMessages,
        queueBytes: defaults.uplinkQueueBytes,
        // The default window is 5 s; what it changes here is only how long the last lines wait to be delivered.
        replayWindowMs: 200,
        replayWindowBytes: defaults.replayWindowBytes,
        idleTimeoutMs: defaults.streamIdleTimeout,
        drainTimeoutMs: defaults.streamDrainTimeout,
        initialBackoffMs: defaults.reconnectInitialBackoff,
        maxBackoffMs: defaults.reconnectMaxBackoff,
      },
      operatorStatsIntervalMs: 3_600_000,
    },
    { tls, registry: createRegistry('bench', false), logger, tokenWriters: [], certificateWriters: [] },
  );
  const stop = new AbortController();
  const running = uplink.run(stop.signal);
  while (!uplink.readiness().ready) await new Promise((r) => setTimeout(r, 20));
  proxy.resetCounters();
  const signal = new AbortController().signal;
  const cpu0 = process.cpuUsage();
  const t0 = process.hrtime.bigint();
  const deliveries: Promise<void>[] = [];
  for (const c of chunks(uniqueIds)) deliveries.push((await uplink.submitLogs(c.logs, signal)).delivered);
  await Promise.all(deliveries);
  const seconds = Number(process.hrtime.bigint() - t0) / 1e9;
  const cpu = process.cpuUsage(cpu0);
  const wireBytes = proxy.bytesUp;
  const protobufBytes = await metricTotal(uplink.events.bytesSent, { stream: 'logs' });
  stop.abort();
  await running;
  uplink.close();
  tls.close();
  await cloud.stop();
  await proxy.close();
  let stored = 0;
  for (const line of fs.readFileSync(path.join(dataDir, 'logs.jsonl'), 'utf8').split('\n')) {
    if (line) stored += ((JSON.parse(line) as { message: { podLogs: { logEntries: unknown[] } } }).message.podLogs.logEntries ?? []).length;
  }
  const cpuSeconds = (cpu.user + cpu.system) / 1e6 - generation.cpuSeconds;
  return { label, rawCriBytes: generation.rawCriBytes, compression: compression === 'gzip' ? `gzip level ${level}` : compression, level, seconds, wireBytes, protobufBytes, cpuSeconds, stored };
}

const root = fs.mkdtempSync(path.join(os.tmpdir(), 'kestrel-bench-uplink-'));
try {
  const { rawCriBytes, containers } = generationCost(true);
  process.stdout.write(
    `corpus: ${LINES} lines from ${PODS} pods (${containers} containers: zap/pino JSON, Spring, nginx, Envoy, Python, logfmt), ` +
      `${(rawCriBytes / 1e6).toFixed(1)} MB raw CRI, ${(rawCriBytes / LINES).toFixed(0)} B/line; handed over in chunks of ${CHUNK} lines of one container\n`,
  );
  const textGzip = criTextGzipBytes(true);
  process.stdout.write(`for context: gzip -6 of the raw CRI text in 1000-line blocks per container = ${(textGzip / LINES).toFixed(1)} B/line = ${((100 * textGzip) / rawCriBytes).toFixed(1)} % of raw CRI\n`);
  // The default level (cloudCompressionLevel), and level 9 (the smallest gzip can make it) for comparison.
  const level = defaultsOf().cloudCompressionLevel;
  const runs: [string, boolean, 'gzip' | 'none', number][] = [
    ['production ids', true, 'gzip', level],
    ['production ids', true, 'gzip', 9],
    ['production ids', true, 'none', level],
    ['recurring ids (sensitivity)', false, 'gzip', level],
  ];
  const results: Result[] = [];
  for (const [label, uniqueIds, compression, runLevel] of runs) {
    global.gc?.();
    const r = await runOnce(root, label, uniqueIds, compression, runLevel);
    results.push(r);
    process.stdout.write(
      `\n[${r.label}, ${r.compression}] ${Math.round(LINES / r.seconds).toLocaleString('en-US')} records/s  ` +
        `wire ${(r.wireBytes / LINES).toFixed(1)} B/line = ${((100 * r.wireBytes) / r.rawCriBytes).toFixed(1)} % of raw CRI (${(r.rawCriBytes / LINES).toFixed(0)} B/line)  ` +
        `protobuf ${(r.protobufBytes / LINES).toFixed(1)} B/line  compression ratio ${(r.protobufBytes / r.wireBytes).toFixed(2)}x  ` +
        `uplink CPU ${((r.cpuSeconds / LINES) * 1e6).toFixed(2)} s per million lines  stored ${r.stored}/${LINES}\n`,
    );
  }
  process.stdout.write(`\npeak RSS of the bench process ${(process.resourceUsage().maxRSS / 1024).toFixed(0)} MiB\n`);
  if (results.some((r) => r.stored !== LINES)) {
    process.stderr.write('cloud-dev did not store every line\n');
    process.exitCode = 1;
  }
} finally {
  fs.rmSync(root, { recursive: true, force: true });
}
