// The Kubernetes API test server: what tests import. See docs/kube-api-server.md.
export { startKubeApiServer, KubeApiServer, ADMIN_USER, type StartOptions } from './running-server.js';
export { DEFAULT_TUNING, type ServerTuning } from './server.js';
export type { AuditEntry, AuditLog, AuditQuery } from './audit.js';
export type { Fault, RequestMatch } from './faults.js';
export type { KubeConfigOptions, InClusterSetup } from './kubeconfig.js';
export type { KubeObject, ObjectMeta } from './objects-meta.js';
export { serviceAccountUsername, type StaticUser, type UserInfo } from './authn.js';
