// Datadog end to end: the aggregator process answers DatadogQueryRequest sent through cloud-dev's console with calls
// to the Datadog test server (HTTPS on loopback, its own CA), handles 429 and 5xx, refuses writes unless
// remediation.datadog.enabled, sends DatadogMonitorAlert on the events stream when a monitor changes state, and never
// prints a key: not in its logs, answers, errors, the debug view, or what cloud-dev stored.
import assert from 'node:assert/strict';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { test } from 'node:test';
import { DatadogTestServer } from './harness/datadog-test-server.js';
import { eventually } from './harness/in-process-uplink.js';
import { runToEnd } from './harness/process.js';
import { programs } from './harness/repo.js';
import { createInternalPki, startAggregator, startCloudDev } from './harness/system.js';
import { startKubeApiServer } from './kube-api-server/index.js';

const API_KEY = 'e2e0api0key0aaaaaaaaaaaaaaaaaaaaa';
const APP_KEY = 'e2e0app0key0bbbbbbbbbbbbbbbbbbbbbbbbbbbbb';

interface DatadogAnswer {
  stream: string;
  requestId: string;
  answer: { $case: string; value: { requestId: string; success: boolean; responseData: string; errorMessage: string; statusCode: number } };
}

async function setup(name: string, env: Record<string, string> = {}) {
  const workDir = fs.mkdtempSync(path.join(os.tmpdir(), `kestrel-e2e-datadog-${name}-`));
  const datadog = new DatadogTestServer(path.join(workDir, 'datadog'), API_KEY, APP_KEY);
  const url = await datadog.start();
  const keysDir = path.join(workDir, 'datadog-keys');
  fs.mkdirSync(keysDir);
  fs.writeFileSync(path.join(keysDir, 'api-key'), `${API_KEY}\n`, { mode: 0o600 });
  fs.writeFileSync(path.join(keysDir, 'app-key'), APP_KEY, { mode: 0o600 });
  const { cloud, cloudDir, dataDir, address } = await startCloudDev(workDir, '5s');
  const pki = createInternalPki(path.join(workDir, 'internal-pki'));
  const agg = await startAggregator(workDir, 'agg-0', cloudDir, address, pki, {
    KESTREL_AGGREGATOR_DATADOG_ENABLED: 'true',
    KESTREL_AGGREGATOR_DATADOG_API_URL: url,
    KESTREL_AGGREGATOR_DATADOG_CA_FILE: datadog.caFile,
    KESTREL_AGGREGATOR_DATADOG_API_KEY_FILE: path.join(keysDir, 'api-key'),
    KESTREL_AGGREGATOR_DATADOG_APP_KEY_FILE: path.join(keysDir, 'app-key'),
    KESTREL_AGGREGATOR_DATADOG_MONITOR_POLL_INTERVAL: '300ms',
    KESTREL_AGGREGATOR_LOG_LEVEL: 'debug',
    ...env,
  });
  const request = async (body: Record<string, unknown>): Promise<DatadogAnswer> => {
    const args = ['request', '--dir', cloudDir, '--kind', 'datadogQueryRequest', '--body', JSON.stringify(body), '--timeout', '60s'];
    let r = await runToEnd(programs.cloudDev, args);
    for (let i = 0; i < 40 && r.code !== 0 && /no operator is connected/.test(r.stderr); i++) {
      await new Promise((res) => setTimeout(res, 500));
      r = await runToEnd(programs.cloudDev, args);
    }
    assert.equal(r.code, 0, r.stderr);
    return JSON.parse(r.stdout) as DatadogAnswer;
  };
  const stop = async () => {
    await agg.aggregator.stop();
    await cloud.stop();
    await datadog.stop();
  };
  return { workDir, datadog, dataDir, agg, request, stop };
}

/**
 * Every file under a folder, as text. The programs write their files atomically (a `.tmp` renamed into place), so a
 * file listed may be gone by the time it is read: such a file is skipped, its content is in the file it became.
 */
function allText(dir: string): string {
  let out = '';
  for (const entry of fs.readdirSync(dir, { withFileTypes: true, recursive: true })) {
    if (!entry.isFile()) continue;
    try {
      out += fs.readFileSync(path.join(entry.parentPath, entry.name), 'utf8');
    } catch (err) {
      if ((err as NodeJS.ErrnoException).code !== 'ENOENT') throw err;
    }
  }
  return out;
}

