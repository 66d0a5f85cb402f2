// The kestrel.ingest.v1 server: one stream per agent. The first message must be Hello; each Batch is filtered
// for replays, turned into cloud.v1 PodLogs and handed to the uplink; the Ack goes back only once the uplink has
// taken every message of the batch for the wire. Batches of one stream are handled in order.
import type { Logger } from '@kestrel/core';
import type { AggregatorMessage, AgentMessage, Batch, IngestServiceImplementation } from '@kestrel/proto/ingest/v1';
import type { PodLogs } from '@kestrel/proto/cloud/v1';
import { ServerError, Status, type CallContext } from 'nice-grpc';
import { ReplayFilter } from '../pipeline/replay-filter.js';
import { toPodLogs, type PodLogsLimits } from '../pipeline/pod-logs.js';
import type { IngestEvents } from './events.js';

export interface PodLogsSink {
  send(logs: PodLogs, signal: AbortSignal): Promise<void>;
}

export interface AgentView {
  node: string;
  peer: string;
  instanceId: string;
  version: string;
  connectedAt: string;
  batches: number;
  lines: number;
  lastBatchAt: string | null;
}

export class IngestService implements IngestServiceImplementation {
  private readonly agents = new Map<number, AgentView>();
  private nextId = 1;

  constructor(
    private readonly aggregatorId: string,
    private readonly sink: PodLogsSink,
    private readonly replays: ReplayFilter,
    private readonly limits: PodLogsLimits,
    private readonly events: IngestEvents,
    private readonly logger: Logger,
  ) {}

  connectedAgents(): AgentView[] {
    return [...this.agents.values()];
  }

  async *stream(requests: AsyncIterable<AgentMessage>, context: CallContext): AsyncIterable<AggregatorMessage> {
    const peer = context.peer;
    const iterator = requests[Symbol.asyncIterator]();
    const first = await iterator.next();
    const hello = first.done ? undefined : first.value.message;
    if (hello?.$case !== 'hello' || !hello.value.nodeName) {
      this.events.protocolError('no_hello', peer, 'first message was not a Hello with a node name');
      throw new ServerError(Status.INVALID_ARGUMENT, 'the first message must be Hello with node_name');
    }
    const node = hello.value.nodeName;
    const id = this.nextId++;
    const view: AgentView = {
      node,
      peer,
      instanceId: hello.value.instanceId,
      version: hello.value.agentVersion,
      connectedAt: new Date().toISOString(),
      batches: 0,
      lines: 0,
      lastBatchAt: null,
    };
    this.agents.set(id, view);
    this.events.agentsConnected.inc();
    this.logger.info('agent connected', { node, peer, instance: view.instanceId });
    try {
      yield { message: { $case: 'welcome', value: { aggregatorId: this.aggregatorId } } };
      for (let next = await iterator.next(); !next.done; next = await iterator.next()) {
        const m = next.value.message;
        if (m?.$case !== 'batch') {
          this.events.protocolError('unexpected_message', peer, `unexpected ${m?.$case ?? 'empty'} message after Hello`);
          throw new ServerError(Status.INVALID_ARGUMENT, 'only Batch messages may follow Hello');
        }
        await this.handleBatch(view, m.value, context.signal);
        view.batches++;
        view.lastBatchAt = new Date().toISOString();
        this.events.batchesAcked.inc();
        yield { message: { $case: 'ack', value: { sequence: m.value.sequence } } };
      }
    } finally {
      this.agents.delete(id);
      this.events.agentsConnected.dec();
      this.logger.info('agent disconnected', { node, peer });
    }
  }

  private async handleBatch(agent: AgentView, batch: Batch, signal: AbortSignal): Promise<void> {
    const node = agent.node;
    const now = new Date();
    const sends: Promise<void>[] = [];
    for (const chunk of batch.logs) {
      const key = ReplayFilter.key(node, chunk.file);
      const fresh = chunk.lines.filter((l) => this.replays.isNew(key, l.endOffset));
      this.events.linesReceived.inc(chunk.lines.length);
      if (fresh.length < chunk.lines.length) this.events.linesReplayed.inc(chunk.lines.length - fresh.length);
      if (fresh.length === 0) continue;
      agent.lines += fresh.length;
      for (const message of toPodLogs(node, chunk, fresh, this.limits, now)) sends.push(this.sink.send(message, signal));
      this.replays.advance(key, fresh[fresh.length - 1]!.endOffset);
    }
    await Promise.all(sends);
  }
}
