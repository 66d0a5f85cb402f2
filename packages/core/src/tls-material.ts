// TLS material (certificate, key, CA) from mounted files, reloaded when the files change.
//
// Kubernetes updates a mounted Secret by swapping a `..data` symlink in the folder, so we watch the folders (not
// the files) and also re-read on a slow poll as a safety net (inotify events can be missed on some volume types).
// New material is used only once it is complete and consistent (certificate and key parse and belong together);
// a half-written or broken update is reported and the previous material stays in use. The material is exposed to
// gRPC as a grpc-js CertificateProvider, so servers present and clients use the new certificate on new
// connections without a restart.
import { EventEmitter } from 'node:events';
import { X509Certificate, createPrivateKey, createPublicKey } from 'node:crypto';
import fs from 'node:fs';
import { ConfigError } from './config.js';
import { followFiles, type FileFollower } from './file-follower.js';
import { credentials, experimental, type ChannelCredentials, type ServerCredentials } from '@grpc/grpc-js';

export interface TlsFilePaths {
  certFile: string;
  keyFile: string;
  caFile: string;
}

export interface TlsMaterial {
  cert: Buffer;
  key: Buffer;
  ca: Buffer;
  /** Certificate facts, for logs and debug views. */
  subject: string;
  notAfter: Date;
  fingerprint256: string;
}

/** A TLS file that cannot be used; `file` says which of the three, so the setting can be named. */
export class TlsFileError extends Error {
  constructor(
    readonly file: 'cert' | 'key' | 'ca',
    message: string,
  ) {
    super(message);
    this.name = 'TlsFileError';
  }
}

/** Reads and checks one set of TLS files; throws a TlsFileError naming the file and the problem. */
export function readTlsMaterial(paths: TlsFilePaths): TlsMaterial {
  const read = (file: string, which: TlsFileError['file'], what: string) => {
    try {
      return fs.readFileSync(file);
    } catch (err) {
      throw new TlsFileError(which, `cannot read ${what} ${file} (${(err as NodeJS.ErrnoException).code ?? String(err)})`);
    }
  };
  const cert = read(paths.certFile, 'cert', 'certificate');
  const key = read(paths.keyFile, 'key', 'private key');
  const ca = read(paths.caFile, 'ca', 'CA certificate');
  let x509: X509Certificate;
  try {
    x509 = new X509Certificate(cert);
  } catch {
    throw new TlsFileError('cert', `certificate ${paths.certFile} is not a PEM certificate`);
  }
  try {
    new X509Certificate(ca);
  } catch {
    throw new TlsFileError('ca', `CA certificate ${paths.caFile} is not a PEM certificate`);
  }
  let privateKey;
  try {
    privateKey = createPrivateKey(key);
  } catch {
    throw new TlsFileError('key', `private key ${paths.keyFile} is not a PEM private key`);
  }
  const certKey = x509.publicKey.export({ format: 'der', type: 'spki' });
  const ownKey = createPublicKey(privateKey).export({ format: 'der', type: 'spki' });
  if (!certKey.equals(ownKey)) throw new TlsFileError('key', `private key ${paths.keyFile} does not belong to certificate ${paths.certFile}`);
  return { cert, key, ca, subject: x509.subject, notAfter: new Date(x509.validTo), fingerprint256: x509.fingerprint256 };
}

export interface TlsReloaderEvents {
  change: [TlsMaterial];
  error: [Error];
}

/**
 * Holds the current TLS material and replaces it when the files change. Emits 'change' after a successful reload
 * and 'error' when changed files could not be used (the old material stays).
 */
export class TlsReloader extends EventEmitter<TlsReloaderEvents> implements experimental.CertificateProvider {
  private material: TlsMaterial;
  private follower: FileFollower | undefined;
  private readonly caListeners = new Set<experimental.CaCertificateUpdateListener>();
  private readonly identityListeners = new Set<experimental.IdentityCertificateUpdateListener>();

  /** Throws when the files cannot be used at start: a process must not start with broken TLS. */
  constructor(
    readonly paths: TlsFilePaths,
    private readonly pollIntervalMs = 60_000,
  ) {
    super();
    this.material = readTlsMaterial(paths);
  }

  get current(): TlsMaterial {
    return this.material;
  }

  /** Starts watching the files' folders. */
  watch(): this {
    this.follower ??= followFiles([this.paths.certFile, this.paths.keyFile, this.paths.caFile], () => this.reload(), this.pollIntervalMs);
    return this;
  }

  close(): void {
    this.follower?.close();
    this.follower = undefined;
  }


  /** Re-reads the files now; returns true when the material changed. */
  reload(): boolean {
    let next: TlsMaterial;
    try {
      next = readTlsMaterial(this.paths);
    } catch (err) {
      this.emit('error', err as Error);
      return false;
    }
    if (next.cert.equals(this.material.cert) && next.key.equals(this.material.key) && next.ca.equals(this.material.ca)) return false;
    this.material = next;
    for (const l of this.caListeners) l({ caCertificate: next.ca });
    for (const l of this.identityListeners) l({ certificate: next.cert, privateKey: next.key });
    this.emit('change', next);
    return true;
  }


  // grpc-js registers its own watcher only after adding our listener, so the first update must come later (a
  // synchronous call would be lost and the server would drop every connection as "credentials not loaded").
  addCaCertificateListener(listener: experimental.CaCertificateUpdateListener): void {
    this.caListeners.add(listener);
    queueMicrotask(() => {
      if (this.caListeners.has(listener)) listener({ caCertificate: this.material.ca });
    });
  }
  removeCaCertificateListener(listener: experimental.CaCertificateUpdateListener): void {
    this.caListeners.delete(listener);
  }
  addIdentityCertificateListener(listener: experimental.IdentityCertificateUpdateListener): void {
    this.identityListeners.add(listener);
    queueMicrotask(() => {
      if (this.identityListeners.has(listener)) listener({ certificate: this.material.cert, privateKey: this.material.key });
    });
  }
  removeIdentityCertificateListener(listener: experimental.IdentityCertificateUpdateListener): void {
    this.identityListeners.delete(listener);
  }
}

/**
 * Loads TLS files named by three settings at start; a problem becomes a ConfigError naming the setting of the file
 * at fault (a process must not start with broken TLS).
 */
export function loadTlsSettings(paths: TlsFilePaths, settings: { cert: string; key: string; ca: string }, pollIntervalMs?: number): TlsReloader {
  try {
    return new TlsReloader(paths, pollIntervalMs);
  } catch (err) {
    if (err instanceof TlsFileError) throw new ConfigError(settings[err.file], err.message);
    throw err;
  }
}

/** Server credentials that follow the reloader; clients must present a certificate from the CA when required. */
export function reloadingServerCredentials(tls: TlsReloader, requireClientCert: boolean): ServerCredentials {
  return experimental.createCertificateProviderServerCredentials(tls, tls, requireClientCert);
}

/**
 * Client credentials that follow the reloader (mTLS: our certificate, the peer verified against our CA). To check
 * the server under another name than the address, set the channel option 'grpc.ssl_target_name_override'.
 */
export function reloadingChannelCredentials(tls: TlsReloader): ChannelCredentials {
  return experimental.createCertificateProviderChannelCredentials(tls, tls);
}

export { credentials };
