// What the flow e2e tests share: a small cluster in the Kubernetes API test server (pods on three nodes), cloud-dev,
// one aggregator with its pod IP index, flow merging and the Istio ALS receiver on, and helpers to build Hubble
// flows (proto3 JSON of flow.Flow, as the Hubble test server takes them), VPC CNI flow log lines, and to read the
// Flow and L7AccessLog records cloud-dev stored (<data-dir>/flows.jsonl).
import fs from 'node:fs';
import path from 'node:path';
import { startKubeApiServer, type KubeApiServer } from '../kube-api-server/index.js';
import type { RunningProcess } from './process.js';
import { createInternalPki, startAggregator, startCloudDev, type InternalPki } from './system.js';

export interface PodSpec {
  name: string;
  node: string;
  ip: string;
  app: string;
  owner: { kind: 'ReplicaSet' | 'StatefulSet'; name: string };
  hash?: string;
}

/** web (a Deployment) on node-a, cart (a Deployment) on node-b, api (a StatefulSet) on node-c, all in shop. */
export const PODS: Record<'web' | 'cart' | 'api', PodSpec> = {
  web: { name: 'web-7d4b9c-x2x9z', node: 'node-a', ip: '10.0.1.5', app: 'web', owner: { kind: 'ReplicaSet', name: 'web-7d4b9c' }, hash: '7d4b9c' },
  cart: { name: 'cart-5f6d7-q8w9e', node: 'node-b', ip: '10.0.2.7', app: 'cart', owner: { kind: 'ReplicaSet', name: 'cart-5f6d7' }, hash: '5f6d7' },
  api: { name: 'api-0', node: 'node-c', ip: '10.0.3.9', app: 'api', owner: { kind: 'StatefulSet', name: 'api' } },
};

export function createPod(kube: KubeApiServer, p: PodSpec): void {
  kube.create({
    apiVersion: 'v1',
    kind: 'Pod',
    metadata: {
      name: p.name,
      namespace: 'shop',
      labels: { app: p.app, ...(p.hash ? { 'pod-template-hash': p.hash } : {}) },
      ownerReferences: [{ apiVersion: 'apps/v1', kind: p.owner.kind, name: p.owner.name, uid: `${p.owner.name}-uid`, controller: true }],
    },
    spec: { nodeName: p.node, containers: [{ name: p.app, image: p.app }] },
    status: { phase: 'Running', podIP: p.ip, podIPs: [{ ip: p.ip }] },
  });
}

export interface FlowsCluster {
  workDir: string;
  kube: KubeApiServer;
  kubeconfig: string;
  pki: InternalPki;
  cloud: RunningProcess;
  dataDir: string;
  aggregator: RunningProcess;
  ingestAddress: string;
  aggregatorAdminSocket: string;
  alsAddress: string;
  stop(): Promise<void>;
}

/**
 * Buckets of 2 s sent 5 s after they end: short, so tests finish, and long enough for every node's 500 ms windows to
 * arrive on a loaded machine (a window later than that would be counted in a later bucket: correct in total, but the
 * two ends of a conversation would no longer meet).
 */
export async function startFlowsCluster(workDir: string, aggregatorEnv: Record<string, string> | ((pki: InternalPki) => Record<string, string>) = {}): Promise<FlowsCluster> {
  const kube = await startKubeApiServer({ bookmarkIntervalMs: 200 });
  kube.ensureNamespace('shop');
  for (const p of Object.values(PODS)) createPod(kube, p);
  const kubeconfig = kube.writeKubeconfig(path.join(workDir, 'kubeconfig'));
  const pki = createInternalPki(path.join(workDir, 'internal-pki'));
  const { cloud, cloudDir, dataDir, address } = await startCloudDev(workDir, '2s');
  const { aggregator, ingestAddress, adminSocket } = await startAggregator(workDir, 'aggregator-0', cloudDir, address, pki, {
    KESTREL_AGGREGATOR_KUBECONFIG: kubeconfig,
    KESTREL_AGGREGATOR_CLUSTER_WATCH: 'off',
    KESTREL_AGGREGATOR_FLOWS_BUCKET: '2s',
    KESTREL_AGGREGATOR_FLOWS_GRACE: '5s',
    KESTREL_AGGREGATOR_ALS_ENABLED: 'true',
    KESTREL_AGGREGATOR_ALS_LISTEN: '127.0.0.1:0',
    KESTREL_AGGREGATOR_ALS_BUCKET: '2s',
    KESTREL_AGGREGATOR_ALS_GRACE: '2s',
    ...(typeof aggregatorEnv === 'function' ? aggregatorEnv(pki) : aggregatorEnv),
  });
  const started = await aggregator.waitFor((l) => l.message === 'kestrel-aggregator started');
  const als = started['als'];
  if (typeof als !== 'string') throw new Error('the aggregator did not report its ALS address');
  return {
    workDir,
    kube,
    kubeconfig,
    pki,
    cloud,
    dataDir,
    aggregator,
    ingestAddress,
    aggregatorAdminSocket: adminSocket,
    alsAddress: als,
    async stop() {
      await aggregator.stop();
      await cloud.stop();
      await kube.stop();
    },
  };
}

