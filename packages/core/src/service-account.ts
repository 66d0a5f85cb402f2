// Where a process in a pod finds its Kubernetes identity: KUBERNETES_SERVICE_HOST and KUBERNETES_SERVICE_PORT (the
// kubelet sets them in every container, service links or not) and the folder the kubelet mounts for the pod's
// ServiceAccount, /var/run/secrets/kubernetes.io/serviceaccount (token, ca.crt, namespace), which
// @kubernetes/client-node's KubeConfig.loadFromCluster(pathPrefix) reads.
//
// KESTREL_SERVICE_ACCOUNT_PATH_PREFIX moves that folder under another root (the pathPrefix client-node takes). It is
// for tests that run the processes outside a pod with the files a pod would have (e2e/src/chart-install.test.ts puts
// each pod's volumes under a folder of its own); the chart never sets it, and unset it changes nothing. Every place
// that looks for the service account goes through here, so one variable moves all of them.
import fs from 'node:fs';

export const SERVICE_ACCOUNT_DIR = '/var/run/secrets/kubernetes.io/serviceaccount';
export const SERVICE_ACCOUNT_PATH_PREFIX_ENV = 'KESTREL_SERVICE_ACCOUNT_PATH_PREFIX';

/** What to give `KubeConfig.loadFromCluster(pathPrefix)`: '' (the real folder) unless the test variable is set. */
export function serviceAccountPathPrefix(env: NodeJS.ProcessEnv = process.env): string {
  return (env[SERVICE_ACCOUNT_PATH_PREFIX_ENV] ?? '').replace(/\/+$/, '');
}

/** The folder with the pod's ServiceAccount token, ca.crt and namespace. */
export function serviceAccountDir(env: NodeJS.ProcessEnv = process.env): string {
  return serviceAccountPathPrefix(env) + SERVICE_ACCOUNT_DIR;
}

/** True inside a pod with a service account: what `KubeConfig.loadFromCluster` needs. */
export function runningInCluster(env: NodeJS.ProcessEnv = process.env, dir: string = serviceAccountDir(env)): boolean {
  return Boolean(env['KUBERNETES_SERVICE_HOST']) && fs.existsSync(`${dir}/token`);
}
