// The aggregator's debug views, served on the admin socket and rendered by `kestrel-aggregator debug <view>`.
import { table } from '@kestrel/core';
import type { AgentView, IngestService } from '../ingest/service.js';
import type { Uplink } from '../uplink/index.js';

export interface StatusView {
  aggregator: string;
  uptimeSeconds: number;
  uplink: {
    tenant: string;
    streams: { name: string; state: string; openedAt: string | null; queued: number; sent: number; reconnects: number; lastHeartbeat: string | null; lastError: string | null }[];
  };
  agents: AgentView[];
}

export function statusView(id: string, uplink: Uplink, ingest: IngestService): StatusView {
  const s = uplink.logs;
  return {
    aggregator: id,
    uptimeSeconds: Math.round(process.uptime()),
    uplink: {
      tenant: uplink.tenant,
      streams: [
        {
          name: s.name,
          state: s.state,
          openedAt: s.openedAt?.toISOString() ?? null,
          queued: s.queued,
          sent: s.sent,
          reconnects: s.reconnects,
          lastHeartbeat: s.lastHeartbeat?.toISOString() ?? null,
          lastError: s.lastError ?? null,
        },
      ],
    },
    agents: ingest.connectedAgents(),
  };
}

export function renderStatus(result: unknown): string {
  const s = result as StatusView;
  return [
    `aggregator ${s.aggregator}  up ${s.uptimeSeconds}s  tenant ${s.uplink.tenant}`,
    '',
    table(s.uplink.streams, ['name', 'state', 'openedAt', 'queued', 'sent', 'reconnects', 'lastHeartbeat', 'lastError']),
    '',
    renderAgents(s.agents),
  ].join('\n');
}

export function renderAgents(result: unknown): string {
  const agents = result as AgentView[];
  if (agents.length === 0) return 'no agents connected';
  return table(agents, ['node', 'peer', 'version', 'connectedAt', 'batches', 'lines', 'lastBatchAt']);
}
