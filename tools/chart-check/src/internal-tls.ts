// The generated internal CA and certificates, used as the processes will use them: the agent's client certificate
// and the aggregator's server certificate both chain to the CA, the server certificate carries the name agents
// verify, and a real mutual TLS handshake between the two Secrets' material succeeds on loopback.
import { X509Certificate } from 'node:crypto';
import type { AddressInfo } from 'node:net';
import tls from 'node:tls';
import type { Manifest } from './render.js';

interface TlsFiles {
  cert: string;
  key: string;
  ca: string;
}

function secretFiles(manifests: Manifest[], name: string): TlsFiles | string {
  const secret = manifests.find((m) => m.kind === 'Secret' && m.name === name);
  if (!secret) return `Secret ${name} not rendered`;
  const data = (secret.object.data ?? {}) as Record<string, string>;
  const decode = (k: string) => Buffer.from(data[k] ?? '', 'base64').toString('utf8');
  return { cert: decode('tls.crt'), key: decode('tls.key'), ca: decode('ca.crt') || decode('tls.crt') };
}

export interface InternalTlsExpectation {
  caSecret: string;
  aggregatorSecret: string;
  agentSecret: string;
  /** The name the agents verify (KESTREL_AGENT_AGGREGATOR_SERVER_NAME). */
  serverName: string;
  certValidityDays: number;
}

export async function checkInternalTls(manifests: Manifest[], expect: InternalTlsExpectation): Promise<string[]> {
  const ca = secretFiles(manifests, expect.caSecret);
  const server = secretFiles(manifests, expect.aggregatorSecret);
  const client = secretFiles(manifests, expect.agentSecret);
  const missing = [ca, server, client].filter((s): s is string => typeof s === 'string');
  if (missing.length > 0) return missing;
  const [c, s, a] = [ca, server, client] as TlsFiles[];
  const problems: string[] = [];
  const caCert = new X509Certificate(c!.cert);
  if (!caCert.ca) problems.push(`${expect.caSecret}: not a CA certificate`);
  for (const [name, files] of [
    [expect.aggregatorSecret, s!],
    [expect.agentSecret, a!],
  ] as const) {
    const cert = new X509Certificate(files.cert);
    if (!cert.verify(caCert.publicKey)) problems.push(`${name}: certificate not signed by the internal CA`);
    if (files.ca.trim() !== c!.cert.trim()) problems.push(`${name}: ca.crt is not the internal CA`);
    const days = (Date.parse(cert.validTo) - Date.now()) / 86_400_000;
    if (Math.abs(days - expect.certValidityDays) > 2) problems.push(`${name}: valid for ${days.toFixed(0)} days, expected ${expect.certValidityDays}`);
  }
  if (new X509Certificate(s!.cert).checkHost(expect.serverName) === undefined) {
    problems.push(`${expect.aggregatorSecret}: certificate not valid for ${expect.serverName} (the name agents verify)`);
  }
  if (problems.length === 0) {
    const failure = await handshake(s!, a!, expect.serverName);
    if (failure) problems.push(`mutual TLS between ${expect.agentSecret} and ${expect.aggregatorSecret} failed: ${failure}`);
  }
  return problems;
}

/** One mutual TLS handshake on loopback; resolves to an error text, or undefined when both sides accepted. */
function handshake(server: TlsFiles, client: TlsFiles, serverName: string): Promise<string | undefined> {
  return new Promise((resolve) => {
    const srv = tls.createServer({ cert: server.cert, key: server.key, ca: server.ca, requestCert: true, rejectUnauthorized: true }, (socket) => {
      socket.end(socket.authorized ? 'ok' : `refused: ${String(socket.authorizationError)}`);
    });
    let settled = false;
    const done = (result: string | undefined) => {
      if (settled) return;
      settled = true;
      srv.close();
      resolve(result);
    };
    srv.on('tlsClientError', (err) => done(`server: ${err.message}`));
    srv.listen(0, '127.0.0.1', () => {
      const { port } = srv.address() as AddressInfo;
      const socket = tls.connect({ host: '127.0.0.1', port, servername: serverName, cert: client.cert, key: client.key, ca: client.ca });
      let reply = '';
      socket.setEncoding('utf8');
      socket.on('data', (d: string) => (reply += d));
      socket.on('end', () => done(reply === 'ok' ? undefined : reply || 'no reply'));
      socket.on('error', (err) => done(`client: ${err.message}`));
      socket.setTimeout(5000, () => {
        socket.destroy();
        done('timed out');
      });
    });
  });
}
