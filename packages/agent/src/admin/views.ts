// The agent's debug views, served on the admin socket and rendered by `kestrel-agent debug <view>`.
import { table } from '@kestrel/core';
import type { LossRecord } from '../sources/cri-logs/events.js';
import type { CriLogSource, SourceStatus, TrackedFileView } from '../sources/cri-logs/index.js';
import type { Forwarder, ReplicaView } from '../forwarder/index.js';

export interface StatusView {
  node: string;
  version: string;
  uptimeSeconds: number;
  memory: { rssMiB: number; heapUsedMiB: number; heapTotalMiB: number; externalMiB: number };
  connection: {
    aggregator: string;
    state: string;
    connectedSince: string | null;
    lastAck: string | null;
    lastError: string | null;
    reconnects: number;
    inFlightBatches: number;
    inFlightLines: number;
    inFlightBytes: number;
  };
  logs: SourceStatus;
}

export function statusView(node: string, version: string, aggregator: string, source: CriLogSource, forwarder: Forwarder): StatusView {
  const inFlight = forwarder.inFlight;
  const m = process.memoryUsage();
  const mib = (n: number) => Math.round((n / 1048576) * 10) / 10;
  return {
    node,
    version,
    uptimeSeconds: Math.round(process.uptime()),
    memory: { rssMiB: mib(m.rss), heapUsedMiB: mib(m.heapUsed), heapTotalMiB: mib(m.heapTotal), externalMiB: mib(m.external) },
    connection: {
      aggregator,
      state: forwarder.state,
      connectedSince: forwarder.connectedSince?.toISOString() ?? null,
      lastAck: forwarder.lastAckAt?.toISOString() ?? null,
      lastError: forwarder.lastError ?? null,
      reconnects: forwarder.reconnects,
      inFlightBatches: inFlight.batches,
      inFlightLines: inFlight.lines,
      inFlightBytes: inFlight.bytes,
    },
    logs: source.status(),
  };
}

export function renderStatus(result: unknown): string {
  const s = result as StatusView;
  const c = s.connection;
  const l = s.logs;
  const states = Object.entries(l.filesByState)
    .map(([state, n]) => `${n} ${state}`)
    .join(', ');
  return [
    `node ${s.node}  version ${s.version}  up ${s.uptimeSeconds}s  RSS ${s.memory.rssMiB} MiB (heap ${s.memory.heapUsedMiB} of ${s.memory.heapTotalMiB} MiB)`,
    `aggregator ${c.aggregator}  ${c.state}${c.connectedSince ? ` since ${c.connectedSince}` : ''}  last ack ${c.lastAck ?? '-'}  reconnects ${c.reconnects}  in flight ${c.inFlightBatches} batches / ${c.inFlightLines} lines${c.lastError ? `\nlast error: ${c.lastError}` : ''}`,
    `logs: ${l.containers} container instances, ${l.files} files${states ? ` (${states})` : ''}, ${l.watchedFolders} folders watched`,
    `      lost ${l.lostBytes} bytes in ${l.lostFiles} files, ${l.parseErrors} parse errors, ${l.truncatedFiles} files truncated, ${l.rotations} rotations, ${l.droppedLines} lines dropped by rate limit`,
    l.recentLosses.length > 0 ? `\nrecent losses:\n${renderLosses(l.recentLosses)}` : '',
  ]
    .filter((line) => line !== '')
    .join('\n');
}

export function renderFiles(result: unknown): string {
  const files = result as TrackedFileView[];
  if (files.length === 0) return 'no files tracked';
  return table(
    files.map((f) => ({
      ...f,
      pod: `${f.namespace}/${f.pod}`,
      file: `${f.container}/${f.path.slice(f.path.lastIndexOf('/') + 1)}`,
      identity: `${f.device}:${f.inode}:${f.fingerprint.toString(16)}`,
      checkpoint: f.checkpointOffset === null ? '-' : `${f.checkpointOffset} (line ${f.checkpointLine})`,
    })),
    ['pod', 'file', 'identity', 'checkpoint', 'readOffset', 'size', 'lagBytes', 'lastLine', 'state'],
  );
}

export function renderLosses(result: unknown): string {
  const losses = result as LossRecord[];
  if (losses.length === 0) return 'no log data lost';
  return table(
    losses.map((l) => ({ ...l, pod: `${l.namespace}/${l.pod}` })),
    ['at', 'pod', 'container', 'restartCount', 'file', 'bytes', 'reason'],
  );
}

export interface ConnView {
  node: string;
  replica: string | null;
  state: string;
  connectedSince: string | null;
  lastAck: string | null;
  lastError: string | null;
  inFlight: { batches: number; lines: number; bytes: number };
  reconnects: number;
  failovers: number;
  rebalances: number;
  resentBatches: number;
  resolveErrors: string[];
  replicas: ReplicaView[];
}

export function connView(node: string, forwarder: Forwarder): ConnView {
  return {
    node,
    replica: forwarder.replica ?? null,
    state: forwarder.state,
    connectedSince: forwarder.connectedSince?.toISOString() ?? null,
    lastAck: forwarder.lastAckAt?.toISOString() ?? null,
    lastError: forwarder.lastError ?? null,
    inFlight: forwarder.inFlight,
    reconnects: forwarder.reconnects,
    failovers: forwarder.failovers,
    rebalances: forwarder.rebalances,
    resentBatches: forwarder.resentBatches,
    resolveErrors: forwarder.lastResolveErrors,
    replicas: forwarder.replicas(),
  };
}

export function renderConn(result: unknown): string {
  const c = result as ConnView;
  return [
    `node ${c.node}  replica ${c.replica ?? '-'}  ${c.state}${c.connectedSince ? ` since ${c.connectedSince}` : ''}  last ack ${c.lastAck ?? '-'}`,
    `in flight ${c.inFlight.batches} batches / ${c.inFlight.lines} lines / ${c.inFlight.bytes} bytes (compressed)`,
    `reconnects ${c.reconnects}  failovers ${c.failovers}  rebalances ${c.rebalances}  resent batches ${c.resentBatches}`,
    c.lastError ? `last error: ${c.lastError}` : '',
    c.resolveErrors.length > 0 ? `resolve errors: ${c.resolveErrors.join('; ')}` : '',
    c.replicas.length === 0 ? 'no aggregator replicas known' : table(c.replicas.map((r) => ({ ...r, downFor: r.downForMs === null ? '-' : `${Math.ceil(r.downForMs / 1000)}s` })), ['rank', 'address', 'state', 'downFor']),
  ]
    .filter((line) => line !== '')
    .join('\n');
}
