// Starts a whole Kestrel system on loopback as separate processes: cloud-dev (after `cloud-dev init`), an
// aggregator connected to it with mTLS and the cluster token, and an agent following a node folder, connected to
// the aggregator with TLS from an internal CA made here. Everything binds port 0 and is found from its logs.
import fs from 'node:fs';
import path from 'node:path';
import { createCa, issueCertificate } from '@kestrel/cloud-dev';
import { RunningProcess, runToEnd } from './process.js';
import { programs } from './repo.js';

export interface InternalPki {
  ca: string;
  aggregator: { cert: string; key: string };
  /** A client certificate for one node (subject CN = the node name: the aggregator's certificate identity mode). */
  agentFor(node: string): { cert: string; key: string };
}

/** The agent <-> aggregator CA for local runs: a server certificate, and a client certificate per node on demand. */
export function createInternalPki(dir: string): InternalPki {
  fs.mkdirSync(dir, { recursive: true });
  const ca = createCa({ commonName: 'kestrel internal CA' });
  const server = issueCertificate(ca, { commonName: 'kestrel-aggregator', usage: 'server', hosts: ['localhost', '127.0.0.1'] });
  const write = (name: string, text: string) => {
    const file = path.join(dir, name);
    fs.writeFileSync(file, text, { mode: 0o600 });
    return file;
  };
  return {
    ca: write('ca.crt', ca.certPem),
    aggregator: { cert: write('aggregator.crt', server.certPem), key: write('aggregator.key', server.keyPem) },
    agentFor(node) {
      const cert = path.join(dir, `agent-${node}.crt`);
      const key = path.join(dir, `agent-${node}.key`);
      if (!fs.existsSync(cert)) {
        const issued = issueCertificate(ca, { commonName: node, usage: 'client' });
        write(path.basename(key), issued.keyPem);
        write(path.basename(cert), issued.certPem);
      }
      return { cert, key };
    },
  };
}

export interface SystemOptions {
  workDir: string;
  nodeName?: string;
  heartbeatInterval?: string;
  /** Extra agent settings (env names without prefix handled by caller). */
  agentEnv?: Record<string, string>;
  aggregatorEnv?: Record<string, string>;
}

export interface RunningSystem {
  workDir: string;
  podsRoot: string;
  dataDir: string;
  cloudDir: string;
  cloud: RunningProcess;
  aggregator: RunningProcess;
  agent: RunningProcess;
  cloudAddress: string;
  ingestAddress: string;
  agentAdminSocket: string;
  aggregatorAdminSocket: string;
  stop(): Promise<void>;
}

const addressOf = (line: Record<string, unknown>, key: string): string => {
  const value = line[key];
  if (typeof value !== 'string') throw new Error(`log line has no ${key}: ${JSON.stringify(line)}`);
  return value;
};

export async function startCloudDev(workDir: string, heartbeatInterval = '30s', env: Record<string, string> = {}): Promise<{ cloud: RunningProcess; cloudDir: string; dataDir: string; address: string }> {
  const cloudDir = path.join(workDir, 'cloud');
  const dataDir = path.join(workDir, 'cloud-data');
  const init = await runToEnd(programs.cloudDev, ['init', cloudDir, '--tenant', 'e2e-tenant', '--cluster-name', 'e2e']);
  if (init.code !== 0) throw new Error(`cloud-dev init failed: ${init.stderr}`);
  const cloud = new RunningProcess('cloud-dev', programs.cloudDev, ['serve', '--dir', cloudDir, '--listen', '127.0.0.1:0', '--data-dir', dataDir, '--heartbeat-interval', heartbeatInterval], env, path.join(workDir, 'cloud-dev.log'));
  const listening = await cloud.waitFor((l) => l.message === 'listening' || l.msg === 'listening');
  return { cloud, cloudDir, dataDir, address: addressOf(listening, 'address') };
}

