// `cloud-dev rotate-cert`: the cloud side of certificate rotation. For every connected cluster it issues a new client
// certificate from the cloud CA, pushes a CertificateRenewalRequest (client cert, key and CA, each base64-encoded PEM,
// as Kestrel Cloud sends them) on the cluster's control stream (its data stream when no control stream is open), and
// waits for the CertificateRenewalResponse with the same request_id. With revokePrevious, once the operator says it
// applied the new certificate, the certificates its streams were using are refused on new calls ("client
// certificate revoked"), which proves that its new streams use the new one.
import { randomUUID, X509Certificate } from 'node:crypto';
import type { CertificateRenewalRequest, CertificateRenewalResponse } from '@kestrel/proto/cloud/v1';
import type { CloudControls } from './controls.js';
import type { CloudDevEvents } from './events.js';
import type { OpenStream, OpenStreams } from './open-streams.js';
import { issueCertificate, type CertificateAuthority } from './pki.js';

export interface RotationOptions {
  /** Refuse the certificates in use before, once the operator confirmed the new one. */
  revokePrevious: boolean;
  validForMs: number;
  /** How long to wait for the operator's answer. */
  timeoutMs: number;
}

export interface RotationResult {
  clusterId: string;
  requestId: string;
  /** Where the request was pushed. */
  stream: 'control' | 'data';
  success: boolean;
  errorMessage: string;
  serialNumber: string;
  fingerprint256: string;
  /** Certificates refused from now on. */
  revoked: number;
}

export interface RotationCounts {
  requested: number;
  succeeded: number;
  failed: number;
  unanswered: number;
}

export class CertificateRotation {
  private readonly pending = new Map<string, (response: CertificateRenewalResponse) => void>();
  readonly counts: RotationCounts = { requested: 0, succeeded: 0, failed: 0, unanswered: 0 };

  constructor(
    private readonly ca: CertificateAuthority,
    private readonly clusterName: string,
    private readonly streams: OpenStreams,
    private readonly controls: CloudControls,
    private readonly events: CloudDevEvents,
  ) {}

  async rotate(options: RotationOptions): Promise<RotationResult[]> {
    const targets = new Map<string, OpenStream>();
    for (const s of this.streams.all()) {
      if (s.stream === 'control') targets.set(s.clusterId, s);
      else if (s.stream === 'data' && targets.get(s.clusterId)?.stream !== 'control') targets.set(s.clusterId, s);
    }
    if (targets.size === 0) throw new Error('no operator is connected on a control or data stream');
    return Promise.all([...targets.values()].map((target) => this.rotateOne(target, options)));
  }

  /** A CertificateRenewalResponse arrived; false when no rotation waits for its request_id. */
  responded(response: CertificateRenewalResponse): boolean {
    const resolve = this.pending.get(response.requestId);
    if (!resolve) return false;
    this.pending.delete(response.requestId);
    resolve(response);
    return true;
  }

  private async rotateOne(target: OpenStream, options: RotationOptions): Promise<RotationResult> {
    const previous = this.streams.certificatesOf(target.clusterId);
    const notBefore = new Date(Date.now() - 5 * 60_000);
    const notAfter = new Date(Date.now() + options.validForMs);
    const issued = issueCertificate(this.ca, { commonName: this.clusterName, usage: 'client', notBefore, notAfter });
    const x509 = new X509Certificate(issued.certPem);
    const requestId = randomUUID();
    const request: CertificateRenewalRequest = {
      requestId,
      clientCert: base64(issued.certPem),
      clientKey: base64(issued.keyPem),
      caCert: base64(this.ca.certPem),
      issuedAt: timestamp(notBefore),
      expiresAt: timestamp(notAfter),
      serialNumber: x509.serialNumber,
    };
    const result: RotationResult = {
      clusterId: target.clusterId,
      requestId,
      stream: target.stream === 'control' ? 'control' : 'data',
      success: false,
      errorMessage: '',
      serialNumber: x509.serialNumber,
      fingerprint256: x509.fingerprint256,
      revoked: 0,
    };
    const answered = new Promise<CertificateRenewalResponse>((resolve) => this.pending.set(requestId, resolve));
    this.counts.requested++;
    // StreamControlResponse and StreamDataResponse both carry it as `response.certificateRenewalRequest`.
    if (!target.push({ response: { $case: 'certificateRenewalRequest', value: request } })) {
      this.pending.delete(requestId);
      this.counts.unanswered++;
      result.errorMessage = 'the stream ended before the request could be sent';
      return result;
    }
    this.events.certificateRenewalRequested(target.clusterId, requestId, result.stream, x509.serialNumber);
    let timer: NodeJS.Timeout | undefined;
    const response = await Promise.race([
      answered,
      new Promise<undefined>((resolve) => (timer = setTimeout(() => resolve(undefined), options.timeoutMs))),
    ]);
    clearTimeout(timer);
    if (!response) {
      this.pending.delete(requestId);
      this.counts.unanswered++;
      result.errorMessage = `no CertificateRenewalResponse within ${options.timeoutMs} ms`;
      this.events.certificateRenewalAnswered(target.clusterId, requestId, false, result.errorMessage);
      return result;
    }
    result.success = response.success;
    result.errorMessage = response.errorMessage;
    if (response.success) {
      this.counts.succeeded++;
      if (options.revokePrevious) {
        for (const fingerprint of previous) {
          if (fingerprint === x509.fingerprint256) continue;
          this.controls.revokedCertificates.add(fingerprint);
          result.revoked++;
        }
      }
    } else {
      this.counts.failed++;
    }
    this.events.certificateRenewalAnswered(target.clusterId, requestId, response.success, response.errorMessage);
    return result;
  }
}

const base64 = (pem: string) => Buffer.from(pem, 'utf8').toString('base64');

function timestamp(date: Date): { seconds: number; nanos: number } {
  const ms = date.getTime();
  return { seconds: Math.floor(ms / 1000), nanos: (ms % 1000) * 1_000_000 };
}
