// The create-only review kinds, answered by the same authenticator and RBAC evaluator that guard every request:
// SubjectAccessReview (issue 9 asks it what the chart's service accounts may do), SelfSubjectAccessReview and
// SelfSubjectRulesReview (kubectl auth can-i, with and without --list), LocalSubjectAccessReview, TokenReview (an
// aggregator checking an agent's projected token) and SelfSubjectReview (kubectl auth whoami). Also the TokenRequest
// subresource of ServiceAccounts, which issues the tokens (also pod-bound ones).
import type { Authenticator, ObjectLookup, UserInfo } from './authn.js';
import { ApiError, badRequest, conflict, invalid, notFound } from './status.js';
import { isJsonObject, kubeTime, type KubeObject } from './objects-meta.js';
import type { RbacAuthorizer, Attributes } from './rbac.js';

export interface ReviewContext {
  user: UserInfo;
  namespace?: string;
  body: KubeObject;
  authorizer: RbacAuthorizer;
  authenticator: Authenticator;
}

function stringList(value: unknown): string[] {
  return Array.isArray(value) ? value.map(String) : [];
}

function attributesFrom(spec: Record<string, unknown>, user: UserInfo, kind: string): Attributes {
  const resource = spec['resourceAttributes'];
  const nonResource = spec['nonResourceAttributes'];
  if (isJsonObject(resource) && isJsonObject(nonResource)) {
    throw invalid(kind, 'authorization.k8s.io', '', [{ field: 'spec.resourceAttributes', message: 'Invalid value: "": cannot be specified in combination with nonResourceAttributes' }]);
  }
  if (isJsonObject(resource)) {
    const attributes: Attributes = {
      user,
      resourceRequest: true,
      verb: String(resource['verb'] ?? ''),
      apiGroup: String(resource['group'] ?? ''),
      resource: String(resource['resource'] ?? ''),
    };
    if (resource['subresource']) attributes.subresource = String(resource['subresource']);
    if (resource['namespace']) attributes.namespace = String(resource['namespace']);
    if (resource['name']) attributes.name = String(resource['name']);
    return attributes;
  }
  if (isJsonObject(nonResource)) {
    return { user, resourceRequest: false, verb: String(nonResource['verb'] ?? ''), path: String(nonResource['path'] ?? '') };
  }
  throw invalid(kind, 'authorization.k8s.io', '', [{ field: 'spec.resourceAttributes', message: 'Invalid value: "null": exactly one of nonResourceAttributes or resourceAttributes must be specified' }]);
}

function answer(body: KubeObject, apiVersion: string, kind: string, status: Record<string, unknown>): KubeObject {
  return { ...body, apiVersion, kind, metadata: { ...(body.metadata ?? {}), creationTimestamp: null as unknown as string }, status };
}

function accessStatus(decision: { allowed: boolean; reason: string }): Record<string, unknown> {
  return decision.reason ? { allowed: decision.allowed, reason: decision.reason } : { allowed: decision.allowed };
}

export function subjectAccessReview(ctx: ReviewContext): KubeObject {
  const spec = isJsonObject(ctx.body['spec']) ? ctx.body['spec'] : {};
  const username = typeof spec['user'] === 'string' ? spec['user'] : '';
  const groups = stringList(spec['groups']);
  if (!username && groups.length === 0) {
    throw invalid('SubjectAccessReview', 'authorization.k8s.io', '', [{ field: 'spec.user', message: 'Invalid value: "": at least one of user or group must be specified' }]);
  }
  const subject: UserInfo = { username, groups };
  if (typeof spec['uid'] === 'string') subject.uid = spec['uid'];
  const decision = ctx.authorizer.authorize(attributesFrom(spec, subject, 'SubjectAccessReview'));
  return answer(ctx.body, 'authorization.k8s.io/v1', 'SubjectAccessReview', accessStatus(decision));
}

