// The TLS identity the uplink presents to the cloud, and the roots it checks the cloud's certificate against.
//
// The material comes from the mounted files (cloud-certificate-files.ts: the onboarding and the runtime Secret's,
// re-read when they change; any TlsReloader of core does for one set) or, after
// the cloud pushed a CertificateRenewalRequest, from that request until the files show the same (a Secret update
// reaches a mounted volume up to a minute or so later) or something newer. Each change is announced once, so the
// uplink can open a new connection with it.
//
// Roots: the system CA bundle plus the CA from the mounted secret, as the published operator verifies the cloud;
// with useSystemCas=false only the mounted CA (on-prem clouds with a private CA).
import { EventEmitter } from 'node:events';
import { rootCertificates } from 'node:tls';
import { credentials, type ChannelCredentials } from '@grpc/grpc-js';
import type { TlsMaterial } from '@kestrel/core';

export interface CloudTlsEvents {
  change: [TlsMaterial, string];
}

/** Files that hold the material and say when it changed: CloudCertificateFiles, or core's TlsReloader. */
export interface TlsFiles {
  readonly current: TlsMaterial;
  on(event: 'change', listener: (material: TlsMaterial) => void): unknown;
}

const same = (a: TlsMaterial, b: TlsMaterial) => a.cert.equals(b.cert) && a.key.equals(b.key) && a.ca.equals(b.ca);

export class CloudTls extends EventEmitter<CloudTlsEvents> {
  /** What the uplink uses now: the files' material, or what the cloud pushed since they last changed. */
  private inUse: TlsMaterial;

  constructor(
    files: TlsFiles,
    private readonly useSystemCas: boolean,
  ) {
    super();
    this.inUse = files.current;
    // The reloader has already replaced its material when it says so: compare with what we use, not with it.
    files.on('change', (material) => this.use(material, 'certificate files changed'));
  }

  get current(): TlsMaterial {
    return this.inUse;
  }

  /** Uses material pushed by the cloud; returns false when it is what is in use already. */
  apply(material: TlsMaterial, reason: string): boolean {
    return this.use(material, reason);
  }

  private use(material: TlsMaterial, reason: string): boolean {
    if (same(this.inUse, material)) return false;
    this.inUse = material;
    this.emit('change', material, reason);
    return true;
  }

  credentials(): ChannelCredentials {
    const m = this.current;
    const roots = this.useSystemCas ? Buffer.concat([Buffer.from(rootCertificates.join('\n') + '\n'), m.ca]) : m.ca;
    return credentials.createSsl(roots, m.key, m.cert);
  }
}
