// The agent's flow sources as a real process: a Hubble test server process on a unix socket (like hubble.sock), a
// VPC CNI flow log file rotated during the test, the pods of the node in the Kubernetes API test server (through the
// real @kubernetes/client-node), and a recording ingest server over TLS in place of the aggregator. The Hubble server
// and the agent are SIGKILLed and started again; what the agent sent (FlowWindows) must add up to what the peers
// emitted, minus nothing but what Hubble itself reported lost, with endpoints resolved to workloads.
import assert from 'node:assert/strict';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { after, test } from 'node:test';
import * as grpc from '@grpc/grpc-js';
import { adminRequest } from '@kestrel/core';
import type { FlowsView } from '@kestrel/agent';
import { AgentMessage, AggregatorMessage, FlowSource, type FlowWindow } from '@kestrel/proto/ingest/v1';
import { openBatch } from '@kestrel/proto/ingest/v1/codec';
import { HubbleTestServerProcess } from './harness/hubble-test-server.js';
import { runToEnd } from './harness/process.js';
import { programs } from './harness/repo.js';
import { createInternalPki, startAgent, type InternalPki } from './harness/system.js';
import { startKubeApiServer } from './kube-api-server/index.js';

const workDir = fs.mkdtempSync(path.join(os.tmpdir(), 'agent-flows-'));
after(() => fs.rmSync(workDir, { recursive: true, force: true }));

/** Records every FlowWindow the agent sends and acknowledges each batch at once, over TLS with client certificates. */
class FlowRecorder {
  readonly windows: { instance: string; window: FlowWindow }[] = [];
  private server: grpc.Server | undefined;
  private chain = Promise.resolve();
  address = '';

  async start(pki: InternalPki): Promise<void> {
    const server = new grpc.Server();
    server.addService(
      {
        stream: {
          path: '/kestrel.ingest.v1.IngestService/Stream',
          requestStream: true,
          responseStream: true,
          requestSerialize: (m: AgentMessage) => Buffer.from(AgentMessage.encode(m).finish()),
          requestDeserialize: (b: Buffer) => AgentMessage.decode(b),
          responseSerialize: (m: AggregatorMessage) => Buffer.from(AggregatorMessage.encode(m).finish()),
          responseDeserialize: (b: Buffer) => AggregatorMessage.decode(b),
        },
      },
      {
        stream: (call: grpc.ServerDuplexStream<AgentMessage, AggregatorMessage>) => {
          let instance = '';
          call.on('data', (m: AgentMessage) => {
            const msg = m.message;
            if (msg?.$case === 'hello') {
              instance = msg.value.instanceId;
              call.write({ message: { $case: 'welcome', value: { aggregatorId: 'flow-recorder' } } });
            } else if (msg?.$case === 'batch') {
              const batch = msg.value;
              const opened = openBatch(batch, 64 << 20);
              this.chain = this.chain
                .then(async () => {
                  for (const window of (await opened).flows) this.windows.push({ instance, window });
                  call.write({ message: { $case: 'ack', value: { sequence: batch.sequence } } });
                })
                .catch((err: Error) => void call.destroy(err));
            }
          });
          call.on('end', () => call.end());
          call.on('error', () => undefined);
        },
      },
    );
    const credentials = grpc.ServerCredentials.createSsl(fs.readFileSync(pki.ca), [{ cert_chain: fs.readFileSync(pki.aggregator.cert), private_key: fs.readFileSync(pki.aggregator.key) }], true);
    this.address = `127.0.0.1:${await new Promise<number>((resolve, reject) => server.bindAsync('127.0.0.1:0', credentials, (err, p) => (err ? reject(err) : resolve(p))))}`;
    this.server = server;
  }

  totals(source: FlowSource): { raw: number; counts: number; lost: number; dropped: number } {
    let raw = 0;
    let counts = 0;
    let lost = 0;
    let dropped = 0;
    for (const { window } of this.windows) {
      if (window.source !== source) continue;
      raw += window.rawFlows;
      lost += window.sourceLost;
      dropped += window.agentDropped;
      for (const f of window.flows) counts += f.count;
    }
    return { raw, counts, lost, dropped };
  }

