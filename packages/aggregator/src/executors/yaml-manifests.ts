// YamlDryRunRequest and YamlApplyRequest: each manifest parsed (YAML, possibly several documents or a List),
// checked, and sent to its resource with server-side apply (PATCH application/apply-patch+yaml, field manager
// kestrel-operator, no force: a conflict with another manager is reported, not overridden). A dry run always
// carries dryRun=All, so the API server validates and admits it but stores nothing; an apply is refused unless the
// operator was installed with apply enabled, and then goes only as far as the RBAC the chart grants.
// Policy: the kind must be one the operator may read (api-paths.ts allowlist), which keeps Secrets, reviews and
// token requests out; a Secret manifest is never sent at all, since its data would pass through the operator.
import type { YamlApplyRequest, YamlApplyResponse, YamlApplyResult, YamlDryRunRequest, YamlDryRunResponse, YamlManifest, YamlValidationResult } from '@kestrel/proto/cloud/v1';
import { parseAllDocuments } from 'yaml';
import { checkApiPath, isSecretLike } from './api-paths.js';
import { timeoutFor } from './config.js';
import { malformed, rateLimited, refusedItem, type ExecutorContext } from './context.js';
import { overall, type AuditItem, type RequestKind } from './events.js';
import type { KindResolver } from './kinds.js';
import type { KubeHttp } from './kube-http.js';
import { TimeoutError } from './kube-http.js';
import { inOrder } from './limits.js';
import { refusalText, refuse, type Refusal } from './refusal.js';

export const FIELD_MANAGER = 'kestrel-operator';

export interface YamlDeps {
  http: KubeHttp;
  kinds: KindResolver;
}

interface Outcome {
  ok: boolean;
  status: number;
  error: string;
  fix: string;
  info: string;
  code?: string;
  decision: AuditItem['decision'];
}

type K8sObject = { apiVersion?: unknown; kind?: unknown; metadata?: { name?: unknown; namespace?: unknown; generateName?: unknown }; items?: unknown };

const fail = (status: number, error: string, fix: string, decision: AuditItem['decision'] = 'allowed', code?: string): Outcome => ({ ok: false, status, error, fix, info: '', decision, ...(code ? { code } : {}) });
const refused = (r: Refusal): Outcome => fail(403, refusalText(r), '', 'refused', r.code);

/** The objects in a manifest, or what is wrong with it. */
function parseManifest(m: YamlManifest, maxBytes: number): K8sObject[] | Outcome {
  const text = m.yamlContent ?? '';
  if (Buffer.byteLength(text) > maxBytes) return fail(413, `the manifest is larger than ${maxBytes} bytes`, 'split it into several manifests', 'refused', 'too_large');
  const docs = parseAllDocuments(text, { prettyErrors: true });
  if (!Array.isArray(docs)) return fail(400, 'the manifest is empty', 'give at least one object with apiVersion, kind and metadata.name');
  const objects: K8sObject[] = [];
  for (const [i, doc] of docs.entries()) {
    if (doc.errors.length > 0) {
      const e = doc.errors[0]!;
      const line = e.linePos?.[0]?.line;
      return fail(400, `YAML does not parse (document ${i + 1}): ${e.message.split('\n')[0]}`, `fix the YAML syntax${line ? ` near line ${line}` : ''} (indentation, quoting, a missing colon)`);
    }
    let value: unknown;
    try {
      value = doc.toJS({ maxAliasCount: 50 });
    } catch (err) {
      return fail(400, `YAML cannot be read (document ${i + 1}): ${err instanceof Error ? err.message : String(err)}`, 'remove the aliases (&anchor / *alias)');
    }
    if (value === null || value === undefined) continue;
    if (typeof value !== 'object' || Array.isArray(value)) return fail(400, `document ${i + 1} is not an object`, 'each document must be a mapping with apiVersion, kind and metadata');
    const o = value as K8sObject;
    if (typeof o.kind === 'string' && o.kind.endsWith('List') && Array.isArray(o.items)) objects.push(...(o.items as K8sObject[]));
    else objects.push(o);
  }
  if (objects.length === 0) return fail(400, 'the manifest holds no object', 'give at least one object with apiVersion, kind and metadata.name');
  if (objects.length > 20) return fail(400, `the manifest holds ${objects.length} objects, more than 20`, 'split it into several manifests', 'refused', 'too_large');
  return objects;
}

const message = (body: string): { text: string; reason: string; causes: string[] } => {
  try {
    const s = JSON.parse(body) as { message?: string; reason?: string; details?: { causes?: { field?: string; message?: string }[] } };
    return { text: s.message ?? body.slice(0, 500), reason: s.reason ?? '', causes: (s.details?.causes ?? []).map((c) => [c.field, c.message].filter(Boolean).join(': ')) };
  } catch {
    return { text: body.slice(0, 500), reason: '', causes: [] };
  }
};

