// Cluster tokens: the JWTs the cloud issues at onboarding and renewal and checks on every call.
//
// ES256 (ECDSA P-256): small signatures and a fast verify on every RPC. The claims are what the operator relies on:
// `tenant` (it copies it into the autonp-tenantid metadata, reading the token without verifying it), `sub` (the
// cluster id), `iat`, `exp` and `iss`. jose does the JWS work; this module owns the claim rules and turns jose's
// errors into a small set of reasons the server can report distinctly.
import { createPrivateKey, createPublicKey, generateKeyPairSync, type KeyObject } from 'node:crypto';
import { errors, jwtVerify, SignJWT } from 'jose';

export const TOKEN_ISSUER = 'cloud-dev';
export const TOKEN_ALGORITHM = 'ES256';

export interface SigningKeyPair {
  /** PKCS#8 PEM. */
  privateKeyPem: string;
  /** SPKI PEM. */
  publicKeyPem: string;
}

/** The claims a cluster token is issued for. */
export interface ClusterTokenSubject {
  tenant: string;
  /** The cluster id (JWT `sub`). */
  sub: string;
}

/** A verified token's claims. */
export interface ClusterTokenClaims extends ClusterTokenSubject {
  iss: string;
  /** Seconds since the epoch. */
  iat: number;
  /** Seconds since the epoch. */
  exp: number;
}

export interface SignTokenOptions {
  /** Defaults to now; set in the past to make an already-expired token (tests). */
  issuedAt?: Date;
  issuer?: string;
}

export function createSigningKey(): SigningKeyPair {
  const { privateKey, publicKey } = generateKeyPairSync('ec', { namedCurve: 'P-256' });
  return {
    privateKeyPem: privateKey.export({ format: 'pem', type: 'pkcs8' }).toString(),
    publicKeyPem: publicKey.export({ format: 'pem', type: 'spki' }).toString(),
  };
}

/** Signs a token valid for ttlMs from issuedAt (a negative ttl gives a token that is already expired). */
export async function signToken(
  privateKey: string | KeyObject,
  subject: ClusterTokenSubject,
  ttlMs: number,
  options: SignTokenOptions = {},
): Promise<string> {
  const key = typeof privateKey === 'string' ? createPrivateKey(privateKey) : privateKey;
  const issuedAt = Math.floor((options.issuedAt ?? new Date()).getTime() / 1000);
  return new SignJWT({ tenant: subject.tenant })
    .setProtectedHeader({ alg: TOKEN_ALGORITHM, typ: 'JWT' })
    .setSubject(subject.sub)
    .setIssuer(options.issuer ?? TOKEN_ISSUER)
    .setIssuedAt(issuedAt)
    .setExpirationTime(issuedAt + Math.floor(ttlMs / 1000))
    .sign(key);
}

/** Why a token was refused; the server maps each to its own status message. */
export type TokenRejectionReason = 'malformed' | 'bad-signature' | 'expired' | 'wrong-issuer' | 'missing-claim';

export class TokenRejected extends Error {
  constructor(
    readonly reason: TokenRejectionReason,
    detail: string,
  ) {
    super(detail);
    this.name = 'TokenRejected';
  }
}

export interface VerifyTokenOptions {
  /** Defaults to now. */
  now?: Date;
  issuer?: string;
}

/**
 * Verifies signature (by publicKey, ES256 only), expiry and issuer, and that tenant and sub are present.
 * Throws TokenRejected. The signature is checked before any claim, so a token from another key is always
 * reported as such, even when it is also expired.
 */
export async function verifyToken(
  publicKey: string | KeyObject,
  token: string,
  options: VerifyTokenOptions = {},
): Promise<ClusterTokenClaims> {
  const key = typeof publicKey === 'string' ? createPublicKey(publicKey) : publicKey;
  let payload;
  try {
    ({ payload } = await jwtVerify(token, key, {
      algorithms: [TOKEN_ALGORITHM],
      issuer: options.issuer ?? TOKEN_ISSUER,
      requiredClaims: ['exp', 'iat', 'sub'],
      ...(options.now ? { currentDate: options.now } : {}),
    }));
  } catch (err) {
    throw toTokenRejected(err);
  }
  const tenant = payload['tenant'];
  if (typeof tenant !== 'string' || tenant === '') throw new TokenRejected('missing-claim', 'token has no tenant claim');
  if (typeof payload.sub !== 'string' || payload.iat === undefined || payload.exp === undefined || payload.iss === undefined) {
    throw new TokenRejected('missing-claim', 'token lacks sub, iat, exp or iss');
  }
  return { tenant, sub: payload.sub, iss: payload.iss, iat: payload.iat, exp: payload.exp };
}

function toTokenRejected(err: unknown): TokenRejected {
  if (err instanceof errors.JWTExpired) return new TokenRejected('expired', err.message);
  if (err instanceof errors.JWSSignatureVerificationFailed) return new TokenRejected('bad-signature', err.message);
  // A token signed with another algorithm (e.g. RS256) cannot have been signed by the cloud's key either.
  if (err instanceof errors.JOSEAlgNotAllowed) return new TokenRejected('bad-signature', err.message);
  if (err instanceof errors.JWTClaimValidationFailed) {
    if (err.claim === 'iss') return new TokenRejected('wrong-issuer', err.message);
    if (err.reason === 'missing') return new TokenRejected('missing-claim', err.message);
    return new TokenRejected('malformed', err.message);
  }
  if (err instanceof errors.JOSEError) return new TokenRejected('malformed', err.message);
  return new TokenRejected('malformed', err instanceof Error ? err.message : String(err));
}
