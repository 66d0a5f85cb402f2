// The part both flow sources share: raw flows go into a FlowWindowTable; every `windowMs` the window closes and, if
// it has anything to say, goes to the forwarder with the source's resume point at that moment (everything up to it
// is in this window or an earlier one). When the forwarder reports the window acknowledged, the point is saved: a
// restart resumes there, so nothing acknowledged is read twice and nothing unacknowledged is skipped. A window dropped
// by the forwarder's full buffer is counted into the next window's agent_dropped (its flows are gone, never silently).
import { FlowWindowTable, type RawFlow } from '@kestrel/flows';
import type { Flow } from '@kestrel/proto/cloud/v1';
import type { FlowSource } from '@kestrel/proto/ingest/v1';
import type { CheckpointFile } from './checkpoint-file.js';
import type { FlowSourceEvents, FlowSourceName } from './events.js';
import type { FlowWindowSink } from './types.js';

export interface TopTalker {
  src: string;
  dst: string;
  port: number;
  protocol: string;
  allowed: boolean;
  direction: string;
  count: number;
}

export interface WindowLoopView {
  windowMs: number;
  openConversations: number;
  openRawFlows: number;
  lastWindow: { at: string; rawFlows: number; conversations: number; sourceLost: number; agentDropped: number; flowsPerSecond: number } | null;
  topTalkers: TopTalker[];
  unacknowledgedWindows: number;
  checkpointWrites: number;
}

const TOP_TALKERS = 10;

function endpointText(ip: string, e: Flow['src']): string {
  return e && e.name ? `${e.ns}/${e.kind}/${e.name}` : ip;
}

export class WindowLoop<P> {
  readonly table: FlowWindowTable;
  private timer: NodeJS.Timeout | undefined;
  private lastWindow: WindowLoopView['lastWindow'] = null;
  private topTalkers: TopTalker[] = [];
  private unacknowledged = 0;

  constructor(
    private readonly name: FlowSourceName,
    source: FlowSource,
    private readonly windowMs: number,
    maxConversations: number,
    private readonly sink: FlowWindowSink,
    private readonly checkpoint: CheckpointFile<P>,
    private readonly resumePoint: () => P | undefined,
    private readonly events: FlowSourceEvents,
  ) {
    this.table = new FlowWindowTable({ source, maxEntries: maxConversations });
  }

  /** Counts one raw flow into the open window (table full: counted as dropped). */
  add(flow: RawFlow): void {
    if (this.table.add(flow)) this.events.counted(this.name, 1);
    else this.events.droppedFlows(this.name, 'table_full', 1);
  }

  drop(reason: 'unparseable' | 'line_too_long', count: number): void {
    this.table.drop(reason, count);
    this.events.droppedFlows(this.name, reason, count);
  }

  start(): void {
    this.timer = setInterval(() => this.close(), this.windowMs);
  }

  /** Stops the clock and closes the open window (it goes out if the forwarder still runs). */
  stop(): void {
    clearInterval(this.timer);
    this.close();
  }

  /** Closes the open window now; sends it when it has anything to say. */
  close(): void {
    this.events.flushCounted();
    if (this.table.empty) return;
    const point = this.resumePoint();
    const window = this.table.drain();
    const seconds = Math.max(0.001, (window.windowEnd!.seconds - window.windowStart!.seconds) + (window.windowEnd!.nanos - window.windowStart!.nanos) / 1e9);
    this.lastWindow = {
      at: new Date().toISOString(),
      rawFlows: window.rawFlows,
      conversations: window.flows.length,
      sourceLost: window.sourceLost,
      agentDropped: window.agentDropped,
      flowsPerSecond: Math.round(window.rawFlows / seconds),
    };
    this.topTalkers = [...window.flows]
      .sort((a, b) => b.count - a.count)
      .slice(0, TOP_TALKERS)
      .map((f) => ({ src: endpointText(f.srcIp, f.src), dst: endpointText(f.dstIp, f.dst), port: f.port, protocol: f.protocol, allowed: f.allowed, direction: f.direction, count: f.count }));
    this.unacknowledged++;
    this.events.windowSent(this.name);
    this.sink.flowWindow({
      window,
      committed: () => {
        this.unacknowledged--;
        this.events.windowAcked(this.name);
        if (point !== undefined) this.checkpoint.save(point);
      },
      dropped: (reason) => {
        this.unacknowledged--;
        // The window's flows are gone: the next window says how many (its agent_dropped), and /metrics by reason.
        this.table.drop('buffer_full', window.rawFlows);
        this.events.droppedFlows(this.name, reason, window.rawFlows);
      },
    });
  }

  view(): WindowLoopView {
    return {
      windowMs: this.windowMs,
      openConversations: this.table.size,
      openRawFlows: this.table.counted,
      lastWindow: this.lastWindow,
      topTalkers: this.topTalkers,
      unacknowledgedWindows: this.unacknowledged,
      checkpointWrites: this.checkpoint.writes,
    };
  }
}
