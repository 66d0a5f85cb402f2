// The few per-kind rules of the real server that clients observe and the product may rely on: a namespace gets
// its kubernetes.io/metadata.name label and the "kubernetes" finalizer; a Service gets a cluster IP (kept on update,
// immutable); a binding's roleRef cannot change. Everything else is stored as sent: no general defaulting
// (a Deployment without strategy stays without one).
import type { ObjectService } from './objects.js';
import { invalid } from './status.js';
import { deepEqual, isJsonObject, type KubeObject } from './objects-meta.js';

function spec(object: KubeObject): Record<string, unknown> {
  if (!isJsonObject(object['spec'])) object['spec'] = {};
  return object['spec'] as Record<string, unknown>;
}

export function installKindDefaults(objects: ObjectService): void {
  objects.setHooks('core/namespaces', {
    prepare(ns) {
      ns.metadata.labels = { ...(ns.metadata.labels ?? {}), 'kubernetes.io/metadata.name': ns.metadata.name! };
      const s = spec(ns);
      if (!Array.isArray(s['finalizers'])) s['finalizers'] = ['kubernetes'];
    },
  });

  // 10.96.0.0/12, the kubeadm default service range; .1 is the kubernetes Service.
  let nextIp = 10;
  objects.setHooks('core/services', {
    prepare(service, previous) {
      const s = spec(service);
      if (previous) {
        const before = isJsonObject(previous['spec']) ? previous['spec'] : {};
        if (s['clusterIP'] === undefined || s['clusterIP'] === '') {
          if (before['clusterIP'] !== undefined) s['clusterIP'] = before['clusterIP'];
          if (before['clusterIPs'] !== undefined) s['clusterIPs'] = before['clusterIPs'];
        } else if (before['clusterIP'] !== undefined && s['clusterIP'] !== before['clusterIP']) {
          throw invalid('Service', '', service.metadata.name!, [{ field: 'spec.clusterIPs[0]', message: 'Invalid value: field is immutable' }]);
        }
        return;
      }
      s['type'] ??= 'ClusterIP';
      if (s['type'] === 'ExternalName' || s['clusterIP'] === 'None') return;
      if (!s['clusterIP']) {
        const n = nextIp++;
        s['clusterIP'] = `10.96.${Math.floor(n / 256) % 256}.${n % 256}`;
      }
      s['clusterIPs'] = [s['clusterIP']];
    },
  });

  const keepRoleRef = {
    prepare(binding: KubeObject, previous: KubeObject | undefined) {
      if (previous && !deepEqual(binding['roleRef'], previous['roleRef'])) {
        throw invalid(String(binding.kind ?? 'RoleBinding'), 'rbac.authorization.k8s.io', binding.metadata.name!, [{ field: 'roleRef', message: 'Invalid value: cannot change roleRef' }]);
      }
    },
  };
  objects.setHooks('rbac.authorization.k8s.io/rolebindings', keepRoleRef);
  objects.setHooks('rbac.authorization.k8s.io/clusterrolebindings', keepRoleRef);
}
