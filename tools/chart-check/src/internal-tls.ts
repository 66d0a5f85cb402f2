// The generated internal CA and certificates, used as the processes will use them: the aggregator's server
// certificate chains to the CA and carries the name agents verify, the CA certificate agents are given (a ConfigMap,
// no key) is that CA, and a real TLS handshake between an agent holding only that CA and the aggregator's Secret
// succeeds on loopback. Agents have no certificate of their own: they prove their node with a token
// (agent-identity.ts).
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
  /** The ConfigMap agents read the CA certificate from (key ca.crt). */
  caConfigMap: string;
  /** The name the agents verify (KESTREL_AGENT_AGGREGATOR_SERVER_NAME). */
  serverName: string;
  certValidityDays: number;
}

export async function checkInternalTls(manifests: Manifest[], expect: InternalTlsExpectation): Promise<string[]> {
  const ca = secretFiles(manifests, expect.caSecret);
  const server = secretFiles(manifests, expect.aggregatorSecret);
  const configMap = manifests.find((m) => m.kind === 'ConfigMap' && m.name === expect.caConfigMap);
  const missing = [ca, server].filter((s): s is string => typeof s === 'string');
  if (!configMap) missing.push(`ConfigMap ${expect.caConfigMap} not rendered`);
  if (missing.length > 0) return missing;
  const [c, s] = [ca, server] as TlsFiles[];
  const agentCa = String(((configMap!.object.data ?? {}) as Record<string, string>)['ca.crt'] ?? '');
  const problems: string[] = [];
  const caCert = new X509Certificate(c!.cert);
  if (!caCert.ca) problems.push(`${expect.caSecret}: not a CA certificate`);
  const cert = new X509Certificate(s!.cert);
  if (!cert.verify(caCert.publicKey)) problems.push(`${expect.aggregatorSecret}: certificate not signed by the internal CA`);
  if (s!.ca.trim() !== c!.cert.trim()) problems.push(`${expect.aggregatorSecret}: ca.crt is not the internal CA`);
  if (agentCa.trim() !== c!.cert.trim()) problems.push(`ConfigMap ${expect.caConfigMap}: ca.crt is not the internal CA`);
  if (/PRIVATE KEY/.test(JSON.stringify(configMap!.object))) problems.push(`ConfigMap ${expect.caConfigMap}: holds a private key`);
  const days = (Date.parse(cert.validTo) - Date.now()) / 86_400_000;
  if (Math.abs(days - expect.certValidityDays) > 2) problems.push(`${expect.aggregatorSecret}: valid for ${days.toFixed(0)} days, expected ${expect.certValidityDays}`);
  if (cert.checkHost(expect.serverName) === undefined) {
    problems.push(`${expect.aggregatorSecret}: certificate not valid for ${expect.serverName} (the name agents verify)`);
  }
  if (problems.length === 0) {
    const failure = await handshake(s!, agentCa, expect.serverName);
    if (failure) problems.push(`TLS from an agent with ConfigMap ${expect.caConfigMap} to ${expect.aggregatorSecret} failed: ${failure}`);
  }
  return problems;
}

/** One TLS handshake on loopback, the client verifying the server with `ca`; resolves to an error text, or undefined. */
function handshake(server: TlsFiles, ca: string, serverName: string): Promise<string | undefined> {
  return new Promise((resolve) => {
    const srv = tls.createServer({ cert: server.cert, key: server.key }, (socket) => socket.end('ok'));
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
      const socket = tls.connect({ host: '127.0.0.1', port, servername: serverName, ca });
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
