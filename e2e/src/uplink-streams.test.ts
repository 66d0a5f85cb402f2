// The uplink against cloud-dev in one process (real gRPC, real mTLS on loopback): replay window and replays,
// StreamData fallback, token rejection, certificate rotation, requests from the cloud, an untrusted server, and
// OperatorStats. The whole-system versions under agent load are in uplink-outages / uplink-credentials.
import assert from 'node:assert/strict';
import { X509Certificate } from 'node:crypto';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { after, before, describe, it } from 'node:test';
import type { PodLogs } from '@kestrel/proto/cloud/v1';
import { issueCertificate, readCloudMaterial, type RunningCloudServer } from '@kestrel/cloud-dev';
import { eventually, FAST_STREAM_SETTINGS, initCloud, readJsonLines, startCloud, startUplink, type InProcessUplink } from './harness/in-process-uplink.js';

let root: string;
before(() => {
  root = fs.mkdtempSync(path.join(os.tmpdir(), 'kestrel-uplink-'));
});
after(() => fs.rmSync(root, { recursive: true, force: true }));

const at = (ms: number) => ({ seconds: Math.floor(ms / 1000), nanos: (ms % 1000) * 1_000_000 });

function podLogs(uid: string, first: number, count: number): PodLogs {
  const base = 1_750_000_000_000;
  return {
    podName: 'web-1',
    namespace: 'shop',
    podUid: uid,
    containerName: 'app',
    logEntries: Array.from({ length: count }, (_, i) => ({
      timestamp: at(base + (first + i) * 10),
      message: `${uid} line ${first + i} {"level":"info","msg":"request handled","path":"/api/items/${(first + i) % 97}"}`,
      level: '',
      lineNumber: first + i,
      errorInfo: undefined,
    })),
    previousContainer: false,
    collectionTimestamp: at(Date.now()),
    totalLines: count,
    streamComplete: false,
    streamOffset: first + count - 1,
    ownerReferences: [],
    nodeName: 'node-a',
  };
}

/** Line numbers stored per pod uid, from <stream>.jsonl files. */
function storedLines(dataDir: string, streams: string[] = ['logs']): Map<string, number[]> {
  const out = new Map<string, number[]>();
  for (const stream of streams) {
    for (const line of readJsonLines(path.join(dataDir, `${stream}.jsonl`))) {
      const logs = (line['message'] as { podLogs?: { podUid: string; logEntries: { lineNumber: number }[] } }).podLogs;
      if (!logs) continue;
      const list = out.get(logs.podUid) ?? [];
      for (const e of logs.logEntries) list.push(Number(e.lineNumber));
      out.set(logs.podUid, list);
    }
  }
  return out;
}

const range = (n: number) => Array.from({ length: n }, (_, i) => i + 1);

