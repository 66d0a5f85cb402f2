// The test hooks over HTTP, for a server running as its own process (main.ts): a test driving an aggregator
// process can still compact the history, drop watches, slow the server down or read the audit log. Under
// /kestrel-test/, a path no real server has; authorized like any non-resource URL, so only system:masters (the
// admin kubeconfig) or an explicit RBAC grant reaches them.
import type { IncomingMessage, ServerResponse } from 'node:http';
import type { AuditQuery } from './audit.js';
import type { Fault, RequestMatch } from './faults.js';
import { parseJsonBody, readBody, sendJson } from './http-io.js';
import { isJsonObject } from './objects-meta.js';
import { isTrue } from './request-info.js';
import type { KubeApiCore } from './server.js';
import { badRequest, resourceNotFound } from './status.js';

export const TEST_PREFIX = '/kestrel-test/';

function optional(url: URL, name: string): string | undefined {
  return url.searchParams.get(name) ?? undefined;
}

function matchFrom(url: URL): RequestMatch | undefined {
  const match: RequestMatch = {};
  const verb = optional(url, 'verb');
  const resource = optional(url, 'resource');
  const user = optional(url, 'user');
  if (verb) match.verb = verb.split(',');
  if (resource) match.resource = resource;
  if (user) match.user = user;
  return Object.keys(match).length > 0 ? match : undefined;
}

export async function handleTestEndpoint(core: KubeApiCore, req: IncomingMessage, res: ServerResponse, url: URL): Promise<number> {
  const action = `${req.method} ${url.pathname.slice(TEST_PREFIX.length).replace(/\/+$/, '')}`;
  let answer: unknown;
  switch (action) {
    case 'POST compact': {
      const resource = optional(url, 'resource');
      const storage = resource ? core.registry.byGroupResource(url.searchParams.get('group') ?? '', resource)?.storage : undefined;
      if (resource && !storage) throw badRequest(`unknown resource ${resource}`);
      core.store.compact(storage);
      answer = { compactedAt: String(core.store.currentRV()) };
      break;
    }
    case 'POST drop-watches':
      answer = { dropped: core.watches.dropAll(isTrue(url.searchParams.get('abrupt'))) };
      break;
    case 'POST latency':
      core.faults.setLatency(Number(url.searchParams.get('ms') ?? 0), matchFrom(url));
      answer = {};
      break;
    case 'POST faults': {
      const body = parseJsonBody(await readBody(req), 'application/json');
      if (!isJsonObject(body) || typeof body['code'] !== 'number') throw badRequest('a fault needs a numeric code');
      core.faults.inject(body as unknown as Fault);
      answer = {};
      break;
    }
    case 'DELETE faults':
      core.faults.clear();
      answer = {};
      break;
    case 'GET audit': {
      const query: AuditQuery = {};
      for (const key of ['user', 'resource', 'namespace', 'subresource'] as const) {
        const value = optional(url, key);
        if (value) query[key] = value;
      }
      const verb = optional(url, 'verb');
      if (verb) query.verb = verb.split(',');
      answer = { items: core.audit.find(query) };
      break;
    }
    case 'GET reads': {
      const resource = optional(url, 'resource');
      if (!resource) throw badRequest('resource is required');
      answer = { resource, reads: core.audit.reads(resource, optional(url, 'user')) };
      break;
    }
    case 'POST users': {
      const body = parseJsonBody(await readBody(req), 'application/json');
      if (!isJsonObject(body) || typeof body['name'] !== 'string') throw badRequest('a user needs a name');
      const groups = Array.isArray(body['groups']) ? body['groups'].map(String) : [];
      answer = { token: core.authenticator.addUser({ name: body['name'], groups }) };
      break;
    }
    case 'PUT pod-logs': {
      const [namespace, pod, container] = ['namespace', 'pod', 'container'].map((k) => url.searchParams.get(k));
      if (!namespace || !pod || !container) throw badRequest('namespace, pod and container are required');
      core.podLogs.set(`${namespace}/${pod}/${container}`, (await readBody(req)).toString('utf8'));
      answer = {};
      break;
    }
    default:
      throw resourceNotFound();
  }
  sendJson(res, 200, answer);
  return 200;
}
