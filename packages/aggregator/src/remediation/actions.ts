// What every remediation action shares, so a family only says what its actions do: the switch and namespace
// allowlist checked before any write (a refused write sends nothing to the API server), every write sent first as a
// server-side dry run (dryRun=All) and only then applied, the per-family rate limit, the timeout (the dispatcher's
// AbortSignal), the answer in the family's wire shape, and one audit line per action.
import type { DatadogQueryRequest } from '@kestrel/proto/cloud/v1';
import type { FamilyName, QueryAnswer, QueryFamily } from '../queries/dispatch.js';
import { queryTypeName } from '../queries/dispatch.js';
import type { MinuteRateLimit } from '../executors/limits.js';
import type { ActionDecision, RemediationEvents } from './events.js';
import { KubeError, MERGE_PATCH, RemediationKube, resourcePath, statusOf, type Json, type ResourceRef } from './kube-client.js';
import { writeRefusal, type WriteSwitch } from './settings.js';

/** A failure with the status code the cloud gets (400 for bad parameters, 404/500 as the published operator). */
export class ActionError extends Error {
  constructor(
    readonly status: number,
    message: string,
  ) {
    super(message);
  }
}

class Refused extends Error {}
class DryRunFailed extends Error {
  constructor(readonly failure: unknown) {
    super(failure instanceof Error ? failure.message : String(failure));
  }
}

export interface Action {
  /** The audit and metrics name, e.g. `promote`. */
  name: string;
  write: boolean;
  /** Resolves to the response_data object; throws ActionError or KubeError. */
  run(ctx: ActionContext): Promise<unknown>;
}

/** The Kubernetes calls a write may make, each a dry run first and then the real one. */
export class Writer {
  constructor(private readonly ctx: ActionContext) {}

  patch(ref: ResourceRef, namespace: string | undefined, name: string, patch: unknown, subresource?: string): Promise<Json> {
    return this.twice({ method: 'PATCH', path: resourcePath(ref, namespace, name, subresource), body: patch, contentType: MERGE_PATCH });
  }

  create(ref: ResourceRef, namespace: string | undefined, body: Json): Promise<Json> {
    return this.twice({ method: 'POST', path: resourcePath(ref, namespace), body });
  }

  replace(ref: ResourceRef, namespace: string | undefined, name: string, body: Json): Promise<Json> {
    return this.twice({ method: 'PUT', path: resourcePath(ref, namespace, name), body });
  }

  delete(ref: ResourceRef, namespace: string | undefined, name: string): Promise<Json> {
    return this.twice({ method: 'DELETE', path: resourcePath(ref, namespace, name) });
  }

  private async twice(call: { method: 'PATCH' | 'POST' | 'PUT' | 'DELETE'; path: string; body?: unknown; contentType?: string }): Promise<Json> {
    try {
      await this.ctx.kube.call({ ...call, query: { dryRun: 'All' }, signal: this.ctx.signal });
    } catch (err) {
      this.ctx.dryRun = err instanceof Error ? err.message : String(err);
      throw new DryRunFailed(err);
    }
    this.ctx.dryRun = 'ok';
    const result = await this.ctx.kube.call({ ...call, signal: this.ctx.signal });
    this.ctx.wrote = true;
    return result;
  }
}

export class ActionContext {
  /** For the audit line: what the action works on. */
  target = '';
  dryRun: string | undefined;
  wrote = false;

  constructor(
    readonly request: DatadogQueryRequest,
    readonly kube: RemediationKube,
    readonly signal: AbortSignal,
    private readonly sw: WriteSwitch,
  ) {}

  get(ref: ResourceRef, namespace: string | undefined, name: string, subresource?: string): Promise<Json> {
    return this.kube.call({ method: 'GET', path: resourcePath(ref, namespace, name, subresource), signal: this.signal });
  }

  list(ref: ResourceRef, namespace?: string, query?: Record<string, string>): Promise<Json> {
    return this.kube.call({ method: 'GET', path: resourcePath(ref, namespace), ...(query ? { query } : {}), signal: this.signal });
  }

  /** The only way to a write: refused (nothing sent) unless the family is on and the namespace allowed. */
  writer(namespace: string | undefined): Writer {
    const why = writeRefusal(this.sw, namespace);
    if (why) throw new Refused(why);
    return new Writer(this);
  }
}

export interface FamilyDeps {
  kube: RemediationKube;
  switch: WriteSwitch;
  limit: MinuteRateLimit;
  events: RemediationEvents;
  now?: () => number;
}

/** A DatadogQueryRequest family made of typed actions, keyed by query type number. */
export class ActionFamily implements QueryFamily {
  constructor(
    readonly name: FamilyName,
    private readonly actions: ReadonlyMap<number, Action>,
    private readonly deps: FamilyDeps,
  ) {}

