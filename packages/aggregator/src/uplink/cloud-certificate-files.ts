// The cloud client certificate, key and CA from files, followed while the aggregator runs: core's TlsReloader for two
// sets of files at once — the onboarding Secret's (cloudCertFile, cloudKeyFile, cloudCaFile) and the runtime
// Secret's (cloudRuntimeDir: tls.crt, tls.key, ca.crt) — with runtime-credentials.ts choosing between them at start
// and again whenever either folder changes (or every pollIntervalMs, the safety net behind file-system events).
//
// Why both: the runtime Secret is where every replica stores a certificate the cloud pushed, and the kubelet brings
// it into every replica's volume about a minute later, so a replica that did not get the push (the cloud sends it on
// one connection) picks it up from there; and onboarding credentials put in place by a human (onboarding the
// cluster again) are newer, so they win. A change that leaves the choice as it was, such as the kubelet showing the
// certificate this replica already uses since the push (CloudTls), changes nothing.
import { EventEmitter } from 'node:events';
import { followFiles, type FileFollower, type TlsFilePaths, type TlsMaterial } from '@kestrel/core';
import { chooseCloudCertificate, type CertificateChoice } from './runtime-credentials.js';

export interface CloudCertificateFilesEvents {
  /** The chosen material changed (another file set, or the chosen files changed). */
  change: [TlsMaterial, CertificateChoice];
  /** The files changed but neither set can be used; the previous material stays. */
  error: [Error];
}

const same = (a: TlsMaterial, b: TlsMaterial) => a.cert.equals(b.cert) && a.key.equals(b.key) && a.ca.equals(b.ca);

export class CloudCertificateFiles extends EventEmitter<CloudCertificateFilesEvents> {
  private choice: CertificateChoice;
  private follower: FileFollower | undefined;

  /** Throws (the onboarding files' TlsFileError) when neither set can be used at start. */
  constructor(
    readonly onboarding: TlsFilePaths,
    readonly runtime: TlsFilePaths | undefined,
    private readonly pollIntervalMs = 60_000,
  ) {
    super();
    this.choice = chooseCloudCertificate(onboarding, runtime);
  }

  get current(): TlsMaterial {
    return this.choice.material;
  }

  /** What is in use and why (the start's log line). */
  get chosen(): CertificateChoice {
    return this.choice;
  }

  /** Starts following both sets of files. */
  watch(): this {
    const files = [this.onboarding, ...(this.runtime ? [this.runtime] : [])].flatMap((p) => [p.certFile, p.keyFile, p.caFile]);
    this.follower ??= followFiles(files, () => this.reload(), this.pollIntervalMs);
    return this;
  }

  close(): void {
    this.follower?.close();
    this.follower = undefined;
  }


  /** Chooses again from the files now; returns true when the material changed. */
  reload(now = Date.now()): boolean {
    let next: CertificateChoice;
    try {
      next = chooseCloudCertificate(this.onboarding, this.runtime, now);
    } catch (err) {
      this.emit('error', err as Error);
      return false;
    }
    if (same(next.material, this.choice.material)) {
      this.choice = { ...next, material: this.choice.material };
      return false;
    }
    this.choice = next;
    this.emit('change', next.material, next);
    return true;
  }

}
