// Which cloud credentials the aggregator starts with: the onboarding ones (the Secret the installer made, mounted
// read-only: cloudTokenFile, cloudCertFile, cloudKeyFile, cloudCaFile) or the ones it stored itself since (renewed
// tokens and certificates pushed by the cloud, written to the runtime Secret — credential-writers.ts — and mounted
// back, read-only, at cloudRuntimeDir). Reading our own mounted Secret is how a restart finds them: Secret data is
// never read through the Kubernetes API.
//
// The rule is the same for both: the runtime copy is used when it is usable and newer than the onboarding one;
// otherwise the onboarding one, with the reason. "Usable" means it parses and is valid now; "newer" means issued
// later (the token's `iat`; the certificate's notBefore), so that credentials put in the onboarding Secret after the
// runtime ones were stored (onboarding the cluster again, a reinstall that kept the runtime Secret) win.
//   token: <cloudRuntimeDir>/<cloudTokenSecretKey> (`token`), a JWT whose `exp` is in the future and whose `iat` is
//          later than the onboarding token's;
//   certificate: <cloudRuntimeDir>/tls.crt, tls.key, ca.crt, all three readable, the certificate valid now
//          (notBefore <= now < notAfter), the key its own, and not issued before the onboarding certificate.
// An onboarding credential that cannot be read at all does not stop a start when the runtime one is usable.
import { X509Certificate } from 'node:crypto';
import fs from 'node:fs';
import path from 'node:path';
import { readTlsMaterial, type Logger, type TlsFilePaths, type TlsMaterial } from '@kestrel/core';
import { decodeClusterToken, isNewer, readClusterToken, type ClusterToken } from './token.js';

export type CredentialSource = 'runtime' | 'onboarding';

export interface CredentialChoice {
  source: CredentialSource;
  /** The file used (the certificate's, for TLS material). */
  file: string;
  /** Why, in words, for the log line. */
  reason: string;
  /** The runtime copy exists but cannot be used (unreadable, corrupt, expired, key mismatch): worth a warning. */
  runtimeUnusable: boolean;
}

export interface TokenChoice extends CredentialChoice {
  token: ClusterToken;
}

export interface CertificateChoice extends CredentialChoice {
  material: TlsMaterial;
  paths: TlsFilePaths;
}

/** The certificate files of the runtime Secret mounted at dir (the keys credential-writers.ts writes). */
export function runtimeCertificatePaths(dir: string): TlsFilePaths {
  return { certFile: path.join(dir, 'tls.crt'), keyFile: path.join(dir, 'tls.key'), caFile: path.join(dir, 'ca.crt') };
}

const iso = (d: Date | undefined) => d?.toISOString() ?? 'never';
const errorText = (err: unknown) => (err instanceof Error ? err.message : String(err));

/** The token file's content, or undefined when there is no such file (nothing stored yet). */
function readIfPresent(file: string): string | undefined {
  try {
    return fs.readFileSync(file, 'utf8');
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code === 'ENOENT') return undefined;
    throw new Error(`cannot read ${file} (${(err as NodeJS.ErrnoException).code ?? String(err)})`);
  }
}

/**
 * The token to start with. Throws (with the onboarding file's problem) only when neither token can be used.
 * `runtimeFile` undefined: no runtime folder is configured, the onboarding token is used.
 */
