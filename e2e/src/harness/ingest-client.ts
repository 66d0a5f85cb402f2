// A bare kestrel.ingest.v1 client, for benchmarks and tests that play many agents from one process: one TLS
// connection per simulated node (its own channel, with that node's client certificate from the internal CA), the
// Hello, then whatever batches the caller sends; Welcome and every Ack are reported to the caller. No batching,
// retries or checkpoints: the caller decides what to send and what an acknowledgement means.
//
// grpc-js directly (as ingest-recorder.ts does on the server side): the same HTTP/2 + gRPC frames the agent's
// nice-grpc client produces, without adding nice-grpc to the harness's dependencies.
import fs from 'node:fs';
import * as grpc from '@grpc/grpc-js';
import { AgentMessage, AggregatorMessage, type Batch } from '@kestrel/proto/ingest/v1';

export interface IngestClientOptions {
  /** host:port of the aggregator's ingest listener. */
  address: string;
  /** The name the aggregator's certificate is checked against (the harness's is issued for localhost). */
  serverName?: string;
  caFile: string;
  certFile: string;
  keyFile: string;
  nodeName: string;
  instanceId: string;
  agentVersion?: string;
}

const METHOD = '/kestrel.ingest.v1.IngestService/Stream';
const serialize = (m: AgentMessage): Buffer => Buffer.from(AgentMessage.encode(m).finish());
const deserialize = (b: Buffer): AggregatorMessage => AggregatorMessage.decode(b);

export class IngestClient {
  private readonly client: grpc.Client;
  private readonly call: grpc.ClientDuplexStream<AgentMessage, AggregatorMessage>;
  /** Resolves with the aggregator id of the Welcome. */
  readonly welcomed: Promise<string>;
  /** Resolves when the stream ends: undefined for a clean end, else the error. */
  readonly closed: Promise<Error | undefined>;

  constructor(
    options: IngestClientOptions,
    private readonly onAck: (sequence: number) => void,
  ) {
    const credentials = grpc.credentials.createSsl(fs.readFileSync(options.caFile), fs.readFileSync(options.keyFile), fs.readFileSync(options.certFile));
    const channelOptions: grpc.ChannelOptions = {
      'grpc.keepalive_time_ms': 30_000,
      'grpc.keepalive_timeout_ms': 10_000,
      // One connection per simulated node, as separate agent processes would have.
      'grpc.use_local_subchannel_pool': 1,
      'grpc.max_receive_message_length': 16 * 1024 * 1024,
    };
    if (options.serverName) channelOptions['grpc.ssl_target_name_override'] = options.serverName;
    this.client = new grpc.Client(options.address, credentials, channelOptions);
    this.call = this.client.makeBidiStreamRequest(METHOD, serialize, deserialize);
    let welcome!: (id: string) => void;
    let fail!: (err: Error) => void;
    this.welcomed = new Promise<string>((resolve, reject) => {
      welcome = resolve;
      fail = reject;
    });
    this.welcomed.catch(() => undefined);
    this.closed = new Promise((resolve) => {
      this.call.on('error', (err: Error) => {
        fail(err);
        resolve(err);
      });
      this.call.on('end', () => {
        fail(new Error('stream ended before Welcome'));
        resolve(undefined);
      });
    });
    this.call.on('data', (m: AggregatorMessage) => {
      const msg = m.message;
      if (msg?.$case === 'welcome') welcome(msg.value.aggregatorId);
      else if (msg?.$case === 'ack') this.onAck(Number(msg.value.sequence));
    });
    this.call.write({ message: { $case: 'hello', value: { nodeName: options.nodeName, agentVersion: options.agentVersion ?? 'bench', instanceId: options.instanceId } } });
  }

  /** Writes a batch; false when grpc-js's buffer is over its mark (the caller's window bounds it anyway). */
  send(batch: Batch): boolean {
    return this.call.write({ message: { $case: 'batch', value: batch } });
  }

  /** Ends the sending side and closes the channel once the stream has ended (or after graceMs). */
  async close(graceMs = 5000): Promise<void> {
    this.call.end();
    await Promise.race([this.closed, new Promise((r) => setTimeout(r, graceMs).unref())]);
    this.call.cancel();
    this.client.close();
  }
}
