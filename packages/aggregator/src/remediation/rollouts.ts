// Argo Rollouts (query types 14-22) through the Kubernetes API on the Rollout objects themselves, with the merge
// patches the kubectl-argo-rollouts plugin makes (remediation-actions.md section 4): spec.paused for pause/resume,
// the status subresource for promote/abort/retry, spec.restartAt for restart, and undo by copying an older
// ReplicaSet's pod template back into spec.template.
import { DatadogQueryType } from '@kestrel/proto/cloud/v1';
import { ActionError, arr, findNamed, itemsOf, jsonBody, metaOf, obj, str, type Action, type ActionContext, type Writer } from './actions.js';
import { KubeError, type Json, type ResourceRef } from './kube-client.js';

export const ROLLOUTS: ResourceRef = { group: 'argoproj.io', version: 'v1alpha1', plural: 'rollouts' };
const REPLICASETS: ResourceRef = { group: 'apps', version: 'v1', plural: 'replicasets' };
const REVISION = 'rollout.argoproj.io/revision';

interface RolloutTarget {
  namespace: string;
  name: string;
  full: boolean;
  revision: number;
}

/** json_body {namespace, name, full, revision}; without a name, the filter `ns/name` or `name`. */
export function rolloutTarget(ctx: ActionContext): RolloutTarget {
  const body = jsonBody(ctx.request);
  let namespace = str(body['namespace']);
  let name = str(body['name']);
  const filter = ctx.request.filter.trim();
  if (!name && filter) {
    const slash = filter.indexOf('/');
    if (slash >= 0) {
      namespace = filter.slice(0, slash);
      name = filter.slice(slash + 1);
    } else name = filter;
  }
  return { namespace, name, full: body['full'] === true, revision: typeof body['revision'] === 'number' ? Math.trunc(body['revision']) : 0 };
}

async function resolve(ctx: ActionContext): Promise<{ target: RolloutTarget; rollout: Json; namespace: string; name: string }> {
  const target = rolloutTarget(ctx);
  ctx.target = `Rollout/${target.namespace || '*'}/${target.name}`;
  const rollout = await findNamed(ctx, ROLLOUTS, 'rollout', target.namespace, target.name);
  const { namespace, name } = metaOf(rollout);
  ctx.target = `Rollout/${namespace}/${name}`;
  return { target, rollout, namespace, name };
}

/** A merge patch on the status subresource, retried on the main resource; the first error if both fail. */
async function statusPatch(w: Writer, namespace: string, name: string, status: Json): Promise<void> {
  try {
    await w.patch(ROLLOUTS, namespace, name, { status }, 'status');
  } catch (first) {
    try {
      await w.patch(ROLLOUTS, namespace, name, { status });
    } catch {
      throw first;
    }
  }
}

const CLEAR_PAUSE = { pauseConditions: null, controllerPause: false };

export function rolloutSummary(o: Json): Json {
  const m = metaOf(o);
  const spec = obj(o['spec']);
  const status = obj(o['status']);
  const out: Json = {};
  if (m.name) out['name'] = m.name;
  if (m.namespace) out['namespace'] = m.namespace;
  if (status['phase'] !== undefined) out['phase'] = status['phase'];
  if (status['message'] !== undefined) out['message'] = status['message'];
  if (spec['paused'] !== undefined) out['paused'] = spec['paused'];
  if (status['abort'] === true) out['aborted'] = true;
  const strategy = obj(spec['strategy']);
  if (strategy['canary'] !== undefined) {
    out['strategy'] = 'canary';
    const steps = obj(strategy['canary'])['steps'];
    if (Array.isArray(steps)) out['total_steps'] = steps.length;
    if (status['currentStepIndex'] !== undefined) out['current_step'] = status['currentStepIndex'];
    const weight = obj(obj(obj(status['canary'])['weights'])['canary'])['weight'];
    if (weight !== undefined) out['canary_weight'] = weight;
  } else if (strategy['blueGreen'] !== undefined) out['strategy'] = 'blueGreen';
  if (spec['replicas'] !== undefined) out['replicas'] = spec['replicas'];
  if (status['readyReplicas'] !== undefined) out['ready_replicas'] = status['readyReplicas'];
  if (m.annotations[REVISION] !== undefined) out['revision'] = m.annotations[REVISION];
  const images = containerImages(obj(spec['template']));
  if (images.length > 0) out['images'] = images;
  return out;
}

function containerImages(template: Json): string[] {
  return arr(obj(template['spec'])['containers']).map((c) => str(obj(c)['image'])).filter((i) => i !== '');
}

/** The rollout's ReplicaSets that carry a revision, newest first. */
async function revisions(ctx: ActionContext, rollout: Json): Promise<{ revision: number; rs: Json }[]> {
  const { namespace, name } = metaOf(rollout);
  const uid = str(obj(rollout['metadata'])['uid']);
  const owned = itemsOf(await ctx.list(REPLICASETS, namespace)).filter((rs) =>
    arr(obj(rs['metadata'])['ownerReferences']).some((ref) => {
      const r = obj(ref);
      return r['kind'] === 'Rollout' && r['name'] === name && r['uid'] === uid;
    }),
  );
  return owned
    .map((rs) => ({ revision: Number(metaOf(rs).annotations[REVISION]), rs }))
    .filter((r) => Number.isInteger(r.revision) && metaOf(r.rs).annotations[REVISION] !== undefined)
    .sort((a, b) => b.revision - a.revision);
}

