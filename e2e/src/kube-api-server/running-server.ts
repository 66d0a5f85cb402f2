// The handle a test gets from startKubeApiServer(): where the server is and how to reach it (URL, CA, admin token,
// kubeconfig), identities to act as, the test hooks, and direct object access for seeding and checking state
// without HTTP (same rules as the API: the facade goes through the object service).
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { createCa, issueCertificate } from '@kestrel/cloud-dev';
import { MASTERS_GROUP, type StaticUser } from './authn.js';
import type { AuditLog } from './audit.js';
import type { Fault, RequestMatch } from './faults.js';
import { kubeConfigOptions, writeInClusterFiles, writeKubeconfigFile, type InClusterSetup, type KubeConfigOptions } from './kubeconfig.js';
import { clone, type KubeObject } from './objects-meta.js';
import type { DeleteOptions, ListOptions } from './objects.js';
import type { ResourceType } from './resources.js';
import { boundPod } from './reviews.js';
import { DEFAULT_TUNING, KubeApiCore, type ServerTuning } from './server.js';
import { ApiError, badRequest } from './status.js';

export interface StartOptions extends Partial<ServerTuning> {
  host?: string;
  port?: number;
  /** Where the kubeconfig and CA files go; a fresh temporary folder when absent. */
  stateDir?: string;
  /** Extra static-token users, e.g. { name: 'jane', groups: ['devs'], token: 'fixed' }. */
  users?: (StaticUser & { token?: string })[];
}

export const ADMIN_USER = 'kestrel-test-admin';

export class KubeApiServer {
  readonly core: KubeApiCore;
  /** A token in system:masters: bypasses RBAC, for test setup. */
  readonly adminToken: string;
  /** The admin kubeconfig file (kubectl, other processes). */
  readonly kubeconfigPath: string;
  readonly caFile: string;

  constructor(
    core: KubeApiCore,
    readonly url: string,
    readonly caPem: string,
    readonly stateDir: string,
  ) {
    this.core = core;
    this.adminToken = core.authenticator.addUser({ name: ADMIN_USER, groups: [MASTERS_GROUP] });
    this.caFile = path.join(stateDir, 'ca.crt');
    fs.writeFileSync(this.caFile, caPem);
    this.kubeconfigPath = writeKubeconfigFile(path.join(stateDir, 'kubeconfig'), url, caPem, this.adminToken, ADMIN_USER);
  }

  get audit(): AuditLog {
    return this.core.audit;
  }

  /** Options for `new KubeConfig().loadFromOptions(...)`; the admin identity unless a token is given. */
  kubeConfig(token = this.adminToken, namespace = 'default'): KubeConfigOptions {
    return kubeConfigOptions(this.url, this.caPem, token, token === this.adminToken ? ADMIN_USER : 'user', namespace);
  }

  writeKubeconfig(file: string, token = this.adminToken, namespace = 'default'): string {
    return writeKubeconfigFile(file, this.url, this.caPem, token, token === this.adminToken ? ADMIN_USER : 'user', namespace);
  }

  /** What a pod running as a service account would find on disk (for KubeConfig.loadFromCluster). */
  writeInClusterFiles(root: string, token: string, namespace: string): InClusterSetup {
    return writeInClusterFiles(root, this.url, this.caPem, token, namespace);
  }

  addUser(user: StaticUser, token?: string): string {
    return this.core.authenticator.addUser(user, token);
  }

  /**
   * A token for a ServiceAccount (created, with its namespace, if missing), as the TokenRequest API issues. With
   * `pod` (a pod in that namespace running as this account) the token is bound to it, as in a projected token volume.
   */
  serviceAccountToken(namespace: string, name: string, options: { expirationSeconds?: number; audiences?: string[]; pod?: string } = {}): string {
    this.ensureNamespace(namespace);
    const sa = this.get('v1', 'ServiceAccount', name, namespace) ?? this.create({ apiVersion: 'v1', kind: 'ServiceAccount', metadata: { name, namespace } });
    const { pod, ...issue } = options;
    const binding = pod === undefined ? {} : boundPod(sa, { kind: 'Pod', apiVersion: 'v1', name: pod }, this.core.authenticator.lookup);
    return this.core.authenticator.issueServiceAccountToken(sa, { ...issue, ...binding }).token;
  }

  // ---- test hooks ----

  /** Forgets change history (of one resource, by plural name and group, or all): older resourceVersions get 410 Gone. */
  compact(resource?: string, group = ''): void {
    if (resource === undefined) return this.core.store.compact();
    const type = this.core.registry.byGroupResource(group, resource);
    if (!type) throw new Error(`unknown resource ${resource} in group "${group}"`);
    this.core.store.compact(type.storage);
  }

  /** Ends all open watches (cleanly, or by resetting the connections); returns how many there were. */
  dropWatches(abrupt = false): number {
    return this.core.watches.dropAll(abrupt);
  }

  openWatches(): number {
    return this.core.watches.openCount();
  }

  setLatency(ms: number, match?: RequestMatch): void {
    this.core.faults.setLatency(ms, match);
  }