export function localSubjectAccessReview(ctx: ReviewContext): KubeObject {
  const spec = isJsonObject(ctx.body['spec']) ? ctx.body['spec'] : {};
  const resource = isJsonObject(spec['resourceAttributes']) ? spec['resourceAttributes'] : undefined;
  if (!resource) throw invalid('LocalSubjectAccessReview', 'authorization.k8s.io', '', [{ field: 'spec.resourceAttributes', message: 'Required value: disallowed on this kind of request' }]);
  if (resource['namespace'] && resource['namespace'] !== ctx.namespace) {
    throw badRequest(`spec.resourceAttributes.namespace must match namespace: ${ctx.namespace ?? ''}`);
  }
  const body: KubeObject = { ...ctx.body, spec: { ...spec, resourceAttributes: { ...resource, namespace: ctx.namespace } } };
  const reviewed = subjectAccessReview({ ...ctx, body });
  return { ...reviewed, apiVersion: 'authorization.k8s.io/v1', kind: 'LocalSubjectAccessReview' };
}

export function selfSubjectAccessReview(ctx: ReviewContext): KubeObject {
  const spec = isJsonObject(ctx.body['spec']) ? ctx.body['spec'] : {};
  const decision = ctx.authorizer.authorize(attributesFrom(spec, ctx.user, 'SelfSubjectAccessReview'));
  return answer(ctx.body, 'authorization.k8s.io/v1', 'SelfSubjectAccessReview', accessStatus(decision));
}

export function selfSubjectRulesReview(ctx: ReviewContext): KubeObject {
  const spec = isJsonObject(ctx.body['spec']) ? ctx.body['spec'] : {};
  const namespace = typeof spec['namespace'] === 'string' ? spec['namespace'] : '';
  if (!namespace) throw invalid('SelfSubjectRulesReview', 'authorization.k8s.io', '', [{ field: 'spec.namespace', message: 'Required value' }]);
  const rules = ctx.authorizer.rulesFor(ctx.user, namespace);
  const resourceRules = rules
    .filter((r) => (r.nonResourceURLs ?? []).length === 0)
    .map((r) => ({ verbs: r.verbs, apiGroups: r.apiGroups ?? [], resources: r.resources ?? [], ...((r.resourceNames ?? []).length > 0 ? { resourceNames: r.resourceNames } : {}) }));
  const nonResourceRules = rules.filter((r) => (r.nonResourceURLs ?? []).length > 0).map((r) => ({ verbs: r.verbs, nonResourceURLs: r.nonResourceURLs }));
  return answer(ctx.body, 'authorization.k8s.io/v1', 'SelfSubjectRulesReview', { resourceRules, nonResourceRules, incomplete: false });
}

export function tokenReview(ctx: ReviewContext): KubeObject {
  const spec = isJsonObject(ctx.body['spec']) ? ctx.body['spec'] : {};
  const token = typeof spec['token'] === 'string' ? spec['token'] : '';
  const wanted = stringList(spec['audiences']);
  const resolved = token ? ctx.authenticator.resolve(token) : undefined;
  // A token bound to audiences authenticates only for a review that asks for one of them.
  const audiences = resolved?.audiences ? (wanted.length === 0 ? resolved.audiences : wanted.filter((a) => resolved.audiences!.includes(a))) : wanted;
  if (!resolved || (resolved.audiences && audiences.length === 0)) {
    return answer(ctx.body, 'authentication.k8s.io/v1', 'TokenReview', { user: {}, error: '[invalid bearer token, token lookup failed]' });
  }
  const user: Record<string, unknown> = { username: resolved.user.username, groups: resolved.user.groups };
  if (resolved.user.uid) user['uid'] = resolved.user.uid;
  if (resolved.user.extra) user['extra'] = resolved.user.extra;
  const status: Record<string, unknown> = { authenticated: true, user };
  if (audiences.length > 0) status['audiences'] = audiences;
  return answer(ctx.body, 'authentication.k8s.io/v1', 'TokenReview', status);
}

export function selfSubjectReview(ctx: ReviewContext): KubeObject {
  const userInfo: Record<string, unknown> = { username: ctx.user.username, groups: ctx.user.groups };
  if (ctx.user.uid) userInfo['uid'] = ctx.user.uid;
  if (ctx.user.extra) userInfo['extra'] = ctx.user.extra;
  return answer(ctx.body, 'authentication.k8s.io/v1', 'SelfSubjectReview', { userInfo });
}

