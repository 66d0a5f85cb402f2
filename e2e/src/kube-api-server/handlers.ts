// Resource requests over HTTP: resolves the kind and scope from the URL, reads query parameters and bodies the way
// the real server does, calls the object service, and renders objects and lists in the client's version (lists of
// built-in kinds carry no apiVersion/kind on their items, custom resource lists do — as on a real cluster).
import type { IncomingMessage, ServerResponse } from 'node:http';
import type { Authenticator, UserInfo } from './authn.js';
import { parseJsonBody, readBody, sendJson, sendText } from './http-io.js';
import { isJsonObject, type KubeObject } from './objects-meta.js';
import type { DeleteOptions, ListOptions, ObjectService } from './objects.js';
import { patchTypeOf, type PatchType } from './patch.js';
import type { RbacAuthorizer } from './rbac.js';
import { isTrue, type RequestInfo } from './request-info.js';
import { apiVersionOf, type ResourceType } from './resources.js';
import { REVIEWS, tokenRequest } from './reviews.js';
import { scaleOf, scaledObject } from './scale.js';
import { objectKey } from './store.js';
import { badRequest, invalid, methodNotAllowed, resourceNotFound, unsupportedMediaType } from './status.js';
import { tableFor, wantsTable } from './table.js';
import type { WatchHub } from './watch.js';

export interface HandlerDeps {
  objects: ObjectService;
  watches: WatchHub;
  authenticator: Authenticator;
  authorizer: RbacAuthorizer;
  /** Container logs served by pods/<name>/log, keyed "namespace/pod/container". */
  podLogs: Map<string, string>;
}

export interface ResourceRequest {
  req: IncomingMessage;
  res: ServerResponse;
  url: URL;
  info: RequestInfo;
  user: UserInfo;
}

/** Resolves the kind a resource request is for, or the 404 the real server gives. */
export function resolveType(deps: HandlerDeps, info: RequestInfo): ResourceType {
  const type = deps.objects.registry.lookup(info.apiGroup, info.apiVersion, info.resource ?? '');
  if (!type) throw resourceNotFound();
  const isNamespaceItself = type.resource === 'namespaces';
  if (!type.namespaced && info.namespace !== undefined && !isNamespaceItself) throw resourceNotFound();
  // A namespaced kind is served cluster-wide only for list and watch (/api/v1/pods has no other route).
  if (type.namespaced && info.namespace === undefined && info.verb !== 'list' && info.verb !== 'watch') throw resourceNotFound();
  if (info.subresource !== undefined && !type.subresources.includes(info.subresource)) throw resourceNotFound();
  return type;
}

function dryRunOf(url: URL): boolean {
  const values = url.searchParams.getAll('dryRun');
  for (const v of values) if (v !== 'All') throw badRequest(`Invalid value: "${v}": supported values: "All"`);
  return values.length > 0;
}

function listOptions(url: URL, namespace: string | undefined): ListOptions {
  const q = url.searchParams;
  const options: ListOptions = {};
  if (namespace !== undefined) options.namespace = namespace;
  const copy = (name: keyof ListOptions & string, param: string) => {
    const value = q.get(param);
    if (value !== null) (options as Record<string, unknown>)[name] = value;
  };
  copy('labelSelector', 'labelSelector');
  copy('fieldSelector', 'fieldSelector');
  copy('continue', 'continue');
  copy('resourceVersion', 'resourceVersion');
  copy('resourceVersionMatch', 'resourceVersionMatch');
  const limit = q.get('limit');
  if (limit !== null) {
    if (!/^-?\d+$/.test(limit)) throw badRequest(`limit: Invalid value: "${limit}"`);
    options.limit = Number(limit);
  }
  return options;
}

async function jsonBody(req: IncomingMessage): Promise<unknown> {
  return parseJsonBody(await readBody(req), req.headers['content-type']);
}

function objectBody(body: unknown, type: ResourceType): KubeObject {
  if (!isJsonObject(body)) throw badRequest(`Object '${type.kind}' is missing in '${JSON.stringify(body) ?? ''}'`);
  const object = body as KubeObject;
  if (object.metadata !== undefined && !isJsonObject(object.metadata)) throw badRequest('metadata must be an object');
  object.metadata ??= {};
  return object;
}

function render(deps: HandlerDeps, type: ResourceType, stored: KubeObject): KubeObject {
  return deps.objects.toExternal(type, stored);
}

function renderListItem(deps: HandlerDeps, type: ResourceType, stored: KubeObject): KubeObject {
  const external = deps.objects.toExternal(type, stored);
  if (type.crd) return external;
  const { apiVersion: _a, kind: _k, ...rest } = external;
  return rest as KubeObject;
}

