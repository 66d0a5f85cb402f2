// The cloud over real mTLS on loopback: every refusal has its own status and message, a valid operator's messages
// land in the store, heartbeats arrive, tokens are issued and renewed, and shutdown ends streams cleanly.
import assert from 'node:assert/strict';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { after, before, describe, it } from 'node:test';
import { credentials } from '@grpc/grpc-js';
import { createChannel, createClient, ClientError, Metadata, Status, type Channel } from 'nice-grpc';
import { StreamServiceDefinition, type StreamLogsRequest, type StreamLogsResponse } from '@kestrel/proto/cloud/v1';
import { AutonpServerServiceDefinition } from '@kestrel/proto/server/v1';
import { createLogger } from '@kestrel/core';
import { startCloudServer, type RunningCloudServer } from './cloud-server.js';
import { runInit } from './init.js';
import { readCloudMaterial, type CloudMaterial, cloudDirLayout } from './layout.js';
import { createCa, issueCertificate, type PemKeyPair } from './pki.js';
import { readStoreLines, readStoreSummary } from './record-store.js';
import { createSigningKey, signToken, verifyToken } from './tokens.js';

const HEARTBEAT_MS = 100;

let root: string;
let material: CloudMaterial;
let operator: PemKeyPair & { token: string };
let dataDir: string;
let cloud: RunningCloudServer;
const channels: Channel[] = [];

before(async () => {
  root = fs.mkdtempSync(path.join(os.tmpdir(), 'cloud-dev-test-'));
  await runInit({ dir: path.join(root, 'cloud'), tenant: 'acme', clusterName: 'prod-1', tokenTtl: 3_600_000, hosts: ['localhost', '127.0.0.1'], force: false });
  const layout = cloudDirLayout(path.join(root, 'cloud'));
  material = readCloudMaterial(layout.root);
  operator = {
    certPem: fs.readFileSync(layout.operator.cert, 'utf8'),
    keyPem: fs.readFileSync(layout.operator.key, 'utf8'),
    token: fs.readFileSync(layout.operator.token, 'utf8'),
  };
  dataDir = path.join(root, 'data');
  cloud = await startCloudServer({
    material,
    listen: '127.0.0.1:0',
    dataDir,
    heartbeatIntervalMs: HEARTBEAT_MS,
    tokenTtlMs: 7_200_000,
    summaryIntervalMs: 60_000,
    logger: createLogger('cloud-dev-test', 'error'),
  });
});

after(async () => {
  for (const channel of channels) channel.close();
  await cloud.stop();
  fs.rmSync(root, { recursive: true, force: true });
});

/** A channel with real TLS: the cloud CA as trust root and, unless null, a client certificate. */
function connect(client: PemKeyPair | null = operator) {
  const channel = createChannel(
    cloud.address,
    credentials.createSsl(
      Buffer.from(material.caCertPem),
      client ? Buffer.from(client.keyPem) : null,
      client ? Buffer.from(client.certPem) : null,
    ),
  );
  channels.push(channel);
  return { streams: createClient(StreamServiceDefinition, channel), tokens: createClient(AutonpServerServiceDefinition, channel) };
}

function auth(token: string | undefined, tenant: string | undefined): Metadata {
  const metadata = Metadata();
  if (token !== undefined) metadata.set('authorization', `Bearer ${token}`);
  if (tenant !== undefined) metadata.set('autonp-tenantid', tenant);
  return metadata;
}

const tenant = () => material.identity.tenant;
const subject = () => ({ tenant: tenant(), sub: material.identity.clusterId });

function podLogs(n: number): StreamLogsRequest {
  return {
    request: {
      $case: 'podLogs',
      value: {
        podName: `web-${n}`,
        namespace: 'shop',
        // One pod per message: the store drops PodLogs entries it already holds (log-replays.ts), and these
        // fixtures reuse line numbers out of order.
        podUid: `uid-${n}`,
        containerName: 'app',
        logEntries: [{ message: `line ${n}`, level: 'info', lineNumber: n, timestamp: { seconds: 1_700_000_000 + n, nanos: 0 } }],
        previousContainer: false,
        totalLines: 1,
        streamComplete: false,
        streamOffset: n,
        ownerReferences: [],
        nodeName: 'node-a',
      },
    },
  };
}

/** Opens StreamLogs, sends `messages`, then keeps the request side open until `until` aborts. */
function openLogs(client: ReturnType<typeof connect>, metadata: Metadata, messages: StreamLogsRequest[], until: AbortSignal) {
  async function* requests() {
    yield* messages;
    await new Promise((resolve) => until.addEventListener('abort', resolve, { once: true }));
  }
  return client.streams.streamLogs(requests(), { metadata, signal: until })[Symbol.asyncIterator]();
}

/** The status a StreamLogs call ends with before any response, as [code, details]. */
async function streamRefusal(client: ReturnType<typeof connect>, metadata: Metadata): Promise<[Status, string]> {
  const stop = new AbortController();
  try {
    const responses = openLogs(client, metadata, [podLogs(1)], stop.signal);
    const first = await responses.next();
    assert.fail(`expected a refusal, got ${JSON.stringify(first.value)}`);
  } catch (err) {
    assert.ok(err instanceof ClientError, `expected a ClientError, got ${String(err)}`);
    return [err.code, err.details];
  } finally {
    stop.abort();
  }
}

