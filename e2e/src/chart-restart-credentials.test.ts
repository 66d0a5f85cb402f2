// Issue 5 ("the renewed token written back to the runtime Secret when running in a cluster so a restart uses it"; the
// same for certificates pushed by the cloud), end to end through the chart: a restarted aggregator starts with the
// newest credentials it stored, read from its own mounted runtime Secret (never through the API).
//
// The chart is installed and its pods run as in chart-install.test.ts (harness/chart-cluster.ts, harness/kubelet.ts:
// the real processes get only their pods' env and volumes; see that file's header for the one path mapping). Then:
//   1. cloud-dev hands out short-lived tokens: the onboarding token (inline in the values, as an installer gives it)
//      lives ONBOARDING_TTL, renewed ones RENEWED_TTL, and a stream ends when its token expires. The aggregator
//      renews its token and cloud-dev pushes a new client certificate (rotate-cert); both land in the chart's runtime
//      Secret in the API test server.
//   2. The onboarding credentials become useless, as they are a day later: the onboarding token expires (an expired
//      token cannot be renewed) and is revoked at cloud-dev (revoke-tokens --issued-before: only tokens older than
//      the renewed one), and the onboarding certificate is refused since the rotation (rotate-cert --revoke-previous).
//   3. The aggregator process stops and starts again with its volumes laid out anew from the Secrets as they are now
//      (what the kubelet gives a restarted container), and must open its cloud streams with the renewed token and
//      the pushed certificate at once — nothing refused — and carry log lines again.
import assert from 'node:assert/strict';
import { X509Certificate } from 'node:crypto';
import fs from 'node:fs';
import path from 'node:path';
import { after, before, describe, test } from 'node:test';
import { loadAgentConfig } from '@kestrel/agent';
import { loadAggregatorConfig } from '@kestrel/aggregator';
import { readCloudMaterial, signToken } from '@kestrel/cloud-dev';
import { envName } from '@kestrel/core';
import { ChartCluster, installChart, scheduleChartPods, waitUntil } from './harness/chart-cluster.js';
import { readStoredLogEntries } from './harness/cloud-store.js';
import { clusterDnsEnv } from './harness/cluster-dns.js';
import { mapPaths, TestKubelet, type PodRun } from './harness/kubelet.js';
import { criTimestamp } from './harness/pod-writer.js';
import { RunningProcess, runToEnd } from './harness/process.js';
import { programs } from './harness/repo.js';
import { startKubeApiServer, type KubeApiServer } from './kube-api-server/index.js';

const NS = 'kestrel';
const NODE = 'node-1';
const POD_IP = '127.0.0.1';
const AGENT_POD = 'kestrel-agent-m4r8t';
const AGGREGATOR_POD = 'kestrel-aggregator-7c6b5d8f9-h3k9z';
const AGGREGATOR_SA = `system:serviceaccount:${NS}:kestrel-aggregator`;
const RUNTIME_SECRET = 'kestrel-cloud-runtime';
const APP = { namespace: 'shop', pod: 'web-1', container: 'app' };
/** Long enough for the install and the first start (renewed at 50-70 % of it), short enough to wait out. */
const ONBOARDING_TTL_MS = 30_000;
/** Renewed tokens: short-lived too, but outliving the test's restart. */
const RENEWED_TTL = '180s';

interface Claims {
  iat: number;
  exp: number;
}
const claimsOf = (jwt: string) => JSON.parse(Buffer.from(jwt.split('.')[1]!, 'base64url').toString()) as Claims;

