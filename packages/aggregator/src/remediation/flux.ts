// Flux CD (query types 23-28) through the Kubernetes API on Flux's own objects, as the flux CLI does it
// (remediation-actions.md section 5): reconcile = the reconcile.fluxcd.io/requestedAt annotation the controllers
// watch for, suspend/resume = spec.suspend. API versions are tried newest first, as Flux installs differ.
import { DatadogQueryType } from '@kestrel/proto/cloud/v1';
import { ActionError, arr, findNamed, itemsOf, jsonBody, metaOf, obj, str, type Action, type ActionContext, type Writer } from './actions.js';
import { kindNotServed, type Json, type ResourceRef } from './kube-client.js';

interface FluxKind {
  kind: string;
  group: string;
  versions: string[];
  plural: string;
  aliases: string[];
}

const SOURCE = 'source.toolkit.fluxcd.io';
export const FLUX_KINDS: readonly FluxKind[] = [
  { kind: 'Kustomization', group: 'kustomize.toolkit.fluxcd.io', versions: ['v1', 'v1beta2'], plural: 'kustomizations', aliases: ['ks'] },
  { kind: 'HelmRelease', group: 'helm.toolkit.fluxcd.io', versions: ['v2', 'v2beta2', 'v2beta1'], plural: 'helmreleases', aliases: ['hr'] },
  { kind: 'GitRepository', group: SOURCE, versions: ['v1', 'v1beta2'], plural: 'gitrepositories', aliases: [] },
  { kind: 'HelmRepository', group: SOURCE, versions: ['v1', 'v1beta2'], plural: 'helmrepositories', aliases: [] },
  { kind: 'OCIRepository', group: SOURCE, versions: ['v1', 'v1beta2'], plural: 'ocirepositories', aliases: [] },
  { kind: 'HelmChart', group: SOURCE, versions: ['v1', 'v1beta2'], plural: 'helmcharts', aliases: [] },
  { kind: 'Bucket', group: SOURCE, versions: ['v1', 'v1beta2'], plural: 'buckets', aliases: [] },
];
/** What FLUX_LIST lists when no kind is given (HelmCharts are Flux's own by-products). */
const LISTED = ['Kustomization', 'HelmRelease', 'GitRepository', 'HelmRepository', 'OCIRepository', 'Bucket'];
export const RECONCILE_ANNOTATION = 'reconcile.fluxcd.io/requestedAt';

export function fluxKind(name: string): FluxKind | undefined {
  const n = name.trim().toLowerCase();
  if (!n) return undefined;
  return FLUX_KINDS.find((k) => k.kind.toLowerCase() === n || k.plural === n || `${k.kind.toLowerCase()}s` === n || k.aliases.includes(n));
}

function kindOrFail(name: string): FluxKind {
  if (!name) throw new ActionError(500, 'resource kind is required');
  const kind = fluxKind(name);
  if (!kind) throw new ActionError(500, `unsupported Flux resource kind "${name}" (supported: ${FLUX_KINDS.map((k) => k.kind).join(', ')})`);
  return kind;
}

/** Tries each API version, newest first; the first that answers (anything but 404) wins. */
async function anyVersion<T>(kind: FluxKind, call: (ref: ResourceRef) => Promise<T>): Promise<{ value: T; ref: ResourceRef }> {
  let last: unknown;
  for (const version of kind.versions) {
    const ref = { group: kind.group, version, plural: kind.plural };
    try {
      return { value: await call(ref), ref };
    } catch (err) {
      last = err;
      if (!kindNotServed(err)) throw err;
    }
  }
  throw last;
}

interface FluxTarget {
  kind: string;
  namespace: string;
  name: string;
  withSource: boolean;
}