describe('uplink against an in-process cloud', () => {
  let cloudDir: string;
  let cloud: RunningCloudServer;
  let up: InProcessUplink;

  before(async () => {
    cloudDir = await initCloud(root, 'main');
    cloud = await startCloud(cloudDir, { heartbeatIntervalMs: 200 });
    up = startUplink(cloudDir, cloud.address);
    await eventually('all five streams open', () => up.uplink.readiness().ready);
  });
  after(async () => {
    await up.stop();
    await cloud.stop();
  });

  it('delivers PodLogs only past the replay window; a dropped connection replays the window and the cloud stores each line once', async () => {
    const signal = new AbortController().signal;
    const deliveries: Promise<void>[] = [];
    let next = 1;
    const send = async (messages: number) => {
      for (let i = 0; i < messages; i++) {
        const accepted = await up.uplink.submitLogs(podLogs('replay-uid', next, 20), signal);
        deliveries.push(accepted.delivered);
        next += 20;
        await new Promise((r) => setTimeout(r, 20));
      }
    };
    await send(60); // about 1.2 s: more than the 0.5 s window, so the window is full when the connection drops
    const dropped = cloud.dropConnections();
    assert.ok(dropped >= 1);
    await send(30);
    await Promise.all(deliveries);
    await cloud.store.flush();
    const lines = storedLines(path.join(cloudDir, 'data')).get('replay-uid') ?? [];
    assert.deepEqual(lines, range(next - 1), 'every line once, in order');
    assert.ok(cloud.replays.counts.entries > 0, 'the cloud saw replayed lines and did not store them again');
    assert.ok(up.uplink.streams.get('logs')!.replayed > 0, 'the uplink replayed its window');
  });

  it('answers requests it does not support with a clear error and the same request_id, and a malformed certificate renewal with what is wrong', async () => {
    const control = cloud.openStreams.all().find((s) => s.stream === 'control')!;
    control.push({ response: { $case: 'kubernetesApiRequest', value: { requestId: 'k8s-1', apiPaths: ['/api/v1/pods'], timeoutSeconds: 5 } } });
    control.push({ response: { $case: 'shellCommandRequest', value: { requestId: 'sh-1', commands: ['kubectl get pods'], timeoutSeconds: 5 } } });
    control.push({
      response: {
        $case: 'certificateRenewalRequest',
        value: { requestId: 'bad-cert-1', clientCert: 'not base64 at all!', clientKey: '', caCert: '', issuedAt: undefined, expiresAt: undefined, serialNumber: '' },
      },
    });
    const controlFile = path.join(cloudDir, 'data', 'control.jsonl');
    const answers = () => readJsonLines(controlFile).map((l) => l['message'] as Record<string, Record<string, unknown>>);
    await eventually('three answers on StreamControl', async () => {
      await cloud.store.flush();
      return answers().length >= 3;
    });
    const byId = new Map(answers().map((m) => [String(Object.values(m)[0]!['requestId']), m]));
    assert.match(String(byId.get('k8s-1')?.['kubernetesApiResponse']?.['globalErrorMessage']), /Kubernetes API requests are not supported by this operator version/);
    assert.match(String(byId.get('sh-1')?.['shellCommandResponse']?.['globalErrorMessage']), /shell commands are not supported by this operator version/);
    const cert = byId.get('bad-cert-1')?.['certificateRenewalResponse'];
    assert.equal(cert?.['success'], undefined, 'success is false (omitted in proto3 JSON)');
    assert.match(String(cert?.['errorMessage']), /client_cert is neither base64-encoded PEM nor PEM/);
  });

  it('a rotated certificate pushed by the cloud is applied, answered, written to the files, and used by the new streams', async () => {
    const generation = up.uplink.connection.generation;
    const [result] = await cloud.rotation.rotate({ revokePrevious: true, validForMs: 86_400_000, timeoutMs: 10_000 });
    assert.equal(result?.success, true, result?.errorMessage);
    assert.equal(result?.stream, 'control');
    const onDisk = new X509Certificate(fs.readFileSync(path.join(cloudDir, 'operator', 'tls.crt')));
    assert.equal(onDisk.fingerprint256, result?.fingerprint256, 'the new certificate is in the certificate file');
    assert.ok(up.uplink.connection.generation > generation, 'a new connection was opened');
    // The previous certificate is now refused: streams open again only with the new one.
    await eventually('streams open with the new certificate', () => {
      const open = cloud.openStreams.all();
      return open.length === 5 && open.every((s) => s.certificateFingerprint === result?.fingerprint256);
    });
    const accepted = await up.uplink.submitLogs(podLogs('after-rotation', 1, 5), new AbortController().signal);
    await accepted.delivered;
    await cloud.store.flush();
    assert.deepEqual(storedLines(path.join(cloudDir, 'data')).get('after-rotation'), range(5));
  });

  it('new certificate files (a Secret update) are picked up: a new connection, and the streams drain onto it', async () => {
    const generation = up.uplink.connection.generation;
    const material = readCloudMaterial(cloudDir);
    const next = issueCertificate({ certPem: material.caCertPem, keyPem: material.caKeyPem }, { commonName: 'e2e', usage: 'client' });
    const fingerprint = new X509Certificate(next.certPem).fingerprint256;
    const operator = path.join(cloudDir, 'operator');
    fs.writeFileSync(path.join(operator, 'tls.key.tmp'), next.keyPem);
    fs.writeFileSync(path.join(operator, 'tls.crt.tmp'), next.certPem);
    fs.renameSync(path.join(operator, 'tls.key.tmp'), path.join(operator, 'tls.key'));
    fs.renameSync(path.join(operator, 'tls.crt.tmp'), path.join(operator, 'tls.crt'));
    await eventually('streams open with the certificate from the files', () => {
      const open = cloud.openStreams.all();
      return up.uplink.connection.generation > generation && open.length === 5 && open.every((s) => s.certificateFingerprint === fingerprint);
    });
    assert.equal(up.uplink.view().certificate.notAfter, new Date(new X509Certificate(next.certPem).validTo).toISOString());
  });

  it('a token the cloud rejects on its streams is renewed, the streams reconnect with it, and it is written back', async () => {
    const renewals = up.uplink.tokens.renewals;
    const before = fs.readFileSync(path.join(cloudDir, 'operator', 'token'), 'utf8');
    cloud.controls.tokensRevokedBefore = Math.floor(Date.now() / 1000) + 1; // every token so far, this second included
    for (const s of cloud.openStreams.all()) s.end({ code: 16, message: 'bearer token revoked' });
    await eventually('a renewal and all streams open again', () => up.uplink.tokens.renewals > renewals && up.uplink.readiness().ready);
    await eventually('the renewed token written to the token file', () => fs.readFileSync(path.join(cloudDir, 'operator', 'token'), 'utf8').trim() === up.uplink.tokens.current.jwt);
    assert.notEqual(up.uplink.tokens.current.jwt, before.trim());
    const rejected = up.log.lines.filter((l) => l['message'] === 'the cloud rejected the cluster token; renewing it before reconnecting');
    assert.ok(rejected.length >= 1, 'the rejection was seen and logged');
    const accepted = await up.uplink.submitLogs(podLogs('after-renewal', 1, 3), new AbortController().signal);
    await accepted.delivered;
    await cloud.store.flush();
    assert.deepEqual(storedLines(path.join(cloudDir, 'data')).get('after-renewal'), range(3));
  });
});

