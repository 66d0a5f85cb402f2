// Every way the cloud refuses a caller, with its gRPC status code and exact message. One table, so the server,
// its tests, the e2e tests and the README all agree, and a client can tell each failure apart without parsing.
import { Status } from 'nice-grpc-common';
import type { TokenRejectionReason } from './tokens.js';

export interface Refusal {
  code: Status;
  message: string;
}

const unauthenticated = (message: string): Refusal => ({ code: Status.UNAUTHENTICATED, message });
const permissionDenied = (message: string): Refusal => ({ code: Status.PERMISSION_DENIED, message });

/** Refusals decided by the TLS connection, before any metadata is read. */
export const CLIENT_CERTIFICATE_REFUSALS = {
  missing: unauthenticated('client certificate required'),
  untrusted: unauthenticated('client certificate not issued by the cloud CA'),
  expired: unauthenticated('client certificate expired'),
  notYetValid: unauthenticated('client certificate not yet valid'),
  wrongPurpose: unauthenticated('client certificate not valid for client authentication'),
  /** Replaced by `cloud-dev rotate-cert` (with revocation of the previous certificates). */
  revoked: unauthenticated('client certificate revoked'),
} as const satisfies Record<string, Refusal>;

/** Where a token came from: the `authorization` metadata, or RenewClusterTokenRequest.current_token. */
export type TokenSource = 'bearer token' | 'current_token';

const TOKEN_PROBLEMS: Record<TokenRejectionReason, string> = {
  malformed: 'is not a valid JWT',
  'bad-signature': "not signed by the cloud's signing key",
  expired: 'expired',
  'wrong-issuer': 'not issued by cloud-dev',
  'missing-claim': 'lacks the tenant or sub claim',
};

export function tokenRefusal(source: TokenSource, reason: TokenRejectionReason): Refusal {
  return unauthenticated(`${source} ${TOKEN_PROBLEMS[reason]}`);
}

/** Refusals decided from call metadata and tokens. */
export const CALL_REFUSALS = {
  missingAuthorization: unauthenticated('missing authorization metadata (expected "Bearer <JWT>")'),
  notBearer: unauthenticated('authorization metadata is not a Bearer token'),
  missingTenant: unauthenticated('missing autonp-tenantid metadata'),
  wrongTenant: permissionDenied('autonp-tenantid does not match the token tenant'),
  tenantNotServed: permissionDenied('token tenant is not served by this cloud'),
  missingCurrentToken: unauthenticated('missing current_token'),
  shuttingDown: { code: Status.UNAVAILABLE, message: 'cloud-dev is shutting down' } satisfies Refusal,
  /** `cloud-dev revoke-tokens`: tokens issued before it are refused on streams (RenewClusterToken still accepts them). */
  tokenRevoked: unauthenticated('bearer token revoked'),
} as const satisfies Record<string, Refusal>;

/** What a gRPC server without the method answers (grpc-js's own wording), for `--unimplemented`. */
export function unimplementedRefusal(path: string): Refusal {
  return { code: Status.UNIMPLEMENTED, message: `The server does not implement the method ${path}` };
}
