// The RBAC authorizer, evaluated on every request from the stored rbac.authorization.k8s.io/v1 objects, with the
// matching rules of k8s.io/kubernetes/plugin/pkg/auth/authorizer/rbac: verbs, apiGroups, resources including
// "pods/exec" and "*/status", resourceNames, nonResourceURLs with a trailing "*", subjects by User, Group and
// ServiceAccount, RoleBindings to Roles or ClusterRoles, aggregated ClusterRoles. Members of system:masters are
// allowed everything, as the real server's privileged-group authorizer does (the "admin" of test setup).
// SubjectAccessReviews (reviews.ts) ask this same evaluator, so issue 9's checks of the chart's RBAC answer exactly
// what requests by those identities would get.
import { MASTERS_GROUP, serviceAccountUsername, type UserInfo } from './authn.js';
import { isJsonObject, type KubeObject } from './objects-meta.js';
import { matchesLabels, type LabelRequirement } from './selectors.js';
import type { VersionedStore } from './store.js';

export interface PolicyRule {
  verbs: string[];
  apiGroups?: string[];
  resources?: string[];
  resourceNames?: string[];
  nonResourceURLs?: string[];
}

export interface Attributes {
  user: UserInfo;
  verb: string;
  resourceRequest: boolean;
  apiGroup?: string;
  resource?: string;
  subresource?: string;
  namespace?: string;
  name?: string;
  /** Non-resource requests: the URL path. */
  path?: string;
}

export interface Decision {
  allowed: boolean;
  reason: string;
}

interface Subject {
  kind: string;
  name: string;
  namespace?: string;
}

const RBAC = 'rbac.authorization.k8s.io';
const BUCKETS = {
  clusterRoles: `${RBAC}/clusterroles`,
  clusterRoleBindings: `${RBAC}/clusterrolebindings`,
  roles: `${RBAC}/roles`,
  roleBindings: `${RBAC}/rolebindings`,
};

function strings(value: unknown): string[] {
  return Array.isArray(value) ? value.filter((v): v is string => typeof v === 'string') : [];
}

function rulesOf(object: KubeObject | undefined): PolicyRule[] {
  const rules = object?.['rules'];
  if (!Array.isArray(rules)) return [];
  return rules.filter(isJsonObject).map((r) => ({
    verbs: strings(r['verbs']),
    apiGroups: strings(r['apiGroups']),
    resources: strings(r['resources']),
    resourceNames: strings(r['resourceNames']),
    nonResourceURLs: strings(r['nonResourceURLs']),
  }));
}

/** metav1.LabelSelector (matchLabels + matchExpressions), as aggregation rules use it. */
function selectorMatches(selector: unknown, labels: Record<string, string> | undefined): boolean {
  if (!isJsonObject(selector)) return false;
  const requirements: LabelRequirement[] = [];
  const matchLabels = isJsonObject(selector['matchLabels']) ? selector['matchLabels'] : {};
  for (const [key, value] of Object.entries(matchLabels)) requirements.push({ key, op: 'in', values: [String(value)] });
  for (const e of Array.isArray(selector['matchExpressions']) ? selector['matchExpressions'].filter(isJsonObject) : []) {
    const key = String(e['key']);
    const values = strings(e['values']);
    switch (e['operator']) {
      case 'In':
        requirements.push({ key, op: 'in', values });
        break;
      case 'NotIn':
        requirements.push({ key, op: 'notin', values });
        break;
      case 'Exists':
        requirements.push({ key, op: 'exists' });
        break;
      case 'DoesNotExist':
        requirements.push({ key, op: 'notexists' });
        break;
      default:
        return false;
    }
  }
  // An empty selector matches nothing in an aggregation rule.
  return requirements.length > 0 && matchesLabels(requirements, labels);
}

export function verbMatches(rule: PolicyRule, verb: string): boolean {
  return rule.verbs.includes('*') || rule.verbs.includes(verb);
}

function groupMatches(rule: PolicyRule, group: string): boolean {
  const groups = rule.apiGroups ?? [];
  return groups.includes('*') || groups.includes(group);
}

function resourceMatches(rule: PolicyRule, resource: string, subresource: string | undefined): boolean {
  const combined = subresource ? `${resource}/${subresource}` : resource;
  return (rule.resources ?? []).some((r) => r === '*' || r === combined || (subresource !== undefined && r === `*/${subresource}`));
}

function nameMatches(rule: PolicyRule, name: string | undefined): boolean {
  const names = rule.resourceNames ?? [];
  return names.length === 0 || (name !== undefined && names.includes(name));
}

function urlMatches(rule: PolicyRule, path: string): boolean {
  return (rule.nonResourceURLs ?? []).some((u) => u === '*' || u === path || (u.endsWith('*') && path.startsWith(u.slice(0, -1))));
}

export function ruleAllows(attributes: Attributes, rule: PolicyRule): boolean {
  if (!verbMatches(rule, attributes.verb)) return false;
  if (!attributes.resourceRequest) return urlMatches(rule, attributes.path ?? '');
  return groupMatches(rule, attributes.apiGroup ?? '') && resourceMatches(rule, attributes.resource ?? '', attributes.subresource) && nameMatches(rule, attributes.name);
}

function subjectDescription(subject: Subject): string {
  return subject.kind === 'ServiceAccount' ? `ServiceAccount "${subject.name}/${subject.namespace ?? ''}"` : `${subject.kind} "${subject.name}"`;
}