describe('a cloud that does not implement the dedicated streams', () => {
  it('sends events, flows and logs on StreamData instead', async () => {
    const cloudDir = await initCloud(root, 'fallback');
    const cloud = await startCloud(cloudDir, { unimplemented: ['events', 'flows', 'logs'] });
    const up = startUplink(cloudDir, cloud.address);
    try {
      const signal = new AbortController().signal;
      const event = await up.uplink.submit(
        { $case: 'kubernetesEvent', value: { name: 'web-1.17f', namespace: 'shop', uid: 'ev-1', eventType: 'Warning', reason: 'BackOff', message: 'Back-off restarting failed container', involvedObject: undefined, source: undefined, firstTimestamp: undefined, lastTimestamp: undefined, count: 3, action: 1 } },
        signal,
      );
      const flow = await up.uplink.submit(
        { $case: 'flow', value: { srcIp: '10.0.0.1', dstIp: '10.0.0.2', src: undefined, dst: undefined, direction: 'egress', port: 443, protocol: 'TCP', allowed: true, count: 7, firstSeen: undefined, lastSeen: undefined, ingressAllowedBy: [], egressAllowedBy: [] } },
        signal,
      );
      const logs = await up.uplink.submitLogs(podLogs('fallback-uid', 1, 10), signal);
      await Promise.all([event.delivered, flow.delivered, logs.delivered]);
      await cloud.store.flush();
      const kinds = readJsonLines(path.join(cloudDir, 'data', 'data.jsonl')).map((l) => Object.keys(l['message'] as object)[0]);
      assert.ok(kinds.includes('kubernetesEvent') && kinds.includes('flow') && kinds.includes('podLogs'), `data stream carried ${kinds.join(', ')}`);
      assert.deepEqual(storedLines(path.join(cloudDir, 'data'), ['data']).get('fallback-uid'), range(10));
      for (const s of ['events', 'flows', 'logs']) assert.equal(up.uplink.view().streams.find((v) => v.name === s)?.carries, 'fallback to data');
      assert.ok(up.uplink.readiness().ready, 'ready: every record kind has an open stream');
      const refusals = cloud.events.snapshot().refusals;
      assert.ok((refusals['The server does not implement the method /cloud.v1.StreamService/StreamEvents'] ?? 0) >= 1);
    } finally {
      await up.stop();
      await cloud.stop();
    }
  });
});

