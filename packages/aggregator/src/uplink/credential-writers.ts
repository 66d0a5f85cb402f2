// Where renewed credentials are written back, so that a restarted aggregator starts with the newest ones:
// - local runs: files (the token to a configured path; the certificate, key and CA over the configured files);
// - in a cluster: the runtime Secret (token) and the certificate Secret (tls.crt, tls.key, ca.crt), through the
//   Kubernetes API (kube-secret.ts). The mounted copies follow when the kubelet syncs the volume; meanwhile the
//   uplink uses the renewed credentials from memory.
// Each target is one small writer behind the same interface; a failed write is reported and counted, and the
// renewed credential is still used.
import fs from 'node:fs/promises';
import path from 'node:path';
import type { SecretPatcher } from './kube-secret.js';

export interface TokenWriter {
  /** For logs and metrics: "file /path" or "secret ns/name". */
  readonly target: string;
  write(jwt: string): Promise<void>;
}

export interface CertificatePem {
  cert: Buffer;
  key: Buffer;
  ca: Buffer;
}

export interface CertificateWriter {
  readonly target: string;
  write(material: CertificatePem): Promise<void>;
}

/** Writes a file atomically (temporary file in the same folder, then rename), with the given mode. */
export async function writeFileAtomic(file: string, content: string | Buffer, mode: number): Promise<void> {
  const temp = path.join(path.dirname(file), `.${path.basename(file)}.${process.pid}.${Date.now()}.tmp`);
  try {
    await fs.writeFile(temp, content, { mode });
    await fs.chmod(temp, mode);
    await fs.rename(temp, file);
  } catch (err) {
    await fs.rm(temp, { force: true });
    throw err;
  }
}

export function tokenFileWriter(file: string): TokenWriter {
  return { target: `file ${file}`, write: (jwt) => writeFileAtomic(file, jwt + '\n', 0o600) };
}

export function certificateFilesWriter(files: { certFile: string; keyFile: string; caFile: string }): CertificateWriter {
  return {
    target: `files ${files.certFile}, ${files.keyFile}, ${files.caFile}`,
    async write(m) {
      // Key, then certificate, then CA: a reader between two renames sees either a certificate that does not match
      // its key (core's TlsReloader refuses it and reads again after the last rename) or the new pair with the
      // previous CA — never the old certificate with anything new.
      await writeFileAtomic(files.keyFile, m.key, 0o600);
      await writeFileAtomic(files.certFile, m.cert, 0o644);
      await writeFileAtomic(files.caFile, m.ca, 0o644);
    },
  };
}

export function tokenSecretWriter(patcher: SecretPatcher, secret: string, key: string): TokenWriter {
  return { target: `secret ${patcher.namespace}/${secret}`, write: (jwt) => patcher.patch(secret, { [key]: jwt }) };
}

export function certificateSecretWriter(patcher: SecretPatcher, secret: string): CertificateWriter {
  return {
    target: `secret ${patcher.namespace}/${secret}`,
    write: (m) => patcher.patch(secret, { 'tls.crt': m.cert, 'tls.key': m.key, 'ca.crt': m.ca }),
  };
}
