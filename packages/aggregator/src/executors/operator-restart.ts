// OperatorRestartRequest: answered at once (the answer is queued on the stream before anything stops), then after
// delay_seconds (at least 1 s, so the answer is on the wire; capped) a graceful drain of queues and in-flight
// batches through the caller's callback, bounded by drainTimeoutMs, then exit(0): the Deployment starts a fresh
// pod. graceful=false skips the drain (nothing is lost for logs, which are re-read from the node's files).
// One restart at a time: another request while one is scheduled is answered with success=false.
import type { OperatorRestartRequest, OperatorRestartResponse } from '@kestrel/proto/cloud/v1';
import type { ExecutorContext } from './context.js';
import { rateLimited } from './context.js';
import { refusalText } from './refusal.js';

export interface RestartHooks {
  /** Drains queues and in-flight batches and closes streams cleanly; the caller's uplink knows how. */
  drain: (reason: string) => Promise<void>;
  /** Ends the process. */
  exit: (code: number) => void;
}

export const MIN_RESTART_DELAY_MS = 1000;

export class OperatorRestarts {
  private scheduled: { requestId: string; at: number; timer: NodeJS.Timeout } | undefined;

  constructor(private readonly ctx: ExecutorContext) {}

  get pending(): { requestId: string; at: number } | undefined {
    return this.scheduled ? { requestId: this.scheduled.requestId, at: this.scheduled.at } : undefined;
  }

  handle(req: OperatorRestartRequest, hooks: RestartHooks): OperatorRestartResponse {
    const ctx = this.ctx;
    const started = ctx.now();
    const requestId = req.requestId ?? '';
    const reasonText = (req.reason ?? '').slice(0, 500);
    const answer = (success: boolean, errorMessage: string): OperatorRestartResponse => {
      const t = ctx.now();
      return { requestId, success, errorMessage, initiatedAt: success ? { seconds: Math.floor(t / 1000), nanos: (t % 1000) * 1_000_000 } : undefined };
    };
    const item = `restart${reasonText ? ` (${reasonText})` : ''}`;
    if (!requestId.trim()) {
      const problem = 'malformed request: request_id is missing';
      ctx.events.answered({ requestId, kind: 'operator_restart', decision: 'malformed', reason: problem, durationMs: 0, bytes: 0, items: [] });
      return answer(false, problem);
    }
    if (this.scheduled) {
      const problem = `a restart is already scheduled (request ${this.scheduled.requestId}, at ${new Date(this.scheduled.at).toISOString()})`;
      ctx.events.answered({ requestId, kind: 'operator_restart', decision: 'refused', reason: problem, durationMs: 0, bytes: 0, items: [{ item, decision: 'refused', code: 'rate_limited', reason: problem, bytes: 0, durationMs: 0 }] });
      return answer(false, problem);
    }
    const limited = rateLimited(ctx);
    if (limited) {
      ctx.events.answered({ requestId, kind: 'operator_restart', decision: 'rate_limited', reason: limited.reason, durationMs: 0, bytes: 0, items: [{ item, decision: 'rate_limited', code: limited.code, reason: limited.reason, bytes: 0, durationMs: 0 }] });
      return answer(false, refusalText(limited));
    }
    const delayMs = Math.min(Math.max(MIN_RESTART_DELAY_MS, (req.delaySeconds || 0) * 1000), ctx.config.maxRestartDelayMs);
    const graceful = req.graceful;
    const at = ctx.now() + delayMs;
    const why = `restart requested by the cloud (request ${requestId}${reasonText ? `: ${reasonText}` : ''})`;
    const timer = setTimeout(() => {
      const drained = graceful
        ? Promise.race([hooks.drain(why).catch(() => undefined), new Promise<void>((r) => setTimeout(r, ctx.config.drainTimeoutMs).unref())])
        : Promise.resolve();
      void drained.then(() => hooks.exit(0));
    }, delayMs);
    this.scheduled = { requestId, at, timer };
    const reason = `${graceful ? 'graceful drain, then exit' : 'exit without drain'} in ${delayMs / 1000}s`;
    ctx.events.answered({ requestId, kind: 'operator_restart', decision: 'allowed', reason, durationMs: ctx.now() - started, bytes: 0, items: [{ item, decision: 'allowed', reason, bytes: 0, durationMs: 0 }] });
    return answer(true, '');
  }

  /** Cancels a scheduled restart (the process is stopping anyway). */
  cancel(): void {
    if (this.scheduled) clearTimeout(this.scheduled.timer);
    this.scheduled = undefined;
  }
}