test('Datadog reads are answered from the Datadog API with the published request shapes, 429 and 5xx handled, and no key ever printed', { timeout: 180_000 }, async () => {
  const s = await setup('reads');
  try {
    // 1: metrics query, with both keys, timestamps passed as they are.
    const metrics = await s.request({ queryType: 1, query: 'avg:trace.http.request.errors{kube_namespace:shop}', fromTs: 1764000000, toTs: 1764003600, timeoutSeconds: 20 });
    assert.equal(metrics.stream, 'control');
    assert.equal(metrics.answer.$case, 'datadogQueryResponse');
    assert.equal(metrics.answer.value.requestId, metrics.requestId);
    assert.deepEqual([metrics.answer.value.success, metrics.answer.value.statusCode], [true, 200], metrics.answer.value.errorMessage);
    const series = (JSON.parse(metrics.answer.value.responseData) as { series: { pointlist: number[][] }[] }).series;
    assert.deepEqual(series[0]!.pointlist, [[1764000000000, 1.5], [1764003600000, 2.5]]);
    const call = s.datadog.callsTo('/api/v1/query').at(-1)!;
    assert.deepEqual(call.query, { query: 'avg:trace.http.request.errors{kube_namespace:shop}', from: '1764000000', to: '1764003600' });
    assert.deepEqual([call.apiKey, call.appKey], ['valid', 'valid']);

    // 2, 3, 5, 9 and 4 (logs search: a POST with the documented body).
    const events = await s.request({ queryType: 2, fromTs: 100, toTs: 200, filter: 'kubernetes', maxResults: 5 });
    assert.equal(events.answer.value.success, true);
    assert.deepEqual(s.datadog.callsTo('/api/v1/events').at(-1)!.query, { start: '100', end: '200', sources: 'kubernetes', count: '5' });
    const hosts = await s.request({ queryType: 3, filter: 'env:prod', sort: 'cpu', maxResults: 10 });
    assert.equal((JSON.parse(hosts.answer.value.responseData) as { total_returned: number }).total_returned, 1);
    assert.deepEqual(s.datadog.callsTo('/api/v1/hosts').at(-1)!.query, { filter: 'env:prod', sort_field: 'cpu', count: '10' });
    const list = await s.request({ queryType: 5, filter: 'node-1' });
    assert.equal(list.answer.value.success, true);
    const listQuery = s.datadog.callsTo('/api/v1/metrics').at(-1)!.query;
    assert.equal(listQuery['host'], 'node-1');
    assert.ok(Math.abs(Number(listQuery['from']) - (Date.now() / 1000 - 3600)) < 600, 'from_ts 0 means one hour ago');
    const logs = await s.request({ queryType: 4, query: 'service:pay status:error', fromTs: 1764000000, toTs: 1764003600, sort: '-timestamp', maxResults: 50 });
    assert.equal(logs.answer.value.success, true);
    assert.deepEqual(JSON.parse(s.datadog.callsTo('/api/v2/logs/events/search').at(-1)!.body), {
      filter: { from: '2025-11-24T16:00:00Z', to: '2025-11-24T17:00:00Z', query: 'service:pay status:error' },
      sort: '-timestamp',
      page: { limit: 50 },
    });
    const monitors = await s.request({ queryType: 9 });
    assert.deepEqual(s.datadog.callsTo('/api/v1/monitor').filter((c) => c.query['per_page']).at(-1)!.query, { page: '0', per_page: '200' });
    assert.equal(monitors.answer.value.success, true);

    // Validation and unsupported types, with the published wording and codes.
    const noQuery = await s.request({ queryType: 1 });
    assert.deepEqual([noQuery.answer.value.success, noQuery.answer.value.statusCode, noQuery.answer.value.errorMessage], [false, 400, 'query string is required for metrics queries']);
    const unspecified = await s.request({ queryType: 0 });
    assert.deepEqual([unspecified.answer.value.statusCode, unspecified.answer.value.errorMessage], [400, 'unsupported query type: DATADOG_QUERY_UNSPECIFIED']);

    // 429 with Retry-After that fits the deadline: waited and retried, then answered.
    const before = s.datadog.callsTo('/api/v1/query').length;
    s.datadog.failNext('/api/v1/query', { status: 429, headers: { 'retry-after': '1', 'x-ratelimit-reset': '1' } });
    const limited = await s.request({ queryType: 1, query: 'avg:x{*}', fromTs: 1, toTs: 2 });
    assert.deepEqual([limited.answer.value.success, limited.answer.value.statusCode], [true, 200]);
    assert.equal(s.datadog.callsTo('/api/v1/query').length - before, 2);
    // 429 asking for an hour: not waited for; the cloud gets the 429 and Datadog's words.
    s.datadog.failNext('/api/v1/query', { status: 429, headers: { 'retry-after': '3600', 'x-ratelimit-reset': '3600' } });
    const tooLong = await s.request({ queryType: 1, query: 'avg:x{*}', fromTs: 1, toTs: 2 });
    assert.deepEqual([tooLong.answer.value.success, tooLong.answer.value.statusCode], [false, 429]);
    assert.equal(tooLong.answer.value.errorMessage, 'Datadog API returned HTTP 429: {"errors":["Rate limit exceeded"]}');
    // One 503 on a read: retried. A lasting 500: answered with the status and the start of the body.
    s.datadog.failNext('/api/v1/hosts', { status: 503 });
    assert.equal((await s.request({ queryType: 3 })).answer.value.statusCode, 200);
    s.datadog.failNext('/api/v1/events', { status: 500, body: 'x'.repeat(800) }, 3);
    const broken = await s.request({ queryType: 2, fromTs: 1, toTs: 2 });
    assert.deepEqual([broken.answer.value.success, broken.answer.value.statusCode], [false, 500]);
    assert.equal(broken.answer.value.errorMessage, `Datadog API returned HTTP 500: ${'x'.repeat(500)}...`);

    // Writes are off by default: refused with the value to turn on, nothing sent to Datadog, audited and counted.
    const postsBefore = s.datadog.requests.filter((r) => r.method === 'POST' && r.path !== '/api/v2/logs/events/search').length;
    const create = await s.request({ queryType: 6, jsonBody: JSON.stringify({ name: 'cart errors', type: 'metric alert', query: 'avg(last_5m):avg:x{*} > 1' }) });
    const event = await s.request({ queryType: 7, jsonBody: JSON.stringify({ title: 'kestrel found it', text: 'x' }) });
    const mute = await s.request({ queryType: 8, filter: '1000' });
    for (const refused of [create, event, mute]) {
      assert.deepEqual([refused.answer.value.success, refused.answer.value.statusCode], [false, 403]);
      assert.match(refused.answer.value.errorMessage, /remediation\.datadog\.enabled=true \(KESTREL_AGGREGATOR_REMEDIATION_DATADOG_ENABLED\)/);
    }
    assert.equal(s.datadog.requests.filter((r) => r.method === 'POST' && r.path !== '/api/v2/logs/events/search').length, postsBefore);
    const audits = s.agg.aggregator.lines.filter((l) => l.message === 'datadog write audit');
    assert.deepEqual(
      audits.map((a) => [a['action'], a['decision'], a['status'], a['target']]),
      [
        ['create_monitor', 'refused', 403, 'monitor "cart errors"'],
        ['send_event', 'refused', 403, 'event "kestrel found it"'],
        ['mute_monitor', 'refused', 403, 'monitor 1000'],
      ],
    );
    assert.ok(audits.every((a) => typeof a['requestId'] === 'string' && typeof a['durationMs'] === 'number'));

    // The debug view says where keys come from, never what they are; /metrics counts the refusals.
    const view = await runToEnd(programs.aggregator, ['debug', 'datadog', '-o', 'json', '--socket', s.agg.adminSocket]);
    assert.equal(view.code, 0, view.stderr);
    assert.equal((JSON.parse(view.stdout) as { keySource: string }).keySource, 'files');
    // Nothing the aggregator printed, nothing cloud-dev stored, and no answer carries a key.
    const printed = fs.readFileSync(path.join(s.workDir, 'agg-0.log'), 'utf8') + view.stdout + allText(s.dataDir);
    for (const key of [API_KEY, APP_KEY]) assert.ok(!printed.includes(key), 'a key was printed');
    assert.ok(printed.includes('datadog write audit'), 'the log that was searched is the real one');
  } finally {
    await s.stop();
  }
});