/** json_body {kind, namespace, name, with_source}; without a name, the filter `kind/namespace/name`, `kind/name` or `name`. */
export function fluxTarget(ctx: ActionContext): FluxTarget {
  const body = jsonBody(ctx.request);
  const t: FluxTarget = { kind: str(body['kind']), namespace: str(body['namespace']), name: str(body['name']), withSource: body['with_source'] === true };
  const filter = ctx.request.filter.trim();
  if (!t.name && filter) {
    const parts = filter.split('/');
    if (parts.length >= 3) [t.kind, t.namespace, t.name] = [parts[0]!, parts[1]!, parts.slice(2).join('/')];
    else if (parts.length === 2) [t.kind, t.name] = [parts[0]!, parts[1]!];
    else t.name = filter;
  }
  return t;
}

async function resolve(ctx: ActionContext): Promise<{ target: FluxTarget; kind: FluxKind; ref: ResourceRef; object: Json; namespace: string; name: string }> {
  const target = fluxTarget(ctx);
  ctx.target = `${target.kind || '?'}/${target.namespace || '*'}/${target.name}`;
  const kind = kindOrFail(target.kind);
  if (!target.name) throw new ActionError(500, 'resource name is required');
  const { value: object, ref } = await anyVersion(kind, (r) => findNamed(ctx, r, kind.kind, target.namespace, target.name));
  const { namespace, name } = metaOf(object);
  ctx.target = `${kind.kind}/${namespace}/${name}`;
  return { target, kind, ref, object, namespace, name };
}

/** RFC 3339 with sub-second digits, as Go's RFC3339Nano (trailing zeros trimmed): each request gets a new value. */
export function requestedAt(now = new Date(), nanos = process.hrtime.bigint()): string {
  const fraction = `${String(now.getUTCMilliseconds()).padStart(3, '0')}${String(nanos % 1_000_000n).padStart(6, '0')}`.replace(/0+$/, '');
  return `${now.toISOString().slice(0, 19)}${fraction ? `.${fraction}` : ''}Z`;
}

const annotate = (w: Writer, ref: ResourceRef, namespace: string, name: string) =>
  w.patch(ref, namespace, name, { metadata: { annotations: { [RECONCILE_ANNOTATION]: requestedAt() } } });

/** The source a Kustomization or HelmRelease builds from: spec.sourceRef, spec.chart.spec.sourceRef or spec.chartRef. */
function sourceRefOf(o: Json): Json | undefined {
  const spec = obj(o['spec']);
  for (const candidate of [spec['sourceRef'], obj(obj(spec['chart'])['spec'])['sourceRef'], spec['chartRef']]) {
    const ref = obj(candidate);
    if (str(ref['kind']) && str(ref['name'])) return ref;
  }
  return undefined;
}

export function fluxSummary(kind: string, o: Json): Json {
  const m = metaOf(o);
  const spec = obj(o['spec']);
  const status = obj(o['status']);
  const out: Json = { kind, name: m.name, namespace: m.namespace };
  if (spec['suspend'] !== undefined) out['suspended'] = spec['suspend'];
  const ready = arr(status['conditions']).map(obj).find((c) => c['type'] === 'Ready');
  if (ready) {
    out['ready'] = ready['status'] === 'True';
    if (ready['message'] !== undefined) out['message'] = ready['message'];
    if (ready['reason'] !== undefined) out['reason'] = ready['reason'];
  }
  const revision = str(status['lastAppliedRevision']) || str(obj(status['artifact'])['revision']);
  if (revision) out['revision'] = revision;
  const source = sourceRefOf(o);
  if (source) out['source_ref'] = { kind: source['kind'], name: source['name'], ...(str(source['namespace']) ? { namespace: source['namespace'] } : {}) };
  return out;
}

const done = (status: string, kind: string, namespace: string, name: string, extra: Json = {}) => ({ status, kind, name, namespace, ...extra });

