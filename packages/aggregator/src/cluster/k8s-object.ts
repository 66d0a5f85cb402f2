// Reading Kubernetes objects defensively: the shared readers (@kestrel/core kube-object.ts).
export { arr, bool, metadata, num, obj, str, stringMap, timestamp, type KubeObject } from '@kestrel/core';
