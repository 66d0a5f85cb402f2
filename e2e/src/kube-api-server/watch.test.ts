// Watches and informers of the real @kubernetes/client-node against the test server: replay from a
// resourceVersion, selectors on events, bookmarks, timeouts, 410 Gone and dropped connections — and that an informer
// keeps a cache equal to the server's through all of them, seeing each change exactly once.
import assert from 'node:assert/strict';
import { after, before, test } from 'node:test';
import * as k8s from '@kubernetes/client-node';
import { startKubeApiServer, type KubeApiServer } from './running-server.js';
import { clientsFor, mergePatch, pod, waitFor, type Clients } from './test-support.js';

let server: KubeApiServer;
let c: Clients;

before(async () => {
  server = await startKubeApiServer({ bookmarkIntervalMs: 150 });
  c = clientsFor(server);
});

after(async () => {
  await server.stop();
});

interface Seen {
  type: string;
  name: string;
  rv: string;
  object: k8s.KubernetesObject & Record<string, unknown>;
}

/** Opens a client-node Watch and collects its events until stopped. */
async function watch(path: string, query: Record<string, string | number | boolean>) {
  const events: Seen[] = [];
  let ended: unknown = 'open';
  const controller = await new k8s.Watch(c.kc).watch(
    path,
    query,
    (type, object: k8s.KubernetesObject & Record<string, unknown>) => events.push({ type, name: object.metadata?.name ?? '', rv: object.metadata?.resourceVersion ?? '', object }),
    (err) => {
      ended = err ?? null;
    },
  );
  return { events, controller, ended: () => ended };
}

async function namespace(name: string) {
  await c.core.createNamespace({ body: { metadata: { name } } });
}

test('a watch from a list\'s resourceVersion replays exactly the later changes, then follows live ones', async () => {
  await namespace('replay');
  await c.core.createNamespacedConfigMap({ namespace: 'replay', body: { metadata: { name: 'before' } } });
  const list = await c.core.listNamespacedConfigMap({ namespace: 'replay' });
  await c.core.createNamespacedConfigMap({ namespace: 'replay', body: { metadata: { name: 'a' } } });
  await c.core.patchNamespacedConfigMap({ namespace: 'replay', name: 'before', body: { data: { x: '1' } } }, mergePatch);
  await c.core.createNamespacedConfigMap({ namespace: 'other', body: { metadata: { name: 'elsewhere' } } }).catch(() => undefined);
  const w = await watch('/api/v1/namespaces/replay/configmaps', { resourceVersion: list.metadata!.resourceVersion! });
  await waitFor('replayed events', () => w.events.length >= 2);
  await c.core.deleteNamespacedConfigMap({ namespace: 'replay', name: 'a' });
  await waitFor('live delete', () => w.events.length >= 3);
  assert.equal(server.openWatches(), 1);
  w.controller.abort();
  await waitFor('the server to see the client go', () => server.openWatches() === 0);
  assert.deepEqual(w.events.map((e) => [e.type, e.name]), [['ADDED', 'a'], ['MODIFIED', 'before'], ['DELETED', 'a']]);
  const rvs = w.events.map((e) => Number(e.rv));
  assert.deepEqual([...rvs].sort((x, y) => x - y), rvs, 'events come in resourceVersion order');
  assert.ok(rvs[0]! > Number(list.metadata!.resourceVersion));
  assert.equal(w.events[0]!.object.kind, 'ConfigMap', 'watch event objects carry kind and apiVersion');
});

test('a watch without a resourceVersion starts with the current objects as ADDED', async () => {
  await namespace('initial');
  for (const name of ['x', 'y']) await c.core.createNamespacedConfigMap({ namespace: 'initial', body: { metadata: { name } } });
  const w = await watch('/api/v1/namespaces/initial/configmaps', {});
  await waitFor('initial state', () => w.events.length >= 2);
  w.controller.abort();
  assert.deepEqual(w.events.map((e) => [e.type, e.name]), [['ADDED', 'x'], ['ADDED', 'y']]);
});