export async function startAggregator(workDir: string, name: string, cloudDir: string, cloudAddress: string, pki: InternalPki, env: Record<string, string> = {}): Promise<{ aggregator: RunningProcess; ingestAddress: string; adminSocket: string }> {
  const adminSocket = path.join(workDir, `${name}.sock`);
  const aggregator = new RunningProcess(
    name,
    programs.aggregator,
    [],
    {
      KESTREL_AGGREGATOR_AGGREGATOR_ID: name,
      KESTREL_AGGREGATOR_INGEST_LISTEN: '127.0.0.1:0',
      KESTREL_AGGREGATOR_INGEST_TLS_CERT_FILE: pki.aggregator.cert,
      KESTREL_AGGREGATOR_INGEST_TLS_KEY_FILE: pki.aggregator.key,
      KESTREL_AGGREGATOR_INGEST_TLS_CA_FILE: pki.ca,
      KESTREL_AGGREGATOR_CLOUD_ADDRESS: cloudAddress,
      KESTREL_AGGREGATOR_CLOUD_SERVER_NAME: 'localhost',
      KESTREL_AGGREGATOR_CLOUD_CERT_FILE: path.join(cloudDir, 'operator/tls.crt'),
      KESTREL_AGGREGATOR_CLOUD_KEY_FILE: path.join(cloudDir, 'operator/tls.key'),
      KESTREL_AGGREGATOR_CLOUD_CA_FILE: path.join(cloudDir, 'operator/ca.crt'),
      KESTREL_AGGREGATOR_CLOUD_TOKEN_FILE: path.join(cloudDir, 'operator/token'),
      KESTREL_AGGREGATOR_HTTP_LISTEN: '127.0.0.1:0',
      KESTREL_AGGREGATOR_ADMIN_SOCKET: adminSocket,
      ...env,
    },
    path.join(workDir, `${name}.log`),
  );
  const started = await aggregator.waitFor((l) => l.message === 'kestrel-aggregator started');
  return { aggregator, ingestAddress: addressOf(started, 'ingest'), adminSocket };
}

/** `ingestAddress`: host:port list, or { file } with one per line (read again at each resolve, for replica changes). */
export function startAgent(
  workDir: string,
  name: string,
  podsRoot: string,
  ingestAddress: string | { file: string },
  pki: InternalPki,
  env: Record<string, string> = {},
  /** Another build of the agent (a bench compares dist/main.js with the bundle). */
  program: string = programs.agent,
): { agent: RunningProcess; adminSocket: string } {
  const adminSocket = path.join(workDir, `${name}.sock`);
  const identity = pki.agentFor(env['KESTREL_AGENT_NODE_NAME'] ?? name);
  const agent = new RunningProcess(
    name,
    program,
    [],
    {
      KESTREL_AGENT_NODE_NAME: name,
      KESTREL_AGENT_LOG_ROOT: podsRoot,
      KESTREL_AGENT_STATE_DIR: path.join(workDir, `${name}-state`),
      ...(typeof ingestAddress === 'string' ? { KESTREL_AGENT_AGGREGATOR_ADDRESS: ingestAddress } : { KESTREL_AGENT_AGGREGATOR_ADDRESS_FILE: ingestAddress.file }),
      KESTREL_AGENT_AGGREGATOR_SERVER_NAME: 'localhost',
      KESTREL_AGENT_TLS_CERT_FILE: identity.cert,
      KESTREL_AGENT_TLS_KEY_FILE: identity.key,
      KESTREL_AGENT_TLS_CA_FILE: pki.ca,
      KESTREL_AGENT_HTTP_LISTEN: '127.0.0.1:0',
      KESTREL_AGENT_ADMIN_SOCKET: adminSocket,
      KESTREL_AGENT_SCAN_INTERVAL: '200ms',
      KESTREL_AGENT_POLL_INTERVAL: '100ms',
      ...env,
    },
    path.join(workDir, `${name}.log`),
  );
  return { agent, adminSocket };
}

/** cloud-dev + one aggregator + one agent. */
export async function startSystem(options: SystemOptions): Promise<RunningSystem> {
  const workDir = options.workDir;
  fs.mkdirSync(workDir, { recursive: true });
  const podsRoot = path.join(workDir, 'pods');
  fs.mkdirSync(podsRoot, { recursive: true });
  const pki = createInternalPki(path.join(workDir, 'internal-pki'));
  const { cloud, cloudDir, dataDir, address } = await startCloudDev(workDir, options.heartbeatInterval);
  const { aggregator, ingestAddress, adminSocket: aggregatorAdminSocket } = await startAggregator(workDir, 'aggregator-0', cloudDir, address, pki, options.aggregatorEnv);
  const { agent, adminSocket } = startAgent(workDir, options.nodeName ?? 'node-a', podsRoot, ingestAddress, pki, options.agentEnv);
  await agent.waitFor((l) => l.message === 'connected to aggregator');
  return {
    workDir,
    podsRoot,
    dataDir,
    cloudDir,
    cloud,
    aggregator,
    agent,
    cloudAddress: address,
    ingestAddress,
    agentAdminSocket: adminSocket,
    aggregatorAdminSocket,
    async stop() {
      await agent.stop();
      await aggregator.stop();
      await cloud.stop();
    },
  };
}