function deleteOptions(url: URL, body: unknown): DeleteOptions {
  const options: DeleteOptions = {};
  const b = isJsonObject(body) ? body : {};
  const dryRun = dryRunOf(url) || (Array.isArray(b['dryRun']) && b['dryRun'].includes('All'));
  if (dryRun) options.dryRun = true;
  if (isJsonObject(b['preconditions'])) {
    const p = b['preconditions'];
    options.preconditions = {};
    if (typeof p['uid'] === 'string') options.preconditions.uid = p['uid'];
    if (typeof p['resourceVersion'] === 'string') options.preconditions.resourceVersion = p['resourceVersion'];
  }
  const policy = url.searchParams.get('propagationPolicy') ?? (typeof b['propagationPolicy'] === 'string' ? b['propagationPolicy'] : undefined);
  const orphan = url.searchParams.get('orphanDependents') ?? (typeof b['orphanDependents'] === 'boolean' ? String(b['orphanDependents']) : undefined);
  if (policy !== undefined) {
    if (policy !== 'Background' && policy !== 'Foreground' && policy !== 'Orphan') throw badRequest(`propagationPolicy: Unsupported value: "${policy}"`);
    options.propagationPolicy = policy;
  } else if (orphan === 'true') options.propagationPolicy = 'Orphan';
  return options;
}

/** Handles one resource request; returns the HTTP status it answered with. */
export async function handleResource(deps: HandlerDeps, r: ResourceRequest): Promise<number> {
  const { info, url, req, res } = r;
  const type = resolveType(deps, info);
  const namespace = type.namespaced ? info.namespace : undefined;

  if (type.virtual) {
    if (info.verb !== 'create' || info.name !== undefined) throw methodNotAllowed(req.method ?? '');
    const review = REVIEWS[type.virtual]!;
    const body = objectBody(await jsonBody(req), type);
    const ctx = { user: r.user, body, authorizer: deps.authorizer, authenticator: deps.authenticator, ...(namespace ? { namespace } : {}) };
    sendJson(res, 201, review(ctx));
    return 201;
  }

  switch (info.verb) {
    case 'get': {
      if (info.subresource === 'log') return servePodLog(deps, r, type, namespace);
      if (info.subresource === 'scale') {
        sendJson(res, 200, scaleOf(type.scale!, render(deps, type, deps.objects.get(type, namespace, info.name!))));
        return 200;
      }
      const stored = deps.objects.get(type, namespace, info.name!);
      if (wantsTable(req.headers.accept)) sendJson(res, 200, tableFor(type, [render(deps, type, stored)], stored.metadata.resourceVersion!, url));
      else sendJson(res, 200, render(deps, type, stored));
      return 200;
    }
    case 'list': {
      const result = deps.objects.list(type, listOptions(url, namespace));
      const metadata: Record<string, unknown> = { resourceVersion: String(result.resourceVersion) };
      if (result.continue) metadata['continue'] = result.continue;
      if (result.remainingItemCount !== undefined) metadata['remainingItemCount'] = result.remainingItemCount;
      if (wantsTable(req.headers.accept)) {
        sendJson(res, 200, tableFor(type, result.items.map((o) => render(deps, type, o)), String(result.resourceVersion), url, metadata));
        return 200;
      }
      sendJson(res, 200, { kind: type.listKind, apiVersion: apiVersionOf(type), metadata, items: result.items.map((o) => renderListItem(deps, type, o)) });
      return 200;
    }
    case 'watch': {
      const options = listOptions(url, namespace);
      // /watch/namespaces/<ns>/<resource>/<name> watches one object.
      if (info.name !== undefined && !url.searchParams.get('fieldSelector')) options.fieldSelector = `metadata.name=${info.name}`;
      const filter = deps.objects.filterFor(type, options);
      const timeout = url.searchParams.get('timeoutSeconds');
      const sendInitialEvents = url.searchParams.get('sendInitialEvents');
      deps.watches.serve(res, {
        type,
        filter,
        resourceVersion: options.resourceVersion ?? '',
        ...(options.resourceVersionMatch ? { resourceVersionMatch: options.resourceVersionMatch } : {}),
        allowBookmarks: isTrue(url.searchParams.get('allowWatchBookmarks')),
        ...(sendInitialEvents !== null ? { sendInitialEvents: isTrue(sendInitialEvents) } : {}),
        ...(timeout !== null && Number(timeout) > 0 ? { timeoutSeconds: Number(timeout) } : {}),
        render: (o) => render(deps, type, o),
      });
      return 200;
    }
    case 'create': {
      if (info.subresource === 'token' && type.resource === 'serviceaccounts') {
        const sa = deps.objects.get(type, namespace, info.name!);
        sendJson(res, 201, tokenRequest(sa, objectBody(await jsonBody(req), type), deps.authenticator));
        return 201;
      }
      if (info.name !== undefined) throw methodNotAllowed('POST');
      const body = objectBody(await jsonBody(req), type);
      const created = deps.objects.create(type, namespace, body, { dryRun: dryRunOf(url) });
      sendJson(res, 201, render(deps, type, created));
      return 201;
    }
    case 'update': {
      if (info.name === undefined) throw methodNotAllowed('PUT');
      const body = objectBody(await jsonBody(req), type);
      if (info.subresource === 'scale') return writeScale(deps, r, type, namespace, body);
      const options = info.subresource ? { dryRun: dryRunOf(url), subresource: info.subresource } : { dryRun: dryRunOf(url) };
      sendJson(res, 200, render(deps, type, deps.objects.update(type, namespace, info.name, body, options)));
      return 200;
    }
    case 'patch': {
      if (info.name === undefined) throw methodNotAllowed('PATCH');
      const patchType = patchTypeOf(req.headers['content-type']);
      if (!patchType) throw unsupportedMediaType(req.headers['content-type'] ?? '');
      const body = parseJsonBody(await readBody(req), 'application/json');
      if (info.subresource === 'scale') return writeScale(deps, r, type, namespace, body, patchType);
      if (patchType === 'apply' && !url.searchParams.get('fieldManager')) {
        throw invalid('PatchOptions', 'meta.k8s.io', '', [{ field: 'fieldManager', message: 'Required value: is required for apply patch', reason: 'FieldValueRequired' }]);
      }
      const options = info.subresource ? { dryRun: dryRunOf(url), subresource: info.subresource } : { dryRun: dryRunOf(url) };
      const existed = patchType === 'apply' ? deps.objects.store.get(type.storage, objectKey(namespace, info.name)) !== undefined : true;
      const patched = deps.objects.patch(type, namespace, info.name, patchType, body, options);
      const code = existed ? 200 : 201;
      sendJson(res, code, render(deps, type, patched));
      return code;
    }
    case 'delete': {
      const body = await jsonBody(req);
      const result = deps.objects.delete(type, namespace, info.name!, deleteOptions(url, body));
      if (type.deleteReturnsObject || !result.deleted) sendJson(res, 200, render(deps, type, result.object));
      else {
        sendJson(res, 200, {
          kind: 'Status',
          apiVersion: 'v1',
          metadata: {},
          status: 'Success',
          details: { name: info.name, group: type.group, kind: type.resource, uid: result.object.metadata.uid },
        });
      }
      return 200;
    }
    case 'deletecollection': {
      const body = await jsonBody(req);
      const deleted = deps.objects.deleteCollection(type, namespace, listOptions(url, namespace), deleteOptions(url, body));
      sendJson(res, 200, { kind: type.listKind, apiVersion: apiVersionOf(type), metadata: { resourceVersion: String(deps.objects.store.currentRV()) }, items: deleted.map((o) => renderListItem(deps, type, o)) });
      return 200;
    }
    default:
      throw methodNotAllowed(req.method ?? '');
  }
}