function suggestion(status: number, reason: string, causes: string[], kind: string, namespace: string | undefined): string {
  if (status === 404 && reason === 'NotFound' && namespace) return `namespace ${namespace} may not exist: create it first or set metadata.namespace`;
  if (status === 422 || reason === 'Invalid') return causes.length ? `fix: ${causes.join('; ')}` : 'fix the fields the message names';
  if (status === 409) return 'another field manager owns some of these fields: align the values with the live object, or have its owner change them';
  if (status === 403) return `the operator's service account may not write ${kind} objects (a dry run needs the same permission as the write); the chart grants it per kind`;
  if (status === 400) return 'check the field names and types against `kubectl explain`';
  if (status === 415) return 'the API server does not accept server-side apply here';
  return '';
}

async function sendOne(deps: YamlDeps, manifest: YamlManifest, o: K8sObject, dryRun: boolean, timeoutMs: number): Promise<Outcome> {
  const apiVersion = typeof o.apiVersion === 'string' ? o.apiVersion : '';
  const kind = typeof o.kind === 'string' ? o.kind : '';
  const name = typeof o.metadata?.name === 'string' ? o.metadata.name : '';
  if (!apiVersion || !kind) return fail(400, 'an object without apiVersion or kind', 'add apiVersion and kind (e.g. apiVersion: apps/v1, kind: Deployment)');
  if (!name) return fail(400, `${kind} without metadata.name`, 'set metadata.name (server-side apply needs a name; generateName is not enough)');
  if ((apiVersion === 'v1' && kind === 'Secret') || isSecretLike(kind)) return refused(refuse('secret', `${kind} manifests are never sent: the operator does not handle Secret data`));

  let info;
  try {
    info = await deps.kinds.resolve(apiVersion, kind, timeoutMs);
  } catch (err) {
    return fail(502, `discovery failed: ${err instanceof Error ? err.message : String(err)}`, '', 'failed');
  }
  if (!info) return fail(404, `this cluster serves no kind ${kind} in ${apiVersion}`, 'check apiVersion and kind (`kubectl api-resources` lists what the cluster serves); a custom resource needs its CRD installed first');

  const objectNamespace = typeof o.metadata?.namespace === 'string' ? o.metadata.namespace : '';
  const requested = manifest.namespace ?? '';
  if (info.namespaced && objectNamespace && requested && objectNamespace !== requested) {
    return fail(400, `metadata.namespace is ${objectNamespace} but the request says ${requested}`, 'make them the same, or leave one out');
  }
  const namespace = info.namespaced ? objectNamespace || requested || 'default' : undefined;
  const base = info.group === '' ? `/api/${info.version}` : `/apis/${info.group}/${info.version}`;
  const path = `${base}${namespace ? `/namespaces/${encodeURIComponent(namespace)}` : ''}/${info.resource}/${encodeURIComponent(name)}`;
  // What the operator may write, it must be allowed to read: the same allowlist, so no Secret, review or token.
  const readable = checkApiPath(path);
  if ('refused' in readable) return refused(readable);
  const body = namespace ? { ...o, metadata: { ...o.metadata, namespace } } : o;
  const query = `${dryRun ? 'dryRun=All&' : ''}fieldManager=${FIELD_MANAGER}`;
  try {
    const res = await deps.http.request({ method: 'PATCH', url: `${readable.path}?${query}`, accept: 'application/json', contentType: 'application/apply-patch+yaml', body: JSON.stringify(body), timeoutMs, maxBytes: 4 * 1024 * 1024 });
    const where = `${namespace ? `${namespace}/` : ''}${name}`;
    if (res.status >= 200 && res.status < 300) {
      let version = '';
      try {
        version = String((JSON.parse(res.body.toString('utf8')) as { metadata?: { resourceVersion?: string } }).metadata?.resourceVersion ?? '');
      } catch {
        // the answer is not needed beyond its status
      }
      return { ok: true, status: res.status, error: '', fix: '', info: `${apiVersion} ${kind} ${where}${dryRun ? ' (dry run)' : ` applied${version ? ` at resourceVersion ${version}` : ''}`}`, decision: 'allowed' };
    }
    const m = message(res.body.toString('utf8'));
    return fail(res.status, `${kind} ${where}: ${m.text}`, suggestion(res.status, m.reason, m.causes, kind, namespace));
  } catch (err) {
    const timedOut = err instanceof TimeoutError;
    return fail(timedOut ? 504 : 502, err instanceof Error ? err.message : String(err), timedOut ? 'retry with a longer timeout_seconds' : '', timedOut ? 'timed_out' : 'failed');
  }
}

