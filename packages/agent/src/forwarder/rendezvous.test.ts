import assert from 'node:assert/strict';
import { test } from 'node:test';
import { rank } from './rendezvous.js';

const nodes = Array.from({ length: 3000 }, (_, i) => `ip-10-0-${Math.floor(i / 250)}-${i % 250}.ec2.internal`);
const replicas = (n: number) => Array.from({ length: n }, (_, i) => `10.1.0.${i + 1}:4800`);
const first = (n: number, list: string[]) => rank(n.toString(), list, (r) => r)[0]!;
const choice = (list: string[]) => new Map(nodes.map((n) => [n, rank(n, list, (r) => r)[0]!]));

test('every node ranks every replica, and the ranking does not depend on the order the replicas are listed in', () => {
  const list = replicas(5);
  for (const node of nodes.slice(0, 50)) {
    const a = rank(node, list, (r) => r);
    assert.deepEqual([...a].sort(), [...list].sort());
    assert.deepEqual(rank(node, [...list].reverse(), (r) => r), a);
  }
  assert.equal(first(1, ['a']), 'a');
});

test('nodes spread evenly over the replicas', () => {
  const counts = new Map<string, number>();
  for (const r of choice(replicas(3)).values()) counts.set(r, (counts.get(r) ?? 0) + 1);
  assert.equal(counts.size, 3);
  for (const n of counts.values()) assert.ok(n > 850 && n < 1150, `each replica should have about 1000 of 3000 nodes, got ${[...counts.values()]}`);
});

test('adding a replica moves only the nodes that now rank it first (about a quarter from three to four)', () => {
  const before = choice(replicas(3));
  const after = choice(replicas(4));
  let moved = 0;
  for (const [node, replica] of after) {
    if (before.get(node) === replica) continue;
    moved++;
    assert.equal(replica, '10.1.0.4:4800', 'a node that moves, moves to the new replica');
  }
  assert.ok(moved > 600 && moved < 900, `about 750 of 3000 nodes should move, ${moved} did`);
});

test('losing a replica moves only its nodes, each to its own second choice, spread over the others', () => {
  const before = choice(replicas(4));
  const lost = '10.1.0.2:4800';
  const after = choice(replicas(4).filter((r) => r !== lost));
  const landed = new Map<string, number>();
  for (const [node, replica] of before) {
    if (replica !== lost) assert.equal(after.get(node), replica, 'a node of a surviving replica stays');
    else landed.set(after.get(node)!, (landed.get(after.get(node)!) ?? 0) + 1);
  }
  assert.equal(landed.size, 3, "the lost replica's nodes spread over all three others");
});
