// The switches tests steer cloud-dev with, over real mTLS on loopback and through the real control socket.
import assert from 'node:assert/strict';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { after, before, describe, it } from 'node:test';
import { credentials } from '@grpc/grpc-js';
import { adminRequest, createLogger } from '@kestrel/core';
import { createChannel, createClient, ClientError, Metadata, Status, type Channel } from 'nice-grpc';
import { StreamServiceDefinition, type StreamControlRequest, type StreamControlResponse, type StreamLogsRequest } from '@kestrel/proto/cloud/v1';
import { AutonpServerServiceDefinition } from '@kestrel/proto/server/v1';
import type { RotationResult } from './cert-rotation.js';
import { issueCertificate } from './pki.js';
import { startCloudServer, type RunningCloudServer } from './cloud-server.js';
import { runInit } from './init.js';
import { cloudDirLayout, readCloudMaterial, type CloudMaterial } from './layout.js';
import { readStoreSummary } from './record-store.js';
import { signToken } from './tokens.js';

let root: string;
let material: CloudMaterial;
let operator: { certPem: string; keyPem: string; token: string };
let dataDir: string;
let socket: string;
let cloud: RunningCloudServer;
const channels: Channel[] = [];

before(async () => {
  root = fs.mkdtempSync(path.join(os.tmpdir(), 'cloud-dev-controls-'));
  await runInit({ dir: path.join(root, 'cloud'), tenant: 'acme', clusterName: 'prod-1', tokenTtl: 3_600_000, hosts: ['localhost', '127.0.0.1'], force: false });
  const layout = cloudDirLayout(path.join(root, 'cloud'));
  material = readCloudMaterial(layout.root);
  operator = { certPem: fs.readFileSync(layout.operator.cert, 'utf8'), keyPem: fs.readFileSync(layout.operator.key, 'utf8'), token: fs.readFileSync(layout.operator.token, 'utf8') };
  dataDir = path.join(root, 'data');
  socket = path.join(root, 'control.sock');
  cloud = await startCloudServer({
    material,
    listen: '127.0.0.1:0',
    dataDir,
    heartbeatIntervalMs: 60_000,
    tokenTtlMs: 3_600_000,
    summaryIntervalMs: 60_000,
    logger: createLogger('cloud-dev-test', 'error'),
    controlSocket: socket,
  });
});

after(async () => {
  for (const channel of channels) channel.close();
  await cloud.stop();
  fs.rmSync(root, { recursive: true, force: true });
});

function connect(client: { certPem: string; keyPem: string } = operator) {
  const channel = createChannel(cloud.address, credentials.createSsl(Buffer.from(material.caCertPem), Buffer.from(client.keyPem), Buffer.from(client.certPem)));
  channels.push(channel);
  return { streams: createClient(StreamServiceDefinition, channel), tokens: createClient(AutonpServerServiceDefinition, channel) };
}

const auth = (token = operator.token) => Metadata({ authorization: `Bearer ${token}`, 'autonp-tenantid': 'acme' });

/** A request stream that yields what is pushed into it until closed. */
function requestQueue<T>() {
  const items: T[] = [];
  let wake: (() => void) | undefined;
  let closed = false;
  return {
    push(item: T) {
      items.push(item);
      wake?.();
    },
    close() {
      closed = true;
      wake?.();
    },
    async *[Symbol.asyncIterator]() {
      for (;;) {
        while (items.length > 0) yield items.shift()!;
        if (closed) return;
        await new Promise<void>((r) => (wake = r));
      }
    },
  };
}

/** Reads a stream to its end and returns the status it ended with (OK as Status.OK). */
async function endStatus(responses: AsyncIterable<unknown>): Promise<[Status, string]> {
  try {
    for await (const _ of responses);
    return [Status.OK, ''];
  } catch (err) {
    assert.ok(err instanceof ClientError, String(err));
    return [err.code, err.details];
  }
}

const podLogs = (uid: string, line: number, seconds: number): StreamLogsRequest => ({
  request: {
    $case: 'podLogs',
    value: {
      podName: 'web-1',
      namespace: 'shop',
      podUid: uid,
      containerName: 'app',
      logEntries: [{ message: `line ${line}`, level: '', lineNumber: line, timestamp: { seconds, nanos: 0 }, errorInfo: undefined }],
      previousContainer: false,
      collectionTimestamp: undefined,
      totalLines: 1,
      streamComplete: false,
      streamOffset: line,
      ownerReferences: [],
      nodeName: 'node-a',
    },
  },
});

