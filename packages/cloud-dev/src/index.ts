// The library side of cloud-dev, for e2e tests and the demo: make credentials (including wrong ones on purpose),
// run a cloud in-process, and read what it stored.
export { createCa, issueCertificate, type CertificateAuthority, type CertificateUsage, type IssueCertificateOptions, type IssuedCertificate, type PemKeyPair } from './pki.js';
export {
  createSigningKey,
  signToken,
  verifyToken,
  TokenRejected,
  TOKEN_ALGORITHM,
  TOKEN_ISSUER,
  type ClusterTokenClaims,
  type ClusterTokenSubject,
  type SigningKeyPair,
  type SignTokenOptions,
  type TokenRejectionReason,
} from './tokens.js';
export { cloudDirLayout, readCloudMaterial, type CloudDirLayout, type CloudIdentity, type CloudMaterial } from './layout.js';
export { runInit, initConfigSchema, InitRefused, type InitConfig, type InitResult } from './init.js';
export { startCloudServer, type CloudServerOptions, type RunningCloudServer } from './cloud-server.js';
export { startServe, serveConfigSchema, type ServeConfig } from './serve.js';
export { CALL_REFUSALS, CLIENT_CERTIFICATE_REFUSALS, tokenRefusal, type Refusal, type TokenSource } from './refusals.js';
export { TENANT_METADATA } from './call-auth.js';
export {
  readStoreLines,
  readStoreSummary,
  storeFile,
  summaryFile,
  STREAM_NAMES,
  type StoredLine,
  type StoreSummary,
  type StreamName,
} from './record-store.js';
export type { CloudDevCounts } from './events.js';
