// Turns a request into what authorization, audit and routing need (verb, group, version, resource, subresource,
// namespace, name), with the rules of the real RequestInfoFactory (apiserver/pkg/endpoints/request): GET of a
// collection is list, ?watch=true is watch, DELETE of a collection is deletecollection, /namespaces/<n>/status
// is the namespace's status subresource, the deprecated /watch/ prefix still works.
import { pinnedName, parseFieldSelector } from './selectors.js';

export interface RequestInfo {
  resourceRequest: boolean;
  path: string;
  verb: string;
  apiGroup: string;
  apiVersion: string;
  namespace?: string;
  resource?: string;
  subresource?: string;
  name?: string;
  /** The request is a watch (also through the /watch/ prefix). */
  watch: boolean;
}

const NAMESPACE_SUBRESOURCES = new Set(['status', 'finalize']);

export function isTrue(value: string | null): boolean {
  return value !== null && ['1', 't', 'T', 'true', 'TRUE', 'True'].includes(value);
}

export function requestInfo(method: string, url: URL): RequestInfo {
  const path = url.pathname;
  const base: RequestInfo = { resourceRequest: false, path, verb: method.toLowerCase(), apiGroup: '', apiVersion: '', watch: false };
  const parts = path.split('/').filter((p) => p !== '').map((p) => decodeURIComponent(p));
  let rest: string[];
  if (parts[0] === 'api' && parts.length >= 2) {
    base.apiVersion = parts[1]!;
    rest = parts.slice(2);
  } else if (parts[0] === 'apis' && parts.length >= 3) {
    base.apiGroup = parts[1]!;
    base.apiVersion = parts[2]!;
    rest = parts.slice(3);
  } else return base;
  if (rest.length === 0) return base;

  const info: RequestInfo = { ...base, resourceRequest: true };
  let watchPrefix = false;
  if (rest[0] === 'watch') {
    watchPrefix = true;
    rest = rest.slice(1);
  }
  if (rest[0] === 'namespaces' && rest.length > 1) {
    info.namespace = rest[1]!;
    if (rest.length > 2 && !NAMESPACE_SUBRESOURCES.has(rest[2]!)) rest = rest.slice(2);
  }
  info.resource = rest[0];
  if (rest.length > 1) info.name = rest[1];
  if (rest.length > 2) info.subresource = rest[2];
  // /namespaces/<name> is the namespace itself.
  if (info.resource === 'namespaces' && info.namespace !== undefined && rest[0] === 'namespaces') info.name = info.namespace;

  const watchParam = isTrue(url.searchParams.get('watch'));
  switch (method) {
    case 'GET':
    case 'HEAD':
      info.watch = watchPrefix || watchParam;
      info.verb = info.watch ? 'watch' : info.name === undefined ? 'list' : 'get';
      break;
    case 'POST':
      info.verb = 'create';
      break;
    case 'PUT':
      info.verb = 'update';
      break;
    case 'PATCH':
      info.verb = 'patch';
      break;
    case 'DELETE':
      info.verb = info.name === undefined ? 'deletecollection' : 'delete';
      break;
    default:
      info.verb = method.toLowerCase();
  }
  // A list or watch pinned to one name by field selector is authorized as on that name (resourceNames rules).
  if ((info.verb === 'list' || info.verb === 'watch') && info.name === undefined) {
    try {
      const pinned = pinnedName(parseFieldSelector(url.searchParams.get('fieldSelector')));
      if (pinned !== undefined) info.name = pinned;
    } catch {
      // A malformed selector is reported by the handler with its proper 400.
    }
  }
  return info;
}