describe('a server whose certificate is signed by an unknown CA', () => {
  it('is refused with a clear error, retried with growing backoff, and receives nothing', async () => {
    const ours = await initCloud(root, 'ours');
    const impostorDir = await initCloud(root, 'impostor');
    const impostor = await startCloud(impostorDir);
    const up = startUplink(ours, impostor.address, { stream: { ...FAST_STREAM_SETTINGS, initialBackoffMs: 100, maxBackoffMs: 800 } });
    try {
      const failures = () => up.log.lines.filter((l) => l['message'] === 'cloud stream failed; reconnecting with backoff' && l['stream'] === 'data');
      await eventually('four failed attempts on StreamData', () => failures().length >= 4, 30_000);
      const attempts = failures().slice(0, 4);
      assert.deepEqual(attempts.map((l) => l['attempt']), [1, 2, 3, 4]);
      // Full jitter: each delay lies in [initial/2, min(max, initial * 2^(attempt-1))].
      attempts.forEach((l, i) => {
        const ceiling = Math.min(800, 100 * 2 ** i);
        assert.ok(Number(l['retryInMs']) >= 50 && Number(l['retryInMs']) <= ceiling, `attempt ${i + 1} waits ${String(l['retryInMs'])} ms, at most ${ceiling}`);
      });
      assert.match(String(attempts[0]!['error']), /server certificate is not trusted/);
      const readiness = up.uplink.readiness();
      assert.equal(readiness.ready, false);
      assert.match(readiness.reason ?? '', /data backoff|data connecting/);
      await impostor.store.flush();
      const counts = impostor.store.counts();
      assert.deepEqual(counts, { data: 0, control: 0, flows: 0, events: 0, logs: 0 }, 'nothing reached the impostor');
      assert.equal(Object.values(impostor.events.snapshot().streamsOpened).reduce((a, b) => a + b, 0), 0, 'no stream was ever opened');
      assert.ok(impostor.events.snapshot().tlsHandshakeFailures >= 1, 'the TLS handshake failed');
    } finally {
      await up.stop();
      await impostor.stop();
    }
  });
});

describe('OperatorStats', () => {
  it('goes on StreamData every interval with process and cgroup figures', async () => {
    const cloudDir = await initCloud(root, 'stats');
    const cgroup = path.join(root, 'cgroup');
    fs.mkdirSync(cgroup);
    fs.writeFileSync(path.join(cgroup, 'memory.max'), '536870912\n');
    fs.writeFileSync(path.join(cgroup, 'cpu.max'), '150000 100000\n');
    const cloud = await startCloud(cloudDir);
    const up = startUplink(cloudDir, cloud.address, { operatorStatsIntervalMs: 300 }, cgroup);
    try {
      const stats = () => readJsonLines(path.join(cloudDir, 'data', 'data.jsonl')).flatMap((l) => {
        const s = (l['message'] as { operatorStats?: Record<string, unknown> }).operatorStats;
        return s ? [s] : [];
      });
      await eventually('two OperatorStats', async () => {
        await cloud.store.flush();
        return stats().length >= 2;
      });
      const s = stats()[1]!;
      assert.ok(Number(s['memorySysBytes']) > 10 * 1024 * 1024, 'rss');
      assert.ok(Number(s['memoryAllocBytes']) > 0 && Number(s['memoryHeapInuseBytes']) >= Number(s['memoryAllocBytes']), 'heap used <= heap total');
      assert.equal(Number(s['memoryLimitBytes']), 536870912);
      assert.equal(Number(s['cpuLimitNanoCores']), 1_500_000_000);
      assert.equal(s['dataStreamHealthy'], true);
      assert.equal(s['controlStreamHealthy'], true);
      assert.ok(Number(s['totalMessagesSent']) >= 1);
      assert.ok(Number(s['numGoroutines']) > 0);
    } finally {
      await up.stop();
      await cloud.stop();
    }
  });
});
