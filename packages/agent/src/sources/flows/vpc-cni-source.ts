// Flows from the AWS VPC CNI network policy agent's log: the tailer hands out lines, flow records become raw flows
// (the agent's own log lines are skipped, broken flow records counted as dropped by reason), endpoints are resolved
// from the pods on this node, and the direction is taken from which side is a pod here: egress when the source is,
// ingress when only the destination is. Windows carry the tailer's position; it is saved when acknowledged
// (vpc-cni-checkpoint.json), so after a restart reading resumes after the last acknowledged line.
import type { Logger } from '@kestrel/core';
import { parseVpcCniLine } from '@kestrel/flows';
import type { Endpoint } from '@kestrel/proto/cloud/v1';
import { FlowSource } from '@kestrel/proto/ingest/v1';
import { CheckpointFile } from './checkpoint-file.js';
import type { FlowSourceEvents } from './events.js';
import { FlowLogTailer, type FlowLogPosition, type TailerState } from './flow-log-tailer.js';
import type { FlowWindowSink } from './types.js';
import { WindowLoop, type WindowLoopView } from './window-loop.js';

export interface VpcCniSourceOptions {
  path: string;
  stateDir: string;
  startAt: 'beginning' | 'end';
  maxLineBytes: number;
  pollIntervalMs: number;
  windowMs: number;
  maxConversations: number;
}

export interface VpcCniSourceView extends WindowLoopView {
  source: 'vpc_cni';
  path: string;
  state: TailerState;
  file: string | null;
  offset: number | null;
  rotations: number;
  resumedFrom: { file: string; offset: number } | null;
}

function isPosition(v: unknown): v is FlowLogPosition {
  const o = v as FlowLogPosition;
  return typeof o === 'object' && o !== null && [o.device, o.inode, o.fingerprint, o.fingerprintLength, o.offset, o.size].every((n) => Number.isInteger(n) && n >= 0) && typeof o.name === 'string';
}

export class VpcCniSource {
  private readonly tailer: FlowLogTailer;
  private readonly loop: WindowLoop<FlowLogPosition>;
  private readonly resumedFrom: FlowLogPosition | undefined;
  private readonly controller = new AbortController();
  private running: Promise<void> | undefined;

  constructor(
    private readonly options: VpcCniSourceOptions,
    sink: FlowWindowSink,
    private readonly resolve: (ip: string) => Endpoint | undefined,
    private readonly events: FlowSourceEvents,
    private readonly logger: Logger,
  ) {
    const checkpoint = new CheckpointFile<FlowLogPosition>(options.stateDir, 'vpc-cni-checkpoint.json', events, isPosition);
    const loaded = checkpoint.load();
    if (loaded.problem) logger.warn('the VPC CNI flow log checkpoint cannot be used; starting as startAt says', { file: checkpoint.file, problem: loaded.problem });
    this.resumedFrom = loaded.point;
    this.tailer = new FlowLogTailer({ path: options.path, startAt: options.startAt, maxLineBytes: options.maxLineBytes, pollIntervalMs: options.pollIntervalMs }, loaded.point, {
      line: (text) => this.line(text),
      tooLong: (bytes) => {
        void bytes;
        this.loop.drop('line_too_long', 1);
      },
      lost: (bytes, reason, file) => this.events.flowLogBytesLost(reason, bytes, file),
      rotated: (from) => this.logger.info('VPC CNI flow log rotated; the renamed file was read to its end', { from, next: options.path }),
      readError: (err) => this.events.readError(options.path, err),
    });
    this.loop = new WindowLoop('vpc_cni', FlowSource.FLOW_SOURCE_VPC_CNI, options.windowMs, options.maxConversations, sink, checkpoint, () => this.tailer.position(), events);
  }

  start(signal?: AbortSignal): void {
    signal?.addEventListener('abort', () => this.controller.abort(), { once: true });
    this.loop.start();
    this.logger.info('following the VPC CNI flow log', { path: this.options.path, from: this.resumedFrom ? `${this.resumedFrom.name}@${this.resumedFrom.offset}` : this.options.startAt });
    this.running = this.tailer.run(this.controller.signal);
  }

  async stop(): Promise<void> {
    this.controller.abort();
    await this.running;
    this.loop.stop();
  }

  closeWindow(): void {
    this.loop.close();
  }

  private line(text: string): void {
    const parsed = parseVpcCniLine(text);
    if (parsed.kind === 'skip') {
      this.events.skippedRecord('vpc_cni', parsed.reason);
      return;
    }
    if (parsed.kind === 'error') {
      this.loop.drop('unparseable', 1);
      this.events.skippedRecord('vpc_cni', `error_${parsed.reason}`);
      return;
    }
    const flow = parsed.flow;
    flow.src = this.resolve(flow.srcIp);
    flow.dst = this.resolve(flow.dstIp);
    flow.direction = flow.src ? 'egress' : flow.dst ? 'ingress' : '';
    this.loop.add(flow);
  }

  view(): VpcCniSourceView {
    const p = this.tailer.position();
    return {
      source: 'vpc_cni',
      path: this.options.path,
      state: this.tailer.state,
      file: p?.name ?? null,
      offset: p?.offset ?? null,
      rotations: this.tailer.rotations,
      resumedFrom: this.resumedFrom ? { file: this.resumedFrom.name, offset: this.resumedFrom.offset } : null,
      ...this.loop.view(),
    };
  }
}
