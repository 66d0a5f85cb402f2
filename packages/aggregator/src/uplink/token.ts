// The cluster token: a JWT from onboarding (later renewed), read from the mounted runtime Secret. Every RPC to the
// cloud carries it as a bearer token and its `tenant` claim as `autonp-tenantid`. The claim is read without
// verifying the signature (the cloud verifies; we only need to say which tenant we are).
import fs from 'node:fs';

export interface ClusterToken {
  jwt: string;
  tenant: string;
  expiresAt: Date | undefined;
}

export function decodeClusterToken(jwt: string): ClusterToken {
  const parts = jwt.split('.');
  if (parts.length !== 3) throw new Error('cluster token is not a JWT (expected three dot-separated parts)');
  let claims: { tenant?: unknown; exp?: unknown };
  try {
    claims = JSON.parse(Buffer.from(parts[1]!, 'base64url').toString('utf8')) as typeof claims;
  } catch {
    throw new Error('cluster token payload is not JSON');
  }
  if (typeof claims.tenant !== 'string' || claims.tenant.length === 0) throw new Error('cluster token has no tenant claim');
  return { jwt, tenant: claims.tenant, expiresAt: typeof claims.exp === 'number' ? new Date(claims.exp * 1000) : undefined };
}

export function readClusterToken(file: string): ClusterToken {
  let text: string;
  try {
    text = fs.readFileSync(file, 'utf8').trim();
  } catch (err) {
    throw new Error(`cannot read cluster token ${file}: ${(err as NodeJS.ErrnoException).code ?? String(err)}`);
  }
  return decodeClusterToken(text);
}
