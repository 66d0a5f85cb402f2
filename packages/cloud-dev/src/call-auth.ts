// Per-call authentication, after the connection's client certificate has been accepted (see
// client-certificates.ts; checked again here): the `authorization: Bearer <JWT>` metadata must carry a token signed by the cloud's key
// and not expired, and `autonp-tenantid` must name that token's tenant (the operator reads it from the token).
import type { KeyObject } from 'node:crypto';
import type { Metadata } from '@grpc/grpc-js';
import { ServerError } from 'nice-grpc-common';
import type { CallContext } from './grpc-handlers.js';
import { CALL_REFUSALS, CLIENT_CERTIFICATE_REFUSALS, tokenRefusal, type Refusal, type TokenSource } from './refusals.js';
import { TokenRejected, verifyToken, type ClusterTokenClaims } from './tokens.js';

export const TENANT_METADATA = 'autonp-tenantid';

export class CallRefused extends ServerError {
  constructor(readonly refusal: Refusal) {
    super(refusal.code, refusal.message);
  }
}

export interface CallAuthenticatorOptions {
  /** The public half of the cloud's token signing key. */
  signingPublicKey: KeyObject;
  /** The one tenant this cloud serves (chosen at init). */
  tenant: string;
}

export class CallAuthenticator {
  constructor(private readonly options: CallAuthenticatorOptions) {}

  /** Checks client certificate, bearer token and tenant metadata; returns the token's claims or throws CallRefused. */
  async authenticate(context: CallContext): Promise<ClusterTokenClaims> {
    requireVerifiedCertificate(context);
    const claims = await this.verify(bearerToken(context.metadata), 'bearer token');
    this.checkTenantMetadata(context.metadata, claims, true);
    return claims;
  }

  /**
   * RenewClusterToken carries the token being renewed in the request, and that is what is verified (the same
   * rules as a bearer token). The authorization metadata is not required: it would be the same token again. The
   * tenant metadata is optional here, but must match when present.
   */
  async authenticateRenewal(currentToken: string, context: CallContext): Promise<ClusterTokenClaims> {
    requireVerifiedCertificate(context);
    if (currentToken === '') throw new CallRefused(CALL_REFUSALS.missingCurrentToken);
    const claims = await this.verify(currentToken, 'current_token');
    this.checkTenantMetadata(context.metadata, claims, false);
    return claims;
  }

  private async verify(token: string, source: TokenSource): Promise<ClusterTokenClaims> {
    let claims: ClusterTokenClaims;
    try {
      claims = await verifyToken(this.options.signingPublicKey, token);
    } catch (err) {
      if (err instanceof TokenRejected) throw new CallRefused(tokenRefusal(source, err.reason));
      throw err;
    }
    if (claims.tenant !== this.options.tenant) throw new CallRefused(CALL_REFUSALS.tenantNotServed);
    return claims;
  }

  private checkTenantMetadata(metadata: Metadata, claims: ClusterTokenClaims, required: boolean): void {
    const tenant = firstString(metadata, TENANT_METADATA);
    if (tenant === undefined || tenant === '') {
      if (required) throw new CallRefused(CALL_REFUSALS.missingTenant);
      return;
    }
    if (tenant !== claims.tenant) throw new CallRefused(CALL_REFUSALS.wrongTenant);
  }
}

/**
 * Connections without a verified certificate are routed to the refusal servers and never reach a service
 * (cloud-server.ts); this second lock keeps it so should that routing ever change.
 */
function requireVerifiedCertificate(context: CallContext): void {
  if (!context.verifiedClientCertificate) throw new CallRefused(CLIENT_CERTIFICATE_REFUSALS.missing);
}

function bearerToken(metadata: Metadata): string {
  const value = firstString(metadata, 'authorization');
  if (value === undefined || value.trim() === '') throw new CallRefused(CALL_REFUSALS.missingAuthorization);
  const match = /^Bearer\s+(\S+)\s*$/i.exec(value);
  if (!match) throw new CallRefused(CALL_REFUSALS.notBearer);
  return match[1]!;
}

function firstString(metadata: Metadata, key: string): string | undefined {
  const value = metadata.get(key)[0];
  return typeof value === 'string' ? value : value?.toString('utf8');
}
