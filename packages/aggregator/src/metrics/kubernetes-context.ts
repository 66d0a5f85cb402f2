// Where a series' Kubernetes context (namespace, workload, pod, container, node) comes from, in order:
//   1. resource attributes of the OpenTelemetry semantic conventions (k8s.namespace.name, k8s.pod.name,
//      k8s.deployment.name, ...), as the Collector's k8sattributes processor or OTEL_RESOURCE_ATTRIBUTES set them;
//   2. what is missing, from the pod index (pod-index.ts): by pod name (k8s.pod.name + namespace, or a name unique
//      in the cluster), then by pod IP (k8s.pod.ip, or the sender's address when otlpPeerPodContext is on).
// Resource attributes not used for the context are dropped, except a few that tell senders apart (service.*,
// host.name), which become labels next to the data point's attributes.
import type { Attributes } from './otlp-decode.js';
import type { KubeContext } from './store.js';

export interface PodInfo {
  namespace: string;
  name: string;
  nodeName: string;
  workloadName: string;
  workloadKind: string;
}

export interface PodLookup {
  byName(namespace: string, name: string): PodInfo | undefined;
  /** A pod name that exists in one namespace only. */
  byUniqueName(name: string): PodInfo | undefined;
  byIp(ip: string): PodInfo | undefined;
}

/** Workload attributes of the semantic conventions, most specific owner last so that it wins. */
const WORKLOAD_ATTRIBUTES: [string, string][] = [
  ['k8s.replicaset.name', 'ReplicaSet'],
  ['k8s.job.name', 'Job'],
  ['k8s.cronjob.name', 'CronJob'],
  ['k8s.deployment.name', 'Deployment'],
  ['k8s.statefulset.name', 'StatefulSet'],
  ['k8s.daemonset.name', 'DaemonSet'],
];

/** Resource attributes kept as labels: they tell apart senders that share a Kubernetes context (or have none). */
export const RESOURCE_LABELS = ['service.name', 'service.namespace', 'service.instance.id', 'host.name'];

export type ContextSource = 'attributes' | 'pod_name' | 'pod_ip' | 'peer_ip' | 'none';

export interface ResolvedContext {
  context: KubeContext;
  resourceLabels: Record<string, string>;
  source: ContextSource;
}

export function resolveContext(resource: Attributes, peerIp: string | undefined, pods: PodLookup | undefined): ResolvedContext {
  const attrs = new Map(resource);
  const context: KubeContext = {
    namespace: attrs.get('k8s.namespace.name') ?? '',
    podName: attrs.get('k8s.pod.name') ?? '',
    containerName: attrs.get('k8s.container.name') ?? '',
    nodeName: attrs.get('k8s.node.name') ?? '',
    workloadName: '',
    workloadKind: '',
  };
  for (const [key, kind] of WORKLOAD_ATTRIBUTES) {
    const name = attrs.get(key);
    if (name) {
      context.workloadName = name;
      context.workloadKind = kind;
    }
  }
  const resourceLabels: Record<string, string> = {};
  for (const key of RESOURCE_LABELS) {
    const v = attrs.get(key);
    if (v) resourceLabels[key] = v;
  }
  let source: ContextSource = context.namespace || context.podName || context.workloadName ? 'attributes' : 'none';
  const complete = context.namespace && context.podName && context.workloadName && context.nodeName;
  if (pods && !complete) {
    let pod: PodInfo | undefined;
    let via: ContextSource = 'none';
    if (context.podName) {
      pod = context.namespace ? pods.byName(context.namespace, context.podName) : pods.byUniqueName(context.podName);
      via = 'pod_name';
    }
    const ip = attrs.get('k8s.pod.ip');
    if (!pod && ip) {
      pod = pods.byIp(ip);
      via = 'pod_ip';
    }
    if (!pod && peerIp && source === 'none') {
      pod = pods.byIp(peerIp);
      via = 'peer_ip';
    }
    if (pod) {
      context.namespace ||= pod.namespace;
      context.podName ||= pod.name;
      context.nodeName ||= pod.nodeName;
      if (!context.workloadName) {
        context.workloadName = pod.workloadName;
        context.workloadKind = pod.workloadKind;
      }
      if (source === 'none') source = via;
    }
  }
  return { context, resourceLabels, source };
}

/** The sender's IP from a gRPC peer ("ipv4:10.0.0.5:40000", "ipv6:[::1]:40000", "10.0.0.5:40000"). */
export function peerAddress(peer: string): string | undefined {
  const m = /^(?:ipv[46]:)?\[?([0-9a-fA-F.:]+?)\]?:\d+$/.exec(peer);
  if (!m) return undefined;
  return m[1]!.replace(/^::ffff:/, '');
}