export function chooseClusterToken(onboardingFile: string, runtimeFile: string | undefined, now = Date.now()): TokenChoice {
  let onboarding: ClusterToken | undefined;
  let onboardingError: string | undefined;
  try {
    onboarding = readClusterToken(onboardingFile);
  } catch (err) {
    onboardingError = errorText(err);
  }
  const useOnboarding = (reason: string, runtimeUnusable: boolean): TokenChoice => {
    if (!onboarding) throw new Error(runtimeFile ? `${onboardingError}; and no usable token in the runtime Secret: ${reason}` : onboardingError);
    return { token: onboarding, source: 'onboarding', file: onboardingFile, reason, runtimeUnusable };
  };
  if (runtimeFile === undefined) return useOnboarding('no runtime Secret folder is configured (cloudRuntimeDir)', false);

  let runtime: ClusterToken;
  try {
    const text = readIfPresent(runtimeFile);
    if (text === undefined || text.trim() === '') return useOnboarding(`the runtime Secret holds no token yet (${runtimeFile})`, false);
    runtime = decodeClusterToken(text.trim());
  } catch (err) {
    return useOnboarding(`the runtime Secret's token cannot be used: ${errorText(err)} (${runtimeFile})`, true);
  }
  if (runtime.expiresAt !== undefined && runtime.expiresAt.getTime() <= now) {
    return useOnboarding(`the runtime Secret's token expired at ${iso(runtime.expiresAt)}`, true);
  }
  if (onboarding && !isNewer(runtime, onboarding)) {
    return useOnboarding(`the runtime Secret's token (issued ${iso(runtime.issuedAt)}) is not newer than the onboarding token (issued ${iso(onboarding.issuedAt)})`, false);
  }
  const why = onboarding
    ? `issued ${iso(runtime.issuedAt)}, after the onboarding token (issued ${iso(onboarding.issuedAt)}), and valid until ${iso(runtime.expiresAt)}`
    : `the onboarding token cannot be used (${onboardingError}); the runtime Secret's is valid until ${iso(runtime.expiresAt)}`;
  return { token: runtime, source: 'runtime', file: runtimeFile, reason: why, runtimeUnusable: false };
}

/**
 * The client certificate, key and CA to use. Throws the onboarding files' TlsFileError (naming which file) only when
 * neither set can be used. `runtime` undefined: no runtime folder is configured.
 */
export function chooseCloudCertificate(onboardingPaths: TlsFilePaths, runtime: TlsFilePaths | undefined, now = Date.now()): CertificateChoice {
  let onboarding: TlsMaterial | undefined;
  let onboardingError: unknown;
  try {
    onboarding = readTlsMaterial(onboardingPaths);
  } catch (err) {
    onboardingError = err;
  }
  const useOnboarding = (reason: string, runtimeUnusable: boolean): CertificateChoice => {
    if (!onboarding) throw onboardingError;
    return { material: onboarding, paths: onboardingPaths, source: 'onboarding', file: onboardingPaths.certFile, reason, runtimeUnusable };
  };
  if (runtime === undefined) return useOnboarding('no runtime Secret folder is configured (cloudRuntimeDir)', false);

  const files = [runtime.certFile, runtime.keyFile, runtime.caFile];
  if (!files.some((f) => fs.existsSync(f))) return useOnboarding(`the runtime Secret holds no certificate yet (${path.dirname(runtime.certFile)})`, false);
  let material: TlsMaterial;
  let x509: X509Certificate;
  try {
    material = readTlsMaterial(runtime);
    x509 = new X509Certificate(material.cert);
  } catch (err) {
    return useOnboarding(`the runtime Secret's certificate cannot be used: ${errorText(err)}`, true);
  }
  const notBefore = new Date(x509.validFrom);
  if (material.notAfter.getTime() <= now) return useOnboarding(`the runtime Secret's certificate expired at ${iso(material.notAfter)}`, true);
  if (notBefore.getTime() > now) return useOnboarding(`the runtime Secret's certificate is not valid before ${iso(notBefore)}`, true);
  if (onboarding) {
    const onboardingNotBefore = new Date(new X509Certificate(onboarding.cert).validFrom);
    if (notBefore.getTime() < onboardingNotBefore.getTime()) {
      return useOnboarding(`the runtime Secret's certificate (valid from ${iso(notBefore)}) is older than the onboarding certificate (valid from ${iso(onboardingNotBefore)})`, false);
    }
  }
  const why = onboarding
    ? `valid until ${iso(material.notAfter)} and not older than the onboarding certificate`
    : `the onboarding certificate cannot be used (${errorText(onboardingError)}); the runtime Secret's is valid until ${iso(material.notAfter)}`;
  return { material, paths: runtime, source: 'runtime', file: runtime.certFile, reason: why, runtimeUnusable: false };
}

/** The one line that says which credential a start uses and why (a warning when a stored one had to be passed over). */
export function logCredentialChoice(logger: Logger, what: 'token' | 'certificate', choice: CredentialChoice, facts: Record<string, unknown>): void {
  const message = `cloud ${what} at start: from the ${choice.source === 'runtime' ? 'runtime Secret (stored by the aggregator)' : 'onboarding Secret'}`;
  const fields = { source: choice.source, file: choice.file, reason: choice.reason, ...facts };
  if (choice.runtimeUnusable) logger.warn(message, fields);
  else logger.info(message, fields);
}
