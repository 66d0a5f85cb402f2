// Kubernetes events -> cloud.v1 KubernetesEvent. An event is sent when it is new or its count grew (the API server
// folds repeats into one object with a higher count), never again for the same (uid, count).
import { Action, type KubernetesEvent } from '@kestrel/proto/cloud/v1';
import { metadata, num, obj, str, timestamp, type KubeObject } from '../k8s-object.js';

/** What makes an event worth sending again: a new count or a new last time. */
export const eventFingerprint = (o: KubeObject): string => `${num(o['count'])}|${str(o['lastTimestamp'] instanceof Date ? (o['lastTimestamp'] as Date).toISOString() : o['lastTimestamp'])}`;

export function toKubernetesEvent(o: KubeObject, action: Action): KubernetesEvent {
  const m = metadata(o);
  const involved = obj(o['involvedObject']);
  const source = obj(o['source']);
  // events.k8s.io-era producers fill eventTime/series instead of first/lastTimestamp and count.
  const series = obj(o['series']);
  const last = o['lastTimestamp'] ?? series['lastObservedTime'] ?? o['eventTime'];
  return {
    name: m.name,
    namespace: m.namespace,
    uid: m.uid,
    eventType: str(o['type']) || 'Normal',
    reason: str(o['reason']),
    message: str(o['message']),
    involvedObject: {
      kind: str(involved['kind']),
      namespace: str(involved['namespace']),
      name: str(involved['name']),
      uid: str(involved['uid']),
      apiVersion: str(involved['apiVersion']),
      resourceVersion: str(involved['resourceVersion']),
      fieldPath: str(involved['fieldPath']),
    },
    source: { component: str(source['component']) || str(o['reportingComponent']), host: str(source['host']) || str(o['reportingInstance']) },
    firstTimestamp: timestamp(o['firstTimestamp'] ?? o['eventTime']),
    lastTimestamp: timestamp(last),
    count: Math.max(1, num(o['count']) || num(series['count'])),
    action,
  };
}
