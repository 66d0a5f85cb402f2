// The cluster token: a JWT from onboarding (later renewed), read from the mounted runtime Secret. Every RPC to the
// cloud carries it as a bearer token and its `tenant` claim as `autonp-tenantid`. The claims are read without
// verifying the signature (the cloud verifies; we only need to say which tenant we are and when to renew).
import fs from 'node:fs';

export interface ClusterToken {
  jwt: string;
  tenant: string;
  /** `iat`, when the token has one. */
  issuedAt: Date | undefined;
  /** `exp`, when the token has one. */
  expiresAt: Date | undefined;
}

export function decodeClusterToken(jwt: string): ClusterToken {
  const parts = jwt.split('.');
  if (parts.length !== 3) throw new Error('cluster token is not a JWT (expected three dot-separated parts)');
  let claims: { tenant?: unknown; exp?: unknown; iat?: unknown };
  try {
    claims = JSON.parse(Buffer.from(parts[1]!, 'base64url').toString('utf8')) as typeof claims;
  } catch {
    throw new Error('cluster token payload is not JSON');
  }
  if (typeof claims.tenant !== 'string' || claims.tenant.length === 0) throw new Error('cluster token has no tenant claim');
  return {
    jwt,
    tenant: claims.tenant,
    issuedAt: typeof claims.iat === 'number' ? new Date(claims.iat * 1000) : undefined,
    expiresAt: typeof claims.exp === 'number' ? new Date(claims.exp * 1000) : undefined,
  };
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

/** True when `a` is a later token than `b` (by iat; a token without iat is never later). */
export function isNewer(a: ClusterToken, b: ClusterToken): boolean {
  return (a.issuedAt?.getTime() ?? 0) > (b.issuedAt?.getTime() ?? 0);
}
