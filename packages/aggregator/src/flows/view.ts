// `kestrel-aggregator debug flows`: where flows come from (per node and source), the merge rate, the top talkers of
// the last bucket, what was lost upstream and dropped here, the pod IP index, Relay and the Istio access logs.
import { table } from '@kestrel/core';
import type { FlowsView } from './index.js';

export function renderFlows(result: unknown): string {
  const v = result as FlowsView;
  const m = v.merger;
  const lost = m.sources.reduce((n, s) => n + s.sourceLost, 0);
  const agentDropped = m.sources.reduce((n, s) => n + s.agentDropped, 0);
  const out = [
    `hubble mode ${m.hubbleMode} (counted at ${m.hubbleCountAt}${m.hubbleCountAt === 'destination' ? `, ${m.leftToDestination} egress entries left to the destination` : ''})  bucket ${m.bucketMs / 1000}s + grace ${m.graceMs / 1000}s  held ${m.conversationsHeld}/${m.maxConversations} conversations in ${m.openBuckets} buckets`,
    `raw flows ${m.rawFlows} (last bucket ${m.lastBucketRawPerSecond}/s)  flows sent ${m.flowsSent}  both ends merged ${m.bothEnds}  late windows ${m.lateWindows}  replays ${m.replayedWindows}  ignored (relay mode) ${m.ignoredWindows}`,
    `lost upstream: reported by the source ${lost}, dropped by agents ${agentDropped}`,
    `pod index ${v.podIndex.enabled ? `${v.podIndex.pods} pods, ${v.podIndex.ips} IPs, ${v.podIndex.synced ? 'synced' : 'not synced'} (${v.podIndex.state})` : 'off (no Kubernetes access: endpoints resolved by agents only)'}`,
    '',
    m.sources.length ? table(m.sources, ['node', 'source', 'windows', 'rawFlows', 'sourceLost', 'agentDropped', 'lastWindowAt']) : 'no flow windows received yet',
    '',
    m.topTalkers.length ? `top talkers (last bucket)\n${table(m.topTalkers, ['src', 'dst', 'port', 'protocol', 'allowed', 'direction', 'count'])}` : 'top talkers: no bucket sent yet',
  ];
  const r = v.relay;
  if ('address' in r) {
    out.push('', `relay ${r.address} tls ${r.tls ? 'on' : 'off'}  ${r.active ? r.state : 'standby (not the leader)'}  reconnects ${r.reconnects}  raw flows ${r.rawFlows}  lost ${r.lost}  skipped ${r.skipped}  dropped ${r.dropped}${r.lastError ? `  last error: ${r.lastError}` : ''}`);
  }
  const a = v.als;
  if ('listen' in a) {
    const dropped = Object.entries(a.dropped).map(([k, n]) => `${k}=${n}`).join(' ') || 'none';
    out.push(
      '',
      `istio access logs on ${a.listen} (${a.tls ? 'TLS' : 'plaintext'})  streams ${a.streamsOpen}  entries ${a.entries} (intermediate ${a.intermediate})  held ${a.recordsHeld}/${a.maxRecords}  sent ${a.recordsSent}  both sides ${a.bothSides}  dropped ${dropped}`,
    );
    if (a.reporters.length) out.push(table(a.reporters, ['nodeId', 'workload', 'entries', 'lastEntryAt']));
  } else {
    out.push('', `istio access logs: off (${a.reason})`);
  }
  return out.join('\n');
}