test('a monitor changing state is sent as DatadogMonitorAlert on the events stream; writes go out once turned on', { timeout: 120_000 }, async () => {
  const s = await setup('alerts', { KESTREL_AGGREGATOR_REMEDIATION_DATADOG_ENABLED: 'true' });
  try {
    const m = s.datadog.addMonitor({ name: 'cart 5xx', type: 'metric alert', query: 'avg(last_5m):sum:trace.http.request.errors{service:cart} > 5', message: '@pagerduty', tags: ['team:shop'], overall_state: 'OK' });
    const other = s.datadog.addMonitor({ name: 'quiet', type: 'log alert', query: 'logs("x").index("*").rollup("count").last("5m") > 1', message: '', tags: [], overall_state: 'Ignored' });
    // The first poll is only a baseline; wait until it was taken.
    await eventually('a baseline poll', () => s.datadog.callsTo('/api/v1/monitor').filter((c) => !c.query['per_page']).length >= 2);
    s.datadog.setMonitorState(m.id, 'Alert');
    s.datadog.setMonitorState(other.id, 'Warn');
    const eventsFile = path.join(s.dataDir, 'events.jsonl');
    const alerts = () =>
      fs.existsSync(eventsFile)
        ? fs
            .readFileSync(eventsFile, 'utf8')
            .split('\n')
            .filter(Boolean)
            .map((l) => (JSON.parse(l) as { message?: { datadogMonitorAlert?: Record<string, unknown> } }).message?.datadogMonitorAlert)
            .filter((a): a is Record<string, unknown> => a !== undefined)
        : [];
    await eventually('two monitor alerts stored by cloud-dev', () => alerts().length >= 2, 30_000);
    const byId = new Map(alerts().map((a) => [a['monitorId'], a]));
    const cart = byId.get(String(m.id))!;
    assert.deepEqual([cart['monitorName'], cart['previousStatus'], cart['currentStatus'], cart['monitorType'], cart['tags']], ['cart 5xx', 'OK', 'Alert', 'metric alert', ['team:shop']]);
    assert.ok(Number(cart['timestamp']) > 1_700_000_000);
    // Leaving Ignored: previous status is empty, as the published operator reports it.
    assert.equal(byId.get(String(other.id))!['previousStatus'] ?? '', '');
    assert.equal(byId.get(String(other.id))!['currentStatus'], 'Warn');

    // Writes on: create, send (API key only), mute — each reaches Datadog and is audited as allowed.
    const created = await s.request({ queryType: 6, jsonBody: JSON.stringify({ name: 'kestrel: cart latency', type: 'metric alert', query: 'avg(last_5m):avg:x{*} > 1' }) });
    assert.deepEqual([created.answer.value.success, created.answer.value.statusCode], [true, 200], created.answer.value.errorMessage);
    const id = (JSON.parse(created.answer.value.responseData) as { id: number }).id;
    const sent = await s.request({ queryType: 7, jsonBody: JSON.stringify({ title: 'kestrel: root cause found', text: 'cart OOM' }) });
    assert.deepEqual([sent.answer.value.success, sent.answer.value.statusCode], [true, 202]);
    assert.equal(s.datadog.callsTo('/api/v1/events').at(-1)!.appKey, 'absent', 'send-event carries the API key only');
    const muted = await s.request({ queryType: 8, filter: String(id) });
    assert.equal(muted.answer.value.success, true);
    assert.deepEqual(JSON.parse(s.datadog.callsTo(`/api/v1/monitor/${id}/mute`).at(-1)!.body), {});
    const noBody = await s.request({ queryType: 6 });
    assert.deepEqual([noBody.answer.value.statusCode, noBody.answer.value.errorMessage], [400, 'json_body is required for create-monitor']);
    const audits = s.agg.aggregator.lines.filter((l) => l.message === 'datadog write audit').map((a) => [a['action'], a['decision'], a['status']]);
    assert.deepEqual(audits, [
      ['create_monitor', 'allowed', 200],
      ['send_event', 'allowed', 202],
      ['mute_monitor', 'allowed', 200],
      ['create_monitor', 'invalid', 400],
    ]);
    const printed = fs.readFileSync(path.join(s.workDir, 'agg-0.log'), 'utf8') + allText(s.dataDir);
    for (const key of [API_KEY, APP_KEY]) assert.ok(!printed.includes(key), 'a key was printed');
  } finally {
    await s.stop();
  }
});