  injectFault(fault: Fault): void {
    this.core.faults.inject(fault);
  }

  clearFaults(): void {
    this.core.faults.clear();
  }

  setPodLog(namespace: string, pod: string, container: string, text: string): void {
    this.core.podLogs.set(`${namespace}/${pod}/${container}`, text);
  }

  resourceVersion(): string {
    return String(this.core.store.currentRV());
  }

  // ---- direct object access (as the admin, same semantics as the API) ----

  private typeOf(apiVersion: string | undefined, kind: string | undefined): ResourceType {
    const type = apiVersion && kind ? this.core.registry.byKind(apiVersion, kind) : undefined;
    if (!type) throw badRequest(`no kind "${kind}" is registered for version "${apiVersion}"`);
    return type;
  }

  ensureNamespace(name: string): void {
    if (!this.get('v1', 'Namespace', name)) this.create({ apiVersion: 'v1', kind: 'Namespace', metadata: { name } });
  }

  /**
   * Creates an object. A status in it is kept (written through the status subresource after the create, as a
   * controller would), so seeded pods can start Running.
   */
  create(object: KubeObject, options: { dryRun?: boolean } = {}): KubeObject {
    const type = this.typeOf(object.apiVersion, object.kind);
    const created = this.core.objects.create(type, object.metadata.namespace, object, options);
    if (object['status'] !== undefined && type.subresources.includes('status') && type.statusOnCreate === 'reset' && !options.dryRun) {
      const withStatus = { ...this.core.objects.toExternal(type, created), status: clone(object['status']) };
      return this.core.objects.toExternal(type, this.core.objects.update(type, created.metadata.namespace, created.metadata.name!, withStatus, { subresource: 'status' }));
    }
    return this.core.objects.toExternal(type, created);
  }

  get(apiVersion: string, kind: string, name: string, namespace?: string): KubeObject | undefined {
    const type = this.typeOf(apiVersion, kind);
    try {
      return this.core.objects.toExternal(type, this.core.objects.get(type, namespace, name));
    } catch (err) {
      if (err instanceof ApiError && err.code === 404) return undefined;
      throw err;
    }
  }

  list(apiVersion: string, kind: string, options: ListOptions = {}): KubeObject[] {
    const type = this.typeOf(apiVersion, kind);
    return this.core.objects.list(type, options).items.map((o) => this.core.objects.toExternal(type, o));
  }

  /** Replaces an object (optimistic concurrency applies when metadata.resourceVersion is set). */
  update(object: KubeObject, subresource?: 'status'): KubeObject {
    const type = this.typeOf(object.apiVersion, object.kind);
    const updated = this.core.objects.update(type, object.metadata.namespace, object.metadata.name!, object, subresource ? { subresource } : {});
    return this.core.objects.toExternal(type, updated);
  }

  /** Creates, or replaces the current object's content (and status, when given). */
  apply(object: KubeObject): KubeObject {
    const existing = this.get(object.apiVersion!, object.kind!, object.metadata.name!, object.metadata.namespace);
    if (!existing) return this.create(object);
    const body = { ...clone(object), metadata: { ...object.metadata, resourceVersion: undefined } };
    let result = this.update(body);
    if (object['status'] !== undefined && this.typeOf(object.apiVersion, object.kind).subresources.includes('status')) result = this.update({ ...result, status: clone(object['status']) }, 'status');
    return result;
  }

  delete(apiVersion: string, kind: string, name: string, namespace?: string, options: DeleteOptions = {}): boolean {
    const type = this.typeOf(apiVersion, kind);
    try {
      this.core.objects.delete(type, namespace, name, options);
      return true;
    } catch (err) {
      if (err instanceof ApiError && err.code === 404) return false;
      throw err;
    }
  }

  async stop(): Promise<void> {
    await this.core.close();
  }
}

/** Starts a server on loopback (a random port unless one is given) with a fresh CA and server certificate. */
export async function startKubeApiServer(options: StartOptions = {}): Promise<KubeApiServer> {
  const host = options.host ?? '127.0.0.1';
  const stateDir = options.stateDir ?? fs.mkdtempSync(path.join(os.tmpdir(), 'kube-api-server-'));
  fs.mkdirSync(stateDir, { recursive: true });
  const ca = createCa({ commonName: 'kube-api-server test CA' });
  const hosts = [...new Set(['127.0.0.1', '::1', 'localhost', 'kubernetes', 'kubernetes.default.svc', host].filter((h) => h !== '0.0.0.0' && h !== '::'))];
  const serving = issueCertificate(ca, { commonName: 'kube-apiserver', usage: 'server', hosts });
  const tuning: ServerTuning = { ...DEFAULT_TUNING };
  for (const key of Object.keys(DEFAULT_TUNING) as (keyof ServerTuning)[]) {
    if (options[key] !== undefined) (tuning as unknown as Record<string, unknown>)[key] = options[key];
  }
  const core = new KubeApiCore(tuning);
  const url = await core.listen(host, options.port ?? 0, serving);
  const server = new KubeApiServer(core, url, ca.certPem, stateDir);
  for (const user of options.users ?? []) server.addUser(user, user.token);
  return server;
}
