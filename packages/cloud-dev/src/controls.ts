// The switches a running cloud-dev can be given (at start as `serve` flags, later through its control socket) to
// play the failures an operator must survive: streams the cloud does not implement, short-lived tokens, tokens that
// stop being accepted, certificates replaced by a rotation. One object, read by the services on every call.
import type { StreamName } from './record-store.js';

export interface ControlsSnapshot {
  unimplemented: StreamName[];
  tokenTtlMs: number;
  enforceTokenExpiry: boolean;
  /** Tokens issued (iat, seconds) before this are refused on streams; null when none were revoked. */
  tokensRevokedBefore: number | null;
  revokedCertificates: number;
}

export class CloudControls {
  /** Streams answered with UNIMPLEMENTED, as a cloud without that method would. */
  readonly unimplemented = new Set<StreamName>();
  /** SHA-256 fingerprints (as Node prints them) of client certificates refused after a rotation. */
  readonly revokedCertificates = new Set<string>();
  /** Seconds since the epoch; tokens with an earlier iat are refused on streams. */
  tokensRevokedBefore: number | undefined;

  constructor(
    /** Lifetime of tokens issued by OnboardCluster and RenewClusterToken. */
    public tokenTtlMs: number,
    /** End an open stream with UNAUTHENTICATED "bearer token expired" when the token it was opened with expires. */
    public enforceTokenExpiry: boolean,
    unimplemented: readonly StreamName[] = [],
  ) {
    for (const s of unimplemented) this.unimplemented.add(s);
  }

  isTokenRevoked(issuedAtSeconds: number): boolean {
    return this.tokensRevokedBefore !== undefined && issuedAtSeconds < this.tokensRevokedBefore;
  }

  snapshot(): ControlsSnapshot {
    return {
      unimplemented: [...this.unimplemented],
      tokenTtlMs: this.tokenTtlMs,
      enforceTokenExpiry: this.enforceTokenExpiry,
      tokensRevokedBefore: this.tokensRevokedBefore ?? null,
      revokedCertificates: this.revokedCertificates.size,
    };
  }
}