export const REVIEWS: Record<string, (ctx: ReviewContext) => KubeObject> = {
  subjectaccessreview: subjectAccessReview,
  localsubjectaccessreview: localSubjectAccessReview,
  selfsubjectaccessreview: selfSubjectAccessReview,
  selfsubjectrulesreview: selfSubjectRulesReview,
  tokenreview: tokenReview,
  selfsubjectreview: selfSubjectReview,
};

/**
 * Checks a TokenRequest's spec.boundObjectRef as the real server does (its errors and their order) and returns the
 * pod to bind the token to, with the pod's Node when that exists. Only pods: the real server also binds to Secrets
 * and Nodes, which nothing here needs.
 */
export function boundPod(serviceAccount: KubeObject, ref: Record<string, unknown>, lookup: ObjectLookup): { pod: KubeObject; node?: KubeObject } {
  const kind = String(ref['kind'] ?? '');
  const apiVersion = String(ref['apiVersion'] ?? '');
  const slash = apiVersion.indexOf('/');
  const group = slash < 0 ? '' : apiVersion.slice(0, slash);
  if (kind !== 'Pod' || group !== '') throw badRequest(`cannot bind token to object of type ${group}/${apiVersion.slice(slash + 1)}, Kind=${kind}`);
  const name = String(ref['name'] ?? '');
  const pod = lookup('pods', serviceAccount.metadata.namespace, name);
  if (!pod) throw notFound({ group: '', resource: 'pods' }, name);
  const podSpec = isJsonObject(pod['spec']) ? pod['spec'] : {};
  // Admission names "default" for a pod that names no account; this server has no admission, so assume it here.
  const runsAs = typeof podSpec['serviceAccountName'] === 'string' && podSpec['serviceAccountName'] ? podSpec['serviceAccountName'] : 'default';
  if (runsAs !== serviceAccount.metadata.name) {
    throw badRequest(`cannot bind token for serviceaccount "${serviceAccount.metadata.name}" to pod running with different serviceaccount name.`);
  }
  // An unscheduled pod, or one whose Node is gone, still gets a token; it just carries no node info.
  const nodeName = typeof podSpec['nodeName'] === 'string' ? podSpec['nodeName'] : '';
  const node = nodeName ? lookup('nodes', undefined, nodeName) : undefined;
  const uid = typeof ref['uid'] === 'string' ? ref['uid'] : '';
  if (uid && uid !== pod.metadata.uid) {
    // The real server names the kind, not the resource, in this Conflict.
    throw conflict({ group: '', resource: 'Pod' }, name, `the UID in the bound object reference (${uid}) does not match the UID in record. The object might have been deleted and then recreated`);
  }
  return node ? { pod, node } : { pod };
}

/** POST serviceaccounts/<name>/token: a TokenRequest answered with a token for that account (bound to a pod if asked). */
export function tokenRequest(serviceAccount: KubeObject, body: KubeObject, authenticator: Authenticator): KubeObject {
  const spec = isJsonObject(body['spec']) ? body['spec'] : {};
  const expirationSeconds = typeof spec['expirationSeconds'] === 'number' ? spec['expirationSeconds'] : 3600;
  if (expirationSeconds < 600) {
    throw new ApiError(422, 'Invalid', `TokenRequest.authentication.k8s.io "${serviceAccount.metadata.name}" is invalid: spec.expirationSeconds: Invalid value: ${expirationSeconds}: may not specify a duration less than 10 minutes`);
  }
  const audiences = stringList(spec['audiences']);
  const binding = isJsonObject(spec['boundObjectRef']) ? boundPod(serviceAccount, spec['boundObjectRef'], authenticator.lookup) : {};
  const issued = authenticator.issueServiceAccountToken(serviceAccount, { expirationSeconds, ...(audiences.length > 0 ? { audiences } : {}), ...binding });
  return {
    apiVersion: 'authentication.k8s.io/v1',
    kind: 'TokenRequest',
    metadata: { name: serviceAccount.metadata.name!, namespace: serviceAccount.metadata.namespace!, creationTimestamp: kubeTime() },
    // The spec comes back as sent (boundObjectRef included), as the real server echoes the request.
    spec: { ...spec, audiences, expirationSeconds },
    status: { token: issued.token, expirationTimestamp: kubeTime(issued.expirationTimestamp) },
  };
}
