// Issue 4, Done-when 3: a real aggregator process refuses what must not speak for a node, counts each refusal in
// /metrics with its reason, logs it once per peer, and goes on serving the others: after every refusal a
// well-behaved agent still gets its batch acknowledged (which needs the uplink's delivery to cloud-dev).
//
// Certificate mode (agentAuth=certificate, local runs): no client certificate, a certificate of another CA, an agent
// claiming another node, garbage (plaintext on the TLS port, undecodable bytes in a well-formed gRPC frame, a
// stream that does not start with a Hello) and a 100 MiB message.
// Token mode (agentAuth=token, the chart's): projected-style ServiceAccount tokens bound to pods, reviewed by the
// Kubernetes API test server: a good token, a node-a pod's token claiming node-b, a wrong audience, another service
// account, no token, an unbound token, and a pod on a node that the review does not name (older clusters).
//
// The agents here are raw gRPC clients driven by the test (grpc-js; node:http2 for the hand-made frame).
import assert from 'node:assert/strict';
import fs from 'node:fs';
import http2 from 'node:http2';
import net from 'node:net';
import os from 'node:os';
import path from 'node:path';
import { after, before, describe, test } from 'node:test';
import * as grpc from '@grpc/grpc-js';
import { AgentMessage, AggregatorMessage, BatchContent } from '@kestrel/proto/ingest/v1';
import { sealBatch } from '@kestrel/proto/ingest/v1/codec';
import { RunningProcess, runToEnd } from './harness/process.js';
import { programs } from './harness/repo.js';
import { createInternalPki, startAggregator, startCloudDev, type InternalPki } from './harness/system.js';
import { startKubeApiServer, type KubeApiServer } from './kube-api-server/index.js';

const STREAM_PATH = '/kestrel.ingest.v1.IngestService/Stream';

interface Aggregator {
  process: RunningProcess;
  ingest: string;
  http: string;
  adminSocket: string;
}

let workDir: string;
let pki: InternalPki;
let cloud: Awaited<ReturnType<typeof startCloudDev>>;
const running: RunningProcess[] = [];

before(async () => {
  workDir = fs.mkdtempSync(path.join(os.tmpdir(), 'kestrel-e2e-refusals-'));
  pki = createInternalPki(path.join(workDir, 'internal-pki'));
  cloud = await startCloudDev(workDir, '1s');
  running.push(cloud.cloud);
});

after(async () => {
  for (const p of running.reverse()) await p.stop();
  if (process.env['KESTREL_E2E_KEEP']) console.log(`kept ${workDir}`);
  else fs.rmSync(workDir, { recursive: true, force: true });
});

async function aggregator(name: string, env: Record<string, string> = {}): Promise<Aggregator> {
  const started = await startAggregator(workDir, name, cloud.cloudDir, cloud.address, pki, { KESTREL_AGGREGATOR_REPLAY_WINDOW: '1s', ...env });
  running.push(started.aggregator);
  const line = await started.aggregator.waitFor((l) => l.message === 'kestrel-aggregator started');
  return { process: started.aggregator, ingest: started.ingestAddress, http: String(line['http']), adminSocket: started.adminSocket };
}

/** Sum of a metric's samples (of one reason, when given) on the aggregator's /metrics. */
async function metric(agg: Aggregator, name: string, reason?: string): Promise<number> {
  const text = await (await fetch(`http://${agg.http}/metrics`)).text();
  let sum = 0;
  for (const line of text.split('\n')) {
    const m = /^([a-zA-Z_:][\w:]*)(\{[^}]*\})? (\S+)$/.exec(line);
    if (!m || m[1] !== name) continue;
    if (reason !== undefined && !(m[2] ?? '').includes(`reason="${reason}"`)) continue;
    sum += Number(m[3]);
  }
  return sum;
}

const REFUSAL_LOGS = new Set(['agent refused', 'agent connection refused', 'agent stream refused']);
/** The aggregator's log lines about refusals with this reason. */
const refusalLogs = (agg: Aggregator, reason: string) => agg.process.lines.filter((l) => REFUSAL_LOGS.has(String(l.message)) && l['reason'] === reason);

