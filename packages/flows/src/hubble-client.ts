// A Hubble Observer client: GetFlows with follow on a node's hubble.sock (unix socket, no TLS) or on Hubble Relay
// (TCP, usually TLS, optionally with a client certificate). It reconnects by itself with jittered backoff and resumes
// from the newest flow it handed out (`since`, with duplicates at that instant skipped), so a reconnect neither loses
// nor repeats flows that Hubble still has; what Hubble no longer has it reports as lost_events, which are handed out
// as they come. Handlers are synchronous: the stream is read as fast as they return (Hubble drops, and reports, what
// a slow reader does not take). Two readers of the same call: HubbleFlowStream (nice-grpc, full flow.Flow messages)
// and HubbleRawFlowStream (grpc-h2.ts, HTTP/2 spoken on the socket itself, responses read by hubble-wire.ts into RawFlows: what the agent
// and Relay mode use, several times cheaper per flow).
import { Backoff, sleep } from '@kestrel/core';
import type { Flow, FlowFilter, LostEvent } from '@kestrel/proto/hubble/flow';
import { GetFlowsRequest, ObserverDefinition, type GetFlowsResponse, type ServerStatusResponse } from '@kestrel/proto/hubble/observer';
import type { NodeStatusEvent } from '@kestrel/proto/hubble/relay';
import { ChannelCredentials, createChannel, createClient, type Channel } from 'nice-grpc';
import type { HubbleSkipReason } from './hubble-convert.js';
import { serverStreamingCall } from './grpc-h2.js';
import { readGetFlowsResponseAt, type HubbleWireEvent } from './hubble-wire.js';
import type { RawFlow } from './raw-flow.js';
import { ResumeTracker, type ResumePoint } from './resume-point.js';

export const DEFAULT_HUBBLE_SOCKET = 'unix:///var/run/cilium/hubble.sock';

/**
 * What HubbleRawFlowStream asks Hubble for (field_mask, proto field paths of flow.Flow): exactly what hubble-wire.ts
 * reads, so Hubble leaves out the rest of each flow (ethernet, trace and event details, summary, endpoint IDs and
 * identities...): fewer bytes to send, read and skip per flow. A Hubble that does not know field_mask sends whole
 * flows, which read the same.
 */
export const RAW_FLOW_FIELDS: readonly string[] = [
  'time',
  'uuid',
  'verdict',
  'IP.source',
  'IP.destination',
  'l4',
  ...['source', 'destination'].flatMap((side) => ['namespace', 'labels', 'pod_name', 'workloads'].map((f) => `${side}.${f}`)),
  'node_name',
  'reply',
  'is_reply',
  'traffic_direction',
  'egress_allowed_by',
  'ingress_allowed_by',
];

export interface HubbleTls {
  ca: Buffer;
  /** A client certificate, when Relay requires mTLS. */
  cert?: Buffer | undefined;
  key?: Buffer | undefined;
  /** The name in the server's certificate when it differs from the address (e.g. *.hubble-relay.cilium.io). */
  serverName?: string | undefined;
}

export interface HubbleTarget {
  /** unix:///var/run/cilium/hubble.sock, or host:port for Relay or a node's TCP listener. */
  address: string;
  /** Undefined: plaintext (the unix socket, or a TCP listener without TLS). */
  tls?: HubbleTls | undefined;
}

export interface HubbleHandlers {
  flow(flow: Flow, nodeName: string): void;
  lost(event: LostEvent, nodeName: string): void;
  nodeStatus?(event: NodeStatusEvent): void;
  /** A stream is open (first response or the call accepted); `since` is where it resumed from. */
  connected?(since: ResumePoint | undefined): void;
  /** A stream failed or ended; it is opened again after a backoff. */
  disconnected?(error: string): void;
}

export interface HubbleFollowOptions {
  /** Where to start (e.g. the last acknowledged point after a restart); undefined: from now on. */
  since?: ResumePoint | undefined;
  whitelist?: FlowFilter[];
  blacklist?: FlowFilter[];
  backoffInitialMs?: number;
  backoffMaxMs?: number;
}

