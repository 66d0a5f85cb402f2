// cloud-dev for the benchmarks: as the e2e harness starts it (startCloudDev), or, for sensitivity runs, with node
// options of its own (BENCH_CLOUD_HTTP2_WINDOW=1: a larger HTTP/2 receive window, see http2-window.ts).
import path from 'node:path';
import { RunningProcess, runToEnd } from '@kestrel/e2e/harness/process';
import { programs } from '@kestrel/e2e/harness/repo';
import { startCloudDev } from '@kestrel/e2e/harness/system';

export const cloudHttp2Window = process.env.BENCH_CLOUD_HTTP2_WINDOW === '1';

/** env: extra environment of cloud-dev (e.g. NODE_OPTIONS for a CPU profile). */
export async function startBenchCloud(workDir: string, heartbeatInterval: string, env: Record<string, string> = {}): Promise<{ cloud: RunningProcess; cloudDir: string; dataDir: string; address: string }> {
  if (!cloudHttp2Window) return startCloudDev(workDir, heartbeatInterval, env);
  const cloudDir = path.join(workDir, 'cloud');
  const dataDir = path.join(workDir, 'cloud-data');
  const init = await runToEnd(programs.cloudDev, ['init', cloudDir, '--tenant', 'e2e-tenant', '--cluster-name', 'e2e']);
  if (init.code !== 0) throw new Error(`cloud-dev init failed: ${init.stderr}`);
  const cloud = new RunningProcess(
    'cloud-dev',
    programs.cloudDev,
    ['serve', '--dir', cloudDir, '--listen', '127.0.0.1:0', '--data-dir', dataDir, '--heartbeat-interval', heartbeatInterval],
    { NODE_OPTIONS: `--import=${path.join(import.meta.dirname, 'http2-window.js')}`, ...(process.env.BENCH_HTTP2_WINDOW ? { BENCH_HTTP2_WINDOW: process.env.BENCH_HTTP2_WINDOW } : {}) },
    path.join(workDir, 'cloud-dev.log'),
  );
  const listening = await cloud.waitFor((l) => l.message === 'listening' || l.msg === 'listening');
  return { cloud, cloudDir, dataDir, address: String(listening['address']) };
}
