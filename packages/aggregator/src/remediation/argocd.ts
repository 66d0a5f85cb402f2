// Argo CD (query types 10-13) through its Application objects instead of argocd-server's REST API and an admin
// login (remediation-actions.md section 3 lets the transport change as long as the wire stays): sync and rollback
// set the Application's `operation` field, which is what argocd-server itself does and what the application
// controller carries out. No Argo CD credentials, no Secret read. response_data is the Application (or the list) as
// the API server returns it, the same object argocd-server would have returned.
import { DatadogQueryType } from '@kestrel/proto/cloud/v1';
import { ActionError, arr, findNamed, jsonBody, metaOf, obj, str, type Action, type ActionContext } from './actions.js';
import type { Json, ResourceRef } from './kube-client.js';

export const APPLICATIONS: ResourceRef = { group: 'argoproj.io', version: 'v1alpha1', plural: 'applications' };
/** Who Argo CD's UI and history show as having started the operation. */
export const INITIATED_BY = 'kestrel-operator';

async function resolve(ctx: ActionContext, what: string): Promise<{ app: Json; namespace: string; name: string }> {
  const filter = ctx.request.filter.trim();
  if (!filter) throw new ActionError(400, `filter field must contain the application name for ${what}`);
  const slash = filter.indexOf('/');
  const [namespace, name] = slash >= 0 ? [filter.slice(0, slash), filter.slice(slash + 1)] : ['', filter];
  ctx.target = `Application/${namespace || '*'}/${name}`;
  const app = await findNamed(ctx, APPLICATIONS, 'application', namespace, name);
  const m = metaOf(app);
  ctx.target = `Application/${m.namespace}/${m.name}`;
  return { app, namespace: m.namespace, name: m.name };
}

/** Argo CD runs one operation at a time: the controller clears `operation` when it is done, so one set is pending. */
function refuseIfBusy(app: Json): void {
  if (Object.keys(obj(app['operation'])).length > 0) throw new ActionError(409, 'another operation is already in progress');
}

/** An ApplicationSyncRequest body (argocd-server's JSON names) as an Application `operation.sync`. */
export function syncOperation(body: Json): Json {
  const sync: Json = {};
  if (str(body['revision'])) sync['revision'] = body['revision'];
  if (Array.isArray(body['revisions'])) sync['revisions'] = body['revisions'];
  if (typeof body['prune'] === 'boolean') sync['prune'] = body['prune'];
  if (typeof body['dryRun'] === 'boolean') sync['dryRun'] = body['dryRun'];
  if (body['strategy'] !== undefined) sync['syncStrategy'] = obj(body['strategy']);
  if (Array.isArray(body['resources'])) sync['resources'] = arr(body['resources']).map((r) => {
    const x = obj(r);
    return { group: str(x['group']), kind: str(x['kind']), name: str(x['name']), ...(str(x['namespace']) ? { namespace: x['namespace'] } : {}) };
  });
  const options = arr(obj(body['syncOptions'])['items']).filter((o) => typeof o === 'string');
  if (options.length > 0) sync['syncOptions'] = options;
  const operation: Json = { initiatedBy: { username: INITIATED_BY }, sync };
  if (body['retryStrategy'] !== undefined) operation['retry'] = obj(body['retryStrategy']);
  return operation;
}

export const ARGOCD_ACTIONS: ReadonlyMap<number, Action> = new Map<number, Action>([
  [
    DatadogQueryType.ARGOCD_SYNC_APP,
    {
      name: 'sync',
      write: true,
      async run(ctx) {
        const { app, namespace, name } = await resolve(ctx, 'sync-app');
        const w = ctx.writer(namespace);
        refuseIfBusy(app);
        return w.patch(APPLICATIONS, namespace, name, { operation: syncOperation(jsonBody(ctx.request)) });
      },
    },
  ],
  [
    DatadogQueryType.ARGOCD_GET_APP_STATUS,
    {
      name: 'get_status',
      write: false,
      async run(ctx) {
        return (await resolve(ctx, 'get-app-status')).app;
      },
    },
  ],
  [
    DatadogQueryType.ARGOCD_LIST_APPS,
    {
      name: 'list',
      write: false,
      async run(ctx) {
        ctx.target = 'Application/*';
        return ctx.list(APPLICATIONS);
      },
    },
  ],
  [
    DatadogQueryType.ARGOCD_ROLLBACK_APP,
    {
      name: 'rollback',
      write: true,
      async run(ctx) {
        const { app, namespace, name } = await resolve(ctx, 'rollback');
        const w = ctx.writer(namespace);
        const body = ctx.request.jsonBody.trim() ? jsonBody(ctx.request) : { prune: true };
        if (obj(obj(app['spec'])['syncPolicy'])['automated'] !== undefined) {
          throw new ActionError(400, `rollback cannot be initiated when auto-sync is enabled (application "${name}")`);
        }
        refuseIfBusy(app);
        const history = arr(obj(app['status'])['history']).map(obj);
        // With an id, that deployment; without one, the one before the current (argocd app rollback's default).
        const id = typeof body['id'] === 'number' ? body['id'] : undefined;
        const entry = id !== undefined ? history.find((h) => h['id'] === id) : history[history.length - 2];
        if (!entry) throw new ActionError(404, id !== undefined ? `application ${name} does not have deployment with id ${id}` : `application ${name} has no previous deployment to roll back to`);
        const sync: Json = { prune: body['prune'] !== false };
        if (typeof body['dryRun'] === 'boolean') sync['dryRun'] = body['dryRun'];
        for (const key of ['revision', 'revisions', 'source', 'sources']) if (entry[key] !== undefined) sync[key] = entry[key];
        return w.patch(APPLICATIONS, namespace, name, { operation: { initiatedBy: { username: INITIATED_BY }, sync } });
      },
    },
  ],
]);