test('selectors apply to watch events: an object that stops matching is DELETED, one that starts matching is ADDED', async () => {
  await namespace('transitions');
  await c.core.createNamespacedPod({ namespace: 'transitions', body: pod('p', 'transitions', { labels: { app: 'web' } }) });
  const start = server.resourceVersion();
  const w = await watch('/api/v1/namespaces/transitions/pods', { resourceVersion: start, labelSelector: 'app=web' });
  await c.core.patchNamespacedPod({ namespace: 'transitions', name: 'p', body: { metadata: { labels: { app: 'api' } } } }, mergePatch);
  await c.core.patchNamespacedPod({ namespace: 'transitions', name: 'p', body: { metadata: { annotations: { unseen: 'yes' } } } }, mergePatch);
  await c.core.patchNamespacedPod({ namespace: 'transitions', name: 'p', body: { metadata: { labels: { app: 'web' } } } }, mergePatch);
  await waitFor('two transitions', () => w.events.length >= 2);
  w.controller.abort();
  assert.deepEqual(w.events.map((e) => e.type), ['DELETED', 'ADDED']);
  const deleted = w.events[0]!.object as k8s.V1Pod;
  assert.equal(deleted.metadata?.labels?.['app'], 'web', 'the DELETED event carries the last matching state');
  assert.equal(Number(deleted.metadata?.resourceVersion), Number(start) + 1, '... at the resourceVersion of the change');
});

test('bookmarks carry the current resourceVersion, so a quiet watch can resume without replaying', async () => {
  await namespace('bookmarks');
  const w = await watch('/api/v1/namespaces/bookmarks/pods', { resourceVersion: server.resourceVersion(), allowWatchBookmarks: true });
  await c.core.createNamespacedConfigMap({ namespace: 'bookmarks', body: { metadata: { name: 'elsewhere' } } });
  const rv = Number(server.resourceVersion());
  const bookmark = await waitFor('a bookmark', () => w.events.find((e) => e.type === 'BOOKMARK' && Number(e.rv) >= rv));
  w.controller.abort();
  assert.equal(bookmark.object.kind, 'Pod');
  assert.equal(bookmark.object.apiVersion, 'v1');
  const plain = await watch('/api/v1/namespaces/bookmarks/pods', { resourceVersion: server.resourceVersion() });
  await new Promise((r) => setTimeout(r, 400));
  plain.controller.abort();
  assert.equal(plain.events.length, 0, 'no bookmarks unless asked for');
});

test('timeoutSeconds ends the stream cleanly', async () => {
  const started = Date.now();
  const w = await watch('/api/v1/namespaces/default/pods', { resourceVersion: server.resourceVersion(), timeoutSeconds: 1 });
  await waitFor('the end of the stream', () => w.ended() !== 'open', 5000);
  assert.equal(w.ended(), null, 'a clean end, not an error');
  assert.ok(Date.now() - started >= 900);
});

test('a resourceVersion older than the history: one ERROR event with a 410 Expired Status, then the stream ends', async () => {
  await namespace('expired');
  const old = server.resourceVersion();
  await c.core.createNamespacedConfigMap({ namespace: 'expired', body: { metadata: { name: 'new' } } });
  server.compact('configmaps');
  const w = await watch('/api/v1/namespaces/expired/configmaps', { resourceVersion: old });
  await waitFor('the end of the stream', () => w.ended() !== 'open');
  assert.deepEqual(w.events.map((e) => e.type), ['ERROR']);
  const status = w.events[0]!.object as unknown as { kind: string; code: number; reason: string; message: string };
  assert.equal(status.kind, 'Status');
  assert.equal(status.code, 410);
  assert.equal(status.reason, 'Expired');
  assert.match(status.message, /^too old resource version: \d+ \(\d+\)$/);
});

test('a streaming list (sendInitialEvents) sends the state, then a bookmark marking its end', async () => {
  await namespace('streaming');
  await c.core.createNamespacedConfigMap({ namespace: 'streaming', body: { metadata: { name: 's1' } } });
  const w = await watch('/api/v1/namespaces/streaming/configmaps', { sendInitialEvents: true, resourceVersionMatch: 'NotOlderThan', allowWatchBookmarks: true });
  const end = await waitFor('initial-events-end', () => w.events.find((e) => e.type === 'BOOKMARK'));
  w.controller.abort();
  assert.deepEqual(w.events.slice(0, 2).map((e) => e.type), ['ADDED', 'BOOKMARK']);
  assert.equal((end.object.metadata as k8s.V1ObjectMeta).annotations?.['k8s.io/initial-events-end'], 'true');
});

