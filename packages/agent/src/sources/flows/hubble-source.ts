// Flows from the node's Hubble server (unix:///var/run/cilium/hubble.sock): GetFlows with follow, each flow turned
// into a raw flow (Hubble names the endpoints; an endpoint it does not name is looked up among the node's pods) and
// counted into the window table; lost_events go into the window's source_lost. The stream reconnects by itself and
// resumes `since` the newest flow taken; after a restart, since the newest flow of the last acknowledged window
// (hubble-checkpoint.json), so windows that were in flight at a crash are counted again from Hubble's ring buffer,
// as far as it still holds them (what it no longer holds, it reports lost).
import type { Logger } from '@kestrel/core';
import { HubbleRawFlowStream, type HubbleSkipReason, type HubbleStreamState, type RawFlow, type ResumePoint } from '@kestrel/flows';
import type { Endpoint } from '@kestrel/proto/cloud/v1';
import type { LostEvent } from '@kestrel/proto/hubble/flow';
import { LostEventSource, lostEventSourceToJSON } from '@kestrel/proto/hubble/flow';
import { FlowSource } from '@kestrel/proto/ingest/v1';
import { CheckpointFile } from './checkpoint-file.js';
import type { FlowSourceEvents } from './events.js';
import type { FlowWindowSink } from './types.js';
import { WindowLoop, type WindowLoopView } from './window-loop.js';

export interface HubbleSourceOptions {
  address: string;
  stateDir: string;
  windowMs: number;
  maxConversations: number;
  backoffInitialMs?: number;
  backoffMaxMs?: number;
}

export interface HubbleSourceView extends WindowLoopView {
  source: 'hubble';
  address: string;
  state: HubbleStreamState;
  connectedSince: string | null;
  lastError: string | null;
  reconnects: number;
  resumedFrom: string | null;
  duplicatesSkipped: number;
  lostBySource: Record<string, number>;
}

function isResumePoint(v: unknown): v is ResumePoint {
  const o = v as ResumePoint;
  return typeof o === 'object' && o !== null && Number.isInteger(o.seconds) && Number.isInteger(o.nanos) && Array.isArray(o.uuids) && o.uuids.every((u) => typeof u === 'string') && Number.isInteger(o.anonymous);
}

const iso = (p: ResumePoint | undefined) => (p ? new Date(p.seconds * 1000 + Math.floor(p.nanos / 1e6)).toISOString() : null);

export class HubbleSource {
  private readonly stream: HubbleRawFlowStream;
  private readonly loop: WindowLoop<ResumePoint>;
  private readonly resumedFrom: ResumePoint | undefined;
  private readonly controller = new AbortController();
  private running: Promise<void> | undefined;
  private readonly lostBySource: Record<string, number> = {};

  constructor(
    private readonly options: HubbleSourceOptions,
    sink: FlowWindowSink,
    private readonly resolve: (ip: string) => Endpoint | undefined,
    private readonly events: FlowSourceEvents,
    private readonly logger: Logger,
  ) {
    const checkpoint = new CheckpointFile<ResumePoint>(options.stateDir, 'hubble-checkpoint.json', events, isResumePoint);
    const loaded = checkpoint.load();
    if (loaded.problem) logger.warn('the Hubble checkpoint cannot be used; following from now', { file: checkpoint.file, problem: loaded.problem });
    this.resumedFrom = loaded.point;
    // Responses are read straight into raw flows (hubble-wire.ts): several times cheaper than full flow.Flow objects.
    this.stream = new HubbleRawFlowStream({ address: options.address }, { since: loaded.point, backoffInitialMs: options.backoffInitialMs, backoffMaxMs: options.backoffMaxMs });
    this.loop = new WindowLoop('hubble', FlowSource.FLOW_SOURCE_HUBBLE, options.windowMs, options.maxConversations, sink, checkpoint, () => this.stream.resumePoint, events);
  }

  start(signal?: AbortSignal): void {
    signal?.addEventListener('abort', () => this.controller.abort(), { once: true });
    this.loop.start();
    this.logger.info('following Hubble flows', { address: this.options.address, since: iso(this.resumedFrom) ?? 'now' });
    this.running = this.stream.run(this.controller.signal, {
      flow: (f) => this.flow(f),
      lost: (e) => this.lost(e),
      connected: (since) => this.logger.info('Hubble flow stream open', { address: this.options.address, since: iso(since) ?? 'now' }),
      disconnected: (error) => this.events.hubbleDisconnected(error),
    });
  }

  async stop(): Promise<void> {
    this.controller.abort();
    await this.running;
    this.loop.stop();
  }

  /** Closes the open window now (tests, shutdown). */
  closeWindow(): void {
    this.loop.close();
  }

  private flow(raw: RawFlow | HubbleSkipReason): void {
    if (typeof raw === 'string') {
      this.events.skippedRecord('hubble', raw);
      return;
    }
    // Hubble names every endpoint Cilium manages; the node's pods fill in what it left out (e.g. a stale identity).
    if (!raw.src) raw.src = this.resolve(raw.srcIp);
    if (!raw.dst) raw.dst = this.resolve(raw.dstIp);
    this.loop.add(raw);
  }

  private lost(e: LostEvent): void {
    const source = lostEventSourceToJSON(e.source ?? LostEventSource.UNKNOWN_LOST_EVENT_SOURCE);
    this.lostBySource[source] = (this.lostBySource[source] ?? 0) + e.numEventsLost;
    this.loop.table.addSourceLost(e.numEventsLost);
    this.events.lostAtSource('hubble', e.numEventsLost, { lostAt: source });
  }

  view(): HubbleSourceView {
    return {
      source: 'hubble',
      address: this.options.address,
      state: this.stream.state,
      connectedSince: this.stream.connectedSince?.toISOString() ?? null,
      lastError: this.stream.lastError ?? null,
      reconnects: this.stream.reconnects,
      resumedFrom: iso(this.resumedFrom),
      duplicatesSkipped: this.stream.duplicatesSkipped,
      lostBySource: { ...this.lostBySource },
      ...this.loop.view(),
    };
  }
}
