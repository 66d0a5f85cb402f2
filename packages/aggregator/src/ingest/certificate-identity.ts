// Agent identity by client certificate (agentAuth=certificate: local runs and tests): the agent presents a
// certificate of the internal CA whose subject CN is its node name. The TLS listener judged the certificate when the
// connection was made (@kestrel/core judgeClientCertificate); this finds that verdict by the call's peer and checks
// the CN against the node the Hello names. See docs/transport.md.
import type { ClientCertificateProblem, ClientCertificateVerdict } from '@kestrel/core';
import { Status } from 'nice-grpc';
import type { AgentCall, AgentIdentityCheck, AgentIdentityVerdict } from './identity.js';

/** Why a connection's certificate is refused: the metric label and the message the agent reads. */
export const CERTIFICATE_REFUSALS: Record<ClientCertificateProblem, { reason: string; message: string }> = {
  missing: { reason: 'no_client_certificate', message: 'client certificate required: a certificate of the internal CA whose CN is the node name' },
  untrusted: { reason: 'untrusted_certificate', message: 'client certificate not issued by the internal CA' },
  expired: { reason: 'expired_certificate', message: 'client certificate expired' },
  not_yet_valid: { reason: 'certificate_not_yet_valid', message: 'client certificate not yet valid' },
  wrong_purpose: { reason: 'wrong_certificate_purpose', message: 'client certificate not valid for client authentication' },
};

export class CertificateIdentityCheck implements AgentIdentityCheck {
  /** @param certificateOf the verdict on the certificate of the open connection with this peer (host:port). */
  constructor(private readonly certificateOf: (peer: string) => ClientCertificateVerdict | undefined) {}

  async verify(call: AgentCall, claimedNode: string): Promise<AgentIdentityVerdict> {
    const verdict = this.certificateOf(call.peer);
    if (!verdict) {
      // Every connection comes through the listener, so this means it closed meanwhile (or a bug): refuse.
      return { accepted: false, status: Status.UNAUTHENTICATED, reason: 'unknown_connection', message: 'no TLS connection known for this peer' };
    }
    if (!verdict.trusted) {
      const refusal = CERTIFICATE_REFUSALS[verdict.problem];
      return { accepted: false, status: Status.UNAUTHENTICATED, reason: refusal.reason, message: refusal.message };
    }
    if (verdict.subject !== claimedNode) {
      return {
        accepted: false,
        status: Status.PERMISSION_DENIED,
        reason: 'wrong_node',
        message: `the client certificate is for node "${verdict.subject}", not "${claimedNode}"`,
      };
    }
    return { accepted: true, node: claimedNode, subject: `certificate CN=${verdict.subject} (SHA-256 ${verdict.fingerprint256.slice(0, 23)}…)` };
  }
}
