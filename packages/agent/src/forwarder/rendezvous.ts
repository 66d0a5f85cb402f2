// Rendezvous (highest random weight) hashing: each node ranks every aggregator replica by hash(node, replica) and
// uses the first one that works. Every node computes the same ranking on its own, with no coordination; adding a
// replica moves only the nodes that rank it first (about 1/(n+1) of them), and removing one moves only its nodes,
// each to its own second choice, so the load of a lost replica spreads over all the others.
import { createHash } from 'node:crypto';

export interface Ranked<T> {
  item: T;
  weight: bigint;
}

/** The weight of (node, replica): 64 bits of SHA-256, so the ranking is the same on every node and every run. */
export function weight(node: string, replicaKey: string): bigint {
  return createHash('sha256').update(node).update('\0').update(replicaKey).digest().readBigUInt64BE(0);
}

/**
 * Replicas in this node's order of preference (highest weight first; ties, practically never, by key in code-unit
 * order: localeCompare would load ICU's collation data, a few MiB of RSS on every node).
 */
export function rank<T>(node: string, replicas: readonly T[], keyOf: (replica: T) => string): T[] {
  return replicas
    .map((item) => ({ item, key: keyOf(item), weight: weight(node, keyOf(item)) }))
    .sort((a, b) => (a.weight === b.weight ? (a.key < b.key ? -1 : a.key > b.key ? 1 : 0) : a.weight > b.weight ? -1 : 1))
    .map((r) => r.item);
}