/** Agent settings for the flow sources (a short window, the node's pods watched for endpoints). */
export function flowAgentEnv(cluster: FlowsCluster, node: string, sources: { hubbleSocket?: string; vpcCniLog?: string }): Record<string, string> {
  return {
    KESTREL_AGENT_NODE_NAME: node,
    KESTREL_AGENT_NODE_WATCH: 'on',
    KESTREL_AGENT_KUBECONFIG: cluster.kubeconfig,
    KESTREL_AGENT_FLOW_WINDOW: '500ms',
    KESTREL_AGENT_FALLBACK_POLL_INTERVAL: '50ms',
    ...(sources.hubbleSocket ? { KESTREL_AGENT_FLOWS_HUBBLE: 'on', KESTREL_AGENT_HUBBLE_ADDRESS: `unix://${sources.hubbleSocket}` } : {}),
    ...(sources.vpcCniLog ? { KESTREL_AGENT_FLOWS_VPC_CNI: 'on', KESTREL_AGENT_VPC_CNI_FLOW_LOG: sources.vpcCniLog } : {}),
  };
}

export interface HubbleFlowSpec {
  uuid: string;
  /** ms since the epoch: both ends of one conversation are given the same instants (the same packets). */
  atMs: number;
  src: PodSpec | { ip: string };
  dst: PodSpec | { ip: string };
  port: number;
  direction: 'EGRESS' | 'INGRESS';
  verdict?: 'FORWARDED' | 'DROPPED';
  node: string;
  /** Which side Hubble names (it knows the local endpoint; the far one may be left for the agent or aggregator). */
  named?: 'src' | 'dst' | 'none';
}

const hubbleEndpoint = (p: PodSpec) => ({
  namespace: 'shop',
  pod_name: p.name,
  labels: [`k8s:app=${p.app}`],
  workloads: [{ name: p.owner.kind === 'ReplicaSet' ? p.app : p.owner.name, kind: p.owner.kind === 'ReplicaSet' ? 'Deployment' : p.owner.kind }],
});

/** A flow.Flow in proto3 JSON, as the Hubble test server takes it. */
export function hubbleFlow(f: HubbleFlowSpec): Record<string, unknown> {
  const time = { seconds: Math.floor(f.atMs / 1000), nanos: (f.atMs % 1000) * 1_000_000 };
  return {
    time: new Date(time.seconds * 1000 + time.nanos / 1e6).toISOString(),
    uuid: f.uuid,
    verdict: f.verdict ?? 'FORWARDED',
    IP: { source: f.src.ip, destination: f.dst.ip, ipVersion: 'IPv4' },
    l4: { TCP: { source_port: 40000 + (f.atMs % 1000), destination_port: f.port } },
    ...(f.named === 'src' && 'name' in f.src ? { source: hubbleEndpoint(f.src) } : {}),
    ...(f.named === 'dst' && 'name' in f.dst ? { destination: hubbleEndpoint(f.dst) } : {}),
    traffic_direction: f.direction,
    node_name: f.node,
  };
}

/** One line of the AWS network policy agent's flow log (shared/protocols/node-files.md). */
export function vpcCniLine(src: string, srcPort: number, dst: string, dstPort: number, proto: 'TCP' | 'UDP', verdict: 'ACCEPT' | 'DENY'): string {
  return JSON.stringify({ level: 'info', ts: new Date().toISOString(), logger: 'ebpf-client', caller: 'events/events.go:193', msg: 'Flow Info: ', 'Src IP': src, 'Src Port': srcPort, 'Dest IP': dst, 'Dest Port': dstPort, Proto: proto, Verdict: verdict }) + '\n';
}

