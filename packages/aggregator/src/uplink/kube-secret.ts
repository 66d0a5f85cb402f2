// Writing keys of a Secret in the aggregator's namespace through the Kubernetes API (@kubernetes/client-node 2.x),
// with a JSON merge patch of `data`: only the named keys change, and no read of the Secret is needed (RBAC: patch
// on the two Secrets by name). The client library is loaded only when running in a cluster.
import fs from 'node:fs';
import { runningInCluster, serviceAccountDir, serviceAccountPathPrefix, type Logger } from '@kestrel/core';

export interface SecretPatcher {
  readonly namespace: string;
  /** Sets these keys of the Secret (values are raw bytes or text; base64 is done here). */
  patch(secret: string, data: Record<string, string | Buffer>): Promise<void>;
}

/** True inside a pod with a service account (packages/core/src/service-account.ts). */
export { runningInCluster };

/** The pod's namespace: the setting, else POD_NAMESPACE, else the service account's namespace file. */
export function podNamespace(setting: string | undefined, env: NodeJS.ProcessEnv = process.env, dir = serviceAccountDir(env)): string | undefined {
  if (setting) return setting;
  if (env['POD_NAMESPACE']) return env['POD_NAMESPACE'];
  try {
    return fs.readFileSync(`${dir}/namespace`, 'utf8').trim() || undefined;
  } catch {
    return undefined;
  }
}

export interface KubeConfigSource {
  /** 'cluster': the pod's service account; or a kubeconfig file (tests, out-of-cluster runs). */
  from: 'cluster' | { kubeconfigFile: string };
}

export async function kubernetesSecretPatcher(namespace: string, source: KubeConfigSource = { from: 'cluster' }): Promise<SecretPatcher> {
  const k8s = await import('@kubernetes/client-node');
  const config = new k8s.KubeConfig();
  if (source.from === 'cluster') config.loadFromCluster(serviceAccountPathPrefix());
  else config.loadFromFile(source.from.kubeconfigFile);
  const api = config.makeApiClient(k8s.CoreV1Api);
  const mergePatch = k8s.setHeaderOptions('Content-Type', k8s.PatchStrategy.MergePatch);
  return {
    namespace,
    async patch(secret, data) {
      const encoded = Object.fromEntries(Object.entries(data).map(([k, v]) => [k, Buffer.from(v).toString('base64')]));
      await api.patchNamespacedSecret({ name: secret, namespace, body: { data: encoded } }, mergePatch);
    },
  };
}

/** Outside a cluster there is no Secret to write: say so once, and where renewed credentials go instead. */
export function logNoSecrets(logger: Logger, elsewhere: string[]): void {
  logger.info('not running in a Kubernetes cluster: renewed tokens and certificates are not written to Secrets', {
    writtenTo: elsewhere.length > 0 ? elsewhere : 'memory only (set cloudTokenWriteFile / cloudCertWriteFiles to keep them across restarts)',
  });
}