  async handle(request: DatadogQueryRequest, signal: AbortSignal): Promise<QueryAnswer> {
    const now = this.deps.now ?? Date.now;
    const started = now();
    const action = this.actions.get(request.queryType);
    const ctx = new ActionContext(request, this.deps.kube, signal, this.deps.switch);
    let answer: QueryAnswer;
    let decision: ActionDecision;
    if (!action) {
      answer = failure(400, `unsupported GitOps query type: ${queryTypeName(request.queryType)}`);
      decision = 'invalid';
    } else if (action.write && !this.deps.switch.enabled) {
      // Off: answered before anything is read or written, whatever the target.
      answer = failure(403, writeRefusal(this.deps.switch, undefined)!);
      decision = 'refused';
    } else if (!this.deps.limit.take().ok) {
      answer = failure(429, `rate limited: ${this.name} actions are limited per minute on this operator; retry later`);
      decision = 'rate_limited';
    } else {
      try {
        const data = await action.run(ctx);
        answer = { success: true, responseData: JSON.stringify(data), errorMessage: '', statusCode: 200 };
        decision = action.write && ctx.wrote ? 'applied' : 'read';
      } catch (err) {
        [answer, decision] = failed(err, signal);
      }
    }
    this.deps.events.answered({
      requestId: request.requestId,
      family: this.name,
      action: action?.name ?? queryTypeName(request.queryType),
      target: ctx.target,
      decision,
      ...(ctx.dryRun !== undefined ? { dryRun: ctx.dryRun } : {}),
      status: answer.statusCode,
      outcome: answer.success ? 'ok' : answer.errorMessage,
      durationMs: now() - started,
    });
    return answer;
  }
}

function failure(status: number, message: string): QueryAnswer {
  return { success: false, responseData: '', errorMessage: message, statusCode: status };
}

function failed(err: unknown, signal: AbortSignal): [QueryAnswer, ActionDecision] {
  if (err instanceof Refused) return [failure(403, err.message), 'refused'];
  if (signal.aborted) return [failure(504, 'timed out: the action did not finish within the request timeout'), 'timed_out'];
  if (err instanceof DryRunFailed) return [failure(statusOf(err.failure), `dry run failed: ${err.message}`), 'dry_run_failed'];
  if (err instanceof ActionError) return [failure(err.status, err.message), err.status === 400 ? 'invalid' : 'failed'];
  if (err instanceof KubeError) return [failure(statusOf(err), err.message), 'failed'];
  return [failure(500, err instanceof Error ? err.message : String(err)), 'failed'];
}

/** json_body as an object; text that does not parse counts as none (the filter is used instead, as published). */
export function jsonBody(request: DatadogQueryRequest): Json {
  if (!request.jsonBody.trim()) return {};
  try {
    const parsed = JSON.parse(request.jsonBody) as unknown;
    return typeof parsed === 'object' && parsed !== null && !Array.isArray(parsed) ? (parsed as Json) : {};
  } catch {
    return {};
  }
}

export const str = (v: unknown): string => (typeof v === 'string' ? v : '');
export const obj = (v: unknown): Json => (typeof v === 'object' && v !== null && !Array.isArray(v) ? (v as Json) : {});
export const arr = (v: unknown): unknown[] => (Array.isArray(v) ? v : []);
export const itemsOf = (list: Json): Json[] => arr(list['items']).map(obj);
export const metaOf = (o: Json): { name: string; namespace: string; annotations: Record<string, string>; labels: Record<string, string> } => {
  const m = obj(o['metadata']);
  return { name: str(m['name']), namespace: str(m['namespace']), annotations: obj(m['annotations']) as Record<string, string>, labels: obj(m['labels']) as Record<string, string> };
};

/**
 * The one object named `name` (in `namespace`, or in the only namespace that has one): 404 when none, 500 when the
 * name is in several namespaces (the published operator's rule).
 */
export async function findNamed(ctx: ActionContext, ref: ResourceRef, singular: string, namespace: string, name: string): Promise<Json> {
  if (!name) throw new ActionError(500, `${singular} name is required`);
  if (namespace) return ctx.get(ref, namespace, name);
  const matches = itemsOf(await ctx.list(ref)).filter((o) => metaOf(o).name === name);
  if (matches.length === 0) throw new KubeError(404, `${ref.plural}.${ref.group} "${name}" not found`);
  if (matches.length > 1) {
    throw new ActionError(500, `${singular} "${name}" exists in multiple namespaces (${matches.map((m) => metaOf(m).namespace).join(', ')}) — specify a namespace`);
  }
  return matches[0]!;
}
