// The console through which tests and people send the operator the requests Kestrel Cloud's agents send:
// Kubernetes API reads, kubectl commands, YAML dry runs and applies, restarts. A request is pushed on the cluster's
// control stream (its data stream when no control stream is open) with a fresh request_id, and the answer that
// comes back with that request_id is returned (and stored like every received message).
import { randomUUID } from 'node:crypto';
import type { OpenStream, OpenStreams } from './open-streams.js';

export const REQUEST_KINDS = ['kubernetesApiRequest', 'shellCommandRequest', 'yamlDryRunRequest', 'yamlApplyRequest', 'operatorRestartRequest', 'metricsQueryRequest', 'datadogQueryRequest'] as const;
export type RequestKind = (typeof REQUEST_KINDS)[number];

/** The answer cases the operator sends back, by the request they answer. */
export const ANSWER_KINDS = new Set(['kubernetesApiResponse', 'shellCommandResponse', 'yamlDryRunResponse', 'yamlApplyResponse', 'operatorRestartResponse', 'metricsQueryResponse', 'datadogQueryResponse']);

export interface ConsoleAnswer {
  stream: 'control' | 'data';
  requestId: string;
  answer: { $case: string; value: unknown };
}

export class RequestConsole {
  private readonly pending = new Map<string, (answer: { $case: string; value: unknown }) => void>();

  constructor(private readonly streams: OpenStreams) {}

  async send(kind: RequestKind, body: Record<string, unknown>, timeoutMs: number): Promise<ConsoleAnswer> {
    if (!REQUEST_KINDS.includes(kind)) throw new Error(`unknown request kind ${kind}; known: ${REQUEST_KINDS.join(', ')}`);
    let target: OpenStream | undefined;
    for (const s of this.streams.all()) {
      if (s.stream === 'control') target = s;
      else if (s.stream === 'data' && target?.stream !== 'control') target = s;
    }
    if (!target) throw new Error('no operator is connected on a control or data stream');
    const requestId = randomUUID();
    const answered = new Promise<{ $case: string; value: unknown }>((resolve) => this.pending.set(requestId, resolve));
    if (!target.push({ response: { $case: kind, value: { ...body, requestId } } })) {
      this.pending.delete(requestId);
      throw new Error('the stream ended before the request could be sent');
    }
    let timer: NodeJS.Timeout | undefined;
    const timeout = new Promise<never>((_, reject) => {
      timer = setTimeout(() => {
        this.pending.delete(requestId);
        reject(new Error(`no answer to ${kind} ${requestId} within ${timeoutMs} ms`));
      }, timeoutMs);
    });
    try {
      const answer = await Promise.race([answered, timeout]);
      return { stream: target.stream === 'control' ? 'control' : 'data', requestId, answer };
    } finally {
      clearTimeout(timer);
    }
  }

  /** An answer arrived; false when no console request waits for its request_id. */
  responded(answer: { $case: string; value: unknown }): boolean {
    const requestId = (answer.value as { requestId?: unknown }).requestId;
    if (typeof requestId !== 'string') return false;
    const resolve = this.pending.get(requestId);
    if (!resolve) return false;
    this.pending.delete(requestId);
    resolve(answer);
    return true;
  }
}
