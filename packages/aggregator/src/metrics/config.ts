// Settings of the OTLP receiver, the metrics store and metrics queries (KESTREL_AGGREGATOR_OTLP_* and
// KESTREL_AGGREGATOR_METRICS_*), merged into the aggregator's schema and validated at start.
import { boolean, byteSize, duration, hostPort, integer, z } from '@kestrel/core';
import type { IngestLimits } from './ingest.js';
import type { QueryLimits } from './query.js';
import type { StoreLimits } from './store.js';

export const metricsSettings = {
  /** Where the OTLP/gRPC receiver listens (the chart: 0.0.0.0:4317); unset: no receiver, no store, metrics queries answered as unavailable. */
  otlpListen: hostPort().optional(),
  /** TLS for the receiver: all three files, or none (plaintext). The CA is the one TLS clients of the receiver are checked against if they present a certificate. */
  otlpTlsCertFile: z.string().min(1).optional(),
  otlpTlsKeyFile: z.string().min(1).optional(),
  otlpTlsCaFile: z.string().min(1).optional(),
  otlpMaxMessageSize: byteSize().prefault('4MiB'),
  otlpMaxConcurrentStreams: integer(1, 1000).prefault('16'),
  /** Resolve senders with no Kubernetes resource attributes by their address (right when apps export directly; wrong behind a Collector gateway). */
  otlpPeerPodContext: boolean().prefault('false'),
  metricsRetention: duration().prefault('30m'),
  metricsMaxSeries: integer(1, 10_000_000).prefault('100000'),
  metricsMaxPointsPerSeries: integer(1, 10_000).prefault('60'),
  metricsMaxBytes: byteSize().prefault('256MiB'),
  metricsMaxFutureSkew: duration().prefault('5m'),
  metricsMaxAttributes: integer(1, 10_000).prefault('128'),
  metricsMaxAttributeBytes: byteSize().prefault('16KiB'),
  /** How often expired points are swept out. */
  metricsSweepInterval: duration().prefault('30s'),
  /** Resolve pod names and IPs to namespace, node and workload with a pods watch (needs Kubernetes access). */
  metricsPodIndex: z.enum(['auto', 'off'], { message: 'expected auto or off' }).prefault('auto'),
  metricsQueryMaxResponseSize: byteSize()
    .pipe(z.number().max(9 * 1024 * 1024, 'expected at most 9MiB (the cloud accepts messages up to 10 MiB)'))
    .prefault('8MiB'),
  metricsQueryMaxSeries: integer(1, 1_000_000).prefault('10000'),
};

const metricsSchema = z.object(metricsSettings);
export type MetricsSettings = z.infer<typeof metricsSchema>;

export interface MetricsConfig {
  listen: string;
  tlsFiles: { certFile: string; keyFile: string; caFile: string } | undefined;
  maxMessageBytes: number;
  maxConcurrentStreams: number;
  peerPodContext: boolean;
  store: StoreLimits;
  ingest: IngestLimits;
  query: QueryLimits;
  sweepIntervalMs: number;
  podIndex: boolean;
}

/** The receiver's config, or a [setting, problem] pair, or undefined when the receiver is off. */
export function metricsConfigFrom(s: MetricsSettings): MetricsConfig | [string, string] | undefined {
  if (!s.otlpListen) return undefined;
  const tls = [s.otlpTlsCertFile, s.otlpTlsKeyFile, s.otlpTlsCaFile];
  if (tls.some(Boolean) && !tls.every(Boolean)) {
    const missing = (['otlpTlsCertFile', 'otlpTlsKeyFile', 'otlpTlsCaFile'] as const).find((k) => !s[k])!;
    return [missing, 'TLS for the OTLP receiver needs otlpTlsCertFile, otlpTlsKeyFile and otlpTlsCaFile together'];
  }
  return {
    listen: s.otlpListen,
    tlsFiles: s.otlpTlsCertFile ? { certFile: s.otlpTlsCertFile, keyFile: s.otlpTlsKeyFile!, caFile: s.otlpTlsCaFile! } : undefined,
    maxMessageBytes: s.otlpMaxMessageSize,
    maxConcurrentStreams: s.otlpMaxConcurrentStreams,
    peerPodContext: s.otlpPeerPodContext,
    store: {
      retentionMs: s.metricsRetention,
      maxSeries: s.metricsMaxSeries,
      maxPointsPerSeries: s.metricsMaxPointsPerSeries,
      maxBytes: s.metricsMaxBytes,
      maxFutureSkewMs: s.metricsMaxFutureSkew,
    },
    ingest: { maxAttributes: s.metricsMaxAttributes, maxAttributeBytes: s.metricsMaxAttributeBytes },
    query: { maxResponseBytes: s.metricsQueryMaxResponseSize, maxSeries: s.metricsQueryMaxSeries },
    sweepIntervalMs: s.metricsSweepInterval,
    podIndex: s.metricsPodIndex === 'auto',
  };
}
