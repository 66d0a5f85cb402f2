// Kubernetes objects -> the cloud.v1 inventory messages. The cached form of each object is its message, so an
// object is cut down to what the cloud receives before it is kept (and Secret data, env values or ConfigMap data
// are never read: no mapper looks at them).
import {
  Action,
  AuthorizationPolicyAction,
  type AuthorizationPolicy,
  type LabelSelector,
  type Namespace,
  type NetworkPolicy,
  type NetworkPolicyPeer,
  type NetworkPolicyPort,
  type Node,
  type OwnerReference,
  type Pod,
  type Service,
  type Workload,
} from '@kestrel/proto/cloud/v1';
import { arr, bool, metadata, num, obj, str, stringMap, timestamp, type KubeObject } from '../k8s-object.js';

export function ownerReferences(refs: unknown[]): OwnerReference[] {
  return refs.map((r) => {
    const o = obj(r);
    return { apiVersion: str(o['apiVersion']), kind: str(o['kind']), name: str(o['name']), uid: str(o['uid']), controller: bool(o['controller']), blockOwnerDeletion: bool(o['blockOwnerDeletion']) };
  });
}

export function toNamespace(o: KubeObject, action: Action): Namespace {
  const m = metadata(o);
  return { name: m.name, uid: m.uid, labels: m.labels, createdAt: timestamp(m.creationTimestamp), action };
}

/** Deployments, StatefulSets, DaemonSets, ReplicaSets, Jobs, CronJobs. */
export function toWorkload(kind: string, o: KubeObject, action: Action): Workload {
  const m = metadata(o);
  const spec = obj(o['spec']);
  // CronJobs keep the pod template one level deeper.
  const template = kind === 'CronJob' ? obj(obj(obj(spec['jobTemplate'])['spec'])['template']) : obj(spec['template']);
  const podSpec = obj(template['spec']);
  return {
    name: m.name,
    namespace: m.namespace,
    uid: m.uid,
    kind,
    labels: m.labels,
    createdAt: timestamp(m.creationTimestamp),
    action,
    serviceAccount: str(podSpec['serviceAccountName']) || str(podSpec['serviceAccount']),
  };
}

export function isPodReady(o: KubeObject): boolean {
  return arr(obj(o['status'])['conditions']).some((c) => str(obj(c)['type']) === 'Ready' && str(obj(c)['status']) === 'True');
}

export function toPod(o: KubeObject, action: Action): Pod {
  const m = metadata(o);
  const status = obj(o['status']);
  return {
    name: m.name,
    namespace: m.namespace,
    uid: m.uid,
    podIp: str(status['podIP']),
    labels: m.labels,
    phase: str(status['phase']),
    ownerReferences: ownerReferences(m.ownerReferences),
    createdAt: timestamp(m.creationTimestamp),
    action,
    ready: isPodReady(o),
  };
}

export function toService(o: KubeObject, action: Action): Service {
  const m = metadata(o);
  const spec = obj(o['spec']);
  return {
    name: m.name,
    namespace: m.namespace,
    uid: m.uid,
    labels: m.labels,
    annotations: m.annotations,
    selector: stringMap(spec['selector']),
    ports: arr(spec['ports']).map((p) => {
      const port = obj(p);
      // targetPort may be a name; the message has a number only, so a named port is sent as 0.
      return { name: str(port['name']), protocol: str(port['protocol']) || 'TCP', port: num(port['port']), targetPort: typeof port['targetPort'] === 'number' ? port['targetPort'] : 0, nodePort: num(port['nodePort']) };
    }),
    serviceType: str(spec['type']) || 'ClusterIP',
    clusterIp: str(spec['clusterIP']),
    externalIps: arr(spec['externalIPs']).map(str),
    createdAt: timestamp(m.creationTimestamp),
    action,
  };
}

export function toNode(o: KubeObject, action: Action): Node {
  const m = metadata(o);
  const status = obj(o['status']);
  const addresses = arr(status['addresses']).map(obj);
  const byType = (t: string) => addresses.filter((a) => str(a['type']) === t).map((a) => str(a['address']));
  return {
    name: m.name,
    uid: m.uid,
    labels: m.labels,
    internalIps: byType('InternalIP'),
    externalIps: byType('ExternalIP'),
    hostname: byType('Hostname')[0] ?? m.labels['kubernetes.io/hostname'] ?? '',
    ready: arr(status['conditions']).some((c) => str(obj(c)['type']) === 'Ready' && str(obj(c)['status']) === 'True'),
    instanceType: m.labels['node.kubernetes.io/instance-type'] ?? m.labels['beta.kubernetes.io/instance-type'] ?? '',
    zone: m.labels['topology.kubernetes.io/zone'] ?? m.labels['failure-domain.beta.kubernetes.io/zone'] ?? '',
    createdAt: timestamp(m.creationTimestamp),
    action,
  };
}

