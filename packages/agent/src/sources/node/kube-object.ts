// Reading Kubernetes objects defensively: the shared readers (@kestrel/core kube-object.ts).
export { arr, bool, metadata, num, obj, statusCode, str, stringMap, timestamp, timestampMs, timestampOf, type KubeObject } from '@kestrel/core';