async function eventually<T>(what: string, read: () => Promise<T>, ok: (value: T) => boolean, timeoutMs = 10_000): Promise<T> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    const value = await read();
    if (ok(value)) return value;
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what} (last: ${JSON.stringify(value)})`);
    await new Promise((r) => setTimeout(r, 100));
  }
}

interface ClientIdentity {
  cert?: string;
  key?: string;
  token?: string;
}

/** One raw agent stream: what it received and how it ended. */
function openStream(address: string, identity: ClientIdentity) {
  const ca = fs.readFileSync(pki.ca);
  const credentials = identity.cert && identity.key ? grpc.credentials.createSsl(ca, fs.readFileSync(identity.key), fs.readFileSync(identity.cert)) : grpc.credentials.createSsl(ca);
  const client = new grpc.Client(address, credentials, { 'grpc.ssl_target_name_override': 'localhost', 'grpc.max_send_message_length': -1 });
  const metadata = new grpc.Metadata();
  if (identity.token !== undefined) metadata.set('authorization', `Bearer ${identity.token}`);
  const call = client.makeBidiStreamRequest(STREAM_PATH, (m: AgentMessage) => Buffer.from(AgentMessage.encode(m).finish()), (b: Buffer) => AggregatorMessage.decode(b), metadata);
  const received: AggregatorMessage[] = [];
  const waiters: (() => void)[] = [];
  call.on('data', (m: AggregatorMessage) => {
    received.push(m);
    for (const w of waiters.splice(0)) w();
  });
  call.on('error', () => undefined); // the status says it
  const status = new Promise<grpc.StatusObject>((resolve) => call.on('status', resolve));
  return {
    call,
    received,
    status,
    /** Resolves once a received message matches, or rejects with the stream's status if it ends first. */
    async waitFor(match: (m: AggregatorMessage) => boolean, timeoutMs = 30_000): Promise<void> {
      const deadline = Date.now() + timeoutMs;
      let ended: grpc.StatusObject | undefined;
      void status.then((s) => {
        ended = s;
        for (const w of waiters.splice(0)) w();
      });
      while (!received.some(match)) {
        if (ended) throw new Error(`stream ended with ${grpc.status[ended.code]}: ${ended.details}`);
        if (Date.now() > deadline) throw new Error('timed out waiting for a message');
        await new Promise<void>((resolve) => {
          waiters.push(resolve);
          setTimeout(resolve, 200);
        });
      }
    },
    close() {
      call.cancel();
      client.close();
    },
  };
}

const hello = (node: string): AgentMessage => ({ message: { $case: 'hello', value: { nodeName: node, agentVersion: 'e2e', instanceId: `e2e-${node}` } } });

let nextFile = 1;
async function batch(sequence: number, node: string, lineBytes = 40): Promise<AgentMessage> {
  const inode = nextFile++;
  const message = `${node} line of file ${inode} `.padEnd(lineBytes, '.');
  const content = {
    logs: [
      {
        namespace: 'shop',
        podName: `web-${node}`,
        podUid: `uid-${node}`,
        containerName: 'app',
        restartCount: 0,
        file: { device: 7, inode, fingerprint: 42 },
        lines: [{ message, stream: 'stdout', offset: 0, endOffset: message.length + 1, lineNumber: 1, parseError: false, truncated: false, timestamp: { seconds: Math.floor(Date.now() / 1000), nanos: 0 } }],
        previousContainer: false,
        streamComplete: false,
        lastLineNumber: 0,
        ownerReferences: [],
      },
    ],
    nodeConditions: [],
  };
  return { message: { $case: 'batch', value: await sealBatch(sequence, BatchContent.fromPartial(content), false) } };
}

/** Ends with a status; the stream is closed afterwards. */
async function refusedWith(address: string, identity: ClientIdentity, messages: AgentMessage[]): Promise<grpc.StatusObject> {
  const s = openStream(address, identity);
  try {
    for (const m of messages) s.call.write(m);
    const status = await Promise.race([s.status, new Promise<never>((_, reject) => setTimeout(() => reject(new Error('no status within 30 s')), 30_000))]);
    assert.deepEqual(s.received.filter((m) => m.message?.$case === 'ack'), [], 'nothing acknowledged on a refused stream');
    return status;
  } finally {
    s.close();
  }
}

/** A well-behaved agent of `node`: its batch is acknowledged (delivered to cloud-dev). */
async function wellBehaved(agg: Aggregator, node: string, identity: ClientIdentity): Promise<void> {
  const s = openStream(agg.ingest, identity);
  try {
    s.call.write(hello(node));
    s.call.write(await batch(1, node));
    await s.waitFor((m) => m.message?.$case === 'ack' && m.message.value.sequence === 1);
  } finally {
    s.close();
  }
}

/** The refusal was counted `times` times with this reason, logged once, and the aggregator still serves `node`. */
async function checkCounted(agg: Aggregator, name: string, reason: string, times: number, good: () => Promise<void>) {
  await eventually(`${name}{reason="${reason}"} = ${times}`, () => metric(agg, name, reason), (v) => v === times);
  await eventually(`a log line for ${reason}`, async () => refusalLogs(agg, reason).length, (n) => n >= 1);
  assert.equal(refusalLogs(agg, reason).length, 1, `${reason} logged once for the peer, although it happened ${times} times`);
  await good();
}

describe('certificate mode (agentAuth=certificate)', () => {
  let agg: Aggregator;
  const nodeA = () => pki.agentFor('node-a');
  const good = () => wellBehaved(agg, 'node-b', pki.agentFor('node-b'));

  before(async () => {
    agg = await aggregator('aggregator-cert');
    await good();
  });

  test('no client certificate: refused for the connection, UNAUTHENTICATED with the reason', async () => {
    for (let i = 0; i < 2; i++) {
      const status = await refusedWith(agg.ingest, {}, [hello('node-a')]);
      assert.equal(status.code, grpc.status.UNAUTHENTICATED);
      assert.match(status.details, /client certificate required/);
    }
    await checkCounted(agg, 'kestrel_aggregator_ingest_connections_refused_total', 'no_client_certificate', 2, good);
  });

  test('a certificate from another CA: refused for the connection', async () => {
    const foreign = createInternalPki(path.join(workDir, 'foreign-pki')).agentFor('node-a');
    for (let i = 0; i < 2; i++) {
      const status = await refusedWith(agg.ingest, foreign, [hello('node-a')]);
      assert.equal(status.code, grpc.status.UNAUTHENTICATED);
      assert.match(status.details, /not issued by the internal CA/);
    }
    await checkCounted(agg, 'kestrel_aggregator_ingest_connections_refused_total', 'untrusted_certificate', 2, good);
  });

  test("an agent claiming another node: refused after its Hello (PERMISSION_DENIED)", async () => {
    for (let i = 0; i < 2; i++) {
      const status = await refusedWith(agg.ingest, nodeA(), [hello('node-b'), await batch(1, 'node-b')]);
      assert.equal(status.code, grpc.status.PERMISSION_DENIED);
      assert.match(status.details, /certificate is for node "node-a", not "node-b"/);
    }
    await checkCounted(agg, 'kestrel_aggregator_ingest_refused_total', 'wrong_node', 2, good);
    // The rightful agent of node-a is served.
    await wellBehaved(agg, 'node-a', nodeA());
  });

  test('plaintext garbage on the TLS port: counted as a failed handshake', async () => {
    const port = Number(agg.ingest.slice(agg.ingest.lastIndexOf(':') + 1));
    for (let i = 0; i < 2; i++) {
      const socket = net.connect({ host: '127.0.0.1', port });
      await new Promise((resolve) => socket.once('connect', resolve));
      socket.write(Buffer.from('GET /metrics HTTP/1.1\r\nHost: kestrel\r\n\r\n\x00\x01\x02 garbage \xff\xfe'));
      await new Promise((resolve) => socket.once('close', resolve));
    }
    await checkCounted(agg, 'kestrel_aggregator_ingest_connections_refused_total', 'tls_handshake', 2, good);
  });

  test('garbage inside a well-formed gRPC frame over TLS and HTTP/2: the stream is refused and counted', async () => {
    // Bytes that are no protobuf at all (an endless varint), then text that decodes to an empty message (no Hello).
    const grpcFrame = (payload: Buffer) => {
      const frame = Buffer.alloc(5 + payload.length);
      frame.writeUInt8(0, 0); // not compressed
      frame.writeUInt32BE(payload.length, 1);
      payload.copy(frame, 5);
      return frame;
    };
    const sendFrames = async (...payloads: Buffer[]) => {
      const session = http2.connect(`https://127.0.0.1:${agg.ingest.slice(agg.ingest.lastIndexOf(':') + 1)}`, {
        ca: fs.readFileSync(pki.ca),
        cert: fs.readFileSync(nodeA().cert),
        key: fs.readFileSync(nodeA().key),
        servername: 'localhost',
      });
      session.on('error', () => undefined);
      try {
        const request = session.request({ ':method': 'POST', ':path': STREAM_PATH, 'content-type': 'application/grpc', te: 'trailers' });
        request.on('error', () => undefined);
        const fields: Record<string, unknown> = {};
        request.on('response', (headers) => Object.assign(fields, headers));
        request.on('trailers', (trailers) => Object.assign(fields, trailers));
        request.resume();
        for (const payload of payloads.slice(0, -1)) request.write(grpcFrame(payload));
        request.end(grpcFrame(payloads[payloads.length - 1]!));
        await new Promise((resolve) => request.on('close', resolve));
        return { status: Number(fields['grpc-status']), message: decodeURIComponent(String(fields['grpc-message'] ?? '')) };
      } finally {
        session.close();
      }
    };
    // Bytes that are no protobuf at all (an endless varint): first instead of the Hello, then after a good Hello.
    const garbage = Buffer.alloc(64, 0xff);
    const helloBytes = Buffer.from(AgentMessage.encode(hello('node-a')).finish());
    for (const frames of [[garbage], [garbage], [helloBytes, garbage]]) {
      const undecodable = await sendFrames(...frames);
      assert.equal(undecodable.status, grpc.status.INTERNAL);
      assert.match(undecodable.message, /deserializing/);
    }
    await checkCounted(agg, 'kestrel_aggregator_ingest_protocol_errors_total', 'undecodable_message', 3, good);
    // Text that happens to decode (to an empty message): the stream does not start with a Hello.
    const before = await metric(agg, 'kestrel_aggregator_ingest_protocol_errors_total', 'no_hello');
    const notHello = await sendFrames(Buffer.from('this is not a protobuf message at all'));
    assert.equal(notHello.status, grpc.status.INVALID_ARGUMENT);
    await checkCounted(agg, 'kestrel_aggregator_ingest_protocol_errors_total', 'no_hello', before + 1, good);
  });

  test('a 100 MiB message: RESOURCE_EXHAUSTED for that stream, counted, the aggregator serves on', async () => {
    const huge = await batch(1, 'node-a', 100 * 1024 * 1024);
    for (let i = 0; i < 2; i++) {
      const status = await refusedWith(agg.ingest, nodeA(), [hello('node-a'), huge]);
      assert.equal(status.code, grpc.status.RESOURCE_EXHAUSTED);
      assert.match(status.details, /larger than max/);
    }
    await checkCounted(agg, 'kestrel_aggregator_ingest_protocol_errors_total', 'message_too_large', 2, good);
    await wellBehaved(agg, 'node-a', nodeA());
    assert.deepEqual(agg.process.lines.filter((l) => l.level === 'error').map((l) => l.message), [], 'no error logged');
  });
});