test('events written through core/v1 are watched through events.k8s.io/v1 in that version\'s shape', async () => {
  await namespace('event-watch');
  const w = await watch('/apis/events.k8s.io/v1/namespaces/event-watch/events', { resourceVersion: server.resourceVersion() });
  await c.core.createNamespacedEvent({ namespace: 'event-watch', body: { metadata: { name: 'e' }, involvedObject: { kind: 'Node', name: 'n1' }, reason: 'NodeNotReady', message: 'not ready', type: 'Normal' } });
  const seen = await waitFor('the event', () => w.events[0]);
  w.controller.abort();
  assert.equal(seen.object.apiVersion, 'events.k8s.io/v1');
  assert.equal(seen.object['note'], 'not ready');
  assert.deepEqual(seen.object['regarding'], { kind: 'Node', name: 'n1' });
});

interface InformerLog {
  informer: k8s.Informer<k8s.V1ConfigMap> & k8s.ObjectCache<k8s.V1ConfigMap>;
  log: string[];
  errors: unknown[];
}

function configMapInformer(ns: string): InformerLog {
  const informer = k8s.makeInformer(c.kc, `/api/v1/namespaces/${ns}/configmaps`, () => c.core.listNamespacedConfigMap({ namespace: ns }));
  const log: string[] = [];
  const errors: unknown[] = [];
  informer.on('add', (o) => log.push(`add ${o.metadata?.name}`));
  informer.on('update', (o) => log.push(`update ${o.metadata?.name} ${o.data?.['v'] ?? ''}`));
  informer.on('delete', (o) => log.push(`delete ${o.metadata?.name}`));
  informer.on('error', (err) => errors.push(err));
  return { informer, log, errors };
}

/** The informer's cache, as name@resourceVersion, against the server's list. */
function cacheMatchesServer(informer: InformerLog['informer'], ns: string): boolean {
  // Read in-process, so that this check's own reads do not count as the informer's lists.
  const stored = server
    .list('v1', 'ConfigMap', { namespace: ns })
    .map((i) => `${i.metadata.name}@${i.metadata.resourceVersion}`)
    .sort();
  const cache = informer
    .list(ns)
    .map((i) => `${i.metadata?.name}@${i.metadata?.resourceVersion}`)
    .sort();
  return JSON.stringify(stored) === JSON.stringify(cache);
}

/**
 * Changes made in the same tick as the drop (in-process, no await): the client cannot have re-watched before them,
 * whatever the machine's load.
 */
function changeWhileDisconnected(ns: string): void {
  server.create({ apiVersion: 'v1', kind: 'ConfigMap', metadata: { name: 'c', namespace: ns } });
  const a = server.get('v1', 'ConfigMap', 'a', ns)!;
  server.update({ ...a, data: { v: '2' } });
  server.delete('v1', 'ConfigMap', 'b', ns);
}

test('an informer sees add, update and delete, and its cache equals the server\'s list', async () => {
  await namespace('informer');
  await c.core.createNamespacedConfigMap({ namespace: 'informer', body: { metadata: { name: 'first' } } });
  const { informer, log } = configMapInformer('informer');
  await informer.start();
  await c.core.createNamespacedConfigMap({ namespace: 'informer', body: { metadata: { name: 'second' } } });
  await c.core.patchNamespacedConfigMap({ namespace: 'informer', name: 'first', body: { data: { v: '1' } } }, mergePatch);
  await c.core.deleteNamespacedConfigMap({ namespace: 'informer', name: 'second' });
  await waitFor('all changes', () => log.length >= 4);
  await informer.stop();
  assert.deepEqual(log, ['add first', 'add second', 'update first 1', 'delete second']);
  assert.ok(cacheMatchesServer(informer, 'informer'));
});

