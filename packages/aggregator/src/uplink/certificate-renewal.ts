// Applies a CertificateRenewalRequest pushed by the cloud (on the control stream, or the data stream): the new
// client certificate, key and CA (base64-encoded PEM, as Kestrel Cloud sends them) are checked, written back where
// credentials are kept (files when configured, the certificate Secret in a cluster), and put in use: the uplink
// opens a new connection with them and drains its streams onto it, so nothing in flight is lost. The answer is a
// CertificateRenewalResponse with the same request_id: success, or a message that says what was wrong. Nothing is
// applied unless it was also stored (a restart must not fall back to a certificate the cloud has replaced).
import { createPrivateKey, createPublicKey, X509Certificate } from 'node:crypto';
import type { TlsMaterial } from '@kestrel/core';
import type { CertificateRenewalRequest, CertificateRenewalResponse } from '@kestrel/proto/cloud/v1';
import type { CloudTls } from './cloud-tls.js';
import type { CertificateWriter } from './credential-writers.js';
import type { UplinkEvents } from './events.js';

export class RenewalRefused extends Error {
  override name = 'RenewalRefused';
}

/** A PEM field as sent: base64 of the PEM text (accepted too: the PEM text itself). */
function pemField(value: string, field: string): Buffer {
  const text = value.trim();
  if (text === '') throw new RenewalRefused(`${field} is empty`);
  if (text.startsWith('-----BEGIN')) return Buffer.from(text + '\n');
  if (!/^[A-Za-z0-9+/=\s]+$/.test(text)) throw new RenewalRefused(`${field} is neither base64-encoded PEM nor PEM`);
  const decoded = Buffer.from(text, 'base64').toString('utf8');
  if (!decoded.includes('-----BEGIN')) throw new RenewalRefused(`${field} is base64 but does not decode to PEM`);
  return Buffer.from(decoded.endsWith('\n') ? decoded : decoded + '\n');
}

/** Checks the three fields as core's TLS loader checks files: they parse, the key belongs to the certificate, valid now. */
export function parseRenewal(request: CertificateRenewalRequest, now = new Date()): TlsMaterial {
  const cert = pemField(request.clientCert, 'client_cert');
  const key = pemField(request.clientKey, 'client_key');
  const ca = pemField(request.caCert, 'ca_cert');
  let x509: X509Certificate;
  try {
    x509 = new X509Certificate(cert);
  } catch {
    throw new RenewalRefused('client_cert is not a PEM certificate');
  }
  try {
    new X509Certificate(ca);
  } catch {
    throw new RenewalRefused('ca_cert is not a PEM certificate');
  }
  let privateKey;
  try {
    privateKey = createPrivateKey(key);
  } catch {
    throw new RenewalRefused('client_key is not a PEM private key');
  }
  const certKey = x509.publicKey.export({ format: 'der', type: 'spki' });
  const ownKey = createPublicKey(privateKey).export({ format: 'der', type: 'spki' });
  if (!certKey.equals(ownKey)) throw new RenewalRefused('client_key does not belong to client_cert');
  const notAfter = new Date(x509.validTo);
  if (notAfter.getTime() <= now.getTime()) throw new RenewalRefused(`client_cert expired at ${notAfter.toISOString()}`);
  if (new Date(x509.validFrom).getTime() > now.getTime() + 5 * 60_000) throw new RenewalRefused(`client_cert is not valid before ${new Date(x509.validFrom).toISOString()}`);
  return { cert, key, ca, subject: x509.subject, notAfter, fingerprint256: x509.fingerprint256 };
}

const timestamp = (d: Date) => ({ seconds: Math.floor(d.getTime() / 1000), nanos: (d.getTime() % 1000) * 1_000_000 });

export class CertificateRenewals {
  private chain: Promise<unknown> = Promise.resolve();

  constructor(
    private readonly tls: CloudTls,
    private readonly writers: readonly CertificateWriter[],
    private readonly events: UplinkEvents,
  ) {}

  /** Applies one request (one at a time, in arrival order) and returns the answer to send. */
  apply(request: CertificateRenewalRequest): Promise<CertificateRenewalResponse> {
    const next = this.chain.then(() => this.applyOne(request));
    this.chain = next.catch(() => undefined);
    return next;
  }

  private async applyOne(request: CertificateRenewalRequest): Promise<CertificateRenewalResponse> {
    const refuse = (error: string): CertificateRenewalResponse => {
      this.events.certificateRefused(request.requestId, error);
      return { requestId: request.requestId, success: false, errorMessage: error, appliedAt: undefined };
    };
    if (request.requestId === '') return refuse('request_id is empty');
    let material: TlsMaterial;
    try {
      material = parseRenewal(request);
    } catch (err) {
      return refuse(err instanceof Error ? err.message : String(err));
    }
    for (const writer of this.writers) {
      try {
        await writer.write({ cert: material.cert, key: material.key, ca: material.ca });
        this.events.credentialWritten('certificate', writer.target);
      } catch (err) {
        const error = err instanceof Error ? err.message : String(err);
        this.events.credentialWriteFailed('certificate', writer.target, error);
        return refuse(`could not store the new certificate in ${writer.target}: ${error}; still using the previous one`);
      }
    }
    this.tls.apply(material, `certificate renewal ${request.requestId}`);
    this.events.certificateApplied(request.requestId, material.subject, material.notAfter);
    return { requestId: request.requestId, success: true, errorMessage: '', appliedAt: timestamp(new Date()) };
  }
}
