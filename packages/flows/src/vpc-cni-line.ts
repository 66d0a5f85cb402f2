// One line of the AWS network policy agent's log (/var/log/aws-routed-eni/network-policy-agent.log): a flow record
// ("msg":"Flow Info: ") becomes a RawFlow without endpoints (the node resolves them); the agent's own log lines are
// skipped; a flow record that is not what the format says is an error with a reason. Facts:
// ../shared/protocols/node-files.md.
//
// EXPIRED / DELETED verdicts are connection-tracking entries going away, not traffic: counting them would count a
// conversation twice, so they are skipped (counted by reason).
import type { RawFlow } from './raw-flow.js';

export type VpcCniSkipReason = 'not_flow' | 'conntrack_end';
export type VpcCniErrorReason = 'not_json' | 'bad_time' | 'bad_address' | 'bad_port' | 'bad_verdict';

export type VpcCniLine = { kind: 'flow'; flow: RawFlow } | { kind: 'skip'; reason: VpcCniSkipReason } | { kind: 'error'; reason: VpcCniErrorReason };

const PROTOCOLS = new Set(['TCP', 'UDP', 'ICMP', 'SCTP', 'UNKNOWN']);

function time(v: unknown): { seconds: number; nanos: number } | undefined {
  let ms: number;
  if (typeof v === 'string') ms = Date.parse(v);
  else if (typeof v === 'number') ms = v * 1000; // zap's epoch-seconds encoder
  else return undefined;
  if (!Number.isFinite(ms)) return undefined;
  const whole = Math.floor(ms);
  return { seconds: Math.floor(whole / 1000), nanos: (whole % 1000) * 1_000_000 };
}

function port(v: unknown): number | undefined {
  const n = typeof v === 'number' ? v : typeof v === 'string' && v.trim() !== '' ? Number(v) : NaN;
  return Number.isInteger(n) && n >= 0 && n <= 65535 ? n : undefined;
}

export function parseVpcCniLine(line: string): VpcCniLine {
  // Cheap test first: most lines of a busy file are flows, but the agent's own lines must not cost a JSON parse.
  if (!line.includes('Flow Info')) return { kind: 'skip', reason: 'not_flow' };
  let o: Record<string, unknown>;
  try {
    const parsed: unknown = JSON.parse(line);
    if (typeof parsed !== 'object' || parsed === null || Array.isArray(parsed)) return { kind: 'error', reason: 'not_json' };
    o = parsed as Record<string, unknown>;
  } catch {
    return { kind: 'error', reason: 'not_json' };
  }
  if (typeof o['msg'] !== 'string' || !o['msg'].startsWith('Flow Info')) return { kind: 'skip', reason: 'not_flow' };
  const verdict = o['Verdict'];
  if (verdict === 'EXPIRED' || verdict === 'DELETED' || verdict === 'EXPIRED/DELETED') return { kind: 'skip', reason: 'conntrack_end' };
  if (verdict !== 'ACCEPT' && verdict !== 'DENY') return { kind: 'error', reason: 'bad_verdict' };
  const t = time(o['ts'] ?? o['timestamp']);
  if (!t) return { kind: 'error', reason: 'bad_time' };
  const srcIp = o['Src IP'];
  const dstIp = o['Dest IP'];
  if (typeof srcIp !== 'string' || !srcIp || typeof dstIp !== 'string' || !dstIp) return { kind: 'error', reason: 'bad_address' };
  const proto = typeof o['Proto'] === 'string' && PROTOCOLS.has(o['Proto']) ? o['Proto'] : 'UNKNOWN';
  const dstPort = proto === 'ICMP' ? 0 : port(o['Dest Port']);
  if (dstPort === undefined) return { kind: 'error', reason: 'bad_port' };
  return {
    kind: 'flow',
    flow: {
      seconds: t.seconds,
      nanos: t.nanos,
      srcIp,
      dstIp,
      src: undefined,
      dst: undefined,
      port: dstPort,
      protocol: proto,
      verdict,
      allowed: verdict === 'ACCEPT',
      direction: '',
    },
  };
}
