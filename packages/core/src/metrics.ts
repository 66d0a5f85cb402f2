// Prometheus metrics (prom-client). Each process owns one registry, built in its main and passed down, so tests
// can build several processes' graphs in one runtime without their counters colliding.
import { collectDefaultMetrics, Counter, Gauge, Histogram, Registry } from 'prom-client';

export { Counter, Gauge, Histogram, Registry };

export function createRegistry(processName: string, withDefaults = true): Registry {
  const registry = new Registry();
  registry.setDefaultLabels({ process: processName });
  if (withDefaults) collectDefaultMetrics({ register: registry });
  return registry;
}

/** Reads a counter or gauge's current total over all label sets (for debug views and OperatorStats). */
export async function metricTotal(metric: Counter | Gauge, labels?: Record<string, string>): Promise<number> {
  const data = await metric.get();
  return data.values
    .filter((v) => !labels || Object.entries(labels).every(([k, want]) => String(v.labels[k]) === want))
    .reduce((sum, v) => sum + v.value, 0);
}
