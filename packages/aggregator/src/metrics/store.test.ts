import assert from 'node:assert/strict';
import { test } from 'node:test';
import { MetricsStore, NO_CONTEXT, type SeriesMeta, type StoreLimits, type StoreObserver } from './store.js';

const meta = (name: string): SeriesMeta => ({ name, description: '', unit: '', kind: 'gauge', temporality: 0, monotonic: false, scopeName: '', scopeVersion: '' });

function recorder(): StoreObserver & { series: Record<string, number>; points: Record<string, number> } {
  const r = {
    series: {} as Record<string, number>,
    points: {} as Record<string, number>,
    seriesEvicted(reason: string) {
      r.series[reason] = (r.series[reason] ?? 0) + 1;
    },
    pointsDropped(reason: string, n: number) {
      r.points[reason] = (r.points[reason] ?? 0) + n;
    },
  };
  return r;
}

function store(limits: Partial<StoreLimits>, now: { t: number }) {
  const obs = recorder();
  const s = new MetricsStore({ retentionMs: 60_000, maxSeries: 100, maxPointsPerSeries: 5, maxBytes: 1e9, maxFutureSkewMs: 10_000, ...limits }, obs, () => now.t);
  return { s, obs };
}

test('a new series beyond maxSeries evicts the least recently WRITTEN series, and counts it', () => {
  const now = { t: 1_000_000 };
  const { s, obs } = store({ maxSeries: 2 }, now);
  s.write(meta('a'), NO_CONTEXT, {}, { timeMs: now.t, startMs: 0, value: 1 });
  s.write(meta('b'), NO_CONTEXT, {}, { timeMs: now.t, startMs: 0, value: 1 });
  // a is written again: b is now the least recently written.
  s.write(meta('a'), NO_CONTEXT, {}, { timeMs: now.t + 1, startMs: 0, value: 2 });
  s.write(meta('c'), NO_CONTEXT, {}, { timeMs: now.t, startMs: 0, value: 1 });
  assert.deepEqual([...s.all()].map((x) => x.name).sort(), ['a', 'c']);
  assert.deepEqual(obs.series, { max_series: 1 });
});

test('the byte budget evicts least recently written series too', () => {
  const now = { t: 1_000_000 };
  const { s, obs } = store({ maxBytes: 3000 }, now);
  for (let i = 0; i < 20; i++) s.write(meta(`m${i}`), NO_CONTEXT, { pod: `p${i}` }, { timeMs: now.t, startMs: 0, value: i });
  assert.ok(s.estimatedBytes <= 3000, `estimated ${s.estimatedBytes}`);
  assert.ok(s.seriesCount < 20 && s.seriesCount > 0);
  assert.equal(obs.series['max_bytes'], 20 - s.seriesCount);
  assert.equal([...s.all()].at(-1)!.name, 'm19', 'the newest series stays');
});

test('out-of-order points are kept in time order; a repeated timestamp replaces the point', () => {
  const now = { t: 1_000_000 };
  const { s } = store({}, now);
  for (const [t, v] of [[30, 3], [10, 1], [20, 2], [20, 22]] as const) s.write(meta('x'), NO_CONTEXT, {}, { timeMs: now.t - 1000 + t, startMs: 0, value: v });
  const [series] = [...s.all()];
  assert.deepEqual(series!.points.map((p) => p.value), [1, 22, 3]);
  assert.equal(s.pointCount, 3);
});

test('a full series drops its oldest point for a newer one, counted as points_per_series', () => {
  const now = { t: 1_000_000 };
  const { s, obs } = store({ maxPointsPerSeries: 3 }, now);
  for (let i = 0; i < 5; i++) s.write(meta('x'), NO_CONTEXT, {}, { timeMs: now.t - 100 + i, startMs: 0, value: i });
  assert.deepEqual([...s.all()][0]!.points.map((p) => p.value), [2, 3, 4]);
  assert.deepEqual(obs.points, { points_per_series: 2 });
  assert.equal(s.pointCount, 3);
});

test('points outside the retention window or too far ahead are refused; the sweep expires old points and empty series', () => {
  const now = { t: 1_000_000 };
  const { s, obs } = store({ retentionMs: 60_000, maxFutureSkewMs: 5_000 }, now);
  assert.equal(s.write(meta('x'), NO_CONTEXT, {}, { timeMs: now.t - 61_000, startMs: 0, value: 1 }), 'too_old');
  assert.equal(s.write(meta('x'), NO_CONTEXT, {}, { timeMs: now.t + 6_000, startMs: 0, value: 1 }), 'in_future');
  assert.equal(s.write(meta('x'), NO_CONTEXT, {}, { timeMs: 0, startMs: 0, value: 1 }), 'no_timestamp');
  assert.equal(s.seriesCount, 0);
  s.write(meta('x'), NO_CONTEXT, {}, { timeMs: now.t - 50_000, startMs: 0, value: 1 });
  s.write(meta('x'), NO_CONTEXT, {}, { timeMs: now.t, startMs: 0, value: 2 });
  s.write(meta('y'), NO_CONTEXT, {}, { timeMs: now.t - 50_000, startMs: 0, value: 1 });
  now.t += 20_000;
  s.sweep();
  assert.deepEqual([...s.all()].map((x) => [x.name, x.points.map((p) => p.value)]), [['x', [2]]]);
  assert.deepEqual(obs.series, { expired: 1 });
  assert.deepEqual(obs.points, { expired: 1 });
  assert.equal(s.pointCount, 1);
});

test('series differ by attributes and Kubernetes context, not by attribute order', () => {
  const now = { t: 1_000_000 };
  const { s } = store({}, now);
  const p = { timeMs: now.t, startMs: 0, value: 1 };
  s.write(meta('x'), NO_CONTEXT, { a: '1', b: '2' }, p);
  s.write(meta('x'), NO_CONTEXT, { b: '2', a: '1' }, { ...p, timeMs: now.t + 1 });
  s.write(meta('x'), { ...NO_CONTEXT, podName: 'p1' }, { a: '1', b: '2' }, p);
  assert.equal(s.seriesCount, 2);
});
