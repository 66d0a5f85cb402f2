// This node's NodeConditionChange stream: the Node object's conditions (from the watch) merged with the agent's own
// (own-conditions.ts), sent once in full when first known and then once per transition — a condition whose status
// changed, a condition that appeared or went away. Everything else (heartbeat times, reasons and messages with the
// same status, labels, addresses) rides along in the next message but does not cause one. What decides is a
// comparison with what was last sent, not with the previous event, so a relist (410 Gone) or a dropped watch that
// brings the same state again sends nothing.
import { Action, type NodeCondition, type NodeConditionChange } from '@kestrel/proto/cloud/v1';
import type { Timestamp } from '@kestrel/proto/google/protobuf/timestamp';
import { arr, metadata, obj, str, stringMap, timestamp, timestampMs, timestampOf, type KubeObject } from './kube-object.js';
import type { WatchHandler } from './kube-watch.js';

/** What is kept of the Node object: what a NodeConditionChange carries, nothing more. */
export interface NodeFacts {
  name: string;
  uid: string;
  conditions: NodeCondition[];
  internalIps: string[];
  externalIps: string[];
  hostname: string;
  instanceType: string;
  zone: string;
  capacity: Record<string, string>;
  allocatable: Record<string, string>;
  createdAt: Timestamp | undefined;
}

/** The Node cut down (the same readings as the aggregator's inventory mapper for Node). */
export function cutNode(o: KubeObject): NodeFacts {
  const m = metadata(o);
  const status = obj(o['status']);
  const addresses = arr(status['addresses']).map(obj);
  const byType = (t: string) => addresses.filter((a) => str(a['type']) === t).map((a) => str(a['address']));
  return {
    name: m.name,
    uid: m.uid,
    conditions: arr(status['conditions']).map((c) => {
      const x = obj(c);
      return { type: str(x['type']), status: str(x['status']), lastHeartbeatTime: timestamp(x['lastHeartbeatTime']), lastTransitionTime: timestamp(x['lastTransitionTime']), reason: str(x['reason']), message: str(x['message']) };
    }),
    internalIps: byType('InternalIP'),
    externalIps: byType('ExternalIP'),
    hostname: byType('Hostname')[0] ?? m.labels['kubernetes.io/hostname'] ?? '',
    instanceType: m.labels['node.kubernetes.io/instance-type'] ?? m.labels['beta.kubernetes.io/instance-type'] ?? '',
    zone: m.labels['topology.kubernetes.io/zone'] ?? m.labels['failure-domain.beta.kubernetes.io/zone'] ?? '',
    capacity: stringMap(status['capacity']),
    allocatable: stringMap(status['allocatable']),
    createdAt: timestamp(m.creationTimestamp),
  };
}

/** 'unknown': not seen (watch off, denied, not listed yet, or no Node of that name); 'deleted': seen going away. */
export type NodeState = 'unknown' | 'present' | 'deleted';

interface Sent {
  signature: string;
  statuses: Map<string, string>;
  uid: string;
}

export class ConditionReporter implements WatchHandler<NodeFacts> {
  private node: NodeFacts | undefined;
  private own: NodeCondition[] = [];
  private released = false;
  private announced = false;
  private sent: Sent | undefined;
  nodeState: NodeState = 'unknown';
  lastChange: NodeConditionChange | undefined;

  constructor(
    private readonly nodeName: string,
    private readonly send: (change: NodeConditionChange) => void,
    private readonly now: () => number = Date.now,
  ) {}

  /**
   * From now on messages may be sent. Until then (the Node has not been listed yet) the own conditions are only
   * remembered, so the first message is the full one. The watch being off or denied, or the first list taking too
   * long, releases the reporter with what it has.
   */
  release(): void {
    if (this.released) return;
    this.released = true;
    this.maybeSend();
  }

  ownConditions(conditions: NodeCondition[]): void {
    this.own = conditions;
    this.maybeSend();
  }

  listed(items: NodeFacts[]): void {
    const mine = items.find((n) => n.name === this.nodeName);
    this.released = true;
    if (mine) this.upsert(mine);
    else if (this.nodeState === 'present') this.deleted(this.node!);
    else this.maybeSend();
  }

  upsert(node: NodeFacts): void {
    if (node.name !== this.nodeName) return;
    this.node = node;
    this.nodeState = 'present';
    this.maybeSend();
  }

  deleted(node: NodeFacts): void {
    if (node.name !== this.nodeName || this.nodeState !== 'present') return;
    const last = node.uid ? node : this.node!;
    this.node = undefined;
    this.nodeState = 'deleted';
    if (!this.released || !this.announced || this.sent?.uid !== last.uid) return;
    const conditions = [...last.conditions, ...this.own];
    this.emit(this.change(last, conditions, timestampOf(this.now()), Action.ACTION_DELETE));
    this.announced = false;
    this.sent = undefined;
  }

  private maybeSend(): void {
    if (!this.released || this.nodeState === 'deleted') return;
    const node = this.nodeState === 'present' ? this.node : undefined;
    const conditions = [...(node?.conditions ?? []), ...this.own];
    // Nothing known at all (no Node, no own condition): nothing worth a message.
    if (!node && conditions.length === 0) return;
    const statuses = new Map(conditions.map((c) => [c.type, c.status]));
    const uid = node?.uid ?? '';
    const signature = JSON.stringify([uid, [...statuses].sort(([a], [b]) => (a < b ? -1 : a > b ? 1 : 0))]);
    if (signature === this.sent?.signature) return;
    const replaced = this.sent !== undefined && this.sent.uid !== '' && uid !== '' && this.sent.uid !== uid;
    const action = !this.announced || replaced ? Action.ACTION_CREATE : Action.ACTION_UPDATE;
    // When it happened: the newest transition among the conditions that changed; now when none says.
    let at = 0;
    for (const c of conditions) {
      if (action === Action.ACTION_UPDATE && this.sent?.statuses.get(c.type) === c.status) continue;
      at = Math.max(at, timestampMs(c.lastTransitionTime));
    }
    this.sent = { signature, statuses, uid };
    this.announced = true;
    this.emit(this.change(node, conditions, at > 0 ? timestampOf(at) : timestampOf(this.now()), action));
  }

  private change(node: NodeFacts | undefined, conditions: NodeCondition[], at: Timestamp, action: Action): NodeConditionChange {
    return {
      name: this.nodeName,
      uid: node?.uid ?? '',
      conditions: conditions.map((c) => ({ ...c })),
      internalIps: [...(node?.internalIps ?? [])],
      externalIps: [...(node?.externalIps ?? [])],
      hostname: node?.hostname ?? '',
      instanceType: node?.instanceType ?? '',
      zone: node?.zone ?? '',
      capacity: { ...node?.capacity },
      allocatable: { ...node?.allocatable },
      createdAt: node?.createdAt,
      conditionTimestamp: at,
      action,
    };
  }

  private emit(change: NodeConditionChange): void {
    this.lastChange = change;
    this.send(change);
  }
}
