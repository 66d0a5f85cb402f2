// What the cloud answers a connection whose client certificate it does not trust.
//
// The TLS listener (@kestrel/core listenTls) asks every client for a certificate but does not abort the handshake
// when it is missing or does not verify, so the refusal can be a gRPC status the client can read ("client
// certificate required" vs "not issued by the cloud CA") instead of a bare TLS alert. Node has already verified the
// chain against the cloud CA (and the clientAuth purpose); judgeClientCertificate reads the outcome, and this maps
// it to the cloud's refusal.
import type { ClientCertificateProblem } from '@kestrel/core';
import { CLIENT_CERTIFICATE_REFUSALS, type Refusal } from './refusals.js';

const REFUSALS: Record<ClientCertificateProblem, Refusal> = {
  missing: CLIENT_CERTIFICATE_REFUSALS.missing,
  untrusted: CLIENT_CERTIFICATE_REFUSALS.untrusted,
  expired: CLIENT_CERTIFICATE_REFUSALS.expired,
  not_yet_valid: CLIENT_CERTIFICATE_REFUSALS.notYetValid,
  wrong_purpose: CLIENT_CERTIFICATE_REFUSALS.wrongPurpose,
};

export function clientCertificateRefusal(problem: ClientCertificateProblem): Refusal {
  return REFUSALS[problem];
}
