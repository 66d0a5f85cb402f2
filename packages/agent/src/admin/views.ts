// The agent's debug views, served on the admin socket and rendered by `kestrel-agent debug <view>`.
import { table } from '@kestrel/core';
import type { CriLogSource, TrackedFileView } from '../sources/cri-logs/index.js';
import type { Forwarder } from '../forwarder/index.js';

export interface StatusView {
  node: string;
  version: string;
  uptimeSeconds: number;
  connection: {
    aggregator: string;
    state: string;
    connectedSince: string | null;
    lastAck: string | null;
    lastError: string | null;
    reconnects: number;
    inFlightBatches: number;
    inFlightLines: number;
  };
  files: TrackedFileView[];
}

export function statusView(node: string, version: string, aggregator: string, source: CriLogSource, forwarder: Forwarder): StatusView {
  const inFlight = forwarder.inFlight;
  return {
    node,
    version,
    uptimeSeconds: Math.round(process.uptime()),
    connection: {
      aggregator,
      state: forwarder.state,
      connectedSince: forwarder.connectedSince?.toISOString() ?? null,
      lastAck: forwarder.lastAckAt?.toISOString() ?? null,
      lastError: forwarder.lastError ?? null,
      reconnects: forwarder.reconnects,
      inFlightBatches: inFlight.batches,
      inFlightLines: inFlight.lines,
    },
    files: source.files(),
  };
}

export function renderStatus(result: unknown): string {
  const s = result as StatusView;
  const c = s.connection;
  return [
    `node ${s.node}  version ${s.version}  up ${s.uptimeSeconds}s`,
    `aggregator ${c.aggregator}  ${c.state}${c.connectedSince ? ` since ${c.connectedSince}` : ''}  last ack ${c.lastAck ?? '-'}  reconnects ${c.reconnects}  in flight ${c.inFlightBatches} batches / ${c.inFlightLines} lines${c.lastError ? `\nlast error: ${c.lastError}` : ''}`,
    '',
    renderFiles(s.files),
  ].join('\n');
}

export function renderFiles(result: unknown): string {
  const files = result as TrackedFileView[];
  if (files.length === 0) return 'no files followed';
  return table(
    files.map((f) => ({ ...f, pod: `${f.namespace}/${f.pod}`, file: `${f.container}/${f.restartCount}.log`, identity: `${f.device}:${f.inode}` })),
    ['pod', 'file', 'identity', 'readOffset', 'checkpointOffset', 'size', 'lagBytes', 'lastLine', 'state'],
  );
}
