// The stream calls open right now, with what the controls need to act on them: push a request to the operator,
// or end a stream with a status (a switch turned on, a token expired or revoked).
import type { Refusal } from './refusals.js';
import type { StreamName } from './record-store.js';

export interface OpenStream {
  callId: number;
  stream: StreamName;
  clusterId: string;
  tenant: string;
  /** iat of the token the stream was opened with (seconds). */
  tokenIssuedAt: number;
  /** SHA-256 fingerprint of the connection's client certificate. */
  certificateFingerprint: string | undefined;
  /** Sends a response message of this stream's type; false when the call is over. */
  push(message: unknown): boolean;
  /** Ends the stream with this status (after the messages already read are stored). */
  end(refusal: Refusal): void;
}

export class OpenStreams {
  private readonly calls = new Map<number, OpenStream>();

  add(stream: OpenStream): void {
    this.calls.set(stream.callId, stream);
  }

  remove(callId: number): void {
    this.calls.delete(callId);
  }

  all(): OpenStream[] {
    return [...this.calls.values()];
  }

  /** The fingerprints of client certificates in use by a cluster's open streams. */
  certificatesOf(clusterId: string): Set<string> {
    return new Set(this.all().filter((s) => s.clusterId === clusterId && s.certificateFingerprint).map((s) => s.certificateFingerprint!));
  }
}
