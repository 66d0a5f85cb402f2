// The HTTPS server and its request pipeline, in the real server's order: authentication (bearer token; none =
// anonymous), injected latency and faults (test hooks), impersonation headers, authorization (RBAC), then
// discovery, test endpoints or the resource handlers; every request ends in the audit log with its status code.
import { randomUUID } from 'node:crypto';
import type { IncomingMessage, ServerResponse } from 'node:http';
import https from 'node:https';
import type { AddressInfo } from 'node:net';
import { setTimeout as sleep } from 'node:timers/promises';
import { AuditLog, auditEntryFor } from './audit.js';
import { ANONYMOUS, Authenticator, serviceAccountGroups, serviceAccountUsername, type UserInfo } from './authn.js';
import { bootstrapNamespaces, bootstrapRbac, bootstrapServices } from './bootstrap.js';
import { builtinKinds } from './builtin-kinds.js';
import { CrdController } from './crds.js';
import { installKindDefaults } from './defaults.js';
import { apiGroup, apiGroupList, apiResourceList, apiVersions, versionInfo } from './discovery.js';
import { FaultInjector } from './faults.js';
import { handleResource, type HandlerDeps } from './handlers.js';
import { sendError, sendJson, sendText } from './http-io.js';
import { ObjectService } from './objects.js';
import { openApiV3Document, openApiV3Root } from './openapi.js';
import { RbacAuthorizer, forbiddenMessage, type Attributes } from './rbac.js';
import { requestInfo, type RequestInfo } from './request-info.js';
import { ResourceRegistry } from './resources.js';
import { ApiError, internalError, resourceNotFound, unauthorized } from './status.js';
import { objectKey, VersionedStore } from './store.js';
import { handleTestEndpoint, TEST_PREFIX } from './test-endpoints.js';
import { WatchHub } from './watch.js';

export interface ServerTuning {
  /** Changes kept per kind for watch replay and paged lists; older resourceVersions get 410 Gone. */
  historyLimit: number;
  /** How often a watch that allows bookmarks gets one. The real server sends about one a minute. */
  bookmarkIntervalMs: number;
  /** A watch without timeoutSeconds ends after this times a random factor in [1, 2). */
  watchTimeoutSeconds: number;
  auditLimit: number;
  maxWatchBufferBytes: number;
  /** Seed the bootstrap ClusterRoles/Bindings (discovery, self reviews, cluster-admin for system:masters). */
  bootstrapRbac: boolean;
}

export const DEFAULT_TUNING: ServerTuning = {
  historyLimit: 10_000,
  bookmarkIntervalMs: 60_000,
  watchTimeoutSeconds: 1800,
  auditLimit: 200_000,
  maxWatchBufferBytes: 64 * 1024 * 1024,
  bootstrapRbac: true,
};

export class KubeApiCore {
  readonly registry = new ResourceRegistry();
  readonly store: VersionedStore;
  readonly objects: ObjectService;
  readonly watches: WatchHub;
  readonly authenticator: Authenticator;
  readonly authorizer: RbacAuthorizer;
  readonly audit: AuditLog;
  readonly faults = new FaultInjector();
  readonly podLogs = new Map<string, string>();
  private server: https.Server | undefined;
  private address = '';

  constructor(readonly tuning: ServerTuning) {
    for (const kind of builtinKinds()) this.registry.add(kind);
    this.store = new VersionedStore({ historyLimit: tuning.historyLimit });
    this.objects = new ObjectService(this.store, this.registry);
    this.watches = new WatchHub(this.store, { bookmarkIntervalMs: tuning.bookmarkIntervalMs, defaultTimeoutSeconds: tuning.watchTimeoutSeconds, maxBufferedBytes: tuning.maxWatchBufferBytes });
    installKindDefaults(this.objects);
    new CrdController(this.objects, this.registry, {
      // By name, not identity: a CRD update re-registers its kinds as new objects.
      onKindsRemoved: (types) => this.watches.closeWhere((t) => types.some((r) => r.group === t.group && r.version === t.version && r.resource === t.resource)),
    }).install();
    this.authenticator = new Authenticator((resource, ns, name) => this.store.get(this.registry.lookup('', 'v1', resource)!.storage, objectKey(ns, name)));
    this.authorizer = new RbacAuthorizer(this.store);
    this.audit = new AuditLog(tuning.auditLimit);
    const namespaces = this.registry.lookup('', 'v1', 'namespaces')!;
    for (const ns of bootstrapNamespaces()) this.objects.create(namespaces, undefined, ns);
    for (const service of bootstrapServices()) this.objects.create(this.registry.byKind('v1', 'Service')!, 'default', service);
    if (tuning.bootstrapRbac) {
      for (const object of bootstrapRbac()) this.objects.create(this.registry.byKind(object.apiVersion!, object.kind!)!, undefined, object);
    }
  }