/** A line of the same file that is not a flow (the agent's own log lines are mixed in). */
export const vpcCniOtherLine = (): string => JSON.stringify({ level: 'info', ts: new Date().toISOString(), logger: 'controllers.policyEndpoints', msg: 'Received a new reconcile request' }) + '\n';

export interface StoredFlow {
  srcIp: string;
  dstIp: string;
  src: { ns: string; kind: string; name: string; labels: string[] };
  dst: { ns: string; kind: string; name: string; labels: string[] };
  direction: string;
  port: number;
  protocol: string;
  allowed: boolean;
  count: number;
  firstSeen: string;
  lastSeen: string;
}

export interface StoredL7 {
  source: { ip: string; port: number; namespace: string; kind: string; name: string; serviceName: string };
  destination: { ip: string; port: number; namespace: string; kind: string; name: string; serviceName: string };
  l7Protocol: string;
  httpData?: { method: string; path: string; responseCode: number; requestHeaders?: Record<string, string> };
  tcpData?: { sentBytes: number; receivedBytes: number };
  allowed: boolean;
  count: number;
  nodeId: string;
}

const emptyEndpoint = { ns: '', kind: '', name: '', labels: [] as string[] };

/** Flow and L7AccessLog records cloud-dev stored on StreamFlows (proto3 JSON: defaults omitted, int64 as strings). */
export function readStoredFlows(dataDir: string): { flows: StoredFlow[]; l7: StoredL7[] } {
  const file = path.join(dataDir, 'flows.jsonl');
  const flows: StoredFlow[] = [];
  const l7: StoredL7[] = [];
  if (!fs.existsSync(file)) return { flows, l7 };
  const text = fs.readFileSync(file, 'utf8');
  for (const line of text.split('\n')) {
    if (!line) continue;
    const m = (JSON.parse(line) as { message: Record<string, Record<string, unknown>> }).message;
    if (m['flow']) {
      const f = m['flow'];
      flows.push({
        srcIp: String(f['srcIp'] ?? ''),
        dstIp: String(f['dstIp'] ?? ''),
        src: { ...emptyEndpoint, ...(f['src'] as object) },
        dst: { ...emptyEndpoint, ...(f['dst'] as object) },
        direction: String(f['direction'] ?? ''),
        port: Number(f['port'] ?? 0),
        protocol: String(f['protocol'] ?? ''),
        allowed: f['allowed'] === true,
        count: Number(f['count'] ?? 0),
        firstSeen: String(f['firstSeen'] ?? ''),
        lastSeen: String(f['lastSeen'] ?? ''),
      });
    } else if (m['l7AccessLog']) {
      const r = m['l7AccessLog'];
      const ep = (v: unknown) => ({ ip: '', port: 0, namespace: '', kind: '', name: '', serviceName: '', ...(v as object) });
      const http = r['httpData'] as Record<string, unknown> | undefined;
      const tcp = r['tcpData'] as Record<string, unknown> | undefined;
      l7.push({
        source: ep(r['source']),
        destination: ep(r['destination']),
        l7Protocol: String(r['l7Protocol'] ?? 'L7_PROTOCOL_UNKNOWN'),
        httpData: http ? { method: String(http['method'] ?? ''), path: String(http['path'] ?? ''), responseCode: Number(http['responseCode'] ?? 0), requestHeaders: (http['requestHeaders'] as Record<string, string> | undefined) ?? {} } : undefined,
        tcpData: tcp ? { sentBytes: Number(tcp['sentBytes'] ?? 0), receivedBytes: Number(tcp['receivedBytes'] ?? 0) } : undefined,
        allowed: r['allowed'] === true,
        count: Number(r['count'] ?? 0),
        nodeId: String(r['nodeId'] ?? ''),
      });
    }
  }
  return { flows, l7 };
}

/** The sum of counts of stored flows matching a predicate. */
export const totalCount = (flows: readonly { count: number }[]): number => flows.reduce((n, f) => n + f.count, 0);

export async function until(what: string, check: () => boolean | Promise<boolean>, timeoutMs = 45_000): Promise<void> {
  const end = Date.now() + timeoutMs;
  while (!(await check())) {
    if (Date.now() > end) throw new Error(`timed out waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 100));
  }
}
