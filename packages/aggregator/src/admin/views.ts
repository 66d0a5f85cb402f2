// The aggregator's debug views, served on the admin socket and rendered by `kestrel-aggregator debug <view>`.
import { table } from '@kestrel/core';
import type { AgentView, IngestService } from '../ingest/service.js';
import type { Uplink, UplinkView } from '../uplink/index.js';

export interface StatusView {
  aggregator: string;
  uptimeSeconds: number;
  uplink: UplinkView;
  agents: AgentView[];
  /** Agents' batches open (inflated, being submitted) and waiting compressed for a turn, over all agents. */
  batches: { open: number; waiting: number };
}

export function statusView(id: string, uplink: Uplink, ingest: IngestService): StatusView {
  return { aggregator: id, uptimeSeconds: Math.round(process.uptime()), uplink: uplink.view(), agents: ingest.connectedAgents(), batches: ingest.openBatches };
}

export function renderStatus(result: unknown): string {
  const s = result as StatusView;
  const u = s.uplink;
  return [
    `aggregator ${s.aggregator}  up ${s.uptimeSeconds}s  tenant ${u.tenant}  connection #${u.connection}  compression ${u.compression ? 'gzip' : 'none'}`,
    `token expires ${u.token.expiresAt ?? 'never'}  next renewal ${u.token.nextRenewalAt}  renewals ${u.token.renewals}${u.token.lastError ? `  last error: ${u.token.lastError}` : ''}`,
    `certificate ${u.certificate.subject}  valid until ${u.certificate.notAfter}`,
    '',
    table(u.streams, ['name', 'state', 'carries', 'openedAt', 'queued', 'inWindow', 'windowBytes', 'sent', 'replayed', 'reconnects', 'lastInbound', 'lastError']),
    '',
    `agents' batches: ${s.batches.open} open, ${s.batches.waiting} waiting for a turn`,
    renderAgents(s.agents),
  ].join('\n');
}

export function renderAgents(result: unknown): string {
  const agents = result as AgentView[];
  if (agents.length === 0) return 'no agents connected';
  const now = Date.now();
  return table(
    agents.map((a) => {
      const seconds = Math.max(1, (now - Date.parse(a.connectedAt)) / 1000);
      return {
        ...a,
        'lines/s': Math.round(a.lines / seconds),
        // Write time of the newest line of the last batch to its arrival here.
        lag: a.lagMs === null ? '-' : `${(a.lagMs / 1000).toFixed(1)}s`,
        // Batches received whose lines wait for the uplink's delivery before they are acknowledged.
        unacked: a.unacknowledged,
      };
    }),
    ['node', 'subject', 'peer', 'version', 'connectedAt', 'batches', 'unacked', 'lines', 'lines/s', 'lag', 'nodeConditions', 'flowWindows', 'lastBatchAt'],
  );
}
