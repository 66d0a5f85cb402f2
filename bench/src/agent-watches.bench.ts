// Memory of an agent as it runs in a cluster: with Kubernetes access, so it imports @kubernetes/client-node and runs
// its two watches (its own Node, the pods on its node) against the Kubernetes API test server. The idle-files and
// latency benches run agents without Kubernetes access, which never load the client (docs/BENCHMARKS.md, "Agent
// memory: the Kubernetes client"). The agent runs as its image runs it (the bundle, the Dockerfile's environment),
// with no log files and no reachable aggregator (its reconnecting is part of its idle life here), and is watched for
// BENCH_WATCHES_SECONDS (20): RSS and its high-water mark, and whether both watches were listed.
//
// Settings (environment): BENCH_WATCHES_SECONDS (20), BENCH_WATCHES_PODS (20 pods on the agent's node),
// BENCH_WATCHES_PROGRAM (a path: another build of the agent, e.g. packages/agent/dist/main.js unbundled).
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import type { RunningProcess } from '@kestrel/e2e/harness/process';
import { programs } from '@kestrel/e2e/harness/repo';
import { createInternalPki, startAgent } from '@kestrel/e2e/harness/system';
import { startKubeApiServer } from '@kestrel/e2e/kube-api-server';
import { imageEnv } from './image-env.js';
import { procStats } from './proc-stats.js';

const SECONDS = Number(process.env.BENCH_WATCHES_SECONDS ?? 20);
const PODS = Number(process.env.BENCH_WATCHES_PODS ?? 20);
const PROGRAM = path.resolve(process.env.BENCH_WATCHES_PROGRAM ?? programs.agent);
const NODE = 'watch-node';

const out = (line: string) => process.stdout.write(line + '\n');
const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

const workDir = fs.mkdtempSync(path.join(os.tmpdir(), 'kestrel-bench-watches-'));
const kube = await startKubeApiServer();
let agent: RunningProcess | undefined;
let exitCode = 0;
try {
  kube.create({ apiVersion: 'v1', kind: 'Node', metadata: { name: NODE }, status: { conditions: [{ type: 'Ready', status: 'True' }] } });
  kube.ensureNamespace('shop');
  for (let i = 0; i < PODS; i++) {
    kube.create({ apiVersion: 'v1', kind: 'Pod', metadata: { name: `app-${i}`, namespace: 'shop', uid: `uid-${i}` }, spec: { nodeName: NODE, containers: [{ name: 'app', image: 'app:1' }] }, status: { phase: 'Running' } });
  }
  const kubeconfig = kube.writeKubeconfig(path.join(workDir, 'kubeconfig'));
  const pki = createInternalPki(path.join(workDir, 'pki'));
  const podsRoot = path.join(workDir, 'pods');
  fs.mkdirSync(podsRoot);
  const env = imageEnv('agent');
  agent = startAgent(
    workDir,
    NODE,
    podsRoot,
    '127.0.0.1:1',
    pki,
    {
      ...env,
      // The agent's defaults, stated (the harness shortens scan and poll for tests).
      KESTREL_AGENT_SCAN_INTERVAL: '60s',
      KESTREL_AGENT_POLL_INTERVAL: '10s',
      KESTREL_AGENT_KUBECONFIG: kubeconfig,
      KESTREL_AGENT_NODE_WATCH: 'on',
    },
    PROGRAM,
  ).agent;
  await agent.waitFor((l) => l.message === 'kestrel-agent started', 30_000);
  await sleep(SECONDS * 1000);
  // The watches' evidence is the API server's: a list of the agent's Node and of the pods on its node.
  const nodeListed = kube.audit.find({ verb: ['list', 'watch'], resource: 'nodes' }).length > 0;
  const podsListed = kube.audit.find({ verb: ['list', 'watch'], resource: 'pods' }).length > 0;
  const stats = procStats(agent.pid!);
  out(`agent ${path.relative(process.cwd(), PROGRAM)} with Kubernetes access (${PODS} pods on its node), as its image runs it (${JSON.stringify(env)}), ${SECONDS} s after start:`);
  out(`  RSS ${stats.rssMiB.toFixed(1)} MiB, peak RSS ${stats.peakRssMiB.toFixed(1)} MiB, CPU ${stats.cpuSeconds.toFixed(2)} s since start; node listed/watched: ${nodeListed ? 'yes' : 'NO'}, pods listed/watched: ${podsListed ? 'yes' : 'NO'}`);
  if (!nodeListed || !podsListed) exitCode = 1;
} catch (err) {
  out(`agent-watches bench failed: ${err instanceof Error ? err.stack : String(err)}`);
  exitCode = 1;
} finally {
  await agent?.stop(10_000);
  await kube.stop();
  fs.rmSync(workDir, { recursive: true, force: true });
}
process.exit(exitCode);
