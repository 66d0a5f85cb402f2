// Karpenter (query types 29-35) through the Kubernetes API on its cluster-scoped NodePools and NodeClaims
// (remediation-actions.md section 6): limits and disruption are merge patches on the NodePool, apply creates or
// replaces one NodePool, and a NodeClaim is deleted (Karpenter then drains and replaces its node). Unlike the
// published operator, apply only ever touches karpenter.sh NodePools, whatever apiVersion the manifest names.
import { DatadogQueryType } from '@kestrel/proto/cloud/v1';
import { parse as parseYaml } from 'yaml';
import { ActionError, arr, itemsOf, jsonBody, metaOf, obj, str, type Action, type ActionContext } from './actions.js';
import { KubeError, kindNotServed, type Json, type ResourceRef } from './kube-client.js';

const GROUP = 'karpenter.sh';
const VERSIONS = ['v1', 'v1beta1'];
const POLICIES = ['WhenEmpty', 'WhenEmptyOrUnderutilized', 'WhenUnderutilized'];
const POOL_LABEL = 'karpenter.sh/nodepool';

const ref = (plural: 'nodepools' | 'nodeclaims', version: string): ResourceRef => ({ group: GROUP, version, plural });

/** Reads fall back from v1 to v1beta1; the version that answered is the one writes use. */
async function read<T>(plural: 'nodepools' | 'nodeclaims', call: (r: ResourceRef) => Promise<T>): Promise<{ value: T; ref: ResourceRef }> {
  let last: unknown;
  for (const version of VERSIONS) {
    const r = ref(plural, version);
    try {
      return { value: await call(r), ref: r };
    } catch (err) {
      last = err;
      // Only "this version is not served" moves on; an object that is not there is the answer.
      if (!kindNotServed(err)) throw err;
    }
  }
  throw last;
}

function params(ctx: ActionContext): Json & { name: string } {
  const body = jsonBody(ctx.request);
  return { ...body, name: str(body['name']) || ctx.request.filter.trim() };
}

function requireName(name: string): string {
  if (!name) throw new ActionError(500, 'resource name is required');
  return name;
}

const readyCondition = (o: Json) => arr(obj(o['status'])['conditions']).map(obj).find((c) => c['type'] === 'Ready');

export function poolSummary(o: Json): Json {
  const spec = obj(o['spec']);
  const status = obj(o['status']);
  const ready = readyCondition(o);
  const out: Json = { name: metaOf(o).name };
  if (spec['limits'] !== undefined) out['limits'] = spec['limits'];
  if (status['resources'] !== undefined) out['resources'] = status['resources'];
  if (spec['disruption'] !== undefined) out['disruption'] = spec['disruption'];
  if (spec['weight'] !== undefined) out['weight'] = spec['weight'];
  const nodeClassRef = obj(obj(spec['template'])['spec'])['nodeClassRef'];
  if (nodeClassRef !== undefined) out['node_class_ref'] = nodeClassRef;
  out['ready'] = ready?.['status'] === 'True';
  if (str(ready?.['message'])) out['message'] = ready!['message'];
  return out;
}

export function poolOfClaim(o: Json): string {
  const m = metaOf(o);
  if (m.labels[POOL_LABEL]) return m.labels[POOL_LABEL];
  const owner = arr(obj(o['metadata'])['ownerReferences']).map(obj).find((r) => r['kind'] === 'NodePool');
  return str(owner?.['name']);
}