  async stop(): Promise<void> {
    this.server?.forceShutdown();
  }
}

async function until(what: string, check: () => boolean | Promise<boolean>, timeoutMs = 30_000): Promise<void> {
  const end = Date.now() + timeoutMs;
  while (!(await check())) {
    if (Date.now() > end) throw new Error(`timed out waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 50));
  }
}

// Hubble names the web pod's workload itself; the api pod's endpoint it leaves empty, so the agent resolves it from
// the pods on its node.
function hubbleFlow(i: number): Record<string, unknown> {
  return {
    uuid: `h-${i}`,
    verdict: i % 10 === 0 ? 'DROPPED' : 'FORWARDED',
    IP: { source: '10.0.1.5', destination: '10.0.2.7', ipVersion: 'IPv4' },
    l4: { TCP: { source_port: 40000 + (i % 500), destination_port: 8080 } },
    source: { namespace: 'shop', pod_name: 'web-7d4b9c-x2x9z', labels: ['k8s:app=web'], workloads: [{ name: 'web', kind: 'Deployment' }] },
    traffic_direction: 'EGRESS',
    node_name: 'node-a',
  };
}

const vpcLine = (i: number) =>
  JSON.stringify({ level: 'info', ts: new Date().toISOString(), logger: 'ebpf-client', caller: 'events/events.go:193', msg: 'Flow Info: ', 'Src IP': '10.0.2.7', 'Src Port': 30000 + (i % 1000), 'Dest IP': '172.20.0.10', 'Dest Port': 53, Proto: 'UDP', Verdict: 'ACCEPT' }) + '\n';
const agentLogLine = JSON.stringify({ level: 'info', ts: new Date().toISOString(), logger: 'controllers.policyEndpoints', msg: 'Received a new reconcile request' }) + '\n';

test('Hubble and VPC CNI flows reach the aggregator side aggregated, resolved to workloads, and add up across kills, restarts and a log rotation', { timeout: 180_000 }, async () => {
  const kube = await startKubeApiServer({ bookmarkIntervalMs: 200 });
  const pki = createInternalPki(path.join(workDir, 'pki'));
  const recorder = new FlowRecorder();
  await recorder.start(pki);
  const socket = path.join(workDir, 'hubble.sock');
  const hubbleOptions = { nodeName: 'node-a', unixSocket: socket, ringFile: path.join(workDir, 'ring.b64'), ringSize: 1000 };
  let hubble = new HubbleTestServerProcess(hubbleOptions);
  await hubble.listening;
  const flowLog = path.join(workDir, 'aws-routed-eni', 'network-policy-agent.log');
  fs.mkdirSync(path.dirname(flowLog));
  fs.writeFileSync(flowLog, agentLogLine);
  const podsRoot = path.join(workDir, 'pods');
  fs.mkdirSync(podsRoot);
  const kubeconfig = kube.writeKubeconfig(path.join(workDir, 'kubeconfig'));
  kube.ensureNamespace('shop');
  kube.create({ apiVersion: 'v1', kind: 'Pod', metadata: { name: 'web-7d4b9c-x2x9z', namespace: 'shop', labels: { app: 'web', 'pod-template-hash': '7d4b9c' }, ownerReferences: [{ apiVersion: 'apps/v1', kind: 'ReplicaSet', name: 'web-7d4b9c', uid: 'rs-1', controller: true }] }, spec: { nodeName: 'node-a', containers: [{ name: 'web', image: 'web' }] }, status: { podIP: '10.0.1.5', podIPs: [{ ip: '10.0.1.5' }] } });
  kube.create({ apiVersion: 'v1', kind: 'Pod', metadata: { name: 'api-0', namespace: 'shop', labels: { app: 'api' }, ownerReferences: [{ apiVersion: 'apps/v1', kind: 'StatefulSet', name: 'api', uid: 'sts-1', controller: true }] }, spec: { nodeName: 'node-a', containers: [{ name: 'api', image: 'api' }] }, status: { podIP: '10.0.2.7', podIPs: [{ ip: '10.0.2.7' }] } });
  const env = {
    KESTREL_AGENT_FLOWS_HUBBLE: 'on',
    KESTREL_AGENT_HUBBLE_ADDRESS: `unix://${socket}`,
    KESTREL_AGENT_FLOWS_VPC_CNI: 'on',
    KESTREL_AGENT_VPC_CNI_FLOW_LOG: flowLog,
    KESTREL_AGENT_FLOW_WINDOW: '300ms',
    KESTREL_AGENT_FALLBACK_POLL_INTERVAL: '50ms',
    KESTREL_AGENT_NODE_WATCH: 'on',
    KESTREL_AGENT_KUBECONFIG: kubeconfig,
    KESTREL_AGENT_NODE_NAME: 'node-a',
  };
  let { agent, adminSocket } = startAgent(workDir, 'node-a', podsRoot, recorder.address, pki, env);
  const stateDir = path.join(workDir, 'node-a-state');
  const flowsView = async () => (await adminRequest(adminSocket, 'flows')) as FlowsView;
  /** Until the agent saved, on acknowledgement, the point after everything sent so far (a kill then loses nothing). */
  const checkpointed = async () => {
    await until('the Hubble checkpoint', () => fs.existsSync(path.join(stateDir, 'hubble-checkpoint.json')) && (JSON.parse(fs.readFileSync(path.join(stateDir, 'hubble-checkpoint.json'), 'utf8')) as { uuids: string[] }).uuids.includes(`h-${emittedHubble - 1}`));
    await until('the VPC CNI checkpoint', () => fs.existsSync(path.join(stateDir, 'vpc-cni-checkpoint.json')) && (JSON.parse(fs.readFileSync(path.join(stateDir, 'vpc-cni-checkpoint.json'), 'utf8')) as { offset: number }).offset === fs.statSync(flowLog).size);
  };
  let emittedHubble = 0;
  let writtenVpc = 0;
  const emitHubble = async (n: number) => {
    const flows = Array.from({ length: n }, (_, k) => hubbleFlow(emittedHubble + k));
    emittedHubble += n;
    await hubble.emit(flows);
  };
  const writeVpc = (n: number) => {
    fs.appendFileSync(flowLog, Array.from({ length: n }, (_, k) => vpcLine(writtenVpc + k) + (k % 7 === 0 ? agentLogLine : '')).join(''));
    writtenVpc += n;
  };
  try {
    await agent.waitFor((l) => l.message === 'kestrel-agent started');
    await until('the agent to follow Hubble', async () => (await hubble.state()).clients === 1);
    await until('the pods of the node to be resolvable', async () => (await flowsView()).podsResolvable === 2);
    // Phase 1: both sources running.
    await emitHubble(400);
    writeVpc(300);
    await until('phase 1 counted', () => recorder.totals(FlowSource.FLOW_SOURCE_HUBBLE).raw === 400 && recorder.totals(FlowSource.FLOW_SOURCE_VPC_CNI).raw === 300);

    // Phase 2: the Hubble server is SIGKILLed and restarted on its ring file; the agent reconnects and resumes.
    await hubble.kill();
    hubble = new HubbleTestServerProcess(hubbleOptions);
    await hubble.listening;
    await until('the agent to reconnect', async () => (await hubble.state()).clients === 1);
    await emitHubble(300);
    await until('phase 2 counted', () => recorder.totals(FlowSource.FLOW_SOURCE_HUBBLE).raw === 700);
    await checkpointed();

    // Phase 3: the agent is SIGKILLed; meanwhile Hubble emits more than its ring holds, and the flow log is rotated.
    await agent.kill();
    await emitHubble(1500);
    writeVpc(100);
    fs.renameSync(flowLog, path.join(path.dirname(flowLog), 'network-policy-agent-2026-11-26T03-00-00.000.log'));
    writeVpc(150);
    ({ agent } = startAgent(workDir, 'node-a', podsRoot, recorder.address, pki, env));
    await agent.waitFor((l) => l.message === 'kestrel-agent started');
    await until('the restarted agent to resolve the pods again', async () => (await flowsView()).podsResolvable === 2);
    await until('the restarted agent to follow Hubble', async () => (await hubble.state()).clients === 1);
    await emitHubble(200);
    writeVpc(50);
    const hubbleState = await hubble.state();
    await until('everything accounted for', () => {
      const h = recorder.totals(FlowSource.FLOW_SOURCE_HUBBLE);
      const v = recorder.totals(FlowSource.FLOW_SOURCE_VPC_CNI);
      return h.raw + h.lost >= emittedHubble && v.raw >= writtenVpc;
    });
    await new Promise((r) => setTimeout(r, 1000)); // nothing more may arrive (no double count)

    const h = recorder.totals(FlowSource.FLOW_SOURCE_HUBBLE);
    const v = recorder.totals(FlowSource.FLOW_SOURCE_VPC_CNI);
    // Hubble: counted + reported lost = emitted; the loss is exactly what the server said it could not serve.
    assert.equal(h.raw + h.lost, emittedHubble);
    assert.equal(h.lost, hubbleState.lostReported);
    assert.ok(h.lost > 0, 'the ring overflowed while the agent was down, and that was reported');
    assert.equal(h.counts, h.raw);
    assert.equal(h.dropped, 0);
    // VPC CNI: every flow line written, across the rotation and the restart, counted once.
    assert.deepEqual([v.raw, v.counts, v.dropped], [writtenVpc, writtenVpc, 0]);

    // Endpoints: Hubble's own names, and the node's pods for what Hubble left out and for every VPC CNI flow.
    const flows = recorder.windows.flatMap((w) => w.window.flows.map((f) => ({ ...f, source: w.window.source })));
    const hubbleFlows = flows.filter((f) => f.source === FlowSource.FLOW_SOURCE_HUBBLE);
    assert.ok(hubbleFlows.every((f) => f.src?.kind === 'Deployment' && f.src.name === 'web' && f.dst?.kind === 'StatefulSet' && f.dst.name === 'api' && f.port === 8080 && f.protocol === 'TCP'));
    assert.equal(hubbleFlows.filter((f) => !f.allowed).reduce((n, f) => n + f.count, 0), Math.ceil(emittedHubble / 10) - droppedLost(h.lost));
    const vpcFlows = flows.filter((f) => f.source === FlowSource.FLOW_SOURCE_VPC_CNI);
    assert.ok(vpcFlows.every((f) => f.src?.name === 'api' && f.src.labels.includes('app=api') && f.dstIp === '172.20.0.10' && f.dst?.name === '' && f.direction === 'egress' && f.port === 53));

    // What an operator sees: `kestrel-agent debug flows` over the admin socket (the restarted agent's own counts).
    const debug = await runToEnd(programs.agent, ['debug', 'flows'], { KESTREL_AGENT_ADMIN_SOCKET: adminSocket });
    assert.equal(debug.code, 0, debug.stderr);
    assert.match(debug.stdout, /hubble: unix:\/\/.*hubble\.sock {2}streaming/);
    assert.match(debug.stdout, /lost at the source: HUBBLE_RING_BUFFER 500/);
    assert.match(debug.stdout, /vpc_cni: .*network-policy-agent\.log {2}(idle|reading) {2}at /);
    assert.match(debug.stdout, /top talkers \(last window\):[\s\S]*shop\/Deployment\/web +shop\/StatefulSet\/api +8080 +TCP/);
    const view = await flowsView();
    assert.equal(view.totals.hubble.sourceLost, 500);
    assert.equal(view.totals.vpc_cni.raw, 300);
  } finally {
    await agent.stop();
    await hubble.stop();
    await recorder.stop();
    await kube.stop();
  }
});

/** DROPPED flows among those Hubble lost: every tenth of h-700 .. h-2199 that the ring evicted. */
function droppedLost(lost: number): number {
  // The agent was down from h-700; the ring kept the newest 1000 of h-700..h-2199, so h-700 .. h-700+lost-1 were lost.
  let n = 0;
  for (let i = 700; i < 700 + lost; i++) if (i % 10 === 0) n++;
  return n;
}
