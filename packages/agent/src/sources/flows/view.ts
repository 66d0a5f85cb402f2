// `kestrel-agent debug flows`: per source where it reads, its state, the rate of the last window, what was lost at
// the source and dropped by the agent (by reason), and the top talkers of the last window.
import { table } from '@kestrel/core';
import type { FlowsView } from './index.js';

export function renderFlows(result: unknown): string {
  const v = result as FlowsView;
  if (!v.enabled) return `node ${v.node}: no flow source is on (KESTREL_AGENT_FLOWS_HUBBLE / KESTREL_AGENT_FLOWS_VPC_CNI)`;
  const out = [`node ${v.node}  pods resolvable by IP ${v.podsResolvable} (pod watch ${v.podWatch})`];
  for (const s of v.sources) {
    const t = v.totals[s.source];
    const where = s.source === 'hubble' ? `${s.address}  ${s.state}${s.connectedSince ? ` since ${s.connectedSince}` : ''}  reconnects ${s.reconnects}${s.lastError ? `  last error: ${s.lastError}` : ''}` : `${s.path}  ${s.state}  at ${s.file ?? '-'}@${s.offset ?? '-'}  rotations ${s.rotations}`;
    const last = s.lastWindow;
    const dropped = Object.entries(t.dropped).map(([r, n]) => `${r} ${n}`).join(', ') || 'none';
    const lost = s.source === 'hubble' ? Object.entries(s.lostBySource).map(([r, n]) => `${r} ${n}`).join(', ') || 'none' : `${t.bytesLost} bytes of the log`;
    out.push(
      '',
      `${s.source}: ${where}`,
      `  rate ${last ? `${last.flowsPerSecond} flows/s (last window: ${last.rawFlows} flows in ${last.conversations} conversations, at ${last.at})` : '- (no window yet)'}`,
      `  total ${t.raw} flows counted, windows ${t.windowsSent} sent / ${t.windowsAcked} acknowledged, ${s.unacknowledgedWindows} waiting; open window ${s.openRawFlows} flows in ${s.openConversations} conversations`,
      `  lost at the source: ${lost}`,
      `  dropped by the agent: ${dropped}`,
      `  skipped (not flows): ${Object.entries(t.skipped).map(([r, n]) => `${r} ${n}`).join(', ') || 'none'}`,
    );
    if (s.topTalkers.length > 0) out.push('  top talkers (last window):', table(s.topTalkers.map((f) => ({ ...f, allowed: f.allowed ? 'yes' : 'no' })), ['src', 'dst', 'port', 'protocol', 'direction', 'allowed', 'count']).replace(/^/gm, '    '));
  }
  return out.join('\n');
}
