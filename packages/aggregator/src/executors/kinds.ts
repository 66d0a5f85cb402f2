// Which resource serves a manifest's apiVersion and kind, from the API server's discovery (cached a few minutes per
// group-version), so a manifest can be sent to its resource path without kubectl.
import type { KubeHttp } from './kube-http.js';

export interface KindInfo {
  group: string;
  version: string;
  resource: string;
  namespaced: boolean;
}

interface ApiResourceList {
  resources?: { name?: string; kind?: string; namespaced?: boolean }[];
}

const GROUP_VERSION = /^(?:([a-z0-9.-]+)\/)?(v\d+(?:(?:alpha|beta)\d+)?)$/;

export class KindResolver {
  private readonly cache = new Map<string, { at: number; list: ApiResourceList | undefined }>();

  constructor(
    private readonly http: KubeHttp,
    private readonly ttlMs = 300_000,
    private readonly now: () => number = Date.now,
  ) {}

  /** The resource for apiVersion + kind; undefined when this cluster does not serve it; throws on a failed call. */
  async resolve(apiVersion: string, kind: string, timeoutMs: number): Promise<KindInfo | undefined> {
    const m = GROUP_VERSION.exec(apiVersion);
    if (!m) return undefined;
    const group = m[1] ?? '';
    const version = m[2]!;
    const key = `${group}/${version}`;
    let entry = this.cache.get(key);
    if (!entry || this.now() - entry.at > this.ttlMs) {
      const url = group === '' ? `/api/${version}` : `/apis/${encodeURIComponent(group)}/${version}`;
      const res = await this.http.request({ method: 'GET', url, accept: 'application/json', timeoutMs, maxBytes: 8 * 1024 * 1024 });
      if (res.status === 404) entry = { at: this.now(), list: undefined };
      else if (res.status !== 200 || res.truncated) throw new Error(`discovery of ${apiVersion} answered ${res.status}`);
      else entry = { at: this.now(), list: JSON.parse(res.body.toString('utf8')) as ApiResourceList };
      this.cache.set(key, entry);
    }
    const found = entry.list?.resources?.find((r) => r.kind === kind && typeof r.name === 'string' && !r.name.includes('/'));
    return found ? { group, version, resource: found.name!, namespaced: found.namespaced === true } : undefined;
  }
}