export function toLabelSelector(v: unknown): LabelSelector | undefined {
  if (v === undefined || v === null) return undefined;
  const s = obj(v);
  return {
    matchLabels: stringMap(s['matchLabels']),
    matchExpressions: arr(s['matchExpressions']).map((e) => {
      const x = obj(e);
      return { key: str(x['key']), operator: str(x['operator']), values: arr(x['values']).map(str) };
    }),
  };
}

function toPeer(v: unknown): NetworkPolicyPeer {
  const p = obj(v);
  const ipBlock = p['ipBlock'] ? obj(p['ipBlock']) : undefined;
  return {
    podSelector: toLabelSelector(p['podSelector']),
    namespaceSelector: toLabelSelector(p['namespaceSelector']),
    ipBlock: ipBlock ? { cidr: str(ipBlock['cidr']), except: arr(ipBlock['except']).map(str) } : undefined,
  };
}

function toPort(v: unknown): NetworkPolicyPort {
  const p = obj(v);
  const port = p['port'];
  return {
    protocol: str(p['protocol']),
    portValue: typeof port === 'number' ? { $case: 'port', value: port } : typeof port === 'string' && port ? { $case: 'portName', value: port } : undefined,
    endPort: num(p['endPort']),
  };
}

export function toNetworkPolicy(o: KubeObject, action: Action): NetworkPolicy {
  const m = metadata(o);
  const spec = obj(o['spec']);
  return {
    apiVersion: str(o['apiVersion']) || 'networking.k8s.io/v1',
    kind: 'NetworkPolicy',
    metadata: { name: m.name, namespace: m.namespace, labels: m.labels, annotations: withoutLastApplied(m.annotations), resourceVersion: m.resourceVersion, uid: m.uid },
    spec: {
      podSelector: toLabelSelector(spec['podSelector']),
      ingress: arr(spec['ingress']).map((r) => ({ from: arr(obj(r)['from']).map(toPeer), ports: arr(obj(r)['ports']).map(toPort) })),
      egress: arr(spec['egress']).map((r) => ({ to: arr(obj(r)['to']).map(toPeer), ports: arr(obj(r)['ports']).map(toPort) })),
      policyTypes: arr(spec['policyTypes']).map(str),
    },
    targetWorkloads: [],
    action,
  };
}

const AUTHZ_ACTIONS: Record<string, AuthorizationPolicyAction> = {
  ALLOW: AuthorizationPolicyAction.AUTHORIZATION_POLICY_ACTION_ALLOW,
  DENY: AuthorizationPolicyAction.AUTHORIZATION_POLICY_ACTION_DENY,
  AUDIT: AuthorizationPolicyAction.AUTHORIZATION_POLICY_ACTION_AUDIT,
  CUSTOM: AuthorizationPolicyAction.AUTHORIZATION_POLICY_ACTION_CUSTOM,
};

export function toAuthorizationPolicy(o: KubeObject, action: Action): AuthorizationPolicy {
  const m = metadata(o);
  const spec = obj(o['spec']);
  const selector = spec['selector'] ? { matchLabels: stringMap(obj(spec['selector'])['matchLabels']), matchExpressions: [] } : undefined;
  const strings = (v: unknown) => arr(v).map(str);
  return {
    apiVersion: str(o['apiVersion']) || 'security.istio.io/v1',
    kind: 'AuthorizationPolicy',
    metadata: { name: m.name, namespace: m.namespace, labels: m.labels, annotations: withoutLastApplied(m.annotations), resourceVersion: m.resourceVersion, uid: m.uid },
    spec: {
      selector,
      rules: arr(spec['rules']).map((r) => {
        const rule = obj(r);
        return {
          from: arr(rule['from']).map((f) => {
            const s = obj(obj(f)['source']);
            return { source: { principals: strings(s['principals']), requestPrincipals: strings(s['requestPrincipals']), namespaces: strings(s['namespaces']), ipBlocks: strings(s['ipBlocks']), remoteIpBlocks: strings(s['remoteIpBlocks']) } };
          }),
          to: arr(rule['to']).map((t) => {
            const op = obj(obj(t)['operation']);
            return { operation: { methods: strings(op['methods']), paths: strings(op['paths']), ports: strings(op['ports']), hosts: strings(op['hosts']) } };
          }),
          when: arr(rule['when']).map((w) => {
            const c = obj(w);
            return { key: str(c['key']), values: strings(c['values']), notValues: strings(c['notValues']) };
          }),
        };
      }),
      action: AUTHZ_ACTIONS[str(spec['action']) || 'ALLOW'] ?? AuthorizationPolicyAction.AUTHORIZATION_POLICY_ACTION_UNSPECIFIED,
    },
    targetWorkloads: [],
    action,
  };
}

/** kubectl's last-applied annotation repeats the whole object: large and of no use to the cloud. */
function withoutLastApplied(annotations: Record<string, string>): Record<string, string> {
  const { ['kubectl.kubernetes.io/last-applied-configuration']: _dropped, ...rest } = annotations;
  return rest;
}
