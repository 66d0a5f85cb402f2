// Kubernetes API paths from the cloud: normalised the way the API server would read them, then checked against a
// read-only allowlist. One function decides for both the KubernetesAPIRequest executor and the policy proxy that
// kubectl talks to, so `kubectl get --raw X`, `kubectl get secrets` and an api_path of X meet the same rules.
//
// Normalising: absolute URLs, fragments, raw non-ASCII and control characters are refused; duplicate and trailing
// slashes are dropped; each segment is percent-decoded once (a '%', '/' or '\' left after decoding means double
// encoding or an encoded slash: refused); '.' and '..' are resolved (climbing above the root is refused); the query
// is parsed as Go's url.ParseQuery does ('+' is a space), only known parameters are accepted, each at most once.
// What is sent to the API server is rebuilt from the decoded parts, so it is exactly what was checked.
//
// Deciding: the path is split as the API server's RequestInfoFactory splits it (group, version, namespace,
// resource, name, subresource). Structural words are compared in lower case for refusals (so `/api/v1/Secrets`
// is refused as a secret, not merely as unknown) and must be exact for the allowlist.
import { refuse, type Refusal } from './refusal.js';

export const MAX_PATH_LENGTH = 4096;

export interface ApiTarget {
  /** The path sent to the API server: decoded segments, re-encoded, joined with single slashes. */
  path: string;
  /** The query sent ('' for none), rebuilt from the accepted parameters. */
  query: string;
  params: [string, string][];
  kind: 'discovery' | 'nonresource' | 'resource';
  group: string;
  version: string;
  namespace?: string | undefined;
  resource?: string | undefined;
  name?: string | undefined;
  subresource?: string | undefined;
  /** An /openapi/... document (accepts the hash parameter). */
  openapi?: boolean;
}

/** `path?query` as sent. */
export const targetUrl = (t: ApiTarget): string => (t.query ? `${t.path}?${t.query}` : t.path);

// ---------------------------------------------------------------------------------------------------------------
// Normalising

