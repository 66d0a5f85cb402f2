// Where `cloud-dev init` puts each file, and how `serve` reads them back.
//
// operator/ is laid out exactly as the operator's Secret is mounted (tls.crt, tls.key, ca.crt, token), so a local
// aggregator can point its certificate and token paths straight at it. The rest is what only the cloud holds.
import fs from 'node:fs';
import path from 'node:path';

export interface CloudDirLayout {
  root: string;
  operator: { dir: string; cert: string; key: string; ca: string; token: string };
  server: { dir: string; cert: string; key: string; ca: string };
  jwt: { dir: string; signingKey: string; publicKey: string };
  ca: { dir: string; cert: string; key: string };
  /** Tenant, cluster name and id chosen at init, which serve issues tokens for. */
  identity: string;
}

export function cloudDirLayout(root: string): CloudDirLayout {
  const at = (...parts: string[]) => path.join(root, ...parts);
  return {
    root,
    operator: { dir: at('operator'), cert: at('operator', 'tls.crt'), key: at('operator', 'tls.key'), ca: at('operator', 'ca.crt'), token: at('operator', 'token') },
    server: { dir: at('server'), cert: at('server', 'tls.crt'), key: at('server', 'tls.key'), ca: at('server', 'ca.crt') },
    jwt: { dir: at('jwt'), signingKey: at('jwt', 'signing.key'), publicKey: at('jwt', 'signing.pub') },
    ca: { dir: at('ca'), cert: at('ca', 'ca.crt'), key: at('ca', 'ca.key') },
    identity: at('cloud-dev.json'),
  };
}

/** The cluster identity written at init. */
export interface CloudIdentity {
  tenant: string;
  clusterName: string;
  clusterId: string;
  /** Lifetime of tokens issued by init, in milliseconds (serve has its own --token-ttl). */
  tokenTtlMs: number;
  createdAt: string;
}

/** Everything serve needs from DIR, read and checked once at start. */
export interface CloudMaterial {
  identity: CloudIdentity;
  serverCertPem: string;
  serverKeyPem: string;
  /** The CA client certificates must chain to. */
  caCertPem: string;
  caKeyPem: string;
  signingKeyPem: string;
  signingPublicKeyPem: string;
}

export class CloudDirError extends Error {
  override name = 'CloudDirError';
}

export function readCloudMaterial(root: string): CloudMaterial {
  const layout = cloudDirLayout(root);
  const read = (file: string) => {
    try {
      return fs.readFileSync(file, 'utf8');
    } catch (err) {
      const code = (err as NodeJS.ErrnoException).code ?? String(err);
      throw new CloudDirError(`cannot read ${file} (${code}); run \`cloud-dev init ${root}\` first`);
    }
  };
  let identity: CloudIdentity;
  try {
    identity = JSON.parse(read(layout.identity)) as CloudIdentity;
  } catch (err) {
    if (err instanceof CloudDirError) throw err;
    throw new CloudDirError(`${layout.identity} is not valid JSON`);
  }
  if (typeof identity.tenant !== 'string' || typeof identity.clusterId !== 'string' || typeof identity.clusterName !== 'string') {
    throw new CloudDirError(`${layout.identity} lacks tenant, clusterName or clusterId`);
  }
  return {
    identity,
    serverCertPem: read(layout.server.cert),
    serverKeyPem: read(layout.server.key),
    caCertPem: read(layout.ca.cert),
    caKeyPem: read(layout.ca.key),
    signingKeyPem: read(layout.jwt.signingKey),
    signingPublicKeyPem: read(layout.jwt.publicKey),
  };
}
