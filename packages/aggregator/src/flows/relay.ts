// Hubble Relay mode (what the published operator does), for clusters where agents cannot reach the node's Hubble
// socket: one GetFlows stream (follow) to Relay, which serves every node's flows. Raw flows are aggregated in short
// windows exactly as agents do (@kestrel/flows FlowWindowTable), then merged like an agent's windows (merger.ts).
//
// Never double counted: only the leader replica reads Relay (every replica would otherwise get every flow), and in
// relay mode the merger ignores the agents' Hubble windows. Relay flows are acknowledged to nobody: a bucket that
// cannot be sent is lost, counted (reason relay_unsent); a Relay reconnect resumes from the newest flow taken
// (`since`), a new leader starts from now. Losses Relay reports (lost_events) are counted as source losses.
import fs from 'node:fs';
import { sleep, type Logger } from '@kestrel/core';
import { FlowWindowTable, HubbleRawFlowStream, type HubbleStreamState, type HubbleTarget } from '@kestrel/flows';
import { FlowSource } from '@kestrel/proto/ingest/v1';
import type { RelayConfig } from './config.js';
import type { FlowEvents } from './events.js';
import type { FlowMerger } from './merger.js';

export interface RelayView {
  address: string;
  tls: boolean;
  /** Whether this replica reads Relay now (the leader does). */
  active: boolean;
  state: HubbleStreamState | 'standby';
  reconnects: number;
  lastError: string | null;
  rawFlows: number;
  lost: number;
  skipped: number;
  dropped: number;
}

export interface RelayOptions {
  /** Raw flows are aggregated this long before they are merged. */
  windowMs: number;
  /** Conversations per window at most (beyond: dropped, counted). */
  maxEntries: number;
}

export function relayTarget(config: RelayConfig): HubbleTarget {
  if (!config.caFile) return { address: config.address };
  return {
    address: config.address,
    tls: {
      ca: fs.readFileSync(config.caFile),
      cert: config.certFile ? fs.readFileSync(config.certFile) : undefined,
      key: config.keyFile ? fs.readFileSync(config.keyFile) : undefined,
      serverName: config.serverName,
    },
  };
}

export class RelayReader {
  private stream: HubbleRawFlowStream | undefined;
  private readonly counts = { rawFlows: 0, lost: 0, skipped: 0, dropped: 0 };

  constructor(
    private readonly config: RelayConfig,
    private readonly target: HubbleTarget,
    private readonly options: RelayOptions,
    private readonly merger: FlowMerger,
    private readonly events: FlowEvents,
    private readonly logger: Logger,
    private readonly isLeader: () => boolean,
  ) {}

  /** Reads Relay while this replica leads, until the signal aborts. */
  async run(signal: AbortSignal): Promise<void> {
    while (!signal.aborted) {
      if (!this.isLeader()) {
        await sleep(1000, signal).catch(() => undefined);
        continue;
      }
      const lead = new AbortController();
      const watch = setInterval(() => {
        if (!this.isLeader()) lead.abort(new Error('leadership lost'));
      }, 1000);
      try {
        await this.follow(AbortSignal.any([signal, lead.signal]));
      } finally {
        clearInterval(watch);
        this.stream = undefined;
      }
    }
  }

  private async follow(signal: AbortSignal): Promise<void> {
    const table = new FlowWindowTable({ source: FlowSource.FLOW_SOURCE_HUBBLE, maxEntries: this.options.maxEntries });
    const stream = new HubbleRawFlowStream(this.target);
    this.stream = stream;
    this.logger.info('reading Hubble Relay', { address: this.config.address, tls: Boolean(this.target.tls) });
    const following = stream.run(signal, {
      flow: (raw) => {
        if (typeof raw === 'string') {
          this.counts.skipped++;
          return;
        }
        if (!table.add(raw)) {
          this.counts.dropped++;
          this.events.drop('relay_table_full', 1, `more than ${this.options.maxEntries} conversations in one relay window`);
        }
      },
      lost: (event, node) => {
        table.addSourceLost(event.numEventsLost);
        this.counts.lost += event.numEventsLost;
        this.events.upstreamLost.inc({ source: 'relay', where: 'source' }, event.numEventsLost);
        this.merger.trackRelay(node || 'relay', { rawFlows: 0, sourceLost: event.numEventsLost, agentDropped: 0 });
      },
      connected: () => this.logger.info('Hubble Relay stream open', { address: this.config.address }),
      disconnected: (error) => this.logger.warn('Hubble Relay stream ended; reconnecting', { address: this.config.address, error }),
    });
    try {
      while (!signal.aborted) {
        await sleep(this.options.windowMs, signal).catch(() => undefined);
        await this.mergeWindow(table, signal);
      }
    } finally {
      await following;
      // Leadership lost or stopping: what the open window holds cannot be merged any more.
      if (!table.empty) {
        const rest = table.drain();
        this.events.drop('relay_unsent', rest.rawFlows, 'relay flows of the open window when this replica stopped reading Relay');
      }
    }
  }

  private async mergeWindow(table: FlowWindowTable, signal: AbortSignal): Promise<void> {
    if (table.empty) return;
    const window = table.drain();
    this.counts.rawFlows += window.rawFlows;
    this.events.rawFlows.inc({ source: 'relay' }, window.rawFlows);
    this.events.windows.inc({ source: 'relay', outcome: 'merged' });
    this.merger.trackRelay('relay', { rawFlows: window.rawFlows, sourceLost: 0, agentDropped: window.agentDropped });
    const startMs = (window.windowStart?.seconds ?? 0) * 1000 + Math.floor((window.windowStart?.nanos ?? 0) / 1e6);
    try {
      const { delivered } = await this.merger.merge('relay', startMs, window.flows, window.rawFlows, AbortSignal.any([signal, AbortSignal.timeout(30_000)]));
      delivered.catch(() => this.events.drop('relay_unsent', window.rawFlows, 'relay flows held when the aggregator stopped'));
    } catch {
      this.events.drop('relay_unsent', window.rawFlows, 'relay flows could not be merged (stopping, or the merger full for 30 s)');
    }
  }

  view(): RelayView {
    const s = this.stream;
    return {
      address: this.config.address,
      tls: Boolean(this.target.tls),
      active: s !== undefined,
      state: s?.state ?? 'standby',
      reconnects: s?.reconnects ?? 0,
      lastError: s?.lastError ?? null,
      ...this.counts,
    };
  }
}