test('a site that is not a Datadog site, and plain http off loopback, are refused at start', { timeout: 60_000 }, async () => {
  const workDir = fs.mkdtempSync(path.join(os.tmpdir(), 'kestrel-e2e-datadog-site-'));
  const { cloud, cloudDir, address } = await startCloudDev(workDir, '5s');
  const pki = createInternalPki(path.join(workDir, 'internal-pki'));
  try {
    for (const [env, problem] of [
      [{ KESTREL_AGGREGATOR_DATADOG_SITE: 'datadoghq.evil.example' }, /KESTREL_AGGREGATOR_DATADOG_SITE.*not a known Datadog site/],
      [{ KESTREL_AGGREGATOR_DATADOG_API_URL: 'http://10.1.2.3:8080' }, /KESTREL_AGGREGATOR_DATADOG_API_URL.*plain http is allowed only to a loopback address/],
    ] as const) {
      const run = await runToEnd(programs.aggregator, [], {
        KESTREL_AGGREGATOR_DATADOG_ENABLED: 'true',
        KESTREL_AGGREGATOR_DATADOG_API_KEY_FILE: '/nonexistent',
        KESTREL_AGGREGATOR_INGEST_TLS_CERT_FILE: pki.aggregator.cert,
        KESTREL_AGGREGATOR_INGEST_TLS_KEY_FILE: pki.aggregator.key,
        KESTREL_AGGREGATOR_INGEST_TLS_CA_FILE: pki.ca,
        KESTREL_AGGREGATOR_CLOUD_ADDRESS: address,
        KESTREL_AGGREGATOR_CLOUD_CERT_FILE: path.join(cloudDir, 'operator/tls.crt'),
        KESTREL_AGGREGATOR_CLOUD_KEY_FILE: path.join(cloudDir, 'operator/tls.key'),
        KESTREL_AGGREGATOR_CLOUD_CA_FILE: path.join(cloudDir, 'operator/ca.crt'),
        KESTREL_AGGREGATOR_CLOUD_TOKEN_FILE: path.join(cloudDir, 'operator/token'),
        ...env,
      });
      assert.equal(run.code, 2, run.stderr);
      assert.match(run.stderr, problem);
    }
  } finally {
    await cloud.stop();
  }
});

