// Workload rollouts that are stuck or progressing: Deployments (progress deadline, unavailable replicas),
// StatefulSets and DaemonSets (updated/ready counts). Sent when the rollout status changes.
import { Action, type WorkloadRolloutStatus } from '@kestrel/proto/cloud/v1';
import { arr, metadata, num, obj, str, timestamp, type KubeObject } from '../k8s-object.js';

export interface RolloutState {
  status: 'complete' | 'progressing' | 'stuck' | 'degraded';
  reason: string;
  message: string;
}

export function rolloutState(kind: string, o: KubeObject): RolloutState {
  const m = metadata(o);
  const spec = obj(o['spec']);
  const status = obj(o['status']);
  const conditions = arr(status['conditions']).map(obj);
  const progressing = conditions.find((c) => str(c['type']) === 'Progressing');
  if (progressing && str(progressing['status']) === 'False' && str(progressing['reason']) === 'ProgressDeadlineExceeded') {
    return { status: 'stuck', reason: 'ProgressDeadlineExceeded', message: str(progressing['message']) };
  }
  const desired = kind === 'DaemonSet' ? num(status['desiredNumberScheduled']) : num(spec['replicas'] ?? 1);
  const updated = kind === 'DaemonSet' ? num(status['updatedNumberScheduled']) : num(status['updatedReplicas']);
  const available = kind === 'DaemonSet' ? num(status['numberAvailable']) : num(status['availableReplicas']);
  const observed = num(status['observedGeneration']);
  if (observed < m.generation || updated < desired) return { status: 'progressing', reason: 'RolloutInProgress', message: `${updated} of ${desired} updated` };
  if (available < desired) return { status: 'degraded', reason: 'UnavailableReplicas', message: `${desired - available} of ${desired} unavailable` };
  return { status: 'complete', reason: 'RolloutComplete', message: '' };
}

export function toRolloutStatus(kind: string, o: KubeObject, state: RolloutState, now: Date): WorkloadRolloutStatus {
  const m = metadata(o);
  const spec = obj(o['spec']);
  const status = obj(o['status']);
  const ds = kind === 'DaemonSet';
  const desired = ds ? num(status['desiredNumberScheduled']) : num(spec['replicas'] ?? 1);
  const available = ds ? num(status['numberAvailable']) : num(status['availableReplicas']);
  return {
    name: m.name,
    namespace: m.namespace,
    uid: m.uid,
    kind,
    rolloutStatus: state.status,
    rolloutReason: state.reason,
    rolloutMessage: state.message,
    desiredReplicas: desired,
    currentReplicas: ds ? num(status['currentNumberScheduled']) : num(status['replicas']),
    readyReplicas: ds ? num(status['numberReady']) : num(status['readyReplicas']),
    availableReplicas: available,
    updatedReplicas: ds ? num(status['updatedNumberScheduled']) : num(status['updatedReplicas']),
    unavailableReplicas: ds ? num(status['numberUnavailable']) : num(status['unavailableReplicas']) || Math.max(0, desired - available),
    conditions: arr(status['conditions']).map((v) => {
      const c = obj(v);
      return { type: str(c['type']), status: str(c['status']), lastUpdateTime: timestamp(c['lastUpdateTime']), lastTransitionTime: timestamp(c['lastTransitionTime']), reason: str(c['reason']), message: str(c['message']) };
    }),
    observedGeneration: num(status['observedGeneration']),
    metadataGeneration: m.generation,
    createdAt: timestamp(m.creationTimestamp),
    statusTimestamp: timestamp(now),
    action: Action.ACTION_UPDATE,
  };
}