describe('refusals: each failure has its own status and message', () => {
  it('refuses a connection without a client certificate: UNAUTHENTICATED "client certificate required"', async () => {
    assert.deepEqual(await streamRefusal(connect(null), auth(operator.token, tenant())), [Status.UNAUTHENTICATED, 'client certificate required']);
  });

  it('refuses a client certificate from another CA: UNAUTHENTICATED "client certificate not issued by the cloud CA"', async () => {
    const foreign = issueCertificate(createCa({ commonName: 'someone else' }), { commonName: 'prod-1', usage: 'client' });
    assert.deepEqual(await streamRefusal(connect(foreign), auth(operator.token, tenant())), [
      Status.UNAUTHENTICATED,
      'client certificate not issued by the cloud CA',
    ]);
  });

  it('refuses an expired bearer token: UNAUTHENTICATED "bearer token expired"', async () => {
    const expired = await signToken(material.signingKeyPem, subject(), 3_600_000, { issuedAt: new Date(Date.now() - 2 * 3_600_000) });
    assert.deepEqual(await streamRefusal(connect(), auth(expired, tenant())), [Status.UNAUTHENTICATED, 'bearer token expired']);
  });

  it('refuses a bearer token signed by another key: UNAUTHENTICATED "bearer token not signed by the cloud\'s signing key"', async () => {
    const forged = await signToken(createSigningKey().privateKeyPem, subject(), 3_600_000);
    assert.deepEqual(await streamRefusal(connect(), auth(forged, tenant())), [Status.UNAUTHENTICATED, "bearer token not signed by the cloud's signing key"]);
  });

  it('refuses a call without autonp-tenantid: UNAUTHENTICATED "missing autonp-tenantid metadata"', async () => {
    assert.deepEqual(await streamRefusal(connect(), auth(operator.token, undefined)), [Status.UNAUTHENTICATED, 'missing autonp-tenantid metadata']);
  });

  it('refuses a tenant that is not the token\'s: PERMISSION_DENIED "autonp-tenantid does not match the token tenant"', async () => {
    assert.deepEqual(await streamRefusal(connect(), auth(operator.token, 'other-tenant')), [
      Status.PERMISSION_DENIED,
      'autonp-tenantid does not match the token tenant',
    ]);
  });

  it('refuses a call without authorization metadata', async () => {
    assert.deepEqual(await streamRefusal(connect(), auth(undefined, tenant())), [
      Status.UNAUTHENTICATED,
      'missing authorization metadata (expected "Bearer <JWT>")',
    ]);
  });

  it('refuses an expired client certificate from the cloud CA', async () => {
    const ca = { certPem: material.caCertPem, keyPem: material.caKeyPem };
    const stale = issueCertificate(ca, { commonName: 'prod-1', usage: 'client', notBefore: new Date(Date.now() - 2 * 86_400_000), notAfter: new Date(Date.now() - 86_400_000) });
    assert.deepEqual(await streamRefusal(connect(stale), auth(operator.token, tenant())), [Status.UNAUTHENTICATED, 'client certificate expired']);
  });

  it('refuses the server certificate presented as a client certificate (wrong purpose)', async () => {
    const serverIdentity = { certPem: material.serverCertPem, keyPem: material.serverKeyPem };
    assert.deepEqual(await streamRefusal(connect(serverIdentity), auth(operator.token, tenant())), [
      Status.UNAUTHENTICATED,
      'client certificate not valid for client authentication',
    ]);
  });

  it('refuses unary calls on a connection without a client certificate too', async () => {
    await assert.rejects(
      connect(null).tokens.onboardCluster({ clusterName: 'prod-1' }, { metadata: auth(operator.token, tenant()) }),
      (err: unknown) => err instanceof ClientError && err.code === Status.UNAUTHENTICATED && err.details === 'client certificate required',
    );
  });

  it('counts refusals in summary.json by reason', async () => {
    await cloud.store.flush();
    const summary = await readStoreSummary(dataDir);
    const refusals = summary?.['refusals'] as Record<string, number>;
    assert.ok((refusals['client certificate required'] ?? 0) >= 1);
    assert.ok((refusals['bearer token expired'] ?? 0) >= 1);
  });
});