test('410 Gone: the informer relists and sees every change made meanwhile exactly once', async () => {
  await namespace('relist');
  for (const name of ['a', 'b']) await c.core.createNamespacedConfigMap({ namespace: 'relist', body: { metadata: { name }, data: { v: '1' } } });
  const { informer, log, errors } = configMapInformer('relist');
  await informer.start();
  await waitFor('initial list', () => log.length === 2);
  const lists = server.audit.count('list', 'configmaps');

  // While the informer is disconnected, the history it would resume from changes and is compacted away.
  assert.ok(server.dropWatches() >= 1);
  changeWhileDisconnected('relist');
  server.compact('configmaps');

  await waitFor('the relist to catch up', () => log.length >= 5 && cacheMatchesServer(informer, 'relist'), 10_000);
  await c.core.createNamespacedConfigMap({ namespace: 'relist', body: { metadata: { name: 'after' } } });
  await waitFor('the watch after the relist', () => log.includes('add after'));
  await informer.stop();
  // A relist reports what disappeared first, then the listed objects in key order (client-node's ListWatch).
  assert.deepEqual(log, ['add a', 'add b', 'delete b', 'update a 2', 'add c', 'add after']);
  assert.equal(server.audit.count('list', 'configmaps') - lists, 1, 'exactly one relist');
  assert.deepEqual(errors, []);
});

test('a dropped watch (no compaction): the informer resumes from its resourceVersion, misses nothing, does not relist', async () => {
  await namespace('resume');
  for (const name of ['a', 'b']) await c.core.createNamespacedConfigMap({ namespace: 'resume', body: { metadata: { name }, data: { v: '1' } } });
  const { informer, log, errors } = configMapInformer('resume');
  await informer.start();
  await waitFor('initial list', () => log.length === 2);
  const lists = server.audit.count('list', 'configmaps');
  assert.ok(server.dropWatches() >= 1);
  changeWhileDisconnected('resume');
  await waitFor('catching up', () => log.length >= 5 && cacheMatchesServer(informer, 'resume'));
  await informer.stop();
  assert.deepEqual(log, ['add a', 'add b', 'add c', 'update a 2', 'delete b']);
  assert.equal(server.audit.count('list', 'configmaps'), lists, 'no relist: the watch resumed from its resourceVersion');
  assert.deepEqual(errors, []);
});

test('an abruptly reset watch is an error for client-node\'s ListWatch, which then stops (the product must restart it)', async () => {
  await namespace('reset');
  const { informer, errors } = configMapInformer('reset');
  await informer.start();
  await waitFor('the watch to open', () => server.openWatches() >= 1);
  server.dropWatches(true);
  await waitFor('the error callback', () => errors.length === 1);
  await informer.stop();
});

test('an informer on pods with the field selector spec.nodeName sees only its node\'s pods', async () => {
  await namespace('nodes');
  await c.core.createNamespacedPod({ namespace: 'nodes', body: pod('mine-1', 'nodes', { node: 'node-a' }) });
  await c.core.createNamespacedPod({ namespace: 'nodes', body: pod('theirs-1', 'nodes', { node: 'node-b' }) });
  const informer = new k8s.ListWatch<k8s.V1Pod>(
    '/api/v1/pods',
    new k8s.Watch(c.kc),
    () => c.core.listPodForAllNamespaces({ fieldSelector: 'spec.nodeName=node-a' }),
    false,
    undefined,
    'spec.nodeName=node-a',
  );
  const log: string[] = [];
  informer.on('add', (p) => log.push(`add ${p.metadata?.name}`));
  informer.on('delete', (p) => log.push(`delete ${p.metadata?.name}`));
  await informer.start();
  await c.core.createNamespacedPod({ namespace: 'nodes', body: pod('theirs-2', 'nodes', { node: 'node-b' }) });
  await c.core.createNamespacedPod({ namespace: 'nodes', body: pod('mine-2', 'nodes', { node: 'node-a' }) });
  await c.core.deleteNamespacedPod({ namespace: 'nodes', name: 'mine-1' });
  await waitFor('the node\'s changes', () => log.length >= 3);
  await informer.stop();
  assert.deepEqual(log, ['add mine-1', 'add mine-2', 'delete mine-1']);
  assert.deepEqual(informer.list().map((p) => p.metadata?.name), ['mine-2']);
  const watches = server.audit.find({ verb: 'watch', resource: 'pods' }).filter((e) => e.path === '/api/v1/pods');
  assert.ok(watches.length >= 1);
  assert.ok(watches.every((e) => e.query.includes('fieldSelector=spec.nodeName%3Dnode-a')));
});
