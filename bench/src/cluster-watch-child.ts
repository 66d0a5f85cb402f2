// Child process of cluster.bench: runs the aggregator's cluster watch (leader election + inventory) against a
// kubeconfig, with a sink that only counts, and prints one JSON line when the first InventoryCommit is handed over:
// time since start, messages, and this process's peak RSS. Kept apart from the API test server's process so the
// figures are the aggregator side's alone.
import { ClusterRunner } from '@kestrel/aggregator/cluster';
import { createLogger, createRegistry } from '@kestrel/core';

const kubeconfig = process.argv[2];
if (!kubeconfig) throw new Error('usage: cluster-watch-child KUBECONFIG');
const started = performance.now();
let messages = 0;
let peakRss = 0;
const sample = setInterval(() => (peakRss = Math.max(peakRss, process.memoryUsage().rss)), 100);
const stop = new AbortController();
const runner = new ClusterRunner(
  {
    kubeconfig,
    namespace: 'kestrel',
    leaseName: 'bench-leader',
    identity: 'bench',
    leaseDurationMs: 15_000,
    renewDeadlineMs: 10_000,
    retryPeriodMs: 2_000,
    pageSize: 500,
    resyncIntervalMs: 3_600_000,
    pendingTooLongMs: 300_000,
    queueCapacity: 100_000,
  },
  {
    sendData: async (request) => {
      messages++;
      if (request.$case === 'inventoryCommit') {
        const ms = performance.now() - started;
        // Let the garbage of the initial lists go before reading the settled figure.
        setTimeout(() => {
          (globalThis as { gc?: () => void }).gc?.();
          peakRss = Math.max(peakRss, process.memoryUsage().rss);
          const settled = process.memoryUsage();
          process.stdout.write(JSON.stringify({ commitMs: Math.round(ms), messages, peakRssMiB: +(peakRss / 2 ** 20).toFixed(1), settledRssMiB: +(settled.rss / 2 ** 20).toFixed(1), heapUsedMiB: +(settled.heapUsed / 2 ** 20).toFixed(1), cpuSeconds: +((process.cpuUsage().user + process.cpuUsage().system) / 1e6).toFixed(2) }) + '\n');
          clearInterval(sample);
          stop.abort();
        }, 500);
      }
    },
    sendEvent: async () => {
      messages++;
    },
  },
  createRegistry('bench', false),
  createLogger('bench', 'error'),
);
await runner.run(stop.signal);
