// `kestrel-aggregator debug cluster`: leader election, informers (reflectors) with their sync state and counts.
import { table } from '@kestrel/core';
import type { ClusterView } from '../cluster/run.js';

export function renderCluster(result: unknown): string {
  const v = result as ClusterView | { enabled: false; reason: string };
  if ('enabled' in v) return `cluster watch off: ${v.reason}`;
  return [
    `identity ${v.identity}  ${v.leader ? `LEADER since ${v.leaderSince}` : `follower (leader: ${v.currentHolder ?? 'none'})`}${v.lastLeaseError ? `  lease error: ${v.lastLeaseError}` : ''}`,
    `informers synced ${v.informersSynced}/${v.informersTotal}  inventory commits ${v.commits} (last ${v.lastCommitAt ?? '-'})  watermarks ${JSON.stringify(v.watermarks)}`,
    '',
    v.reflectors.length ? table(v.reflectors, ['resource', 'state', 'synced', 'objects', 'relists', 'resourceVersion', 'lastError']) : 'no informers (not leading)',
  ].join('\n');
}
