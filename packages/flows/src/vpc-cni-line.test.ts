import assert from 'node:assert/strict';
import fs from 'node:fs';
import { test } from 'node:test';
import { parseVpcCniLine } from './vpc-cni-line.js';

const sample = fs.readFileSync(new URL('../src/testdata/network-policy-agent.log', import.meta.url), 'utf8').split('\n').filter((l) => l !== '');

test('every line of a real network-policy-agent log is a flow, a skip or an error with its reason', () => {
  const results = sample.map(parseVpcCniLine);
  assert.deepEqual(
    results.map((r) => (r.kind === 'flow' ? `flow ${r.flow.srcIp}>${r.flow.dstIp}:${r.flow.port}/${r.flow.protocol} ${r.flow.verdict} ${r.flow.allowed}` : `${r.kind} ${r.reason}`)),
    [
      'skip not_flow',
      'flow 10.0.141.167>172.20.0.10:53/TCP ACCEPT true',
      'flow 10.0.141.167>172.20.0.10:53/UDP ACCEPT true',
      'flow 10.0.7.9>10.0.141.167:8080/TCP DENY false',
      'skip conntrack_end',
      'flow 10.0.141.167>10.0.7.9:0/ICMP ACCEPT true',
      'skip not_flow',
      'error bad_port',
      'error not_json',
    ],
  );
});

test('a flow keeps the agent\'s timestamp to the millisecond, from ts or the older timestamp field', () => {
  const a = parseVpcCniLine(sample[1]!);
  assert.equal(a.kind, 'flow');
  if (a.kind === 'flow') assert.deepEqual([a.flow.seconds, a.flow.nanos], [Date.parse('2024-09-23T12:36:53Z') / 1000, 562_000_000]);
  const b = parseVpcCniLine(sample[5]!);
  if (b.kind !== 'flow') assert.fail('older timestamp field not read');
  assert.deepEqual([b.flow.seconds, b.flow.nanos], [Date.parse('2024-09-23T12:36:56Z') / 1000, 250_000_000]);
});

test('a flow line with an unknown verdict or no address is an error, not a guess', () => {
  assert.deepEqual(parseVpcCniLine('{"msg":"Flow Info: ","ts":"2024-09-23T12:36:53.562Z","Src IP":"10.0.0.1","Dest IP":"10.0.0.2","Dest Port":1,"Proto":"TCP","Verdict":"MAYBE"}'), { kind: 'error', reason: 'bad_verdict' });
  assert.deepEqual(parseVpcCniLine('{"msg":"Flow Info: ","ts":"2024-09-23T12:36:53.562Z","Dest IP":"10.0.0.2","Dest Port":1,"Proto":"TCP","Verdict":"ACCEPT"}'), { kind: 'error', reason: 'bad_address' });
  assert.deepEqual(parseVpcCniLine('{"msg":"Flow Info: ","ts":"yesterday","Src IP":"10.0.0.1","Dest IP":"10.0.0.2","Dest Port":1,"Proto":"TCP","Verdict":"ACCEPT"}'), { kind: 'error', reason: 'bad_time' });
});