describe('token mode (agentAuth=token) against the Kubernetes API test server', () => {
  const NS = 'kestrel';
  const AUDIENCE = 'kestrel-aggregator';
  let kube: KubeApiServer;
  let agg: Aggregator;
  const token = (pod: string | undefined, options: { serviceAccount?: string; audiences?: string[] } = {}) =>
    kube.serviceAccountToken(NS, options.serviceAccount ?? 'kestrel-agent', { audiences: options.audiences ?? [AUDIENCE], ...(pod === undefined ? {} : { pod }) });
  const good = () => wellBehaved(agg, 'node-b', { token: token('agent-b') });

  before(async () => {
    kube = await startKubeApiServer();
    kube.ensureNamespace(NS);
    for (const node of ['node-a', 'node-b']) kube.create({ apiVersion: 'v1', kind: 'Node', metadata: { name: node } });
    for (const name of ['kestrel-agent', 'web', 'kestrel-aggregator']) kube.create({ apiVersion: 'v1', kind: 'ServiceAccount', metadata: { name, namespace: NS } });
    const pod = (name: string, nodeName: string, serviceAccountName = 'kestrel-agent') =>
      kube.create({ apiVersion: 'v1', kind: 'Pod', metadata: { name, namespace: NS }, spec: { serviceAccountName, nodeName, containers: [{ name: 'agent', image: 'kestrel-agent:e2e' }] } });
    pod('agent-a', 'node-a');
    pod('agent-b', 'node-b');
    pod('web-a', 'node-a', 'web');
    // A node without a Node object: the review names the pod but not the node, as on clusters before 1.30.
    pod('agent-c', 'node-c');
    // What the chart grants the aggregator for token mode (aggregator-rbac.yaml), and nothing more.
    kube.create({ apiVersion: 'rbac.authorization.k8s.io/v1', kind: 'ClusterRole', metadata: { name: 'kestrel-aggregator' }, rules: [{ apiGroups: ['authentication.k8s.io'], resources: ['tokenreviews'], verbs: ['create'] }] } as never);
    kube.create({ apiVersion: 'rbac.authorization.k8s.io/v1', kind: 'ClusterRoleBinding', metadata: { name: 'kestrel-aggregator' }, roleRef: { apiGroup: 'rbac.authorization.k8s.io', kind: 'ClusterRole', name: 'kestrel-aggregator' }, subjects: [{ kind: 'ServiceAccount', name: 'kestrel-aggregator', namespace: NS }] } as never);
    kube.create({ apiVersion: 'rbac.authorization.k8s.io/v1', kind: 'Role', metadata: { name: 'kestrel-aggregator', namespace: NS }, rules: [{ apiGroups: [''], resources: ['pods'], verbs: ['get'] }] } as never);
    kube.create({ apiVersion: 'rbac.authorization.k8s.io/v1', kind: 'RoleBinding', metadata: { name: 'kestrel-aggregator', namespace: NS }, roleRef: { apiGroup: 'rbac.authorization.k8s.io', kind: 'Role', name: 'kestrel-aggregator' }, subjects: [{ kind: 'ServiceAccount', name: 'kestrel-aggregator', namespace: NS }] } as never);
    const kubeconfig = kube.writeKubeconfig(path.join(workDir, 'aggregator.kubeconfig'), kube.serviceAccountToken(NS, 'kestrel-aggregator'), NS);
    agg = await aggregator('aggregator-token', {
      KESTREL_AGGREGATOR_AGENT_AUTH: 'token',
      KESTREL_AGGREGATOR_KUBECONFIG: kubeconfig,
      KESTREL_AGGREGATOR_KUBERNETES_NAMESPACE: NS,
      KESTREL_AGGREGATOR_CLUSTER_WATCH: 'off',
    });
  });

  after(async () => {
    await kube?.stop();
  });

  test('a pod-bound token of the agent ServiceAccount is accepted for its node; debug agents shows who proved it', async () => {
    const s = openStream(agg.ingest, { token: token('agent-a') });
    try {
      s.call.write(hello('node-a'));
      s.call.write(await batch(1, 'node-a'));
      await s.waitFor((m) => m.message?.$case === 'ack');
      const view = await runToEnd(programs.aggregator, ['debug', 'agents', '-o', 'json', '--socket', agg.adminSocket]);
      const agents = JSON.parse(view.stdout) as { node: string; subject: string }[];
      assert.deepEqual(agents.map((a) => [a.node, a.subject]), [['node-a', `system:serviceaccount:${NS}:kestrel-agent pod agent-a`]]);
      const text = await runToEnd(programs.aggregator, ['debug', 'agents', '--socket', agg.adminSocket]);
      assert.match(text.stdout, /^NODE +SUBJECT +PEER/);
    } finally {
      s.close();
    }
    // Reviews are cached by token: a second stream with the same token costs no review.
    const reviews = kube.audit.count('create', 'tokenreviews');
    await wellBehaved(agg, 'node-a', { token: token('agent-a') });
    const reused = token('agent-a');
    await wellBehaved(agg, 'node-a', { token: reused });
    await wellBehaved(agg, 'node-a', { token: reused });
    assert.equal(kube.audit.count('create', 'tokenreviews'), reviews + 2, 'one review per distinct token');
  });

  test("the token of node-a's pod claiming node-b is refused (PERMISSION_DENIED)", async () => {
    for (let i = 0; i < 2; i++) {
      const status = await refusedWith(agg.ingest, { token: token('agent-a') }, [hello('node-b')]);
      assert.equal(status.code, grpc.status.PERMISSION_DENIED);
      assert.match(status.details, /bound to node "node-a", not "node-b"/);
    }
    await checkCounted(agg, 'kestrel_aggregator_ingest_refused_total', 'wrong_node', 2, good);
  });

  test('a token for another audience is refused (UNAUTHENTICATED)', async () => {
    const status = await refusedWith(agg.ingest, { token: token('agent-a', { audiences: ['https://kubernetes.default.svc'] }) }, [hello('node-a')]);
    assert.equal(status.code, grpc.status.UNAUTHENTICATED);
    assert.match(status.details, /not valid for audience "kestrel-aggregator"/);
    await checkCounted(agg, 'kestrel_aggregator_ingest_refused_total', 'invalid_token', 1, good);
  });

  test("another ServiceAccount's pod-bound token is refused (PERMISSION_DENIED)", async () => {
    const status = await refusedWith(agg.ingest, { token: token('web-a', { serviceAccount: 'web' }) }, [hello('node-a')]);
    assert.equal(status.code, grpc.status.PERMISSION_DENIED);
    assert.match(status.details, /system:serviceaccount:kestrel:web/);
    await checkCounted(agg, 'kestrel_aggregator_ingest_refused_total', 'wrong_service_account', 1, good);
  });

  test('no token, or one bound to no pod, is refused', async () => {
    for (let i = 0; i < 2; i++) {
      const status = await refusedWith(agg.ingest, {}, [hello('node-a')]);
      assert.equal(status.code, grpc.status.UNAUTHENTICATED);
      assert.match(status.details, /authorization metadata required/);
    }
    await checkCounted(agg, 'kestrel_aggregator_ingest_refused_total', 'no_token', 2, good);
    const unbound = await refusedWith(agg.ingest, { token: token(undefined) }, [hello('node-a')]);
    assert.equal(unbound.code, grpc.status.PERMISSION_DENIED);
    assert.match(unbound.details, /not bound to a pod/);
    await checkCounted(agg, 'kestrel_aggregator_ingest_refused_total', 'unbound_token', 1, good);
  });

  test('a real agent with a token file and only the CA, as the chart mounts them, is served', async () => {
    const tokenFile = path.join(workDir, 'agent-a-token');
    fs.writeFileSync(tokenFile, token('agent-a') + '\n', { mode: 0o600 });
    const podsRoot = path.join(workDir, 'pods-a');
    fs.mkdirSync(podsRoot, { recursive: true });
    const agent = new RunningProcess(
      'agent-token',
      programs.agent,
      [],
      {
        KESTREL_AGENT_NODE_NAME: 'node-a',
        KESTREL_AGENT_LOG_ROOT: podsRoot,
        KESTREL_AGENT_STATE_DIR: path.join(workDir, 'agent-token-state'),
        KESTREL_AGENT_AGGREGATOR_ADDRESS: agg.ingest,
        KESTREL_AGENT_AGGREGATOR_SERVER_NAME: 'localhost',
        KESTREL_AGENT_TLS_CA_FILE: pki.ca,
        KESTREL_AGENT_TOKEN_FILE: tokenFile,
        KESTREL_AGENT_HTTP_LISTEN: '127.0.0.1:0',
        KESTREL_AGENT_ADMIN_SOCKET: path.join(workDir, 'agent-token.sock'),
      },
      path.join(workDir, 'agent-token.log'),
    );
    running.push(agent);
    await agent.waitFor((l) => l.message === 'connected to aggregator', 30_000);
    const view = await runToEnd(programs.aggregator, ['debug', 'agents', '-o', 'json', '--socket', agg.adminSocket]);
    const agents = JSON.parse(view.stdout) as { node: string; subject: string }[];
    assert.ok(agents.some((a) => a.node === 'node-a' && a.subject === `system:serviceaccount:${NS}:kestrel-agent pod agent-a`), view.stdout);
    await agent.stop();
  });

  test('without node-name in the review, the node is the bound pod’s (read from the API)', async () => {
    const pods = kube.audit.count('get', 'pods');
    await wellBehaved(agg, 'node-c', { token: token('agent-c') });
    assert.equal(kube.audit.count('get', 'pods'), pods + 1);
    const status = await refusedWith(agg.ingest, { token: token('agent-c') }, [hello('node-a')]);
    assert.equal(status.code, grpc.status.PERMISSION_DENIED);
    assert.equal(await metric(agg, 'kestrel_aggregator_ingest_refused_total', 'wrong_node'), 3);
    assert.deepEqual(agg.process.lines.filter((l) => l.level === 'error').map((l) => l.message), [], 'no error logged');
  });
});
