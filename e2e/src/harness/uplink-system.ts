// A whole system for uplink tests: cloud-dev (with the switches a test asks for), a TCP proxy in front of it, an
// aggregator that reaches cloud-dev only through the proxy, and an agent following a node folder. Also: cloud-dev
// restarted on the same data, its control socket, the aggregator's debug status, and steady writers.
// Builds on system.ts (internal PKI, aggregator and agent processes) without changing it.
import fs from 'node:fs';
import path from 'node:path';
import { adminRequest } from '@kestrel/core';
import { createContainers, writeLines, type SimulatedContainer } from './pod-writer.js';
import { RunningProcess, runToEnd } from './process.js';
import { programs } from './repo.js';
import { createInternalPki, startAgent, startAggregator } from './system.js';
import { TcpProxy } from './tcp-proxy.js';

export interface UplinkSystemOptions {
  workDir: string;
  nodeName?: string;
  /** Extra `cloud-dev init` flags (e.g. --token-ttl 12s). */
  initArgs?: string[];
  /** Extra `cloud-dev serve` flags (e.g. --token-ttl 12s --enforce-token-expiry). */
  serveArgs?: string[];
  heartbeatInterval?: string;
  aggregatorEnv?: Record<string, string>;
  agentEnv?: Record<string, string>;
}

export interface UplinkSystem {
  workDir: string;
  podsRoot: string;
  cloudDir: string;
  dataDir: string;
  proxy: TcpProxy;
  cloud: RunningProcess;
  aggregator: RunningProcess;
  agent: RunningProcess;
  aggregatorAdminSocket: string;
  /** Kills (SIGKILL) or stops (SIGTERM) cloud-dev and starts it again on the same directory and data. */
  restartCloud(how: 'kill' | 'stop'): Promise<void>;
  /** A request to cloud-dev's control socket (rotate-cert, drop-connections, revoke-tokens, set, status). */
  control(command: string, args?: Record<string, unknown>, timeoutMs?: number): Promise<unknown>;
  /** `kestrel-aggregator debug status -o json`. */
  aggregatorStatus(): Promise<AggregatorStatus>;
  stop(): Promise<void>;
}

export interface AggregatorStatus {
  uplink: {
    connection: number;
    token: { renewals: number; expiresAt: string | null };
    certificate: { subject: string; notAfter: string };
    streams: { name: string; state: string; carries: string; queued: number; inWindow: number; sent: number; replayed: number; reconnects: number; lastError: string | null }[];
  };
}

/** Settings that make the aggregator notice failures in seconds, not minutes (cloud-dev heartbeats every second). */
export const FAST_UPLINK_ENV: Record<string, string> = {
  KESTREL_AGGREGATOR_REPLAY_WINDOW: '1s',
  KESTREL_AGGREGATOR_STREAM_IDLE_TIMEOUT: '5s',
  KESTREL_AGGREGATOR_STREAM_DRAIN_TIMEOUT: '5s',
  KESTREL_AGGREGATOR_RECONNECT_INITIAL_BACKOFF: '200ms',
  KESTREL_AGGREGATOR_RECONNECT_MAX_BACKOFF: '2s',
  KESTREL_AGGREGATOR_LOGS_BATCH_LINGER: '100ms',
  KESTREL_AGGREGATOR_OPERATOR_STATS_INTERVAL: '2s',
};

const addressOf = (line: Record<string, unknown>): string => {
  if (typeof line['address'] !== 'string') throw new Error(`no address in ${JSON.stringify(line)}`);
  return line['address'];
};

export async function startUplinkSystem(options: UplinkSystemOptions): Promise<UplinkSystem> {
  const workDir = options.workDir;
  fs.mkdirSync(workDir, { recursive: true });
  const podsRoot = path.join(workDir, 'pods');
  fs.mkdirSync(podsRoot, { recursive: true });
  const cloudDir = path.join(workDir, 'cloud');
  const dataDir = path.join(workDir, 'cloud-data');
  const pki = createInternalPki(path.join(workDir, 'internal-pki'));
  const init = await runToEnd(programs.cloudDev, ['init', cloudDir, '--tenant', 'e2e-tenant', '--cluster-name', 'e2e', ...(options.initArgs ?? [])]);
  if (init.code !== 0) throw new Error(`cloud-dev init failed: ${init.stderr}`);
  let runs = 0;
  const serve = async () => {
    runs++;
    const cloud = new RunningProcess(
      `cloud-dev#${runs}`,
      programs.cloudDev,
      ['serve', '--dir', cloudDir, '--listen', '127.0.0.1:0', '--data-dir', dataDir, '--heartbeat-interval', options.heartbeatInterval ?? '1s', '--summary-interval', '5s', ...(options.serveArgs ?? [])],
      {},
      path.join(workDir, 'cloud-dev.log'),
    );
    const listening = await cloud.waitFor((l) => l.message === 'listening' || l.msg === 'listening');
    return { cloud, address: addressOf(listening) };
  };
  let { cloud, address } = await serve();
  const proxy = await TcpProxy.start(address);
  const operator = path.join(cloudDir, 'operator');
  const { aggregator, ingestAddress, adminSocket } = await startAggregator(workDir, 'aggregator-0', cloudDir, proxy.address, pki, {
    ...FAST_UPLINK_ENV,
    // Local runs keep renewed credentials in files: the token over the onboarding token, certificates over theirs.
    KESTREL_AGGREGATOR_CLOUD_TOKEN_WRITE_FILE: path.join(operator, 'token'),
    KESTREL_AGGREGATOR_CLOUD_CERT_WRITE_FILES: 'true',
    KESTREL_AGGREGATOR_CLOUD_USE_SYSTEM_CAS: 'false',
    ...options.aggregatorEnv,
  });
  const { agent } = startAgent(workDir, options.nodeName ?? 'node-a', podsRoot, ingestAddress, pki, options.agentEnv);
  await agent.waitFor((l) => l.message === 'connected to aggregator');
  const system: UplinkSystem = {
    workDir,
    podsRoot,
    cloudDir,
    dataDir,
    proxy,
    get cloud() {
      return cloud;
    },
    aggregator,
    agent,
    aggregatorAdminSocket: adminSocket,
    async restartCloud(how) {
      if (how === 'kill') await cloud.kill();
      else await cloud.stop();
      ({ cloud, address } = await serve());
      proxy.setTarget(address);
    },
    control: (command, args = {}, timeoutMs = 10_000) => adminRequest(path.join(cloudDir, 'control.sock'), command, args, timeoutMs),
    aggregatorStatus: () => adminRequest(adminSocket, 'status') as Promise<AggregatorStatus>,
    async stop() {
      await agent.stop();
      await aggregator.stop();
      await cloud.stop();
      await proxy.close();
    },
  };
  return system;
}

/** Simulated containers writing lines at a steady rate until stopped. */
export class SteadyWriter {
  readonly containers: SimulatedContainer[];
  private timer: NodeJS.Timeout | undefined;

  constructor(podsRoot: string, pods: { namespace: string; pod: string; containers: string[] }[]) {
    this.containers = createContainers(podsRoot, pods);
  }

  /** Writes `perTick` lines to each container every `tickMs`. */
  start(perTick: number, tickMs = 100): void {
    this.timer = setInterval(() => {
      for (const c of this.containers) writeLines(c, perTick);
    }, tickMs);
  }

  stop(): void {
    clearInterval(this.timer);
  }

  get written(): number {
    return this.containers.reduce((n, c) => n + c.written, 0);
  }
}
