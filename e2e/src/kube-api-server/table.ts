// Server-side printing (meta.k8s.io/v1 Table), which `kubectl get` asks for when it prints for people: a few
// built-in kinds get the columns a real cluster shows (pods: READY, STATUS, RESTARTS), custom resources get their
// additionalPrinterColumns, every other kind NAME and AGE. Issue 8 shows kubectl output to people and agents, so
// it should look like the real thing, but only -o json/yaml output is exact.
import { isJsonObject, pathValue, type KubeObject } from './objects-meta.js';
import type { PrinterColumn, ResourceType } from './resources.js';

export function wantsTable(accept: string | undefined): boolean {
  if (!accept) return false;
  const first = accept.split(',')[0] ?? '';
  return /;\s*as=Table/.test(first);
}

/** kubectl's short durations: 45s, 5m, 3h, 2d, 400d. */
export function humanAge(since: string | undefined, now = Date.now()): string {
  if (!since) return '<unknown>';
  const seconds = Math.max(0, Math.floor((now - Date.parse(since)) / 1000));
  if (seconds < 120) return `${seconds}s`;
  const minutes = Math.floor(seconds / 60);
  if (minutes < 10) return `${minutes}m${seconds % 60 ? `${seconds % 60}s` : ''}`;
  if (minutes < 180) return `${minutes}m`;
  const hours = Math.floor(minutes / 60);
  if (hours < 48) return `${hours}h`;
  return `${Math.floor(hours / 24)}d`;
}

interface Printer {
  columns: { name: string; type: string; description: string }[];
  cells(object: KubeObject): unknown[];
}

function list(value: unknown): Record<string, unknown>[] {
  return Array.isArray(value) ? value.filter(isJsonObject) : [];
}

const age = { name: 'Age', type: 'string', description: 'CreationTimestamp is a timestamp representing the server time when this object was created.' };
const name = { name: 'Name', type: 'string', description: 'Name must be unique within a namespace.' };

const PRINTERS: Record<string, Printer> = {
  'core/pods': {
    columns: [name, { name: 'Ready', type: 'string', description: 'The aggregate readiness state of this pod for accepting traffic.' }, { name: 'Status', type: 'string', description: 'The aggregate status of the containers in this pod.' }, { name: 'Restarts', type: 'string', description: 'The number of times the containers in this pod have been restarted.' }, age],
    cells(pod) {
      const spec = isJsonObject(pod['spec']) ? pod['spec'] : {};
      const status = isJsonObject(pod['status']) ? pod['status'] : {};
      const statuses = list(status['containerStatuses']);
      const ready = statuses.filter((c) => c['ready'] === true).length;
      const restarts = statuses.reduce((sum, c) => sum + (typeof c['restartCount'] === 'number' ? c['restartCount'] : 0), 0);
      let reason = String(status['reason'] ?? status['phase'] ?? '');
      for (const c of statuses) {
        const waiting = pathValue(c, ['state', 'waiting', 'reason']);
        const terminated = pathValue(c, ['state', 'terminated', 'reason']);
        if (typeof waiting === 'string' && waiting) reason = waiting;
        else if (typeof terminated === 'string' && terminated) reason = terminated;
      }
      if (pod.metadata.deletionTimestamp) reason = 'Terminating';
      return [pod.metadata.name, `${ready}/${list(spec['containers']).length}`, reason, String(restarts), humanAge(pod.metadata.creationTimestamp)];
    },
  },
  'core/nodes': {
    columns: [name, { name: 'Status', type: 'string', description: 'The status of the node' }, { name: 'Roles', type: 'string', description: 'The roles of the node' }, age, { name: 'Version', type: 'string', description: 'Kubelet Version reported by the node.' }],
    cells(node) {
      const ready = list(pathValue(node, ['status', 'conditions'])).find((c) => c['type'] === 'Ready');
      let state = ready?.['status'] === 'True' ? 'Ready' : ready ? 'NotReady' : 'Unknown';
      if (pathValue(node, ['spec', 'unschedulable']) === true) state += ',SchedulingDisabled';
      const roles = Object.keys(node.metadata.labels ?? {})
        .filter((l) => l.startsWith('node-role.kubernetes.io/'))
        .map((l) => l.slice('node-role.kubernetes.io/'.length));
      return [node.metadata.name, state, roles.length ? roles.join(',') : '<none>', humanAge(node.metadata.creationTimestamp), String(pathValue(node, ['status', 'nodeInfo', 'kubeletVersion']) ?? '')];
    },
  },
  'core/namespaces': {
    columns: [name, { name: 'Status', type: 'string', description: 'The status of the namespace' }, age],
    cells: (ns) => [ns.metadata.name, String(pathValue(ns, ['status', 'phase']) ?? ''), humanAge(ns.metadata.creationTimestamp)],
  },
  'apps/deployments': {
    columns: [name, { name: 'Ready', type: 'string', description: 'Number of the pod with ready state' }, { name: 'Up-to-date', type: 'integer', description: 'Total number of non-terminated pods targeted by this deployment that have the desired template spec.' }, { name: 'Available', type: 'integer', description: 'Total number of available pods (ready for at least minReadySeconds) targeted by this deployment.' }, age],
    cells: (d) => [d.metadata.name, `${Number(pathValue(d, ['status', 'readyReplicas']) ?? 0)}/${Number(pathValue(d, ['spec', 'replicas']) ?? 1)}`, Number(pathValue(d, ['status', 'updatedReplicas']) ?? 0), Number(pathValue(d, ['status', 'availableReplicas']) ?? 0), humanAge(d.metadata.creationTimestamp)],
  },
};

/** A CRD printer column's JSONPath, for the simple dotted form ({.status.phase}, .spec.replicas). */
function columnValue(object: KubeObject, column: PrinterColumn): unknown {
  const path = column.jsonPath.replace(/^\{?\.?/, '').replace(/\}$/, '');
  const value = pathValue(object, path.split('.'));
  if (value === undefined) return null;
  if (column.type === 'date' && typeof value === 'string') return humanAge(value);
  return value;
}

function printerFor(type: ResourceType): Printer {
  const builtin = PRINTERS[type.storage];
  if (builtin) return builtin;
  const columns = type.printerColumns ?? [];
  return {
    columns: [name, ...columns.map((c) => ({ name: c.name, type: c.type === 'date' ? 'string' : c.type, description: c.description ?? '' })), ...(columns.some((c) => c.name === 'Age') ? [] : [age])],
    cells: (o) => [o.metadata.name, ...columns.map((c) => columnValue(o, c)), ...(columns.some((c) => c.name === 'Age') ? [] : [humanAge(o.metadata.creationTimestamp)])],
  };
}

export function tableFor(type: ResourceType, objects: KubeObject[], resourceVersion: string, url: URL, listMetadata?: Record<string, unknown>): object {
  const printer = printerFor(type);
  const include = url.searchParams.get('includeObject') ?? 'Metadata';
  return {
    kind: 'Table',
    apiVersion: 'meta.k8s.io/v1',
    metadata: listMetadata ?? { resourceVersion },
    columnDefinitions: printer.columns.map((c, i) => ({ name: c.name, type: c.type, format: i === 0 ? 'name' : '', description: c.description, priority: 0 })),
    rows: objects.map((o) => ({
      cells: printer.cells(o),
      object: include === 'Object' ? o : include === 'None' ? undefined : { kind: 'PartialObjectMetadata', apiVersion: 'meta.k8s.io/v1', metadata: o.metadata },
    })),
  };
}
