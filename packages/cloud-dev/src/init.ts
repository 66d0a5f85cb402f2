// `cloud-dev init DIR`: creates everything a local cloud and one operator need to trust each other — the cloud CA,
// the cloud's server certificate, the operator's client certificate, the token signing key and a first
// (onboarding) token — laid out as described in layout.ts.
//
// It refuses to touch a DIR that already holds material unless --force: replacing the CA silently would break
// every operator configured against the old one.
import { randomUUID } from 'node:crypto';
import fs from 'node:fs';
import { boolean, duration, list, z } from '@kestrel/core';
import { cloudDirLayout, type CloudIdentity } from './layout.js';
import { createCa, issueCertificate } from './pki.js';
import { createSigningKey, signToken } from './tokens.js';

export const initConfigSchema = z.object({
  dir: z.string({ message: 'expected the directory to create the material in' }).min(1, 'expected a directory'),
  tenant: z.string().regex(/^[A-Za-z0-9._-]+$/, 'expected a tenant id (letters, digits, . _ -)').default('dev-tenant'),
  clusterName: z.string().regex(/^[A-Za-z0-9._-]+$/, 'expected a cluster name (letters, digits, . _ -)').default('dev'),
  tokenTtl: duration().default(24 * 3_600_000),
  hosts: list()
    .refine((hosts) => hosts.length > 0, 'expected at least one host name or IP address')
    .default(['localhost', '127.0.0.1']),
  force: boolean().default(false),
});

export type InitConfig = z.infer<typeof initConfigSchema>;

export class InitRefused extends Error {
  override name = 'InitRefused';
}

export interface InitResult {
  dir: string;
  identity: CloudIdentity;
  tokenExpiresAt: string;
  /** Where the operator's files are (point the aggregator's cloud TLS and token settings here). */
  operatorDir: string;
}

const PRIVATE = 0o600;
const PUBLIC = 0o644;

export async function runInit(config: InitConfig): Promise<InitResult> {
  const layout = cloudDirLayout(config.dir);
  const ours = [layout.operator.dir, layout.server.dir, layout.jwt.dir, layout.ca.dir, layout.identity];
  const present = ours.filter((p) => fs.existsSync(p));
  if (present.length > 0 && !config.force) {
    throw new InitRefused(`${config.dir} already holds cloud-dev material (${present.join(', ')}); use --force to replace it`);
  }
  for (const p of present) fs.rmSync(p, { recursive: true, force: true });

  const ca = createCa({ commonName: `cloud-dev CA (${config.tenant})` });
  const server = issueCertificate(ca, { commonName: 'cloud-dev', usage: 'server', hosts: config.hosts });
  const client = issueCertificate(ca, { commonName: config.clusterName, usage: 'client' });
  const signing = createSigningKey();
  const identity: CloudIdentity = {
    tenant: config.tenant,
    clusterName: config.clusterName,
    clusterId: randomUUID(),
    tokenTtlMs: config.tokenTtl,
    createdAt: new Date().toISOString(),
  };
  const issuedAt = new Date();
  const token = await signToken(signing.privateKeyPem, { tenant: identity.tenant, sub: identity.clusterId }, config.tokenTtl, { issuedAt });

  fs.mkdirSync(config.dir, { recursive: true });
  for (const dir of [layout.operator.dir, layout.server.dir, layout.jwt.dir, layout.ca.dir]) fs.mkdirSync(dir, { mode: 0o700 });
  const write = (file: string, content: string, mode: number) => {
    fs.writeFileSync(file, content, { mode });
    // writeFileSync's mode is filtered by the umask; keys must end up 0600 whatever it is.
    fs.chmodSync(file, mode);
  };
  write(layout.operator.cert, client.certPem, PUBLIC);
  write(layout.operator.key, client.keyPem, PRIVATE);
  write(layout.operator.ca, ca.certPem, PUBLIC);
  write(layout.operator.token, token, PRIVATE);
  write(layout.server.cert, server.certPem, PUBLIC);
  write(layout.server.key, server.keyPem, PRIVATE);
  write(layout.server.ca, ca.certPem, PUBLIC);
  write(layout.jwt.signingKey, signing.privateKeyPem, PRIVATE);
  write(layout.jwt.publicKey, signing.publicKeyPem, PUBLIC);
  write(layout.ca.cert, ca.certPem, PUBLIC);
  write(layout.ca.key, ca.keyPem, PRIVATE);
  write(layout.identity, JSON.stringify(identity, null, 2) + '\n', PUBLIC);

  return {
    dir: config.dir,
    identity,
    // The token's exp, which counts whole seconds.
    tokenExpiresAt: new Date((Math.floor(issuedAt.getTime() / 1000) + Math.floor(config.tokenTtl / 1000)) * 1000).toISOString(),
    operatorDir: layout.operator.dir,
  };
}