function appliesTo(user: UserInfo, subject: Subject, bindingNamespace: string): boolean {
  switch (subject.kind) {
    case 'User':
      return user.username === subject.name;
    case 'Group':
      return user.groups.includes(subject.name);
    case 'ServiceAccount': {
      const namespace = subject.namespace || bindingNamespace;
      return namespace !== '' && user.username === serviceAccountUsername(namespace, subject.name);
    }
    default:
      return false;
  }
}

interface Grant {
  rules: PolicyRule[];
  describe(subject: Subject): string;
}

export class RbacAuthorizer {
  constructor(private readonly store: VersionedStore) {}

  private clusterRoleRules(name: string, seen = new Set<string>()): PolicyRule[] {
    if (seen.has(name)) return [];
    seen.add(name);
    const role = this.store.get(BUCKETS.clusterRoles, name);
    if (!role) return [];
    const rules = rulesOf(role);
    const aggregation = role['aggregationRule'];
    if (isJsonObject(aggregation) && Array.isArray(aggregation['clusterRoleSelectors'])) {
      // What the aggregation controller writes into the role: the rules of every ClusterRole a selector matches.
      for (const other of this.store.list(BUCKETS.clusterRoles)) {
        if (other.metadata.name === name) continue;
        if (aggregation['clusterRoleSelectors'].some((s) => selectorMatches(s, other.metadata.labels))) rules.push(...this.clusterRoleRules(other.metadata.name!, seen));
      }
    }
    return rules;
  }

  /** Every binding that applies to the user in this namespace ("" = cluster scope only), with what it grants. */
  private *grants(user: UserInfo, namespace: string | undefined): Generator<{ grant: Grant; subject: Subject }> {
    for (const binding of this.store.list(BUCKETS.clusterRoleBindings)) {
      const subject = this.subjectFor(binding, user, '');
      if (!subject) continue;
      const roleName = String(isJsonObject(binding['roleRef']) ? binding['roleRef']['name'] : '');
      yield {
        subject,
        grant: { rules: this.clusterRoleRules(roleName), describe: (s) => `ClusterRoleBinding "${binding.metadata.name}" of ClusterRole "${roleName}" to ${subjectDescription(s)}` },
      };
    }
    if (!namespace) return;
    for (const binding of this.store.list(BUCKETS.roleBindings)) {
      if (binding.metadata.namespace !== namespace) continue;
      const subject = this.subjectFor(binding, user, namespace);
      if (!subject) continue;
      const ref = isJsonObject(binding['roleRef']) ? binding['roleRef'] : {};
      const roleName = String(ref['name'] ?? '');
      const rules = ref['kind'] === 'ClusterRole' ? this.clusterRoleRules(roleName) : rulesOf(this.store.get(BUCKETS.roles, `${namespace}/${roleName}`));
      yield {
        subject,
        grant: { rules, describe: (s) => `RoleBinding "${binding.metadata.name}/${namespace}" of ${String(ref['kind'])} "${roleName}" to ${subjectDescription(s)}` },
      };
    }
  }

  private subjectFor(binding: KubeObject, user: UserInfo, namespace: string): Subject | undefined {
    const subjects = Array.isArray(binding['subjects']) ? binding['subjects'].filter(isJsonObject) : [];
    for (const s of subjects) {
      const subject: Subject = { kind: String(s['kind']), name: String(s['name']) };
      if (typeof s['namespace'] === 'string') subject.namespace = s['namespace'];
      if (appliesTo(user, subject, namespace)) return subject.kind === 'ServiceAccount' && !subject.namespace ? { ...subject, namespace } : subject;
    }
    return undefined;
  }

  authorize(attributes: Attributes): Decision {
    if (attributes.user.groups.includes(MASTERS_GROUP)) return { allowed: true, reason: '' };
    // Non-resource URLs are cluster-wide: only ClusterRoleBindings grant them.
    const namespace = attributes.resourceRequest ? attributes.namespace : undefined;
    for (const { grant, subject } of this.grants(attributes.user, namespace)) {
      if (grant.rules.some((rule) => ruleAllows(attributes, rule))) return { allowed: true, reason: `RBAC: allowed by ${grant.describe(subject)}` };
    }
    return { allowed: false, reason: '' };
  }

  /** What SelfSubjectRulesReview lists: every rule that applies to the user in a namespace. */
  rulesFor(user: UserInfo, namespace: string): PolicyRule[] {
    if (user.groups.includes(MASTERS_GROUP)) {
      return [
        { verbs: ['*'], apiGroups: ['*'], resources: ['*'] },
        { verbs: ['*'], nonResourceURLs: ['*'] },
      ];
    }
    const rules: PolicyRule[] = [];
    for (const { grant } of this.grants(user, namespace)) rules.push(...grant.rules);
    return rules;
  }
}

/** The message of a 403, worded as the real server words it (clients and people grep for it). */
export function forbiddenMessage(attributes: Attributes): string {
  const who = `User "${attributes.user.username}"`;
  if (!attributes.resourceRequest) return `forbidden: ${who} cannot ${attributes.verb} path "${attributes.path ?? ''}"`;
  const resource = attributes.subresource ? `${attributes.resource}/${attributes.subresource}` : attributes.resource ?? '';
  const qualified = attributes.apiGroup ? `${attributes.resource}.${attributes.apiGroup}` : attributes.resource ?? '';
  const subject = attributes.name ? `${qualified} "${attributes.name}"` : qualified;
  const scope = attributes.namespace ? `in the namespace "${attributes.namespace}"` : 'at the cluster scope';
  return `${subject} is forbidden: ${who} cannot ${attributes.verb} resource "${resource}" in API group "${attributes.apiGroup ?? ''}" ${scope}`;
}
