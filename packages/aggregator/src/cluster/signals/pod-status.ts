// Pod status transitions worth an incident signal, each sent once per transition: CrashLoopBackOff, OOMKilled,
// ImagePullBackOff/ErrImagePull, CreateContainerConfigError, Evicted, unschedulable or Pending too long, readiness
// lost, restart count increases. Per pod we keep only the set of signals seen last time (a few short strings).
import { Action, type ContainerState, type ContainerStatus, type PodStatusChange } from '@kestrel/proto/cloud/v1';
import { arr, bool, metadata, num, obj, str, timestamp, type KubeObject } from '../k8s-object.js';
import { ownerReferences } from '../inventory/mappers.js';

const WAITING_SIGNALS = new Set(['CrashLoopBackOff', 'ImagePullBackOff', 'ErrImagePull', 'CreateContainerConfigError', 'CreateContainerError', 'InvalidImageName', 'RunContainerError']);

/** The abnormal signals of a pod now, e.g. ['waiting:app:CrashLoopBackOff', 'terminated:app:OOMKilled:3', 'restarts:app:3']. */
export function podSignals(o: KubeObject, now: number, pendingTooLongMs: number): string[] {
  const status = obj(o['status']);
  const out: string[] = [];
  const statuses = [...arr(status['initContainerStatuses']), ...arr(status['containerStatuses'])].map(obj);
  for (const c of statuses) {
    const name = str(c['name']);
    const waiting = obj(obj(c['state'])['waiting']);
    const reason = str(waiting['reason']);
    if (WAITING_SIGNALS.has(reason)) out.push(`waiting:${name}:${reason}`);
    const restarts = num(c['restartCount']);
    const lastTerminated = obj(obj(c['lastState'])['terminated']);
    const terminated = obj(obj(c['state'])['terminated']);
    for (const t of [lastTerminated, terminated]) {
      if (str(t['reason']) === 'OOMKilled') out.push(`terminated:${name}:OOMKilled:${restarts}`);
    }
    if (restarts > 0) out.push(`restarts:${name}:${restarts}`);
  }
  if (str(status['reason']) === 'Evicted') out.push('evicted');
  const conditions = arr(status['conditions']).map(obj);
  const scheduled = conditions.find((c) => str(c['type']) === 'PodScheduled');
  if (scheduled && str(scheduled['status']) === 'False' && str(scheduled['reason']) === 'Unschedulable') out.push('unschedulable');
  const ready = conditions.find((c) => str(c['type']) === 'Ready');
  if (ready && str(ready['status']) === 'False' && str(status['phase']) === 'Running') out.push('not-ready');
  const created = timestamp(metadata(o).creationTimestamp);
  if (str(status['phase']) === 'Pending' && created && now - created.seconds * 1000 > pendingTooLongMs) out.push('pending-too-long');
  return out.sort();
}

/** Signals present now that were not before: the transitions to report. Restart counts only count when higher. */
export function newSignals(before: readonly string[] | undefined, now: readonly string[]): string[] {
  const prev = new Set(before ?? []);
  return now.filter((s) => {
    if (prev.has(s)) return false;
    if (s.startsWith('restarts:')) {
      const [, name, count] = s.split(':');
      const old = [...prev].find((p) => p.startsWith(`restarts:${name}:`));
      return !old || Number(old.split(':')[2]) < Number(count);
    }
    return true;
  });
}

function containerState(v: unknown): ContainerState | undefined {
  const s = obj(v);
  if (s['waiting']) {
    const w = obj(s['waiting']);
    return { state: { $case: 'waiting', value: { reason: str(w['reason']), message: str(w['message']) } } };
  }
  if (s['running']) return { state: { $case: 'running', value: { startedAt: timestamp(obj(s['running'])['startedAt']) } } };
  if (s['terminated']) {
    const t = obj(s['terminated']);
    return {
      state: {
        $case: 'terminated',
        value: {
          exitCode: num(t['exitCode']),
          signal: num(t['signal']),
          reason: str(t['reason']),
          message: str(t['message']),
          startedAt: timestamp(t['startedAt']),
          finishedAt: timestamp(t['finishedAt']),
          containerId: str(t['containerID']),
        },
      },
    };
  }
  return undefined;
}

function containerStatus(v: unknown): ContainerStatus {
  const c = obj(v);
  return {
    name: str(c['name']),
    image: str(c['image']),
    imageId: str(c['imageID']),
    containerId: str(c['containerID']),
    ready: bool(c['ready']),
    restartCount: num(c['restartCount']),
    state: containerState(c['state']),
    lastTerminationState: containerState(c['lastState']),
    started: bool(c['started']),
  };
}

export function toPodStatusChange(o: KubeObject, action: Action, now: Date): PodStatusChange {
  const m = metadata(o);
  const spec = obj(o['spec']);
  const status = obj(o['status']);
  const containers = arr(status['containerStatuses']).map(containerStatus);
  return {
    name: m.name,
    namespace: m.namespace,
    uid: m.uid,
    podIp: str(status['podIP']),
    nodeName: str(spec['nodeName']),
    phase: str(status['phase']),
    containerStatuses: containers,
    initContainerStatuses: arr(status['initContainerStatuses']).map(containerStatus),
    conditions: arr(status['conditions']).map((v) => {
      const c = obj(v);
      return { type: str(c['type']), status: str(c['status']), lastProbeTime: timestamp(c['lastProbeTime']), lastTransitionTime: timestamp(c['lastTransitionTime']), reason: str(c['reason']), message: str(c['message']) };
    }),
    qosClass: str(status['qosClass']),
    totalRestartCount: containers.reduce((n, c) => n + c.restartCount, 0),
    resourceUsage: undefined,
    ownerReferences: ownerReferences(m.ownerReferences),
    createdAt: timestamp(m.creationTimestamp),
    statusTimestamp: timestamp(now),
    action,
  };
}