const done = (status: string, namespace: string, name: string, extra: Json = {}) => ({ status, name, namespace, ...extra });

export const ROLLOUT_ACTIONS: ReadonlyMap<number, Action> = new Map<number, Action>([
  [
    DatadogQueryType.ROLLOUTS_PROMOTE,
    {
      name: 'promote',
      write: true,
      async run(ctx) {
        const { target, rollout, namespace, name } = await resolve(ctx);
        const w = ctx.writer(namespace);
        if (obj(rollout['spec'])['paused'] === true) await w.patch(ROLLOUTS, namespace, name, { spec: { paused: false } });
        await statusPatch(w, namespace, name, { ...CLEAR_PAUSE, ...(target.full ? { promoteFull: true } : {}) });
        return done('promoted', namespace, name, { full: target.full });
      },
    },
  ],
  [
    DatadogQueryType.ROLLOUTS_ABORT,
    {
      name: 'abort',
      write: true,
      async run(ctx) {
        const { namespace, name } = await resolve(ctx);
        await statusPatch(ctx.writer(namespace), namespace, name, { abort: true, ...CLEAR_PAUSE });
        return done('aborted', namespace, name);
      },
    },
  ],
  [
    DatadogQueryType.ROLLOUTS_RETRY,
    {
      name: 'retry',
      write: true,
      async run(ctx) {
        const { namespace, name } = await resolve(ctx);
        await statusPatch(ctx.writer(namespace), namespace, name, { abort: false });
        return done('retried', namespace, name);
      },
    },
  ],
  [
    DatadogQueryType.ROLLOUTS_UNDO,
    {
      name: 'undo',
      write: true,
      async run(ctx) {
        const { target, rollout, namespace, name } = await resolve(ctx);
        const w = ctx.writer(namespace);
        const history = await revisions(ctx, rollout);
        if (history.length === 0) throw new KubeError(404, `no revision history found for rollout "${name}"`);
        const chosen = target.revision > 0 ? history.find((h) => h.revision === target.revision) : history[1];
        if (!chosen) throw new KubeError(404, target.revision > 0 ? `revision ${target.revision} not found for rollout "${name}"` : `no previous revision found for rollout "${name}"`);
        const template = obj(obj(chosen.rs['spec'])['template']);
        if (Object.keys(template).length === 0) throw new ActionError(500, `the pod template of revision ${chosen.revision} cannot be read`);
        const copy = structuredClone(template);
        const labels = obj(obj(copy['metadata'])['labels']);
        delete labels['rollouts-pod-template-hash'];
        await w.patch(ROLLOUTS, namespace, name, { spec: { template: copy } });
        return done('rolled_back', namespace, name, { revision: chosen.revision });
      },
    },
  ],
  [
    DatadogQueryType.ROLLOUTS_PAUSE,
    {
      name: 'pause',
      write: true,
      async run(ctx) {
        const { namespace, name } = await resolve(ctx);
        await ctx.writer(namespace).patch(ROLLOUTS, namespace, name, { spec: { paused: true } });
        return done('paused', namespace, name);
      },
    },
  ],
  [
    DatadogQueryType.ROLLOUTS_RESUME,
    {
      name: 'resume',
      write: true,
      async run(ctx) {
        const { namespace, name } = await resolve(ctx);
        const w = ctx.writer(namespace);
        await w.patch(ROLLOUTS, namespace, name, { spec: { paused: false } });
        // As the plugin: clearing the pause conditions is best effort once spec.paused is false.
        await statusPatch(w, namespace, name, CLEAR_PAUSE).catch(() => undefined);
        return done('resumed', namespace, name);
      },
    },
  ],
  [
    DatadogQueryType.ROLLOUTS_RESTART,
    {
      name: 'restart',
      write: true,
      async run(ctx) {
        const { namespace, name } = await resolve(ctx);
        const restartAt = new Date().toISOString().replace(/\.\d+Z$/, 'Z');
        await ctx.writer(namespace).patch(ROLLOUTS, namespace, name, { spec: { restartAt } });
        return done('restarted', namespace, name, { restart_at: restartAt });
      },
    },
  ],
  [
    DatadogQueryType.ROLLOUTS_GET_STATUS,
    {
      name: 'get_status',
      write: false,
      async run(ctx) {
        const { rollout } = await resolve(ctx);
        const summary = rolloutSummary(rollout);
        try {
          summary['history'] = (await revisions(ctx, rollout)).map((h) => ({ revision: h.revision, replicaset: metaOf(h.rs).name, images: containerImages(obj(obj(h.rs['spec'])['template'])) }));
        } catch {
          // As published: the history is left out when ReplicaSets cannot be listed.
        }
        return summary;
      },
    },
  ],
  [
    DatadogQueryType.ROLLOUTS_LIST,
    {
      name: 'list',
      write: false,
      async run(ctx) {
        const body = jsonBody(ctx.request);
        const filter = ctx.request.filter.trim();
        const namespace = str(body['namespace']) || (filter.includes('/') ? filter.slice(0, filter.indexOf('/')) : '');
        ctx.target = `Rollout/${namespace || '*'}`;
        return { items: itemsOf(await ctx.list(ROLLOUTS, namespace || undefined)).map(rolloutSummary) };
      },
    },
  ],
]);