describe('a restarted aggregator uses the token and certificate it stored in the runtime Secret', () => {
  let work: string;
  let kube: KubeApiServer;
  let cloud: RunningProcess | undefined;
  let cloudDir: string;
  let dataDir: string;
  let cluster: ChartCluster;
  let kubelet: TestKubelet;
  let aggregator: RunningProcess | undefined;
  let agent: RunningProcess | undefined;
  let aggregatorRun: PodRun;
  /** The listen addresses the first start used (kept or moved), given to the restarted process too. */
  const listen: Record<string, string> = {};
  const ports = { ingest: 4800, aggregatorHttp: 9103, agentHttp: 9102 };
  let appUid: string;
  let onboardingToken: string;
  let renewedToken: string;
  let pushedFingerprint: string;
  const nodeRoot = () => path.join(work, 'node');
  const dnsFile = () => path.join(work, 'cluster-dns.json');
  const runtimeData = () => (kube.get('v1', 'Secret', RUNTIME_SECRET, NS)?.['data'] ?? {}) as Record<string, string>;
  const decoded = (b64: string | undefined) => (b64 === undefined ? undefined : Buffer.from(b64, 'base64').toString());
  const cloudDev = async (...args: string[]) => {
    const r = await runToEnd(programs.cloudDev, [...args, '--dir', cloudDir]);
    assert.equal(r.code, 0, `cloud-dev ${args.join(' ')}: ${r.stdout}${r.stderr}`);
    return JSON.parse(r.stdout) as unknown;
  };
  const cloudCounts = async () => ((await cloudDev('status')) as { counts: { refusals: Record<string, number> } }).counts;

  /** The aggregator "in its pod": volumes laid out from the Secrets as they are now, env from the pod, nothing else. */
  const startAggregator = async (logName: string) => {
    fs.rmSync(path.join(work, 'aggregator-pod'), { recursive: true, force: true });
    aggregatorRun = await kubelet.start(NS, AGGREGATOR_POD, 'aggregator', path.join(work, 'aggregator-pod'));
    const mapped = mapPaths(aggregatorRun, loadAggregatorConfig([], aggregatorRun.env) as unknown as Record<string, unknown>, (k) => envName('KESTREL_AGGREGATOR_', k));
    const env: Record<string, string> = { ...mapped.env, KESTREL_SERVICE_ACCOUNT_PATH_PREFIX: aggregatorRun.root };
    for (const name of ['KESTREL_AGGREGATOR_INGEST_LISTEN', 'KESTREL_AGGREGATOR_HTTP_LISTEN']) {
      if (listen[name] === undefined) {
        await cluster.keepOrMove(env, name);
        listen[name] = env[name]!;
      }
      env[name] = listen[name];
    }
    ports.ingest = Number(listen['KESTREL_AGGREGATOR_INGEST_LISTEN']!.split(':').pop());
    ports.aggregatorHttp = Number(listen['KESTREL_AGGREGATOR_HTTP_LISTEN']!.split(':').pop());
    aggregator = new RunningProcess('aggregator', programs.aggregator, [], env, path.join(work, logName));
    await aggregator.waitFor((l) => l.message === 'kestrel-aggregator started');
    await cluster.probe(aggregatorRun, 'livenessProbe', { http: ports.aggregatorHttp, ingest: ports.ingest });
  };

  const writeLines = (prefix: string, count: number): string[] => {
    const dir = path.join(nodeRoot(), 'var/log/pods', `${APP.namespace}_${APP.pod}_${appUid}`, APP.container);
    fs.mkdirSync(dir, { recursive: true });
    const lines = Array.from({ length: count }, (_, i) => `${prefix} line ${i + 1} of ${count}`);
    const now = Date.now();
    fs.appendFileSync(path.join(dir, '0.log'), lines.map((l, i) => `${criTimestamp(now, i)} stdout F ${l}\n`).join(''));
    return lines;
  };
  const linesStored = (prefix: string, lines: string[]) =>
    waitUntil(`"${prefix}" lines in cloud-dev`, () => {
      const entries = readStoredLogEntries(dataDir).filter((e) => e.message.startsWith(`${prefix} line`));
      return entries.length >= lines.length && entries;
    }, 60_000);

  before(async () => {
    // Short: the admin sockets (a setting's default under the /tmp emptyDir) live under it.
    work = fs.mkdtempSync('/tmp/kcr-');
    cloudDir = path.join(work, 'cloud');
    dataDir = path.join(work, 'cloud-data');
    const init = await runToEnd(programs.cloudDev, ['init', cloudDir, '--tenant', 'e2e-tenant', '--cluster-name', 'e2e']);
    assert.equal(init.code, 0, init.stderr);
    cloud = new RunningProcess(
      'cloud-dev',
      programs.cloudDev,
      ['serve', '--dir', cloudDir, '--listen', '127.0.0.1:0', '--data-dir', dataDir, '--heartbeat-interval', '2s', '--token-ttl', RENEWED_TTL, '--enforce-token-expiry'],
      {},
      path.join(work, 'cloud-dev.log'),
    );
    await cloud.waitFor((l) => l.msg === 'listening' || l.message === 'listening');
    kube = await startKubeApiServer({ stateDir: path.join(work, 'kube-api-server') });
    cluster = new ChartCluster(kube, NS, dnsFile());
  });

  after(async () => {
    await agent?.stop();
    await aggregator?.stop();
    await cloud?.stop();
    await kube?.stop();
    if (process.env['KEEP_E2E_WORK']) console.log(`# work folder kept: ${work}`);
    else fs.rmSync(work, { recursive: true, force: true });
  });

  test('installed with a short-lived onboarding token, the aggregator and the agent run and carry lines', async () => {
    const address = (cloud!.lines.find((l) => l.msg === 'listening' || l.message === 'listening')!['address'] as string);
    const material = readCloudMaterial(cloudDir);
    // The onboarding token cloud-dev's init makes, but minted now, so that its short life starts with the install.
    onboardingToken = await signToken(material.signingKeyPem, { tenant: material.identity.tenant, sub: material.identity.clusterId }, ONBOARDING_TTL_MS);
    const read = (file: string) => fs.readFileSync(path.join(cloudDir, 'operator', file), 'utf8');
    await installChart(kube, work, NS, { cloud: { address, token: onboardingToken, tls: { crt: read('tls.crt'), key: read('tls.key'), ca: read('ca.crt') } } });
    assert.deepEqual(runtimeData(), {}, 'the chart makes the runtime Secret empty');

    appUid = scheduleChartPods(kube, nodeRoot(), { namespace: NS, node: NODE, podIp: POD_IP, aggregatorPod: AGGREGATOR_POD, agentPod: AGENT_POD, app: APP }).appUid;
    cluster.publishDns();
    kubelet = new TestKubelet(kube, NODE, nodeRoot());

    await startAggregator('aggregator-1.log');
    await cluster.probe(aggregatorRun, 'readinessProbe', { http: ports.aggregatorHttp, ingest: ports.ingest }); // its cloud streams are open
    cluster.setReady(AGGREGATOR_POD);

    const agentRun = await kubelet.start(NS, AGENT_POD, 'agent', path.join(work, 'agent-pod'));
    const agentPaths = mapPaths(agentRun, loadAgentConfig([], agentRun.env) as unknown as Record<string, unknown>, (k) => envName('KESTREL_AGENT_', k));
    const agentEnv: Record<string, string> = { ...agentPaths.env, KESTREL_SERVICE_ACCOUNT_PATH_PREFIX: agentRun.root, ...clusterDnsEnv(dnsFile()) };
    if (ports.ingest !== 4800) agentEnv['KESTREL_AGENT_AGGREGATOR_ADDRESS'] = agentEnv['KESTREL_AGENT_AGGREGATOR_ADDRESS']!.replace(/:4800$/, `:${ports.ingest}`);
    ports.agentHttp = await cluster.keepOrMove(agentEnv, 'KESTREL_AGENT_HTTP_LISTEN');
    agent = new RunningProcess('agent', programs.agent, [], agentEnv, path.join(work, 'agent.log'));
    await agent.waitFor((l) => l.message === 'connected to aggregator');
    await cluster.probe(agentRun, 'readinessProbe', { http: ports.agentHttp });
    cluster.setReady(AGENT_POD);
    for (const m of cluster.moved) console.log(`# chart-restart-credentials: ${m}`);

    const lines = writeLines('before-restart', 20);
    assert.deepEqual((await linesStored('before-restart', lines)).map((e) => e.message).sort(), [...lines].sort());
  });

  test('the aggregator renews its token and takes a pushed certificate; both land in the runtime Secret', async () => {
    const onboarding = claimsOf(onboardingToken);
    // Renewed at 50-70 % of the onboarding token's life.
    renewedToken = await waitUntil('a renewed token in the runtime Secret', () => {
      const token = decoded(runtimeData()['token'])?.trim();
      return token !== undefined && claimsOf(token).iat > onboarding.iat && token;
    }, ONBOARDING_TTL_MS + 10_000);
    await aggregator!.waitFor((l) => l.message === 'cluster token renewed');

    const rotated = (await cloudDev('rotate-cert', '--timeout', '20s')) as { success: boolean; fingerprint256: string; revoked: number }[];
    assert.equal(rotated.length, 1, JSON.stringify(rotated));
    assert.ok(rotated[0]!.success && rotated[0]!.revoked >= 1, `the aggregator took the new certificate and the onboarding one is revoked: ${JSON.stringify(rotated)}`);
    pushedFingerprint = rotated[0]!.fingerprint256;
    await waitUntil('the pushed certificate in the runtime Secret', () => {
      const pem = decoded(runtimeData()['tls.crt']);
      return pem !== undefined && new X509Certificate(pem).fingerprint256 === pushedFingerprint;
    });
    const data = runtimeData();
    for (const key of ['tls.key', 'ca.crt']) assert.ok(data[key], `runtime Secret has ${key}`);
    // The streams in use now carry the pushed certificate.
    const status = (await cloudDev('status')) as { openStreams: { certificate: string | null }[] };
    assert.ok(status.openStreams.length > 0 && status.openStreams.every((s) => s.certificate === pushedFingerprint), JSON.stringify(status.openStreams));
  });

  test('after the onboarding token expired and was revoked, a restarted aggregator connects at once with the stored credentials', async () => {
    const onboarding = claimsOf(onboardingToken);
    const renewed = claimsOf(renewedToken);
    // A day later, as it were: the onboarding token has expired (and so cannot be renewed either)...
    await waitUntil('the onboarding token to expire', () => Date.now() > onboarding.exp * 1000 + 1000, ONBOARDING_TTL_MS + 10_000);
    // ...and is revoked at cloud-dev; tokens issued from the first renewal on stay good.
    const revoked = (await cloudDev('revoke-tokens', '--issued-before', String(renewed.iat))) as { tokensRevokedBefore: number };
    assert.equal(revoked.tokensRevokedBefore, renewed.iat);

    assert.equal(await aggregator!.stop(), 0, 'the aggregator stops cleanly');
    const refusedBefore = (await cloudCounts()).refusals;
    // The kubelet restarts the container: the volumes show the Secrets as they are now.
    await startAggregator('aggregator-2.log');
    await cluster.probe(aggregatorRun, 'readinessProbe', { http: ports.aggregatorHttp, ingest: ports.ingest }, 45_000);

    // It said which credentials it started with, and why.
    const tokenLine = await aggregator!.waitFor((l) => typeof l.message === 'string' && l.message.startsWith('cloud token at start'));
    assert.equal(tokenLine['source'], 'runtime', JSON.stringify(tokenLine));
    const certLine = await aggregator!.waitFor((l) => typeof l.message === 'string' && l.message.startsWith('cloud certificate at start'));
    assert.equal(certLine['source'], 'runtime', JSON.stringify(certLine));

    // Its streams use the pushed certificate, and nothing was refused on the way: no expired or revoked token, no
    // revoked certificate (it never tried the onboarding credentials).
    const status = (await cloudDev('status')) as { openStreams: { certificate: string | null }[] };
    assert.ok(status.openStreams.length > 0 && status.openStreams.every((s) => s.certificate === pushedFingerprint), JSON.stringify(status.openStreams));
    const refusedAfter = (await cloudCounts()).refusals;
    const newRefusals = Object.entries(refusedAfter).filter(([reason, n]) => n > (refusedBefore[reason] ?? 0));
    assert.deepEqual(newRefusals, [], 'refusals since the restart');
    const view = await runToEnd(programs.aggregator, ['debug', 'status', '-o', 'json', '--socket', path.join(aggregatorRun.root, '/tmp/kestrel-aggregator.sock')]);
    assert.equal(view.code, 0, view.stderr);
    const uplink = (JSON.parse(view.stdout) as { uplink: { token: { expiresAt: string | null }; certificate: { notAfter: string } } }).uplink;
    assert.ok(Date.parse(uplink.token.expiresAt!) >= renewed.exp * 1000, `token in use expires ${uplink.token.expiresAt}: the renewed one (or later)`);

    // The agent finds it again and lines flow.
    const lines = writeLines('after-restart', 20);
    assert.deepEqual((await linesStored('after-restart', lines)).map((e) => e.message).sort(), [...lines].sort());
    assert.equal(kube.audit.reads('secrets', AGGREGATOR_SA), 0, 'the aggregator read no Secret through the API');
  });
});