export type HubbleStreamState = 'connecting' | 'streaming' | 'backoff' | 'stopped';

export function hubbleChannel(target: HubbleTarget): Channel {
  const options: Record<string, string | number> = { 'grpc.keepalive_time_ms': 30_000, 'grpc.keepalive_timeout_ms': 10_000, 'grpc.max_receive_message_length': 16 * 1024 * 1024 };
  if (!target.tls) return createChannel(target.address, ChannelCredentials.createInsecure(), options);
  if (target.tls.serverName) options['grpc.ssl_target_name_override'] = target.tls.serverName;
  return createChannel(target.address, ChannelCredentials.createSsl(target.tls.ca, target.tls.key ?? null, target.tls.cert ?? null), options);
}

/** What a stream needs to know of one response: a flow (with what identifies it for resuming), a loss, or other. */
type Classified<F> = { kind: 'flow'; flow: F; seconds: number; nanos: number; uuid: string; nodeName: string } | { kind: 'lost'; event: LostEvent; nodeName: string } | { kind: 'status'; event: NodeStatusEvent } | { kind: 'other' };

/** Connection, reconnection and resume, shared by the two ways of reading the stream (full flows, raw flows). */
abstract class HubbleStreamBase<R, F> {
  state: HubbleStreamState = 'connecting';
  reconnects = 0;
  lastError: string | undefined;
  connectedSince: Date | undefined;
  /** Flows skipped after a reconnect because they had been handed out already. */
  duplicatesSkipped = 0;
  private readonly resume: ResumeTracker;

  constructor(
    protected readonly target: HubbleTarget,
    protected readonly options: HubbleFollowOptions = {},
  ) {
    this.resume = new ResumeTracker(options.since);
  }

  /** The newest flow handed out, with its instant's UUIDs: persist this (once acknowledged) to resume after a restart. */
  get resumePoint(): ResumePoint | undefined {
    return this.resume.current;
  }

  /** Makes the call and hands each response to `deliver` until the call ends (resolves) or fails (rejects). */
  protected abstract call(request: GetFlowsRequest, signal: AbortSignal, deliver: (response: R) => void): Promise<void>;
  protected abstract classify(response: R): Classified<F>;
  /** The fields to ask Hubble for (GetFlowsRequest.field_mask); undefined: whole flows. */
  protected fieldMask(): string[] | undefined {
    return undefined;
  }

  /** Follows flows until the signal aborts, reconnecting as needed; resolves once stopped. */
  protected async follow(signal: AbortSignal, handlers: StreamHandlers<F>): Promise<void> {
    const backoff = new Backoff({ initialMs: this.options.backoffInitialMs ?? 500, maxMs: this.options.backoffMaxMs ?? 30_000 });
    while (!signal.aborted) {
      this.state = 'connecting';
      const error = await this.once(signal, handlers, backoff);
      if (signal.aborted) break;
      this.lastError = error;
      this.connectedSince = undefined;
      handlers.disconnected?.(error);
      this.state = 'backoff';
      this.reconnects++;
      try {
        await sleep(backoff.next(), signal);
      } catch {
        break;
      }
    }
    this.state = 'stopped';
  }

  private async once(signal: AbortSignal, handlers: StreamHandlers<F>, backoff: Backoff): Promise<string> {
    const since = this.resume.current;
    this.resume.reconnected();
    try {
      const request = GetFlowsRequest.fromPartial({
        follow: true,
        since: since ? { seconds: since.seconds, nanos: since.nanos } : undefined,
        whitelist: this.options.whitelist ?? [],
        blacklist: this.options.blacklist ?? [],
        fieldMask: this.fieldMask(),
      });
      let first = true;
      await this.call(request, signal, (response) => {
        if (first) {
          first = false;
          this.state = 'streaming';
          this.connectedSince = new Date();
          backoff.reset();
          handlers.connected?.(since);
        }
        const c = this.classify(response);
        if (c.kind === 'flow') {
          if (!this.resume.take(c.seconds, c.nanos, c.uuid)) {
            this.duplicatesSkipped++;
            return;
          }
          handlers.flow(c.flow, c.nodeName);
        } else if (c.kind === 'lost') {
          handlers.lost(c.event, c.nodeName);
        } else if (c.kind === 'status') {
          handlers.nodeStatus?.(c.event);
        }
      });
      return 'Hubble ended the flow stream';
    } catch (err) {
      return err instanceof Error ? err.message : String(err);
    }
  }
}

