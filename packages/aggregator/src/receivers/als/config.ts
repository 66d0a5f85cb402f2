// The Envoy access log receiver's settings (KESTREL_AGGREGATOR_ALS_* / --als-*): a fragment merged into the
// aggregator's schema, and the typed config the receiver takes. See docs/istio.md.
import { boolean, byteSize, duration, hostPort, integer, z } from '@kestrel/core';

export interface AlsConfig {
  /** host:port to serve envoy.service.accesslog.v3.AccessLogService on (port 0 picks one). */
  listen: string;
  /** Serve TLS with these files (a mesh without sidecar mTLS towards the aggregator); unset: plaintext, as Envoy's envoyGrpcAls provider speaks by default. */
  tlsCertFile: string | undefined;
  tlsKeyFile: string | undefined;
  bucketMs: number;
  graceMs: number;
  maxRecords: number;
  maxMessageBytes: number;
}

export const alsSettings = {
  /** Serve Istio's access logs (the chart's istio.accessLogs). */
  alsEnabled: boolean().prefault('false'),
  alsListen: hostPort().prefault('0.0.0.0:8080'),
  alsTlsCertFile: z.string().min(1).optional(),
  alsTlsKeyFile: z.string().min(1).optional(),
  alsBucket: duration().prefault('10s'),
  alsGrace: duration().prefault('5s'),
  alsMaxRecords: integer(100, 10_000_000).prefault('50000'),
  alsMaxMessageSize: byteSize().prefault('4MiB'),
};

// Optional settings stay optional (a mapped type over the fragment would make them required).
const schema = z.object(alsSettings);
type Settings = z.infer<typeof schema>;

export function alsConfigFrom(s: Settings): AlsConfig {
  return {
    listen: s.alsListen,
    tlsCertFile: s.alsTlsCertFile,
    tlsKeyFile: s.alsTlsKeyFile,
    bucketMs: s.alsBucket,
    graceMs: s.alsGrace,
    maxRecords: s.alsMaxRecords,
    maxMessageBytes: s.alsMaxMessageSize,
  };
}

export function crossCheckAls(s: Settings): [string, string] | undefined {
  if ((s.alsTlsCertFile === undefined) !== (s.alsTlsKeyFile === undefined)) return ['alsTlsCertFile', 'set both alsTlsCertFile and alsTlsKeyFile, or neither'];
  return undefined;
}
