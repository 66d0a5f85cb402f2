// Decides what a TLS connection's client certificate is worth, once the handshake is done.
//
// The TLS server asks every client for a certificate but does not abort the handshake when it is missing or does
// not verify (requestCert without rejectUnauthorized), so the refusal can be a gRPC status the client can read
// ("client certificate required" vs "not issued by the cloud CA") instead of a bare TLS alert. Node has already
// verified the chain against the cloud CA (and, as OpenSSL does for a server, the clientAuth purpose); this
// module only reads the outcome.
import type { TLSSocket } from 'node:tls';
import { CLIENT_CERTIFICATE_REFUSALS, type Refusal } from './refusals.js';

export type ClientCertificateVerdict =
  | { trusted: true; subject: string; fingerprint256: string }
  | { trusted: false; refusal: Refusal; /** OpenSSL's verify error, for logs. */ detail: string };

export function judgeClientCertificate(socket: TLSSocket): ClientCertificateVerdict {
  const certificate = socket.getPeerCertificate();
  // Without a client certificate, Node returns an empty object (and reports UNABLE_TO_GET_ISSUER_CERT).
  if (!certificate || !certificate.raw) {
    return { trusted: false, refusal: CLIENT_CERTIFICATE_REFUSALS.missing, detail: 'no certificate presented' };
  }
  if (socket.authorized) {
    const cn = certificate.subject?.CN;
    return { trusted: true, subject: (Array.isArray(cn) ? cn.join(',') : cn) ?? '', fingerprint256: certificate.fingerprint256 };
  }
  const error = String(socket.authorizationError ?? 'unknown verify error');
  return { trusted: false, refusal: refusalForVerifyError(error), detail: error };
}

function refusalForVerifyError(code: string): Refusal {
  switch (code) {
    case 'CERT_HAS_EXPIRED':
      return CLIENT_CERTIFICATE_REFUSALS.expired;
    case 'CERT_NOT_YET_VALID':
      return CLIENT_CERTIFICATE_REFUSALS.notYetValid;
    case 'INVALID_PURPOSE':
      return CLIENT_CERTIFICATE_REFUSALS.wrongPurpose;
    default:
      // UNABLE_TO_VERIFY_LEAF_SIGNATURE, UNABLE_TO_GET_ISSUER_CERT_LOCALLY, DEPTH_ZERO_SELF_SIGNED_CERT,
      // SELF_SIGNED_CERT_IN_CHAIN, CERT_SIGNATURE_FAILURE, …: the chain does not lead to the cloud CA.
      return CLIENT_CERTIFICATE_REFUSALS.untrusted;
  }
}