export const FLUX_ACTIONS: ReadonlyMap<number, Action> = new Map<number, Action>([
  [
    DatadogQueryType.FLUX_RECONCILE,
    {
      name: 'reconcile',
      write: true,
      async run(ctx) {
        const { target, kind, ref, object, namespace, name } = await resolve(ctx);
        const w = ctx.writer(namespace);
        const extra: Json = {};
        const source = target.withSource ? sourceRefOf(object) : undefined;
        const sourceKind = source ? fluxKind(str(source['kind'])) : undefined;
        if (source && sourceKind) {
          const sourceNamespace = str(source['namespace']) || namespace;
          try {
            // The source's namespace must be allowed too; a refusal or failure there is skipped, as published.
            const sw = ctx.writer(sourceNamespace);
            await anyVersion(sourceKind, (r) => annotate(sw, r, sourceNamespace, str(source['name'])));
            extra['source_reconciled'] = `${sourceKind.kind}/${sourceNamespace}/${str(source['name'])}`;
          } catch {
            // skipped
          }
        }
        await annotate(w, ref, namespace, name);
        return done('reconcile_requested', kind.kind, namespace, name, extra);
      },
    },
  ],
  [
    DatadogQueryType.FLUX_SUSPEND,
    {
      name: 'suspend',
      write: true,
      async run(ctx) {
        const { kind, ref, namespace, name } = await resolve(ctx);
        await ctx.writer(namespace).patch(ref, namespace, name, { spec: { suspend: true } });
        return done('suspended', kind.kind, namespace, name);
      },
    },
  ],
  [
    DatadogQueryType.FLUX_RESUME,
    {
      name: 'resume',
      write: true,
      async run(ctx) {
        const { kind, ref, namespace, name } = await resolve(ctx);
        const w = ctx.writer(namespace);
        await w.patch(ref, namespace, name, { spec: { suspend: false } });
        await annotate(w, ref, namespace, name).catch(() => undefined);
        return done('resumed', kind.kind, namespace, name);
      },
    },
  ],
  [
    DatadogQueryType.FLUX_GET_STATUS,
    {
      name: 'get_status',
      write: false,
      async run(ctx) {
        const { kind, object } = await resolve(ctx);
        return fluxSummary(kind.kind, object);
      },
    },
  ],
  [
    DatadogQueryType.FLUX_LIST,
    {
      name: 'list',
      write: false,
      async run(ctx) {
        const t = fluxTarget(ctx);
        // A bare filter is a name, not a kind: only json kind or the kind of a kind/... filter selects one kind.
        const kinds = t.kind ? [kindOrFail(t.kind)] : FLUX_KINDS.filter((k) => LISTED.includes(k.kind));
        ctx.target = `${t.kind || '*'}/${t.namespace || '*'}`;
        const items: Json[] = [];
        let lastError: unknown;
        for (const kind of kinds) {
          try {
            const { value } = await anyVersion(kind, (r) => ctx.list(r, t.namespace || undefined));
            items.push(...itemsOf(value).map((o) => fluxSummary(kind.kind, o)));
          } catch (err) {
            lastError = err;
          }
        }
        if (t.kind && items.length === 0 && lastError) throw lastError;
        return { items };
      },
    },
  ],
  [
    DatadogQueryType.FLUX_GET_EVENTS,
    {
      name: 'get_events',
      write: false,
      async run(ctx) {
        const { kind, namespace, name } = await resolve(ctx);
        const list = await ctx.list({ group: '', version: 'v1', plural: 'events' }, namespace, { fieldSelector: `involvedObject.kind=${kind.kind},involvedObject.name=${name}` });
        const when = (e: Json) => str(e['lastTimestamp']) || str(e['eventTime']);
        const events = itemsOf(list)
          .sort((a, b) => Date.parse(when(b) || '0') - Date.parse(when(a) || '0'))
          .slice(0, 30)
          .map((e) => {
            const count = typeof e['count'] === 'number' ? e['count'] : 0;
            const at = when(e);
            return { type: e['type'], reason: e['reason'], message: e['message'], ...(count ? { count } : {}), ...(at ? { timestamp: new Date(at).toISOString().replace(/\.\d+Z$/, 'Z') } : {}) };
          });
        return { kind: kind.kind, name, namespace, events };
      },
    },
  ],
]);