test('with discovery, the keys come from the Datadog installation\'s named Secrets, read with get on exactly those names', { timeout: 120_000 }, async () => {
  const workDir = fs.mkdtempSync(path.join(os.tmpdir(), 'kestrel-e2e-datadog-discovery-'));
  const kube = await startKubeApiServer();
  const datadog = new DatadogTestServer(path.join(workDir, 'datadog'), API_KEY, APP_KEY);
  const url = await datadog.start();
  const { cloud, cloudDir, address } = await startCloudDev(workDir, '5s');
  const pki = createInternalPki(path.join(workDir, 'internal-pki'));
  let agg: Awaited<ReturnType<typeof startAggregator>> | undefined;
  try {
    kube.ensureNamespace('datadog');
    const secret = (name: string, data: Record<string, string>) =>
      kube.create({ apiVersion: 'v1', kind: 'Secret', metadata: { name, namespace: 'datadog' }, data: Object.fromEntries(Object.entries(data).map(([k, v]) => [k, Buffer.from(v).toString('base64')])) });
    secret('datadog-secret', { 'api-key': API_KEY });
    secret('datadog-cluster-agent', { 'app-key': APP_KEY, token: 'cluster-agent-token-not-ours' });
    secret('unrelated', { 'api-key': 'never-to-be-read' });
    // The Role the chart renders for discovery (templates/datadog-rbac.yaml): get on the named Secrets only.
    kube.create({ apiVersion: 'rbac.authorization.k8s.io/v1', kind: 'Role', metadata: { name: 'kestrel-aggregator-datadog-keys', namespace: 'datadog' }, rules: [{ apiGroups: [''], resources: ['secrets'], resourceNames: ['datadog', 'datadog-secret', 'datadog-cluster-agent'], verbs: ['get'] }] });
    kube.create({ apiVersion: 'rbac.authorization.k8s.io/v1', kind: 'RoleBinding', metadata: { name: 'kestrel-aggregator-datadog-keys', namespace: 'datadog' }, roleRef: { apiGroup: 'rbac.authorization.k8s.io', kind: 'Role', name: 'kestrel-aggregator-datadog-keys' }, subjects: [{ kind: 'ServiceAccount', name: 'kestrel-aggregator', namespace: 'kestrel' }] });
    // And what the chart's main ClusterRole gives every replica (pods are watched by more than this feature).
    kube.create({ apiVersion: 'rbac.authorization.k8s.io/v1', kind: 'ClusterRole', metadata: { name: 'kestrel-aggregator' }, rules: [{ apiGroups: [''], resources: ['pods', 'nodes', 'namespaces', 'services'], verbs: ['get', 'list', 'watch'] }] });
    kube.create({ apiVersion: 'rbac.authorization.k8s.io/v1', kind: 'ClusterRoleBinding', metadata: { name: 'kestrel-aggregator' }, roleRef: { apiGroup: 'rbac.authorization.k8s.io', kind: 'ClusterRole', name: 'kestrel-aggregator' }, subjects: [{ kind: 'ServiceAccount', name: 'kestrel-aggregator', namespace: 'kestrel' }] });
    const token = kube.serviceAccountToken('kestrel', 'kestrel-aggregator');
    const kubeconfig = kube.writeKubeconfig(path.join(workDir, 'kubeconfig'), token, 'kestrel');
    agg = await startAggregator(workDir, 'agg-0', cloudDir, address, pki, {
      KESTREL_AGGREGATOR_KUBECONFIG: kubeconfig,
      KESTREL_AGGREGATOR_CLUSTER_WATCH: 'off',
      KESTREL_AGGREGATOR_DATADOG_ENABLED: 'true',
      KESTREL_AGGREGATOR_DATADOG_DISCOVERY: 'true',
      KESTREL_AGGREGATOR_DATADOG_API_URL: url,
      KESTREL_AGGREGATOR_DATADOG_CA_FILE: datadog.caFile,
      KESTREL_AGGREGATOR_DATADOG_MONITOR_ALERTS: 'false',
    });
    const args = ['request', '--dir', cloudDir, '--kind', 'datadogQueryRequest', '--body', JSON.stringify({ queryType: 9 }), '--timeout', '60s'];
    let r = await runToEnd(programs.cloudDev, args);
    for (let i = 0; i < 40 && r.code !== 0 && /no operator is connected/.test(r.stderr); i++) {
      await new Promise((res) => setTimeout(res, 500));
      r = await runToEnd(programs.cloudDev, args);
    }
    assert.equal(r.code, 0, r.stderr);
    const answer = (JSON.parse(r.stdout) as DatadogAnswer).answer.value;
    assert.deepEqual([answer.success, answer.statusCode], [true, 200], answer.errorMessage);
    const call = datadog.callsTo('/api/v1/monitor').at(-1)!;
    assert.deepEqual([call.apiKey, call.appKey], ['valid', 'valid']);
    // What the aggregator asked the API server for: get on the named Secrets, in that order, and nothing else.
    const reads = kube.audit.find({ resource: 'secrets', user: 'system:serviceaccount:kestrel:kestrel-aggregator' }).map((e) => `${e.verb} ${e.namespace}/${e.name} ${e.code}`);
    assert.deepEqual(reads, ['get datadog/datadog 404', 'get datadog/datadog-secret 200', 'get datadog/datadog-secret 200', 'get datadog/datadog-cluster-agent 200']);
    const view = await runToEnd(programs.aggregator, ['debug', 'datadog', '--socket', agg.adminSocket]);
    assert.match(view.stdout, /keys from discovery in namespace datadog/);
    const printed = fs.readFileSync(path.join(workDir, 'agg-0.log'), 'utf8') + view.stdout;
    for (const key of [API_KEY, APP_KEY]) assert.ok(!printed.includes(key), 'a key was printed');
  } finally {
    await agg?.aggregator.stop();
    await cloud.stop();
    await datadog.stop();
    await kube.stop();
  }
});
