// How clients find the server: a kubeconfig (file for kubectl and other processes, options object for an in-process
// client-node KubeConfig.loadFromOptions), and the in-cluster layout (token, ca.crt, namespace files plus
// KUBERNETES_SERVICE_HOST/PORT) that a pod gets, for components that use KubeConfig.loadFromCluster.
import fs from 'node:fs';
import path from 'node:path';

export const CLUSTER_NAME = 'kestrel-test';

export interface KubeConfigOptions {
  clusters: { name: string; server: string; caData: string; skipTLSVerify: boolean }[];
  users: { name: string; token: string }[];
  contexts: { name: string; cluster: string; user: string; namespace?: string }[];
  currentContext: string;
}

/** For `new KubeConfig().loadFromOptions(...)`. */
export function kubeConfigOptions(server: string, caPem: string, token: string, user = 'user', namespace = 'default'): KubeConfigOptions {
  return {
    clusters: [{ name: CLUSTER_NAME, server, caData: Buffer.from(caPem).toString('base64'), skipTLSVerify: false }],
    users: [{ name: user, token }],
    contexts: [{ name: CLUSTER_NAME, cluster: CLUSTER_NAME, user, namespace }],
    currentContext: CLUSTER_NAME,
  };
}

/** A kubeconfig file (JSON, which every kubeconfig reader accepts as YAML); mode 0600 as it holds a token. */
export function writeKubeconfigFile(file: string, server: string, caPem: string, token: string, user = 'user', namespace = 'default'): string {
  const document = {
    apiVersion: 'v1',
    kind: 'Config',
    clusters: [{ name: CLUSTER_NAME, cluster: { server, 'certificate-authority-data': Buffer.from(caPem).toString('base64') } }],
    users: [{ name: user, user: { token } }],
    contexts: [{ name: CLUSTER_NAME, context: { cluster: CLUSTER_NAME, user, namespace } }],
    'current-context': CLUSTER_NAME,
    preferences: {},
  };
  fs.mkdirSync(path.dirname(file), { recursive: true });
  fs.writeFileSync(file, JSON.stringify(document, null, 2) + '\n', { mode: 0o600 });
  return file;
}

export interface InClusterSetup {
  /** Give to KubeConfig.loadFromCluster(pathPrefix). */
  pathPrefix: string;
  /** KUBERNETES_SERVICE_HOST / KUBERNETES_SERVICE_PORT for the process. */
  env: Record<string, string>;
}

/** Lays out what the kubelet mounts in a pod: <root>/var/run/secrets/kubernetes.io/serviceaccount/{token,ca.crt,namespace}. */
export function writeInClusterFiles(root: string, server: string, caPem: string, token: string, namespace: string): InClusterSetup {
  const dir = path.join(root, 'var/run/secrets/kubernetes.io/serviceaccount');
  fs.mkdirSync(dir, { recursive: true });
  fs.writeFileSync(path.join(dir, 'token'), token, { mode: 0o600 });
  fs.writeFileSync(path.join(dir, 'ca.crt'), caPem);
  fs.writeFileSync(path.join(dir, 'namespace'), namespace);
  const url = new URL(server);
  return { pathPrefix: root, env: { KUBERNETES_SERVICE_HOST: url.hostname.replace(/^\[|\]$/g, ''), KUBERNETES_SERVICE_PORT: url.port } };
}
