// KubernetesAPIRequest: each api_path checked (api-paths.ts), read with the operator's credentials (api-reader.ts),
// answered in its own KubernetesAPIResult with a real status code: 403 for a policy refusal, 429 over the rate
// limit, 504 past the deadline, 502 when the connection failed, the API server's own code otherwise.
import type { KubernetesAPIRequest, KubernetesAPIResponse, KubernetesAPIResult } from '@kestrel/proto/cloud/v1';
import { checkApiPath, targetUrl } from './api-paths.js';
import { itemBudget, timeoutFor } from './config.js';
import { malformed, rateLimited, refusedItem, type ExecutorContext } from './context.js';
import { overall, type AuditItem } from './events.js';
import { TimeoutError } from './kube-http.js';
import { inOrder } from './limits.js';
import { refusalText, type Refusal } from './refusal.js';
import { limitText } from './truncation.js';

const statusMessage = (body: string): string => {
  try {
    const parsed = JSON.parse(body) as { kind?: unknown; message?: unknown };
    if (parsed.kind === 'Status' && typeof parsed.message === 'string') return parsed.message;
  } catch {
    // not JSON: the body itself says it
  }
  return body.slice(0, 500);
};

const refusedResult = (apiPath: string, r: Refusal): KubernetesAPIResult => ({
  apiPath,
  success: false,
  responseData: '',
  errorMessage: refusalText(r),
  statusCode: r.code === 'rate_limited' ? 429 : 403,
});

export async function executeKubernetesApi(ctx: ExecutorContext, req: KubernetesAPIRequest): Promise<KubernetesAPIResponse> {
  const started = ctx.now();
  const requestId = req.requestId ?? '';
  const paths = req.apiPaths ?? [];
  const problem = malformed(ctx.config, requestId, paths, 'api_paths');
  if (problem) {
    ctx.events.answered({ requestId, kind: 'kubernetes_api', decision: 'malformed', reason: problem, durationMs: ctx.now() - started, bytes: 0, items: [] });
    return { requestId, results: [], globalErrorMessage: problem };
  }
  const timeoutMs = timeoutFor(ctx.config, req.timeoutSeconds);
  const budget = itemBudget(ctx.config, paths.length);

  // Policy and rate limit first, in order, so refusals cost nothing and tokens go to the first paths.
  const decided = paths.map((raw) => {
    const target = checkApiPath(raw);
    if ('refused' in target) return target;
    return rateLimited(ctx) ?? target;
  });

  ctx.events.inFlight.inc({ kind: 'kubernetes_api' });
  try {
    const answers = await inOrder(paths, ctx.apiCalls, async (raw, i): Promise<[KubernetesAPIResult, AuditItem]> => {
      const target = decided[i]!;
      if ('refused' in target) return [refusedResult(raw, target), refusedItem(raw, target, { status: target.code === 'rate_limited' ? 429 : 403 })];
      const itemStarted = ctx.now();
      const ran = targetUrl(target);
      try {
        const answer = await ctx.reader.get(target, { timeoutMs, textLimit: budget });
        const limited = limitText(answer.body, budget, answer.truncated);
        const ok = answer.status >= 200 && answer.status < 300;
        const errorMessage = !ok ? statusMessage(answer.body.toString('utf8')) : limited.truncated ? `answer truncated at ${budget} bytes (the limit for one path in this request)` : '';
        const result: KubernetesAPIResult = { apiPath: raw, success: ok, responseData: limited.text, errorMessage, statusCode: answer.status };
        return [result, { item: raw, ran, decision: 'allowed', status: answer.status, bytes: limited.bytes, truncated: limited.truncated, durationMs: ctx.now() - itemStarted }];
      } catch (err) {
        const timedOut = err instanceof TimeoutError;
        const message = err instanceof Error ? err.message : String(err);
        const result: KubernetesAPIResult = { apiPath: raw, success: false, responseData: '', errorMessage: message, statusCode: timedOut ? 504 : 502 };
        return [result, { item: raw, ran, decision: timedOut ? 'timed_out' : 'failed', reason: message, status: result.statusCode, bytes: 0, durationMs: ctx.now() - itemStarted }];
      }
    });
    const items = answers.map(([, a]) => a);
    const bytes = items.reduce((n, a) => n + a.bytes, 0);
    const decision = overall(items);
    const reasons = [...new Set(items.filter((a) => a.reason).map((a) => a.reason!))];
    ctx.events.answered({ requestId, kind: 'kubernetes_api', decision, ...(reasons.length ? { reason: reasons.join('; ') } : {}), durationMs: ctx.now() - started, bytes, items });
    return { requestId, results: answers.map(([r]) => r), globalErrorMessage: '' };
  } finally {
    ctx.events.inFlight.dec({ kind: 'kubernetes_api' });
  }
}