  async listen(host: string, port: number, tls: { certPem: string; keyPem: string }): Promise<string> {
    const server = https.createServer({ cert: tls.certPem, key: tls.keyPem, keepAliveTimeout: 65_000 }, (req, res) => void this.handle(req, res));
    // Watches are long requests: no server-side request timeout (the watch's own timeout ends them).
    server.requestTimeout = 0;
    server.headersTimeout = 60_000;
    this.server = server;
    await new Promise<void>((resolve, reject) => {
      server.once('error', reject);
      server.listen(port, host, () => resolve());
    });
    const address = server.address() as AddressInfo;
    // Clients of a wildcard listener connect over loopback (the certificate names loopback, not 0.0.0.0).
    const reachable = address.address === '0.0.0.0' ? '127.0.0.1' : address.address === '::' ? '::1' : address.address;
    const shown = reachable.includes(':') ? `[${reachable}]` : reachable;
    this.address = `${shown}:${address.port}`;
    return `https://${this.address}`;
  }

  async close(): Promise<void> {
    this.watches.dropAll(true);
    const server = this.server;
    if (!server) return;
    this.server = undefined;
    await new Promise<void>((resolve) => {
      server.close(() => resolve());
      server.closeAllConnections();
    });
  }

  private async handle(req: IncomingMessage, res: ServerResponse): Promise<void> {
    const url = new URL(req.url ?? '/', 'https://kube-api-server.invalid');
    const info = requestInfo(req.method ?? 'GET', url);
    res.setHeader('Audit-Id', randomUUID());
    let user: UserInfo = ANONYMOUS;
    let impersonatedBy: string | undefined;
    let code = 500;
    try {
      const auth = this.authenticator.authenticate(req.headers.authorization);
      if ('invalid' in auth) {
        user = { username: '', groups: [] };
        throw unauthorized();
      }
      user = auth.user;
      const delay = this.faults.delayFor(info, user.username);
      if (delay > 0) await sleep(delay);
      const fault = this.faults.take(info, user.username);
      if (fault) throw fault;
      const acting = this.impersonate(req, user);
      if (acting !== user) {
        impersonatedBy = user.username;
        user = acting;
      }
      this.authorize(info, user);
      code = await this.route(req, res, url, info, user);
    } catch (err) {
      const apiError = err instanceof ApiError ? err : internalError((err as Error).message ?? String(err));
      code = apiError.code;
      if (!res.headersSent) sendError(res, apiError);
      else res.destroy();
    } finally {
      const fields = { user: user.username, groups: user.groups, code, dryRun: url.searchParams.has('dryRun'), ...(impersonatedBy ? { impersonatedBy } : {}) };
      const agent = req.headers['user-agent'];
      this.audit.record(auditEntryFor(info, url, agent ? { ...fields, userAgent: agent } : fields));
    }
  }

  private authorize(info: RequestInfo, user: UserInfo): void {
    const attributes: Attributes = { user, verb: info.verb, resourceRequest: info.resourceRequest, apiGroup: info.apiGroup };
    if (info.resourceRequest) {
      if (info.resource !== undefined) attributes.resource = info.resource;
      if (info.subresource !== undefined) attributes.subresource = info.subresource;
      if (info.namespace !== undefined) attributes.namespace = info.namespace;
      if (info.name !== undefined) attributes.name = info.name;
    } else attributes.path = info.path;
    const decision = this.authorizer.authorize(attributes);
    if (decision.allowed) return;
    const details = info.resourceRequest ? { ...(info.name ? { name: info.name } : {}), group: info.apiGroup, kind: info.subresource ? `${info.resource}/${info.subresource}` : info.resource ?? '' } : undefined;
    throw new ApiError(403, 'Forbidden', forbiddenMessage(attributes), details);
  }

