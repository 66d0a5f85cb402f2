// Optimistic concurrency on coordination.k8s.io Leases, which leader election is built on: of two updaters holding
// the same resourceVersion exactly one wins, the other gets 409 Conflict and must re-read.
import assert from 'node:assert/strict';
import { after, before, test } from 'node:test';
import type * as k8s from '@kubernetes/client-node';
import { startKubeApiServer, type KubeApiServer } from './running-server.js';
import { apiError, clientsFor, type Clients } from './test-support.js';

let server: KubeApiServer;
let c: Clients;

before(async () => {
  server = await startKubeApiServer();
  c = clientsFor(server);
  await c.core.createNamespace({ body: { metadata: { name: 'kestrel' } } });
});

after(async () => {
  await server.stop();
});

function lease(name: string, holder: string): k8s.V1Lease {
  return { metadata: { name, namespace: 'kestrel' }, spec: { holderIdentity: holder, leaseDurationSeconds: 15, acquireTime: new Date(), renewTime: new Date() } };
}

test('two updaters with the same resourceVersion: one succeeds, the other gets 409 Conflict', async () => {
  await c.coordination.createNamespacedLease({ namespace: 'kestrel', body: lease('race', 'nobody') });
  const seenByA = await c.coordination.readNamespacedLease({ namespace: 'kestrel', name: 'race' });
  const seenByB = await c.coordination.readNamespacedLease({ namespace: 'kestrel', name: 'race' });
  assert.equal(seenByA.metadata?.resourceVersion, seenByB.metadata?.resourceVersion);

  const won = await c.coordination.replaceNamespacedLease({ namespace: 'kestrel', name: 'race', body: { ...seenByA, spec: { ...seenByA.spec, holderIdentity: 'replica-a' } } });
  const lost = await apiError(() => c.coordination.replaceNamespacedLease({ namespace: 'kestrel', name: 'race', body: { ...seenByB, spec: { ...seenByB.spec, holderIdentity: 'replica-b' } } }));
  assert.equal(lost.code, 409);
  assert.equal(lost.status.reason, 'Conflict');
  assert.equal(lost.status.message, 'Operation cannot be fulfilled on leases.coordination.k8s.io "race": the object has been modified; please apply your changes to the latest version and try again');
  assert.deepEqual(lost.status.details, { name: 'race', group: 'coordination.k8s.io', kind: 'leases' });

  const now = await c.coordination.readNamespacedLease({ namespace: 'kestrel', name: 'race' });
  assert.equal(now.spec?.holderIdentity, 'replica-a');
  assert.equal(now.metadata?.resourceVersion, won.metadata?.resourceVersion);
});

test('two creators of the same Lease: one creates it, the other gets 409 AlreadyExists', async () => {
  const results = await Promise.allSettled([c.coordination.createNamespacedLease({ namespace: 'kestrel', body: lease('create-race', 'a') }), c.coordination.createNamespacedLease({ namespace: 'kestrel', body: lease('create-race', 'b') })]);
  assert.equal(results.filter((r) => r.status === 'fulfilled').length, 1);
  const rejected = results.find((r) => r.status === 'rejected') as PromiseRejectedResult;
  assert.equal((rejected.reason as { code: number }).code, 409);
});

test('concurrent acquire loops (read, then update with that resourceVersion): exactly one replica ends up holding the Lease', async () => {
  await c.coordination.createNamespacedLease({ namespace: 'kestrel', body: lease('leader', '') });
  const outcomes: Record<string, 'leader' | 'follower'> = {};
  // Each replica tries to take a free lease once per round; a 409 means someone else wrote first: re-read and see.
  const replica = async (id: string) => {
    for (let round = 0; round < 5; round++) {
      const current = await c.coordination.readNamespacedLease({ namespace: 'kestrel', name: 'leader' });
      if (current.spec?.holderIdentity && current.spec.holderIdentity !== id) {
        outcomes[id] = 'follower';
        return;
      }
      try {
        await c.coordination.replaceNamespacedLease({ namespace: 'kestrel', name: 'leader', body: { ...current, spec: { ...current.spec, holderIdentity: id, renewTime: new Date() } } });
        outcomes[id] = 'leader';
        return;
      } catch (err) {
        if ((err as { code?: number }).code !== 409) throw err;
      }
    }
  };
  await Promise.all(['r1', 'r2', 'r3', 'r4'].map(replica));
  const leaders = Object.entries(outcomes).filter(([, o]) => o === 'leader');
  assert.equal(leaders.length, 1, JSON.stringify(outcomes));
  const holder = (await c.coordination.readNamespacedLease({ namespace: 'kestrel', name: 'leader' })).spec?.holderIdentity;
  assert.equal(holder, leaders[0]![0]);
  assert.ok(server.audit.find({ resource: 'leases', verb: 'update' }).some((e) => e.code === 409), 'the race produced conflicts');
});