describe('cloud-dev controls', () => {
  it('drops PodLogs entries already stored, on StreamLogs and StreamData alike, and counts the replays in summary.json', async () => {
    const requests = requestQueue<StreamLogsRequest>();
    const logs = connect().streams.streamLogs(requests, { metadata: auth() });
    const ended = endStatus(logs);
    for (const line of [1, 2, 3, 2, 3]) requests.push(podLogs('replay-pod', line, 1000 + line));
    requests.close();
    assert.deepEqual(await ended, [Status.OK, '']);
    async function* oneData() {
      yield { request: { $case: 'podLogs' as const, value: podLogs('replay-pod', 3, 1003).request!.value } };
    }
    assert.deepEqual(await endStatus(connect().streams.streamData(oneData(), { metadata: auth() })), [Status.OK, '']);
    await cloud.store.flush();
    const summary = await readStoreSummary(dataDir);
    assert.equal(summary?.messages.logs, 3);
    assert.equal(summary?.messages.data, 0);
    assert.deepEqual(summary?.['replays'], { messages: 3, entries: 3 });
  });

  it('a stream set to UNIMPLEMENTED is answered as by a cloud without the method, and open ones end', async () => {
    const requests = requestQueue<StreamLogsRequest>();
    const open = connect().streams.streamLogs(requests, { metadata: auth() })[Symbol.asyncIterator]();
    await open.next(); // the first heartbeat: the stream is open
    await adminRequest(socket, 'set', { unimplemented: 'logs' });
    const rest = endStatus({ [Symbol.asyncIterator]: () => open });
    assert.deepEqual(await rest, [Status.UNIMPLEMENTED, 'The server does not implement the method /cloud.v1.StreamService/StreamLogs']);
    requests.close();
    const again = requestQueue<StreamLogsRequest>();
    assert.deepEqual(await endStatus(connect().streams.streamLogs(again, { metadata: auth() })), [
      Status.UNIMPLEMENTED,
      'The server does not implement the method /cloud.v1.StreamService/StreamLogs',
    ]);
    again.close();
    await adminRequest(socket, 'set', { unimplemented: 'none' });
  });

  it('revoke-tokens ends open streams with UNAUTHENTICATED "bearer token revoked", refuses new ones, and still renews the token', async () => {
    const old = await signToken(material.signingKeyPem, { tenant: 'acme', sub: material.identity.clusterId }, 3_600_000, { issuedAt: new Date(Date.now() - 5000) });
    const requests = requestQueue<StreamLogsRequest>();
    const open = connect().streams.streamLogs(requests, { metadata: auth(old) })[Symbol.asyncIterator]();
    await open.next();
    const answer = (await adminRequest(socket, 'revoke-tokens')) as { streamsEnded: number };
    assert.ok(answer.streamsEnded >= 1);
    assert.deepEqual(await endStatus({ [Symbol.asyncIterator]: () => open }), [Status.UNAUTHENTICATED, 'bearer token revoked']);
    requests.close();
    const refused = requestQueue<StreamLogsRequest>();
    assert.deepEqual(await endStatus(connect().streams.streamLogs(refused, { metadata: auth(old) })), [Status.UNAUTHENTICATED, 'bearer token revoked']);
    refused.close();
    // Tokens issued up to the second of the revocation are revoked; renew in the next one.
    await new Promise((r) => setTimeout(r, 1000 - (Date.now() % 1000) + 10));
    const renewed = await connect().tokens.renewClusterToken({ currentToken: old });
    const fresh = requestQueue<StreamLogsRequest>();
    const accepted = connect().streams.streamLogs(fresh, { metadata: auth(renewed.accessToken) })[Symbol.asyncIterator]();
    assert.equal((await accepted.next()).value?.response?.$case, 'heartbeat');
    fresh.close();
    cloud.controls.tokensRevokedBefore = undefined; // the next tests use the init token again
  });

  it('revoke-tokens --issued-before refuses only the tokens issued before that time', async () => {
    const older = await signToken(material.signingKeyPem, { tenant: 'acme', sub: material.identity.clusterId }, 3_600_000, { issuedAt: new Date(Date.now() - 60_000) });
    const newer = await signToken(material.signingKeyPem, { tenant: 'acme', sub: material.identity.clusterId }, 3_600_000, { issuedAt: new Date(Date.now() - 5_000) });
    const cut = Date.now() - 30_000;
    const answer = (await adminRequest(socket, 'revoke-tokens', { issuedBefore: new Date(cut).toISOString() })) as { tokensRevokedBefore: number };
    assert.equal(answer.tokensRevokedBefore, Math.floor(cut / 1000), 'in seconds, from an RFC 3339 time');
    const refused = requestQueue<StreamLogsRequest>();
    assert.deepEqual(await endStatus(connect().streams.streamLogs(refused, { metadata: auth(older) })), [Status.UNAUTHENTICATED, 'bearer token revoked']);
    refused.close();
    const fresh = requestQueue<StreamLogsRequest>();
    const accepted = connect().streams.streamLogs(fresh, { metadata: auth(newer) })[Symbol.asyncIterator]();
    assert.equal((await accepted.next()).value?.response?.$case, 'heartbeat');
    fresh.close();
    await assert.rejects(adminRequest(socket, 'revoke-tokens', { issuedBefore: 'yesterday' }), /issuedBefore: expected seconds since the epoch or an RFC 3339 time/);
    cloud.controls.tokensRevokedBefore = undefined; // the next tests use the init token again
  });

  it('with token expiry enforced, a stream ends with UNAUTHENTICATED "bearer token expired" when its token expires', async () => {
    await adminRequest(socket, 'set', { enforceTokenExpiry: true });
    try {
      const shortLived = await signToken(material.signingKeyPem, { tenant: 'acme', sub: material.identity.clusterId }, 2000);
      const requests = requestQueue<StreamLogsRequest>();
      const ended = endStatus(connect().streams.streamLogs(requests, { metadata: auth(shortLived) }));
      assert.deepEqual(await ended, [Status.UNAUTHENTICATED, 'bearer token expired']);
      requests.close();
    } finally {
      await adminRequest(socket, 'set', { enforceTokenExpiry: false });
    }
  });

  it('rotate-cert pushes a CertificateRenewalRequest on the control stream, returns the answer, then refuses the previous certificate', async () => {
    const requests = requestQueue<StreamControlRequest>();
    const control = connect().streams.streamControl(requests, { metadata: auth() })[Symbol.asyncIterator]();
    await control.next(); // heartbeat
    const rotation = adminRequest(socket, 'rotate-cert', { timeout: '10s' }, 20_000) as Promise<RotationResult[]>;
    let pushed: StreamControlResponse | undefined;
    for (;;) {
      const next = await control.next();
      if (next.value?.response?.$case === 'certificateRenewalRequest') {
        pushed = next.value;
        break;
      }
    }
    const request = pushed!.response!.$case === 'certificateRenewalRequest' ? pushed!.response!.value : assert.fail();
    const certPem = Buffer.from(request.clientCert, 'base64').toString('utf8');
    const keyPem = Buffer.from(request.clientKey, 'base64').toString('utf8');
    assert.match(certPem, /^-----BEGIN CERTIFICATE-----/);
    assert.match(keyPem, /PRIVATE KEY-----/);
    assert.equal(Buffer.from(request.caCert, 'base64').toString('utf8'), material.caCertPem);
    requests.push({ request: { $case: 'certificateRenewalResponse', value: { requestId: request.requestId, success: true, errorMessage: '', appliedAt: undefined } } });
    const [result] = await rotation;
    assert.equal(result?.success, true);
    assert.equal(result?.requestId, request.requestId);
    assert.equal(result?.stream, 'control');
    assert.ok((result?.revoked ?? 0) >= 1);
    requests.close();

    const withOld = requestQueue<StreamLogsRequest>();
    assert.deepEqual(await endStatus(connect().streams.streamLogs(withOld, { metadata: auth() })), [Status.UNAUTHENTICATED, 'client certificate revoked']);
    withOld.close();
    const withNew = requestQueue<StreamLogsRequest>();
    const accepted = connect({ certPem, keyPem }).streams.streamLogs(withNew, { metadata: auth() })[Symbol.asyncIterator]();
    assert.equal((await accepted.next()).value?.response?.$case, 'heartbeat');
    withNew.close();
    await cloud.store.flush();
    const summary = await readStoreSummary(dataDir);
    assert.equal((summary?.['certificateRenewals'] as { succeeded: number }).succeeded, 1);
  });

  it('drop-connections cuts open connections without a status', async () => {
    const fresh = requestQueue<StreamLogsRequest>();
    // The previous test revoked the init certificate: connect with a new one from the CA.
    const identity = issueCertificate({ certPem: material.caCertPem, keyPem: material.caKeyPem }, { commonName: 'prod-1', usage: 'client' });
    const open = connect(identity).streams.streamLogs(fresh, { metadata: auth() })[Symbol.asyncIterator]();
    await open.next();
    const { dropped } = (await adminRequest(socket, 'drop-connections')) as { dropped: number };
    assert.ok(dropped >= 1);
    const [code] = await endStatus({ [Symbol.asyncIterator]: () => open });
    assert.equal(code, Status.UNAVAILABLE);
    fresh.close();
  });
});