  /** Impersonate-User / Impersonate-Group, allowed by the "impersonate" verb as on the real server. */
  private impersonate(req: IncomingMessage, user: UserInfo): UserInfo {
    const asUser = req.headers['impersonate-user'];
    const asGroups = req.headersDistinct['impersonate-group'] ?? [];
    if (asUser === undefined) {
      if (asGroups.length > 0) throw new ApiError(400, 'BadRequest', 'requested [groups] without impersonating a user');
      return user;
    }
    const username = Array.isArray(asUser) ? asUser[0]! : asUser;
    const check = (attributes: Omit<Attributes, 'user' | 'verb' | 'resourceRequest'>, what: string) => {
      const full: Attributes = { user, verb: 'impersonate', resourceRequest: true, ...attributes };
      if (!this.authorizer.authorize(full).allowed) throw new ApiError(403, 'Forbidden', `${what} is forbidden: User "${user.username}" cannot impersonate resource "${attributes.resource}" in API group "${attributes.apiGroup}"${attributes.namespace ? ` in the namespace "${attributes.namespace}"` : ' at the cluster scope'}`);
    };
    const sa = /^system:serviceaccount:([^:]+):([^:]+)$/.exec(username);
    if (sa) check({ apiGroup: '', resource: 'serviceaccounts', namespace: sa[1]!, name: sa[2]! }, `serviceaccounts "${sa[2]}"`);
    else check({ apiGroup: '', resource: 'users', name: username }, `users "${username}"`);
    for (const group of asGroups) check({ apiGroup: '', resource: 'groups', name: group }, `groups "${group}"`);
    let groups = [...asGroups];
    if (sa && groups.length === 0) groups = serviceAccountGroups(sa[1]!).filter((g) => g !== 'system:authenticated');
    if (username !== ANONYMOUS.username && !groups.includes('system:authenticated') && !groups.includes('system:unauthenticated')) groups.push('system:authenticated');
    return { username: sa ? serviceAccountUsername(sa[1]!, sa[2]!) : username, groups };
  }

  private async route(req: IncomingMessage, res: ServerResponse, url: URL, info: RequestInfo, user: UserInfo): Promise<number> {
    const path = url.pathname.replace(/\/+$/, '') || '/';
    if (info.resourceRequest) {
      const deps: HandlerDeps = { objects: this.objects, watches: this.watches, authenticator: this.authenticator, authorizer: this.authorizer, podLogs: this.podLogs };
      return handleResource(deps, { req, res, url, info, user });
    }
    if (path.startsWith(TEST_PREFIX)) return handleTestEndpoint(this, req, res, url);
    if (req.method !== 'GET' && req.method !== 'HEAD') throw resourceNotFound();
    const parts = path.split('/').filter((p) => p !== '');
    let document: object | undefined;
    if (path === '/healthz' || path === '/livez' || path === '/readyz') {
      sendText(res, 200, 'ok');
      return 200;
    } else if (path === '/version') document = versionInfo();
    else if (path === '/api') document = apiVersions(this.address);
    else if (path === '/apis') document = apiGroupList(this.registry);
    else if (parts[0] === 'api' && parts.length === 2) document = apiResourceList(this.registry, '', parts[1]!);
    else if (parts[0] === 'apis' && parts.length === 2) document = apiGroup(this.registry, parts[1]!);
    else if (parts[0] === 'apis' && parts.length === 3) document = apiResourceList(this.registry, parts[1]!, parts[2]!);
    else if (path === '/openapi/v3') document = openApiV3Root(this.registry);
    else if (parts[0] === 'openapi' && parts[1] === 'v3' && parts[2] === 'api' && parts.length === 4) document = openApiV3Document(this.registry, '', parts[3]!);
    else if (parts[0] === 'openapi' && parts[1] === 'v3' && parts[2] === 'apis' && parts.length === 5) document = openApiV3Document(this.registry, parts[3]!, parts[4]!);
    if (!document) throw resourceNotFound();
    sendJson(res, 200, document);
    return 200;
  }
}