export function claimSummary(o: Json): Json {
  const m = metaOf(o);
  const status = obj(o['status']);
  const ready = readyCondition(o);
  const created = str(obj(o['metadata'])['creationTimestamp']);
  const out: Json = { name: m.name, nodepool: poolOfClaim(o) };
  if (created) out['created'] = new Date(created).toISOString().replace(/\.\d+Z$/, 'Z');
  if (str(status['nodeName'])) out['node_name'] = status['nodeName'];
  if (status['capacity'] !== undefined) out['capacity'] = status['capacity'];
  if (m.labels['node.kubernetes.io/instance-type']) out['instance_type'] = m.labels['node.kubernetes.io/instance-type'];
  if (m.labels['karpenter.sh/capacity-type']) out['capacity_type'] = m.labels['karpenter.sh/capacity-type'];
  if (m.labels['topology.kubernetes.io/zone']) out['zone'] = m.labels['topology.kubernetes.io/zone'];
  out['ready'] = ready?.['status'] === 'True';
  if (str(ready?.['message'])) out['message'] = ready!['message'];
  return out;
}

/** A limit value, or `none` (any case) = remove the limit (sent as null). */
const limitValue = (v: unknown): unknown => (typeof v === 'string' && v.trim().toLowerCase() === 'none' ? null : v);