describe('a valid operator', () => {
  it('gets a heartbeat right away and then every interval, and its StreamLogs messages land in logs.jsonl', async () => {
    const stop = new AbortController();
    const responses = openLogs(connect(), auth(operator.token, tenant()), [podLogs(1), podLogs(2), podLogs(3)], stop.signal);
    const heartbeats: StreamLogsResponse[] = [];
    const started = Date.now();
    while (heartbeats.length < 3) {
      const next = await responses.next();
      assert.equal(next.done, false);
      heartbeats.push(next.value as StreamLogsResponse);
    }
    assert.ok(Date.now() - started >= HEARTBEAT_MS * 1.5, 'later heartbeats follow the interval');
    for (const h of heartbeats) {
      assert.equal(h.response?.$case, 'heartbeat');
      assert.ok((h.response?.value.timestamp?.seconds ?? 0) > 1_700_000_000);
    }

    await cloud.store.flush();
    const lines = await readStoreLines(dataDir, 'logs');
    assert.equal(lines.length, 3);
    assert.deepEqual(
      lines.map((l) => (l.message['podLogs'] as { podName: string }).podName),
      ['web-1', 'web-2', 'web-3'],
    );
    const first = lines[0]!;
    assert.equal(first.stream, 'logs');
    assert.equal(first.tenant, 'acme');
    assert.equal(first.clusterId, material.identity.clusterId);
    assert.match(first.connectionId, /^127\.0\.0\.1:\d+$/);
    assert.ok(Number.isInteger(first.callId));
    assert.ok(!Number.isNaN(Date.parse(first.receivedAt)));
    assert.deepEqual((first.message['podLogs'] as { logEntries: unknown[] }).logEntries[0], {
      // Proto3 JSON: no fraction digits for whole seconds (stored-json.ts keeps nanoseconds when there are any).
      timestamp: '2023-11-14T22:13:21Z',
      message: 'line 1',
      level: 'info',
      lineNumber: 1,
    });

    const summary = await readStoreSummary(dataDir);
    assert.equal(summary?.messages.logs, 3);
    assert.equal((summary?.['openStreams'] as Record<string, number>)['logs'], 1);
    stop.abort();
  });

  it('a stream the client closes ends with OK once its messages are stored', async () => {
    async function* twoMessages() {
      yield podLogs(100);
      yield podLogs(101);
    }
    const before = cloud.store.counts().logs;
    const responses = connect().streams.streamLogs(twoMessages(), { metadata: auth(operator.token, tenant()) });
    for await (const response of responses) assert.equal(response.response?.$case, 'heartbeat');
    await cloud.store.flush();
    assert.equal(cloud.store.counts().logs, before + 2);
  });

  it('onboards with the init token and gets a token for the configured tenant and cluster', async () => {
    const response = await connect().tokens.onboardCluster({ clusterName: 'prod-1', description: '' }, { metadata: auth(operator.token, tenant()) });
    assert.equal(response.tokenType, 'Bearer');
    assert.equal(response.clusterId, material.identity.clusterId);
    assert.equal(response.expiresIn, 7200);
    const claims = await verifyToken(material.signingPublicKeyPem, response.accessToken);
    assert.deepEqual([claims.tenant, claims.sub, claims.exp - claims.iat], ['acme', material.identity.clusterId, 7200]);
  });

  it('renews a valid token into a new valid one with the configured lifetime', async () => {
    const response = await connect().tokens.renewClusterToken({ currentToken: operator.token });
    assert.equal(response.tokenType, 'Bearer');
    assert.equal(response.expiresIn, 7200);
    assert.notEqual(response.accessToken, operator.token);
    const claims = await verifyToken(material.signingPublicKeyPem, response.accessToken);
    assert.deepEqual([claims.tenant, claims.sub], ['acme', material.identity.clusterId]);
    // The renewed token opens streams.
    const stop = new AbortController();
    const first = await openLogs(connect(), auth(response.accessToken, claims.tenant), [], stop.signal).next();
    assert.equal(first.value?.response?.$case, 'heartbeat');
    stop.abort();
  });

  it('refuses to renew an expired token: UNAUTHENTICATED "current_token expired"', async () => {
    const expired = await signToken(material.signingKeyPem, subject(), 1000, { issuedAt: new Date(Date.now() - 60_000) });
    await assert.rejects(
      connect().tokens.renewClusterToken({ currentToken: expired }),
      (err: unknown) => err instanceof ClientError && err.code === Status.UNAUTHENTICATED && err.details === 'current_token expired',
    );
  });
});

describe('shutdown', () => {
  it('ends open streams with UNAVAILABLE and flushes every received message', async () => {
    const stop = new AbortController();
    const responses = openLogs(connect(), auth(operator.token, tenant()), [podLogs(10), podLogs(11)], stop.signal);
    await responses.next(); // first heartbeat: the stream is open
    // Wait until both messages were read (counted), then stop the cloud under the open stream.
    for (let i = 0; i < 100 && cloud.events.snapshot().received.logs < 7; i++) await new Promise((r) => setTimeout(r, 20));
    await cloud.stop();
    await assert.rejects(
      (async () => {
        for (;;) if ((await responses.next()).done) return;
      })(),
      (err: unknown) => err instanceof ClientError && err.code === Status.UNAVAILABLE && err.details === 'cloud-dev is shutting down',
    );
    stop.abort();
    const summary = await readStoreSummary(dataDir);
    assert.equal(summary?.messages.logs, 7);
    assert.equal((await readStoreLines(dataDir, 'logs')).length, 7);
    assert.equal((summary?.['openStreams'] as Record<string, number>)['logs'], 0);
  });
});