async function oneManifest(ctx: ExecutorContext, deps: YamlDeps, m: YamlManifest, dryRun: boolean, timeoutMs: number): Promise<Outcome> {
  const objects = parseManifest(m, ctx.config.maxManifestBytes);
  if (!Array.isArray(objects)) return objects;
  const outcomes: Outcome[] = [];
  for (const o of objects) outcomes.push(await sendOne(deps, m, o, dryRun, timeoutMs));
  if (outcomes.length === 1) return outcomes[0]!;
  const bad = outcomes.filter((x) => !x.ok);
  if (bad.length === 0) return { ok: true, status: 200, error: '', fix: '', info: outcomes.map((x) => x.info).join('; '), decision: 'allowed' };
  const first = bad[0]!;
  return { ...first, error: bad.map((x) => x.error).join('; '), fix: [...new Set(bad.map((x) => x.fix).filter(Boolean))].join('; '), info: '' };
}

async function run(ctx: ExecutorContext, deps: YamlDeps, kind: RequestKind, req: YamlDryRunRequest | YamlApplyRequest, dryRun: boolean): Promise<{ outcomes: Outcome[]; global: string }> {
  const started = ctx.now();
  const requestId = req.requestId ?? '';
  const manifests = req.yamlManifests ?? [];
  const problem = malformed(ctx.config, requestId, manifests, 'yaml_manifests');
  if (problem) {
    ctx.events.answered({ requestId, kind, decision: 'malformed', reason: problem, durationMs: ctx.now() - started, bytes: 0, items: [] });
    return { outcomes: [], global: problem };
  }
  const idOf = (m: YamlManifest, i: number) => m.manifestId || `#${i + 1}`;
  if (!dryRun && !ctx.config.applyEnabled) {
    const r = refuse('apply_disabled', 'applying YAML is disabled on this operator (it was installed with investigations apply off, the default); a dry run is available');
    const items = manifests.map((m, i) => refusedItem(idOf(m, i), r, { status: 403 }));
    ctx.events.answered({ requestId, kind, decision: 'refused', reason: r.reason, durationMs: ctx.now() - started, bytes: 0, items });
    return { outcomes: manifests.map(() => refused(r)), global: refusalText(r) };
  }
  const timeoutMs = timeoutFor(ctx.config, req.timeoutSeconds);
  const limited = manifests.map(() => rateLimited(ctx));
  const outcomes = await inOrder(manifests, ctx.apiCalls, async (m, i) => {
    const r = limited[i];
    if (r) return { ...refused(r), status: 429, decision: 'rate_limited' as const, durationMs: 0 };
    const t0 = ctx.now();
    const outcome = await oneManifest(ctx, deps, m, dryRun, timeoutMs);
    return { ...outcome, durationMs: ctx.now() - t0 };
  });
  const items: AuditItem[] = outcomes.map((o, i) => ({
    item: idOf(manifests[i]!, i),
    decision: o.decision,
    ...(o.code ? { code: o.code } : {}),
    ...(o.ok ? {} : { reason: o.error }),
    status: o.status,
    bytes: Buffer.byteLength(o.error) + Buffer.byteLength(o.fix) + Buffer.byteLength(o.info),
    durationMs: o.durationMs,
  }));
  const reasons = [...new Set(items.filter((a) => a.reason).map((a) => a.reason!))];
  ctx.events.answered({ requestId, kind, decision: overall(items), ...(reasons.length ? { reason: reasons.join('; ') } : {}), durationMs: ctx.now() - started, bytes: items.reduce((n, a) => n + a.bytes, 0), items });
  return { outcomes, global: '' };
}

export async function dryRunYaml(ctx: ExecutorContext, deps: YamlDeps, req: YamlDryRunRequest): Promise<YamlDryRunResponse> {
  ctx.events.inFlight.inc({ kind: 'yaml_dry_run' });
  try {
    const { outcomes, global } = await run(ctx, deps, 'yaml_dry_run', req, true);
    const results: YamlValidationResult[] = outcomes.map((o, i) => ({ manifestId: req.yamlManifests[i]!.manifestId, valid: o.ok, errorMessage: o.error, statusCode: o.status, suggestedFix: o.fix }));
    return { requestId: req.requestId ?? '', results, globalErrorMessage: global };
  } finally {
    ctx.events.inFlight.dec({ kind: 'yaml_dry_run' });
  }
}

export async function applyYaml(ctx: ExecutorContext, deps: YamlDeps, req: YamlApplyRequest): Promise<YamlApplyResponse> {
  ctx.events.inFlight.inc({ kind: 'yaml_apply' });
  try {
    const { outcomes, global } = await run(ctx, deps, 'yaml_apply', req, false);
    const results: YamlApplyResult[] = outcomes.map((o, i) => ({
      manifestId: req.yamlManifests[i]!.manifestId,
      success: o.ok,
      errorMessage: [o.error, o.fix && `suggested fix: ${o.fix}`].filter(Boolean).join('; '),
      statusCode: o.status,
      appliedResourceInfo: o.info,
    }));
    return { requestId: req.requestId ?? '', results, globalErrorMessage: global };
  } finally {
    ctx.events.inFlight.dec({ kind: 'yaml_apply' });
  }
}
