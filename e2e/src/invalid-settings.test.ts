// A process started with a bad setting must stop at once with one line that names the setting.
import assert from 'node:assert/strict';
import { test } from 'node:test';
import { runToEnd } from './harness/process.js';
import { programs } from './harness/repo.js';

const agentBase = {
  KESTREL_AGENT_AGGREGATOR_ADDRESS: '127.0.0.1:4800',
  KESTREL_AGENT_TLS_CERT_FILE: '/nonexistent/agent.crt',
  KESTREL_AGENT_TLS_KEY_FILE: '/nonexistent/agent.key',
  KESTREL_AGENT_TLS_CA_FILE: '/nonexistent/ca.crt',
};

/** The aggregator's required file settings (only checked for existence after the settings themselves). */
const aggregatorFiles = Object.fromEntries(
  ['INGEST_TLS_CERT_FILE', 'INGEST_TLS_KEY_FILE', 'INGEST_TLS_CA_FILE', 'CLOUD_CERT_FILE', 'CLOUD_KEY_FILE', 'CLOUD_CA_FILE', 'CLOUD_TOKEN_FILE'].map((k) => [`KESTREL_AGGREGATOR_${k}`, '/nonexistent/file']),
);

const cases: { name: string; program: string; args: string[]; env: Record<string, string>; line: RegExp }[] = [
  {
    name: 'agent with a duration that is not one',
    program: programs.agent,
    args: [],
    env: { ...agentBase, KESTREL_AGENT_SCAN_INTERVAL: 'soon' },
    line: /^invalid setting KESTREL_AGENT_SCAN_INTERVAL \/ --scan-interval: expected a duration such as 250ms, 30s, 5m or 24h \(got "soon"\)$/,
  },
  {
    name: 'agent without an aggregator address',
    program: programs.agent,
    args: [],
    env: { ...agentBase, KESTREL_AGENT_AGGREGATOR_ADDRESS: '' },
    line: /^invalid setting KESTREL_AGENT_AGGREGATOR_ADDRESS \/ --aggregator-address: required but not set$/,
  },
  {
    name: 'agent with an unknown flag',
    program: programs.agent,
    args: ['--log-rot', '/tmp'],
    env: agentBase,
    line: /^invalid setting --log-rot: unknown flag; known flags: .*--log-root/,
  },
  {
    name: 'agent whose TLS files do not exist',
    program: programs.agent,
    args: [],
    env: agentBase,
    line: /^invalid setting KESTREL_AGENT_TLS_CERT_FILE \/ --tls-cert-file: cannot read certificate \/nonexistent\/agent.crt \(ENOENT\)$/,
  },
  {
    name: 'aggregator with a listen address without a port',
    program: programs.aggregator,
    args: ['--ingest-listen', '0.0.0.0'],
    env: {},
    line: /^invalid setting KESTREL_AGGREGATOR_INGEST_LISTEN \/ --ingest-listen: expected host:port, e.g. 127.0.0.1:8443 \(got "0.0.0.0"\)$/,
  },
  {
    name: 'aggregator with a message size that is not a size',
    program: programs.aggregator,
    args: ['--logs-max-message-size', 'big'],
    env: {},
    line: /^invalid setting KESTREL_AGGREGATOR_LOGS_MAX_MESSAGE_SIZE \/ --logs-max-message-size: expected a size/,
  },
  {
    name: 'aggregator with agentAuth=token but no Kubernetes access',
    program: programs.aggregator,
    args: ['--agent-auth', 'token', '--kubernetes-namespace', 'kestrel'],
    env: aggregatorFiles,
    line: /^invalid setting KESTREL_AGGREGATOR_AGENT_AUTH \/ --agent-auth: token needs Kubernetes access to review agents' tokens \(run in a cluster or set KESTREL_AGGREGATOR_KUBECONFIG \/ --kubeconfig\)$/,
  },
  {
    name: 'aggregator with an agentAuth that is not a choice',
    program: programs.aggregator,
    args: [],
    env: { ...aggregatorFiles, KESTREL_AGGREGATOR_AGENT_AUTH: 'password' },
    line: /^invalid setting KESTREL_AGGREGATOR_AGENT_AUTH \/ --agent-auth: expected certificate or token/,
  },
  {
    name: 'cloud-dev serve with a bad heartbeat interval',
    program: programs.cloudDev,
    args: ['serve', '--dir', '/tmp', '--heartbeat-interval', 'often'],
    env: {},
    line: /^invalid setting CLOUD_DEV_HEARTBEAT_INTERVAL \/ --heartbeat-interval: /,
  },
];

for (const c of cases) {
  test(`${c.name}: exits non-zero with one line naming the setting`, async () => {
    const result = await runToEnd(c.program, c.args, c.env);
    assert.notEqual(result.code, 0);
    const lines = result.stderr.trim().split('\n');
    assert.equal(lines.length, 1, `expected one line on stderr, got:\n${result.stderr}`);
    assert.match(lines[0]!, c.line);
  });
}
