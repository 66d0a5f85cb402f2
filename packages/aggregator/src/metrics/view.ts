// `kestrel-aggregator debug metrics`: the OTLP receiver, the store's size against its limits, and what was refused
// or evicted (the same counts as /metrics).
import type { MetricsView } from './index.js';

const counts = (c: Record<string, number>) => (Object.keys(c).length ? Object.entries(c).map(([k, v]) => `${k}=${v}`).join(' ') : 'none');

export function renderMetrics(result: unknown): string {
  const v = result as MetricsView | { enabled: false; reason: string };
  if ('enabled' in v) return `metrics receiver off: ${v.reason}`;
  const mib = (n: number) => `${(n / 1024 / 1024).toFixed(1)} MiB`;
  return [
    `OTLP receiver ${v.listen} (port ${v.port}, ${v.tls ? 'TLS' : 'plaintext'})`,
    `store: ${v.series}/${v.limits.maxSeries} series, ${v.points} points, ~${mib(v.estimatedBytes)} of ${mib(v.limits.maxBytes)}; retention ${v.limits.retentionMs / 60_000} min, ${v.limits.maxPointsPerSeries} points per series`,
    `pod index: ${v.podIndex.enabled ? `${v.podIndex.pods} pods${v.podIndex.synced ? '' : ' (syncing)'}` : 'off'}`,
    `data points refused: ${counts(v.rejected)}`,
    `series evicted: ${counts(v.seriesEvicted)}`,
    `points evicted: ${counts(v.pointsEvicted)}`,
  ].join('\n');
}