interface StreamHandlers<F> extends Omit<HubbleHandlers, 'flow'> {
  flow(flow: F, nodeName: string): void;
}

/** GetFlows with full flow.Flow messages (e.g. for Relay mode, or to look at every field). */
export class HubbleFlowStream extends HubbleStreamBase<GetFlowsResponse, Flow> {
  run(signal: AbortSignal, handlers: HubbleHandlers): Promise<void> {
    return this.follow(signal, handlers);
  }

  protected async call(request: GetFlowsRequest, signal: AbortSignal, deliver: (response: GetFlowsResponse) => void): Promise<void> {
    const channel = hubbleChannel(this.target);
    try {
      for await (const response of createClient(ObserverDefinition, channel).getFlows(request, { signal })) deliver(response);
    } finally {
      channel.close();
    }
  }

  protected classify(r: GetFlowsResponse): Classified<Flow> {
    const t = r.responseTypes;
    if (t?.$case === 'flow') return { kind: 'flow', flow: t.value, seconds: t.value.time?.seconds ?? 0, nanos: t.value.time?.nanos ?? 0, uuid: t.value.uuid, nodeName: r.nodeName || t.value.nodeName };
    if (t?.$case === 'lostEvents') return { kind: 'lost', event: t.value, nodeName: r.nodeName };
    if (t?.$case === 'nodeStatus') return { kind: 'status', event: t.value };
    return { kind: 'other' };
  }
}

export interface HubbleRawHandlers extends Omit<HubbleHandlers, 'flow'> {
  /** A flow read straight into a RawFlow (or the reason it is not one to count). */
  flow(flow: RawFlow | HubbleSkipReason, nodeName: string): void;
}

/** GetFlows read straight into RawFlows for aggregation (the agent's node socket, and Relay mode). */
export class HubbleRawFlowStream extends HubbleStreamBase<HubbleWireEvent, RawFlow | HubbleSkipReason> {
  run(signal: AbortSignal, handlers: HubbleRawHandlers): Promise<void> {
    return this.follow(signal, handlers);
  }

  protected override fieldMask(): string[] {
    return [...RAW_FLOW_FIELDS];
  }

  // HTTP/2 spoken on the socket by grpc-h2.ts, responses read where they lie by hubble-wire.ts: per flow, a few µs where
  // grpc-js and the generated decoder cost tens (docs/BENCHMARKS.md).
  protected call(request: GetFlowsRequest, signal: AbortSignal, deliver: (response: HubbleWireEvent) => void): Promise<void> {
    return serverStreamingCall(this.target.address, this.target.tls, '/observer.Observer/GetFlows', GetFlowsRequest.encode(request).finish(), signal, (buf, start, end) => deliver(readGetFlowsResponseAt(buf, start, end)));
  }

  protected classify(e: HubbleWireEvent): Classified<RawFlow | HubbleSkipReason> {
    // A flow event already has the shape the stream needs: handed on as it is, no second object per flow.
    if (e.kind === 'flow') return e;
    if (e.kind === 'lost') return { kind: 'lost', event: { source: e.source, numEventsLost: e.count, cpu: undefined, first: undefined, last: undefined }, nodeName: e.nodeName };
    return { kind: 'other' };
  }
}

/** One ServerStatus call (for `debug flows` and readiness); throws what the call throws. */
export async function hubbleServerStatus(target: HubbleTarget, signal?: AbortSignal): Promise<ServerStatusResponse> {
  const channel = hubbleChannel(target);
  try {
    return await createClient(ObserverDefinition, channel).serverStatus({}, { signal });
  } finally {
    channel.close();
  }
}
