// Who sent a stream of access logs: the Envoy named in the stream's first Identifier. Istio's sidecars put their
// workload in the node metadata (NAMESPACE, NAME = the pod, WORKLOAD_NAME, OWNER, INSTANCE_IPS, CLUSTER_ID) and
// their IP in the node id ("sidecar~10.0.1.5~web-7d9f8-abcde.shop~shop.svc.cluster.local").
import type { Node } from '@kestrel/proto/envoy/config/core/v3/base';

export interface Reporter {
  nodeId: string;
  clusterName: string;
  /** The proxy's workload as its metadata names it (empty strings when it does not). */
  namespace: string;
  kind: string;
  name: string;
  /** The proxy's own IPs (a sidecar shares its pod's). */
  ips: string[];
}

/** OWNER "kubernetes://apis/apps/v1/namespaces/shop/deployments/web": the plural resource names the kind. */
const KINDS: Record<string, string> = {
  deployments: 'Deployment',
  statefulsets: 'StatefulSet',
  daemonsets: 'DaemonSet',
  replicasets: 'ReplicaSet',
  jobs: 'Job',
  cronjobs: 'CronJob',
  pods: 'Pod',
};

export function reporterOf(node: Node | undefined): Reporter {
  const meta = node?.metadata ?? {};
  const text = (k: string): string => (typeof meta[k] === 'string' ? (meta[k] as string) : '');
  const id = node?.id ?? '';
  const idParts = id.split('~');
  const ips = new Set(text('INSTANCE_IPS').split(',').map((s) => s.trim()).filter((s) => s !== ''));
  if (idParts.length === 4 && idParts[1]) ips.add(idParts[1]);
  const owner = /\/namespaces\/[^/]+\/([a-z]+)\/([^/]+)$/.exec(text('OWNER'));
  const name = text('WORKLOAD_NAME') || owner?.[2] || text('NAME');
  const kind = owner ? (KINDS[owner[1]!] ?? owner[1]!) : name ? 'Pod' : '';
  return { nodeId: id, clusterName: text('CLUSTER_ID') || node?.cluster || '', namespace: text('NAMESPACE'), kind, name, ips: [...ips] };
}
