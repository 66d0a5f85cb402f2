// A small kestrel.ingest.v1 server for whole-agent tests: real gRPC over TLS with the agent's client certificate
// required, as the aggregator serves it, but it only records what arrives (every line with the agent instance,
// batch and file it came in) and acknowledges each batch at once. It can also play a network partition: batches
// received while partitioned are dropped unrecorded and never acknowledged, until heal() ends every open stream
// so that the agent reconnects and sends its unacknowledged batches again.
import fs from 'node:fs';
import * as grpc from '@grpc/grpc-js';
import { AgentMessage, AggregatorMessage, type BatchContent, type FileIdentity, type LogChunk, type LogLine } from '@kestrel/proto/ingest/v1';
import { openBatch } from '@kestrel/proto/ingest/v1/codec';
import { chunkLines } from '@kestrel/proto/ingest/v1/lines';
import type { InternalPki } from './system.js';

export interface ReceivedLine {
  /** The agent process (Hello.instance_id) that sent it. */
  instance: string;
  batch: number;
  chunk: Omit<LogChunk, 'lines'>;
  line: LogLine;
}

/** Key of a file identity, as the aggregator's replay filter has it. */
export const fileKey = (f: FileIdentity | undefined): string => `${f?.device ?? 0}:${f?.inode ?? 0}:${f?.fingerprint ?? 0}`;

export class IngestRecorder {
  readonly lines: ReceivedLine[] = [];
  /** Chunks that came without lines (stream_complete alone). */
  readonly emptyChunks: { instance: string; chunk: Omit<LogChunk, 'lines'> }[] = [];
  /** Per agent instance and file: the largest endOffset acknowledged. */
  readonly acked = new Map<string, Map<string, number>>();
  readonly instances: string[] = [];
  private partitioned = false;
  private readonly calls = new Set<grpc.ServerDuplexStream<AgentMessage, AggregatorMessage>>();
  private server: grpc.Server | undefined;
  address = '';

  async start(pki: InternalPki): Promise<void> {
    const server = new grpc.Server();
    server.addService(
      {
        stream: {
          path: '/kestrel.ingest.v1.IngestService/Stream',
          requestStream: true,
          responseStream: true,
          requestSerialize: (m: AgentMessage) => Buffer.from(AgentMessage.encode(m).finish()),
          requestDeserialize: (b: Buffer) => AgentMessage.decode(b),
          responseSerialize: (m: AggregatorMessage) => Buffer.from(AggregatorMessage.encode(m).finish()),
          responseDeserialize: (b: Buffer) => AggregatorMessage.decode(b),
        },
      },
      { stream: (call: grpc.ServerDuplexStream<AgentMessage, AggregatorMessage>) => this.handle(call) },
    );
    const credentials = grpc.ServerCredentials.createSsl(fs.readFileSync(pki.ca), [{ cert_chain: fs.readFileSync(pki.aggregator.cert), private_key: fs.readFileSync(pki.aggregator.key) }], true);
    const port = await new Promise<number>((resolve, reject) => server.bindAsync('127.0.0.1:0', credentials, (err, p) => (err ? reject(err) : resolve(p))));
    this.server = server;
    this.address = `127.0.0.1:${port}`;
  }

  private chain = Promise.resolve();

  private record(call: grpc.ServerDuplexStream<AgentMessage, AggregatorMessage>, instance: string, sequence: number, content: BatchContent): void {
    const acked = this.acked.get(instance) ?? new Map<string, number>();
    this.acked.set(instance, acked);
    for (const chunk of content.logs) {
      const lines = chunkLines(chunk);
      const { lines: _objects, ...rest } = chunk;
      if (lines.length === 0) this.emptyChunks.push({ instance, chunk: rest });
      for (const line of lines) {
        this.lines.push({ instance, batch: sequence, chunk: rest, line });
        const key = fileKey(chunk.file);
        acked.set(key, Math.max(acked.get(key) ?? 0, line.endOffset));
      }
    }
    call.write({ message: { $case: 'ack', value: { sequence } } });
  }

  private handle(call: grpc.ServerDuplexStream<AgentMessage, AggregatorMessage>): void {
    this.calls.add(call);
    let instance = '';
    call.on('data', (m: AgentMessage) => {
      const msg = m.message;
      if (msg?.$case === 'hello') {
        instance = msg.value.instanceId;
        if (!this.instances.includes(instance)) this.instances.push(instance);
        call.write({ message: { $case: 'welcome', value: { aggregatorId: 'recorder' } } });
        return;
      }
      if (msg?.$case !== 'batch' || this.partitioned) return; // lost in the partition: not recorded, not acknowledged
      const batch = msg.value;
      const opened = openBatch(batch, 64 << 20);
      // Decoded off the event loop; one chain for all calls keeps records and Acks in arrival order, also across an
      // old call still being decoded and the agent's new one.
      this.chain = this.chain.then(async () => this.record(call, instance, batch.sequence, await opened)).catch((err: Error) => void call.destroy(err));
    });
    const forget = () => this.calls.delete(call);
    call.on('end', () => {
      forget();
      call.end();
    });
    call.on('error', forget);
    call.on('close', forget);
  }

  /** From now on, batches are dropped unrecorded and unacknowledged. */
  partition(): void {
    this.partitioned = true;
  }

  /** Ends the partition: every open stream is failed, so agents reconnect and resend what was not acknowledged. */
  heal(): void {
    this.partitioned = false;
    for (const call of [...this.calls]) call.emit('error', { code: grpc.status.UNAVAILABLE, details: 'partition healed' });
    this.calls.clear();
  }

  get connected(): number {
    return this.calls.size;
  }

  async stop(): Promise<void> {
    const server = this.server;
    if (!server) return;
    for (const call of this.calls) call.destroy();
    await new Promise<void>((resolve) => server.tryShutdown(() => resolve()));
  }
}
