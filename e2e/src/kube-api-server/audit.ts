// The audit log: one entry per request (also refused ones), so a test can assert what a component did and, as
// important here, what it never did — no GET or LIST on secrets, no write outside its Lease. Bounded, since a
// benchmark makes hundreds of thousands of requests; the counters are not.
import type { RequestInfo } from './request-info.js';

export interface AuditEntry {
  time: string;
  user: string;
  groups: string[];
  /** Set when the request impersonated another identity: who really made it. */
  impersonatedBy?: string;
  verb: string;
  apiGroup: string;
  apiVersion: string;
  resource?: string;
  subresource?: string;
  namespace?: string;
  name?: string;
  path: string;
  query: string;
  dryRun: boolean;
  code: number;
  userAgent?: string;
}

export interface AuditQuery {
  user?: string;
  verb?: string | string[];
  resource?: string;
  subresource?: string;
  namespace?: string;
  apiGroup?: string;
}

export const READ_VERBS = ['get', 'list', 'watch'];

export class AuditLog {
  private readonly entries: AuditEntry[] = [];
  private readonly counts = new Map<string, number>();

  constructor(private readonly limit: number) {}

  record(entry: AuditEntry): void {
    this.entries.push(entry);
    if (this.entries.length > this.limit * 1.25) this.entries.splice(0, this.entries.length - this.limit);
    const key = `${entry.verb}\u0000${entry.resource ?? entry.path}\u0000${entry.user}`;
    this.counts.set(key, (this.counts.get(key) ?? 0) + 1);
  }

  /** The kept entries matching a query (all when none). */
  find(query: AuditQuery = {}): AuditEntry[] {
    const verbs = query.verb === undefined ? undefined : Array.isArray(query.verb) ? query.verb : [query.verb];
    return this.entries.filter(
      (e) =>
        (query.user === undefined || e.user === query.user) &&
        (verbs === undefined || verbs.includes(e.verb)) &&
        (query.resource === undefined || e.resource === query.resource) &&
        (query.subresource === undefined || e.subresource === query.subresource) &&
        (query.namespace === undefined || e.namespace === query.namespace) &&
        (query.apiGroup === undefined || e.apiGroup === query.apiGroup),
    );
  }

  /**
   * Requests (allowed or refused) with this verb on this resource (or non-resource path) since the start or the last
   * clear(), by one user or by anyone. Counted apart from the bounded entries, so nothing is ever missed.
   */
  count(verb: string, resourceOrPath: string, user?: string): number {
    let total = 0;
    for (const [key, n] of this.counts) {
      const [v, r, u] = key.split('\u0000');
      if (v === verb && r === resourceOrPath && (user === undefined || u === user)) total += n;
    }
    return total;
  }

  /** get + list + watch requests on a resource: "did anything read secrets?". */
  reads(resource: string, user?: string): number {
    return READ_VERBS.reduce((sum, verb) => sum + this.count(verb, resource, user), 0);
  }

  clear(): void {
    this.entries.length = 0;
    this.counts.clear();
  }
}

export function auditEntryFor(info: RequestInfo, url: URL, fields: Pick<AuditEntry, 'user' | 'groups' | 'code' | 'dryRun'> & { impersonatedBy?: string; userAgent?: string }): AuditEntry {
  const entry: AuditEntry = {
    time: new Date().toISOString(),
    user: fields.user,
    groups: fields.groups,
    verb: info.verb,
    apiGroup: info.apiGroup,
    apiVersion: info.apiVersion,
    path: url.pathname,
    query: url.search,
    dryRun: fields.dryRun,
    code: fields.code,
  };
  if (fields.impersonatedBy) entry.impersonatedBy = fields.impersonatedBy;
  if (fields.userAgent) entry.userAgent = fields.userAgent;
  if (info.resource !== undefined) entry.resource = info.resource;
  if (info.subresource !== undefined) entry.subresource = info.subresource;
  if (info.namespace !== undefined) entry.namespace = info.namespace;
  if (info.name !== undefined) entry.name = info.name;
  return entry;
}