/** PUT or PATCH of a scale subresource: written onto the object's replicas, answered as a Scale. */
function writeScale(deps: HandlerDeps, r: ResourceRequest, type: ResourceType, namespace: string | undefined, body: unknown, patchType?: PatchType): number {
  const current = render(deps, type, deps.objects.get(type, namespace, r.info.name!));
  const next = scaledObject(type.scale!, current, body, patchType);
  const updated = deps.objects.update(type, namespace, r.info.name!, next, { dryRun: dryRunOf(r.url) });
  sendJson(r.res, 200, scaleOf(type.scale!, render(deps, type, updated)));
  return 200;
}

/** pods/<name>/log: the text a test put there, with the container choice rules of the real kubelet proxy. */
function servePodLog(deps: HandlerDeps, r: ResourceRequest, type: ResourceType, namespace: string | undefined): number {
  const pod = deps.objects.get(type, namespace, r.info.name!);
  const spec = isJsonObject(pod['spec']) ? pod['spec'] : {};
  const containers = (Array.isArray(spec['containers']) ? spec['containers'] : []).filter(isJsonObject).map((c) => String(c['name']));
  let container = r.url.searchParams.get('container') ?? undefined;
  if (container === undefined) {
    if (containers.length !== 1) throw badRequest(`a container name must be specified for pod ${r.info.name}, choose one of: [${containers.join(' ')}]`);
    container = containers[0]!;
  } else if (!containers.includes(container)) {
    throw badRequest(`container ${container} is not valid for pod ${r.info.name}`);
  }
  let text = deps.podLogs.get(`${namespace}/${r.info.name}/${container}`) ?? '';
  const tail = r.url.searchParams.get('tailLines');
  if (tail !== null) {
    const lines = text.split('\n');
    const trailing = lines.at(-1) === '' ? lines.pop() : undefined;
    text = lines.slice(-Number(tail)).join('\n') + (trailing !== undefined ? '\n' : '');
  }
  const limit = r.url.searchParams.get('limitBytes');
  if (limit !== null) text = Buffer.from(text).subarray(0, Number(limit)).toString('utf8');
  sendText(r.res, 200, text);
  return 200;
}