export const KARPENTER_ACTIONS: ReadonlyMap<number, Action> = new Map<number, Action>([
  [
    DatadogQueryType.KARPENTER_LIST_NODEPOOLS,
    {
      name: 'list_nodepools',
      write: false,
      async run(ctx) {
        ctx.target = 'NodePool/*';
        const { value } = await read('nodepools', (r) => ctx.list(r));
        return { items: itemsOf(value).map(poolSummary) };
      },
    },
  ],
  [
    DatadogQueryType.KARPENTER_GET_NODEPOOL_STATUS,
    {
      name: 'get_nodepool_status',
      write: false,
      async run(ctx) {
        const name = requireName(params(ctx).name);
        ctx.target = `NodePool/${name}`;
        const { value: pool } = await read('nodepools', (r) => ctx.get(r, undefined, name));
        const summary = poolSummary(pool);
        try {
          const claims = itemsOf((await read('nodeclaims', (r) => ctx.list(r))).value).filter((c) => poolOfClaim(c) === name);
          summary['nodeclaim_count'] = claims.length;
          summary['ready_nodeclaim_count'] = claims.filter((c) => readyCondition(c)?.['status'] === 'True').length;
        } catch {
          // As published: the counts are left out when NodeClaims cannot be listed.
        }
        return summary;
      },
    },
  ],
  [
    DatadogQueryType.KARPENTER_LIST_NODECLAIMS,
    {
      name: 'list_nodeclaims',
      write: false,
      async run(ctx) {
        const p = params(ctx);
        const pool = str(p['nodepool']) || p.name;
        ctx.target = `NodeClaim/${pool || '*'}`;
        const { value } = await read('nodeclaims', (r) => ctx.list(r));
        return { items: itemsOf(value).filter((c) => !pool || poolOfClaim(c) === pool).map(claimSummary) };
      },
    },
  ],
  [
    DatadogQueryType.KARPENTER_SCALE_NODEPOOL,
    {
      name: 'scale_nodepool',
      write: true,
      async run(ctx) {
        const p = params(ctx);
        const name = requireName(p.name);
        ctx.target = `NodePool/${name}`;
        const limits: Json = {};
        if (p['cpu_limit'] !== undefined && p['cpu_limit'] !== '') limits['cpu'] = limitValue(p['cpu_limit']);
        if (p['memory_limit'] !== undefined && p['memory_limit'] !== '') limits['memory'] = limitValue(p['memory_limit']);
        if (Object.keys(limits).length === 0) throw new ActionError(400, 'at least one of cpu_limit or memory_limit is required');
        const w = ctx.writer(undefined);
        const { ref: r } = await read('nodepools', (x) => ctx.get(x, undefined, name));
        const after = await w.patch(r, undefined, name, { spec: { limits } });
        return { status: 'scaled', nodepool: name, limits: obj(after['spec'])['limits'] ?? null };
      },
    },
  ],
  [
    DatadogQueryType.KARPENTER_SET_DISRUPTION,
    {
      name: 'set_disruption',
      write: true,
      async run(ctx) {
        const p = params(ctx);
        const name = requireName(p.name);
        ctx.target = `NodePool/${name}`;
        const disruption: Json = {};
        const policy = str(p['consolidation_policy']);
        const after = str(p['consolidate_after']);
        if (policy) {
          if (!POLICIES.includes(policy)) throw new ActionError(400, `invalid consolidation_policy "${policy}": must be one of ${POLICIES.join(', ')}`);
          disruption['consolidationPolicy'] = policy;
        }
        if (after) disruption['consolidateAfter'] = after;
        if (Object.keys(disruption).length === 0) throw new ActionError(400, 'at least one of consolidation_policy or consolidate_after is required');
        const w = ctx.writer(undefined);
        const { ref: r } = await read('nodepools', (x) => ctx.get(x, undefined, name));
        const updated = await w.patch(r, undefined, name, { spec: { disruption } });
        return { status: 'disruption_updated', nodepool: name, disruption: obj(updated['spec'])['disruption'] ?? {} };
      },
    },
  ],
  [
    DatadogQueryType.KARPENTER_APPLY_NODEPOOL,
    {
      name: 'apply_nodepool',
      write: true,
      async run(ctx) {
        const p = params(ctx);
        const text = str(p['nodepool_spec']);
        if (!text.trim()) throw new ActionError(400, 'nodepool_spec is required');
        let manifest: unknown;
        try {
          manifest = parseYaml(text);
        } catch (err) {
          throw new ActionError(400, `invalid nodepool_spec: ${err instanceof Error ? err.message : String(err)}`);
        }
        if (typeof manifest !== 'object' || manifest === null || Array.isArray(manifest)) throw new ActionError(400, 'invalid nodepool_spec: not an object');
        const m = manifest as Json;
        const kind = str(m['kind']) || 'NodePool';
        if (kind !== 'NodePool') throw new ActionError(400, `nodepool_spec kind must be NodePool, not ${kind}`);
        const apiVersion = str(m['apiVersion']) || `${GROUP}/v1`;
        const [group, version] = apiVersion.includes('/') ? apiVersion.split('/', 2) : ['', apiVersion];
        if (group !== GROUP || !version) throw new ActionError(400, `nodepool_spec apiVersion must be ${GROUP}/<version>, not ${apiVersion}`);
        const meta = obj(m['metadata']);
        const name = str(meta['name']) || p.name;
        if (!name) throw new ActionError(400, 'nodepool_spec has no metadata.name (and no name was given)');
        ctx.target = `NodePool/${name}`;
        const body: Json = { ...m, apiVersion, kind, metadata: { ...meta, name } };
        const w = ctx.writer(undefined);
        const r = ref('nodepools', version!);
        let live: Json | undefined;
        try {
          live = await ctx.get(r, undefined, name);
        } catch (err) {
          if (!(err instanceof KubeError && err.code === 404)) throw err;
        }
        if (!live) {
          const created = await w.create(r, undefined, body);
          return { status: 'created', nodepool: name, limits: obj(created['spec'])['limits'] ?? null };
        }
        const resourceVersion = str(obj(live['metadata'])['resourceVersion']);
        const updated = await w.replace(r, undefined, name, { ...body, metadata: { ...(body['metadata'] as Json), resourceVersion } });
        return { status: 'updated', nodepool: name, limits: obj(updated['spec'])['limits'] ?? null };
      },
    },
  ],
  [
    DatadogQueryType.KARPENTER_DELETE_NODECLAIM,
    {
      name: 'delete_nodeclaim',
      write: true,
      async run(ctx) {
        const name = requireName(params(ctx).name);
        ctx.target = `NodeClaim/${name}`;
        const w = ctx.writer(undefined);
        const { value: claim, ref: r } = await read('nodeclaims', (x) => ctx.get(x, undefined, name));
        await w.delete(r, undefined, name);
        return { status: 'deleted', nodeclaim: name, node_name: str(obj(claim['status'])['nodeName']), nodepool: poolOfClaim(claim) };
      },
    },
  ],
]);