const PCHAR = /^(?:[A-Za-z0-9\-._~!$&'()*+,;=:@]|%[0-9A-Fa-f]{2})*$/;
const QCHAR = /^(?:[A-Za-z0-9\-._~!$&'()*+,;=:@/?]|%[0-9A-Fa-f]{2})*$/;
/** What a decoded path segment may hold: Kubernetes names, groups, versions, resources (RBAC names have ':'). */
const SEGMENT = /^[A-Za-z0-9._:@~+-]+$/;

function decodeComponent(text: string, plusIsSpace: boolean): string | undefined {
  try {
    return decodeURIComponent(plusIsSpace ? text.replace(/\+/g, ' ') : text);
  } catch {
    return undefined;
  }
}

const hasControl = (s: string): boolean => /[\u0000-\u001f\u007f-\u009f]/.test(s);

/** Normalises a raw path (with optional query) into segments and parameters, or refuses it. */
export function normaliseApiPath(raw: string): { segments: string[]; params: [string, string][] } | Refusal {
  if (typeof raw !== 'string' || raw.trim() === '') return refuse('malformed_path', 'an empty API path');
  const text = raw.trim();
  if (text.length > MAX_PATH_LENGTH) return refuse('too_large', `an API path longer than ${MAX_PATH_LENGTH} characters`);
  if (/^[A-Za-z][A-Za-z0-9+.-]*:/.test(text)) return refuse('malformed_path', 'an absolute URL: give a path beginning with / (the operator always calls its own API server)');
  if (/[^\u0021-\u007e]/.test(text)) return refuse('encoding', 'whitespace, control or non-ASCII characters in the path (percent-encode them, or better, leave them out)');
  if (text.includes('#')) return refuse('malformed_path', 'a fragment (#) in the path');
  if (text.includes('\\')) return refuse('traversal', 'a backslash in the path');
  if (!text.startsWith('/')) return refuse('malformed_path', 'a path that does not begin with /');

  const q = text.indexOf('?');
  const pathPart = q === -1 ? text : text.slice(0, q);
  const queryPart = q === -1 ? '' : text.slice(q + 1);

  const segments: string[] = [];
  for (const rawSegment of pathPart.split('/')) {
    if (rawSegment === '') continue; // duplicate, leading or trailing slash
    if (!PCHAR.test(rawSegment)) return refuse('encoding', `bad character or percent-encoding in path segment ${JSON.stringify(rawSegment)}`);
    const segment = decodeComponent(rawSegment, false);
    if (segment === undefined) return refuse('encoding', `percent-encoding that is not UTF-8 in path segment ${JSON.stringify(rawSegment)}`);
    if (segment.includes('%')) return refuse('encoding', `double percent-encoding in path segment ${JSON.stringify(rawSegment)}`);
    if (segment.includes('/') || segment.includes('\\')) return refuse('traversal', `an encoded slash in path segment ${JSON.stringify(rawSegment)}`);
    if (segment === '.') continue;
    if (segment === '..') {
      if (segments.length === 0) return refuse('traversal', 'a .. segment above the root of the API');
      segments.pop();
      continue;
    }
    if (!SEGMENT.test(segment)) return refuse('encoding', `unexpected characters in path segment ${JSON.stringify(segment)}`);
    segments.push(segment);
  }

  const params: [string, string][] = [];
  for (const part of queryPart.split('&')) {
    if (part === '') continue;
    if (!QCHAR.test(part)) return refuse('encoding', `bad character or percent-encoding in query ${JSON.stringify(part)}`);
    const eq = part.indexOf('=');
    const key = decodeComponent(eq === -1 ? part : part.slice(0, eq), true);
    const value = decodeComponent(eq === -1 ? '' : part.slice(eq + 1), true);
    if (key === undefined || value === undefined) return refuse('encoding', `percent-encoding that is not UTF-8 in query ${JSON.stringify(part)}`);
    if (hasControl(key) || hasControl(value)) return refuse('encoding', `control characters in query parameter ${JSON.stringify(key)}`);
    params.push([key, value]);
  }
  return { segments, params };
}

// ---------------------------------------------------------------------------------------------------------------
// Query parameters

const LIST_PARAMS = new Set(['labelSelector', 'fieldSelector', 'limit', 'continue', 'resourceVersion', 'resourceVersionMatch', 'includeObject', 'pretty', 'timeout']);
const LOG_PARAMS = new Set(['container', 'tailLines', 'sinceSeconds', 'sinceTime', 'previous', 'timestamps', 'limitBytes', 'pretty', 'timeout', 'follow']);
const OPENAPI_PARAMS = new Set(['hash', 'timeout']);
const PLAIN_PARAMS = new Set(['pretty', 'timeout']);
const MAX_PARAM_VALUE = 2048;

function checkParams(params: [string, string][], allowed: ReadonlySet<string>): Refusal | undefined {
  const seen = new Set<string>();
  for (const [key, value] of params) {
    const lower = key.toLowerCase();
    if (lower === 'watch' || lower === 'allowwatchbookmarks' || lower === 'sendinitialevents') {
      return refuse('watch', `watches are not served (query parameter ${key}); ask for a list and compare resourceVersions instead`);
    }
    if (lower === 'follow' && value !== 'false' && value !== '0') return refuse('watch', 'following a log stream is not served (follow); ask for tailLines or sinceSeconds instead');
    if (lower === 'dryrun' || lower === 'fieldmanager' || lower === 'force' || lower === 'propagationpolicy') return refuse('method', `${key} belongs to writes, and only reads are served`);
    if (lower === 'insecureskiptlsverifybackend') return refuse('query', `${key} would make the API server skip verifying the kubelet`);
    if (!allowed.has(key)) return refuse('query', `query parameter ${JSON.stringify(key)} is not accepted here (accepted: ${[...allowed].join(', ')})`);
    if (seen.has(key)) return refuse('query', `query parameter ${key} given twice`);
    seen.add(key);
    if (value.length > MAX_PARAM_VALUE) return refuse('too_large', `query parameter ${key} longer than ${MAX_PARAM_VALUE} characters`);
    if (key === 'limit' && !/^\d{1,6}$/.test(value)) return refuse('query', 'limit must be a whole number');
    if (key === 'includeObject' && !['None', 'Metadata', 'Object'].includes(value)) return refuse('query', 'includeObject must be None, Metadata or Object');
  }
  return undefined;
}

// ---------------------------------------------------------------------------------------------------------------
// Splitting into request info (as the API server's RequestInfoFactory does)

const VERSION = /^v\d+(?:(?:alpha|beta)\d+)?$/;
const DNS_GROUP = /^[a-z0-9]([a-z0-9-]*[a-z0-9])?(\.[a-z0-9]([a-z0-9-]*[a-z0-9])?)+$/;
const HEALTH = new Set(['healthz', 'livez', 'readyz']);

function split(segments: string[]): Omit<ApiTarget, 'path' | 'query' | 'params'> | Refusal {
  const [first, ...rest] = segments;
  const firstLower = first?.toLowerCase();
  if (first === undefined) return { kind: 'discovery', group: '', version: '' };
  if (first === 'version' && rest.length === 0) return { kind: 'nonresource', group: '', version: '' };
  if (HEALTH.has(first) && rest.length <= 1) return { kind: 'nonresource', group: '', version: '' };
  if (first === 'openapi' && (rest[0] === 'v2' ? rest.length === 1 : rest[0] === 'v3')) return { kind: 'nonresource', group: '', version: '', openapi: true };

  let group: string;
  let version: string | undefined;
  let after: string[];
  if ((firstLower === 'api' || firstLower === 'apis') && first !== firstLower) {
    // The API server would answer 404; say so, unless the same path in lower case names a Secret.
    const lowered = split(segments.map((s) => s.toLowerCase()));
    if (!('refused' in lowered) && lowered.resource !== undefined && isSecretLike(lowered.resource)) return refuse('secret', `Secrets are never read, in any group or spelling (${segments.join('/')})`);
    return refuse('not_allowlisted', `API paths are case-sensitive: /${firstLower}, not /${first}`);
  }
  if (firstLower === 'api') {
    group = '';
    version = rest[0];
    after = rest.slice(1);
  } else if (firstLower === 'apis') {
    if (rest.length === 0) return { kind: 'discovery', group: '', version: '' };
    group = rest[0]!;
    version = rest[1];
    after = rest.slice(2);
    if (!DNS_GROUP.test(group) && !BUILTIN_GROUPS.has(group)) return refuse('not_allowlisted', `API group ${JSON.stringify(group)} is not a known group (custom groups are DNS names with a dot)`);
  } else {
    const lowered = segments.map((s) => s.toLowerCase());
    if (lowered.includes('proxy')) return refuse('proxy', 'proxy paths are never served');
    return refuse('not_allowlisted', `/${segments.join('/')} is not a served non-resource path (served: /api, /apis, /version, /healthz, /livez, /readyz, /openapi)`);
  }
  if (version === undefined) return { kind: 'discovery', group, version: '' };
  if (!VERSION.test(version)) return refuse('not_allowlisted', `${JSON.stringify(version)} is not an API version`);
  if (after.length === 0) return { kind: 'discovery', group, version };

  if (after[0]!.toLowerCase() === 'watch') return refuse('watch', 'watches (/watch/...) are not served; ask for a list instead');
  let namespace: string | undefined;
  let parts = after;
  if (after[0] === 'namespaces' && after.length > 1) {
    namespace = after[1];
    if (after.length === 2) return { kind: 'resource', group, version, namespace, resource: 'namespaces', name: namespace };
    if (after.length === 3 && (after[2] === 'status' || after[2] === 'finalize')) {
      return { kind: 'resource', group, version, namespace, resource: 'namespaces', name: namespace, subresource: after[2] };
    }
    parts = after.slice(2);
  }
  const [resource, name, subresource, ...extra] = parts;
  const target = { kind: 'resource' as const, group, version, namespace, resource, name, subresource };
  if (extra.length > 0) {
    if ([resource, subresource, ...extra].some((s) => s?.toLowerCase() === 'proxy')) return refuse('proxy', 'proxy paths are never served');
    return refuse('not_allowlisted', `a path with segments after the subresource (${extra.join('/')})`);
  }
  return target;
}

// ---------------------------------------------------------------------------------------------------------------
// The allowlist

const READ = { subresources: [] as string[] };
const WITH_STATUS = { subresources: ['status'] };
const SCALABLE = { subresources: ['status', 'scale'] };

/** Built-in groups: every resource served must be listed here. Anything else is a custom (CRD) group. */
const BUILTIN: Record<string, Record<string, { subresources: string[] }>> = {
  '': {
    pods: { subresources: ['status', 'log'] },
    services: WITH_STATUS,
    endpoints: READ,
    nodes: WITH_STATUS,
    namespaces: WITH_STATUS,
    events: READ,
    configmaps: READ,
    serviceaccounts: READ,
    persistentvolumes: WITH_STATUS,
    persistentvolumeclaims: WITH_STATUS,
    replicationcontrollers: SCALABLE,
    resourcequotas: WITH_STATUS,
    limitranges: READ,
    podtemplates: READ,
    componentstatuses: READ,
  },
  apps: { deployments: SCALABLE, statefulsets: SCALABLE, daemonsets: WITH_STATUS, replicasets: SCALABLE, controllerrevisions: READ },
  batch: { jobs: WITH_STATUS, cronjobs: WITH_STATUS },
  autoscaling: { horizontalpodautoscalers: WITH_STATUS },
  policy: { poddisruptionbudgets: WITH_STATUS },
  'networking.k8s.io': { networkpolicies: WITH_STATUS, ingresses: WITH_STATUS, ingressclasses: READ, ipaddresses: READ, servicecidrs: WITH_STATUS },
  'discovery.k8s.io': { endpointslices: READ },
  'coordination.k8s.io': { leases: READ },
  'events.k8s.io': { events: READ },
  'storage.k8s.io': { storageclasses: READ, csidrivers: READ, csinodes: READ, volumeattachments: WITH_STATUS, csistoragecapacities: READ, volumeattributesclasses: READ },
  'scheduling.k8s.io': { priorityclasses: READ },
  'node.k8s.io': { runtimeclasses: READ },
  'rbac.authorization.k8s.io': { roles: READ, rolebindings: READ, clusterroles: READ, clusterrolebindings: READ },
  'apiextensions.k8s.io': { customresourcedefinitions: WITH_STATUS },
  'admissionregistration.k8s.io': {
    validatingwebhookconfigurations: READ,
    mutatingwebhookconfigurations: READ,
    validatingadmissionpolicies: WITH_STATUS,
    validatingadmissionpolicybindings: READ,
    mutatingadmissionpolicies: READ,
    mutatingadmissionpolicybindings: READ,
  },
  'apiregistration.k8s.io': { apiservices: WITH_STATUS },
  'flowcontrol.apiserver.k8s.io': { flowschemas: WITH_STATUS, prioritylevelconfigurations: WITH_STATUS },
  'certificates.k8s.io': { certificatesigningrequests: READ },
  'metrics.k8s.io': { pods: READ, nodes: READ },
  'resource.k8s.io': { deviceclasses: READ, resourceclaims: WITH_STATUS, resourceclaimtemplates: READ, resourceslices: READ },
  extensions: {},
  'internal.apiserver.k8s.io': {},
  'storagemigration.k8s.io': {},
  'imagepolicy.k8s.io': {},
  'authentication.k8s.io': {},
  'authorization.k8s.io': {},
};
export const BUILTIN_GROUPS: ReadonlySet<string> = new Set(Object.keys(BUILTIN));

/** Subresources a custom resource may be read through. */
const CUSTOM_SUBRESOURCES = new Set(['status', 'scale']);

const REVIEW_RESOURCES = new Set(['tokenreviews', 'subjectaccessreviews', 'localsubjectaccessreviews', 'selfsubjectaccessreviews', 'selfsubjectrulesreviews', 'selfsubjectreviews']);
const WRITE_SUBRESOURCES = new Set(['eviction', 'binding', 'ephemeralcontainers', 'resize', 'finalize', 'approval', 'rollback']);

/** The secret rule, shared with the kubectl policy: any resource whose name contains "secret", in any group. */
export const isSecretLike = (resource: string): boolean => resource.toLowerCase().includes('secret');

export interface PathPolicyOptions {
  method: 'GET' | 'POST';
  /** POST to self access reviews (what `kubectl auth can-i` sends); only for that command, never for api_paths. */
  allowSelfAccessReviews?: boolean;
}

function decide(t: Omit<ApiTarget, 'path' | 'query'>, options: PathPolicyOptions): Refusal | undefined {
  if (t.kind !== 'resource') {
    if (options.method !== 'GET') return refuse('method', `${options.method} is not served; only GET`);
    return checkParams(t.params, t.openapi ? OPENAPI_PARAMS : PLAIN_PARAMS);
  }
  const resource = t.resource ?? '';
  const lowerResource = resource.toLowerCase();
  const lowerSub = t.subresource?.toLowerCase();
  // Refusals first, case-insensitively, so the reason names the real danger.
  if (isSecretLike(resource)) return refuse('secret', `Secrets are never read, in any group or spelling (resource ${JSON.stringify(resource)})`);
  if (lowerResource === 'proxy' || lowerSub === 'proxy') return refuse('proxy', 'proxy subresources are never served');
  if (lowerSub === 'exec' || lowerSub === 'attach' || lowerSub === 'portforward') return refuse('exec', `pods/${t.subresource} would run something in a container or open a connection to it`);
  if (lowerSub === 'token') return refuse('token', `${resource}/token would mint credentials`);
  if (lowerSub === 'approval' && lowerResource === 'certificatesigningrequests') return refuse('write_subresource', 'certificate signing request approval is never served');
  if (REVIEW_RESOURCES.has(lowerResource)) {
    const self = lowerResource === 'selfsubjectaccessreviews' || lowerResource === 'selfsubjectrulesreviews';
    if (!(self && options.allowSelfAccessReviews && options.method === 'POST' && t.group === 'authorization.k8s.io' && t.name === undefined && t.namespace === undefined)) {
      return refuse('review', `${resource} (token and access reviews) are not served`);
    }
    return checkParams(t.params, PLAIN_PARAMS);
  }
  if (lowerSub !== undefined && WRITE_SUBRESOURCES.has(lowerSub)) return refuse('write_subresource', `${resource}/${t.subresource} only exists for writes`);
  if (options.method !== 'GET') return refuse('method', `${options.method} is not served; only GET`);

  const builtin = BUILTIN[t.group];
  if (builtin) {
    const entry = Object.hasOwn(builtin, resource) ? builtin[resource] : undefined;
    if (!entry) return refuse('not_allowlisted', `${t.group || 'core'}/${resource} is not on the read allowlist`);
    if (t.subresource !== undefined && !entry.subresources.includes(t.subresource)) {
      return refuse('not_allowlisted', `${resource}/${t.subresource} is not on the read allowlist`);
    }
  } else if (t.subresource !== undefined && !CUSTOM_SUBRESOURCES.has(t.subresource)) {
    return refuse('not_allowlisted', `custom resource subresource ${t.subresource} is not served (only status and scale)`);
  } else if (!/^[a-z0-9][a-z0-9-]*$/.test(resource)) {
    return refuse('not_allowlisted', `${JSON.stringify(resource)} is not a resource name (resources are lower case)`);
  }
  if (t.namespace !== undefined && !/^[a-z0-9]([a-z0-9-]*[a-z0-9])?$/.test(t.namespace)) return refuse('malformed_path', `${JSON.stringify(t.namespace)} is not a namespace name`);
  const logs = t.group === '' && resource === 'pods' && t.subresource === 'log';
  return checkParams(t.params, logs ? LOG_PARAMS : t.subresource === undefined || t.subresource === 'status' ? LIST_PARAMS : PLAIN_PARAMS);
}

/** Normalises and decides one raw path: the target to request, or why not. */
export function checkApiPath(raw: string, options: PathPolicyOptions = { method: 'GET' }): ApiTarget | Refusal {
  const normal = normaliseApiPath(raw);
  if ('refused' in normal) return normal;
  const info = split(normal.segments);
  if ('refused' in info) return info;
  const refusal = decide({ ...info, params: normal.params }, options);
  if (refusal) return refusal;
  const path = '/' + normal.segments.map(encodeURIComponent).join('/');
  const query = normal.params.map(([k, v]) => `${encodeURIComponent(k)}=${encodeURIComponent(v)}`).join('&');
  return { ...info, params: normal.params, path, query };
}
