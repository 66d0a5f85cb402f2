// The cloud's certificate authority: issues the server certificate the cloud presents and the client certificates
// operators present (mTLS). node-forge builds and signs the X.509 certificates; key generation goes through Node's
// native crypto (forge uses it when available), so a 2048-bit RSA key takes milliseconds, not seconds.
//
// Everything crosses this module's boundary as PEM text, so callers (init, the server, e2e tests that need a
// certificate from a foreign CA or an expired one) never handle forge objects.
import { isIP } from 'node:net';
import { randomBytes } from 'node:crypto';
import forge from 'node-forge';

export interface PemKeyPair {
  certPem: string;
  keyPem: string;
}

/** A CA that can issue certificates: its certificate and private key, PEM. */
export type CertificateAuthority = PemKeyPair;

/** An issued leaf certificate and its private key, PEM. */
export type IssuedCertificate = PemKeyPair;

export type CertificateUsage = 'client' | 'server';

export interface CreateCaOptions {
  commonName?: string;
  notBefore?: Date;
  notAfter?: Date;
}

export interface IssueCertificateOptions {
  commonName: string;
  /** client: extKeyUsage clientAuth (what an operator presents); server: serverAuth (what the cloud presents). */
  usage: CertificateUsage;
  /** Subject alternative names; each is an IP address or a DNS name. The server certificate needs them. */
  hosts?: readonly string[];
  notBefore?: Date;
  notAfter?: Date;
}

const RSA_BITS = 2048;
const DAY_MS = 86_400_000;
// Peers' clocks drift; a certificate valid from "now" would be refused for a few seconds by a peer running behind.
const CLOCK_SKEW_MS = 5 * 60_000;

export function createCa(options: CreateCaOptions = {}): CertificateAuthority {
  const keys = forge.pki.rsa.generateKeyPair({ bits: RSA_BITS });
  const cert = forge.pki.createCertificate();
  cert.publicKey = keys.publicKey;
  cert.serialNumber = randomSerial();
  setValidity(cert, options.notBefore, options.notAfter ?? new Date(Date.now() + 10 * 365 * DAY_MS));
  const subject = [{ name: 'commonName', value: options.commonName ?? 'cloud-dev CA' }];
  cert.setSubject(subject);
  cert.setIssuer(subject);
  cert.setExtensions([
    { name: 'basicConstraints', cA: true, critical: true },
    { name: 'keyUsage', keyCertSign: true, cRLSign: true, critical: true },
    { name: 'subjectKeyIdentifier' },
  ]);
  cert.sign(keys.privateKey, forge.md.sha256.create());
  return { certPem: forge.pki.certificateToPem(cert), keyPem: forge.pki.privateKeyToPem(keys.privateKey) };
}

export function issueCertificate(ca: CertificateAuthority, options: IssueCertificateOptions): IssuedCertificate {
  const caCert = forge.pki.certificateFromPem(ca.certPem);
  const caKey = forge.pki.privateKeyFromPem(ca.keyPem);
  const keys = forge.pki.rsa.generateKeyPair({ bits: RSA_BITS });
  const cert = forge.pki.createCertificate();
  cert.publicKey = keys.publicKey;
  cert.serialNumber = randomSerial();
  setValidity(cert, options.notBefore, options.notAfter ?? new Date(Date.now() + 365 * DAY_MS));
  cert.setSubject([{ name: 'commonName', value: options.commonName }]);
  cert.setIssuer(caCert.subject.attributes);
  const extensions: object[] = [
    { name: 'basicConstraints', cA: false, critical: true },
    { name: 'keyUsage', digitalSignature: true, keyEncipherment: true, critical: true },
    // OpenSSL checks the purpose when verifying a chain: a server certificate cannot be used to log in as a client.
    options.usage === 'client' ? { name: 'extKeyUsage', clientAuth: true } : { name: 'extKeyUsage', serverAuth: true },
    { name: 'subjectKeyIdentifier' },
    { name: 'authorityKeyIdentifier', keyIdentifier: caCert.generateSubjectKeyIdentifier().getBytes() },
  ];
  const hosts = options.hosts ?? [];
  if (hosts.length > 0) {
    extensions.push({
      name: 'subjectAltName',
      // type 7 is iPAddress, type 2 is dNSName (RFC 5280 GeneralName).
      altNames: hosts.map((host) => (isIP(host) !== 0 ? { type: 7, ip: host } : { type: 2, value: host })),
    });
  }
  cert.setExtensions(extensions);
  cert.sign(caKey, forge.md.sha256.create());
  return { certPem: forge.pki.certificateToPem(cert), keyPem: forge.pki.privateKeyToPem(keys.privateKey) };
}

function setValidity(cert: forge.pki.Certificate, notBefore: Date | undefined, notAfter: Date): void {
  cert.validity.notBefore = notBefore ?? new Date(Date.now() - CLOCK_SKEW_MS);
  cert.validity.notAfter = notAfter;
}

/** 16 random bytes with the high bit clear: a positive DER INTEGER, unique in practice (RFC 5280 4.1.2.2). */
function randomSerial(): string {
  const bytes = randomBytes(16);
  bytes[0] = bytes[0]! & 0x7f;
  return bytes.toString('hex');
}
