// The agent's settings: environment variables KESTREL_AGENT_* (set by the chart) or flags (local runs).
import os from 'node:os';
import { boolean, byteSize, duration, hostPort, integer, list, loadConfig, logLevel, z } from '@kestrel/core';
import { flowSourceSettings } from './sources/flows/config.js';
import { nodeSourceSettings } from './sources/node/config.js';

/** A list of globs; "none" (or ",") for an empty list where the default is not empty. */
const globs = () => list().transform((items) => (items.length === 1 && items[0] === 'none' ? [] : items));

export const agentSchema = z
  .object({
    nodeName: z.string().min(1, 'expected the name of this node (the chart sets it from spec.nodeName)').prefault(os.hostname()),
    /** The agent's own pod (downward API): never collected, so the agent does not ship its own logs in a loop. */
    podNamespace: z.string().optional(),
    podName: z.string().optional(),
    logRoot: z.string().min(1).prefault('/var/log/pods'),
    stateDir: z.string().min(1).prefault('/var/lib/kestrel-agent'),
    startAt: z.enum(['beginning', 'end'], { message: 'expected beginning or end' }).prefault('beginning'),
    onCorruptCheckpoint: z.enum(['beginning', 'end'], { message: 'expected beginning or end' }).prefault('beginning'),
    scanInterval: duration().prefault('60s'),
    pollInterval: duration().prefault('10s'),
    fallbackPollInterval: duration().prefault('250ms'),
    readBufferSize: byteSize().pipe(z.number().min(4096, 'expected at least 4KiB').max(16 * 1024 * 1024, 'expected at most 16MiB')).prefault('256KiB'),
    maxMessageSize: byteSize().pipe(z.number().min(1024, 'expected at least 1KiB').max(16 * 1024 * 1024, 'expected at most 16MiB')).prefault('256KiB'),
    readConcurrency: integer(1, 256).prefault('4'),
    /** A followed file read to its end is read again no sooner than this after (a busy container's writes read together). */
    readInterval: duration().prefault('50ms'),
    checkpointInterval: duration().prefault('500ms'),
    maxDeletedFilesHeld: integer(0, 1000).prefault('5'),
    multiline: boolean().prefault('true'),
    multilineMaxLines: integer(2, 100_000).prefault('1000'),
    multilineMaxSize: byteSize().prefault('256KiB'),
    multilineMaxGap: duration().prefault('500ms'),
    includeNamespaces: globs().prefault(''),
    excludeNamespaces: globs().prefault('kube-system,kube-public,kube-node-lease'),
    includePods: globs().prefault(''),
    excludePods: globs().prefault(''),
    includeContainers: globs().prefault(''),
    excludeContainers: globs().prefault(''),
    rateLimitLines: integer(0, 100_000_000).prefault('0'),
    /**
     * The aggregator replicas: host:port entries, comma-separated. A DNS name stands for every address it resolves
     * to (the chart's headless Service); re-resolved every aggregatorResolveInterval.
     */
    aggregatorAddress: list().pipe(z.array(hostPort()).min(1, 'expected at least one host:port')).optional(),
    /** Local runs: a file with one host:port per line, read again at every resolve (instead of aggregatorAddress). */
    aggregatorAddressFile: z.string().min(1).optional(),
    aggregatorResolveInterval: duration().prefault('30s'),
    /** The name the aggregator's certificate is checked against (default: the DNS name of the address). */
    aggregatorServerName: z.string().optional(),
    /** Identity by token (in a cluster): a projected ServiceAccount token, read again at every connection. */
    tokenFile: z.string().min(1).optional(),
    /** Identity by certificate (local runs): a client certificate whose subject CN is the node name. */
    tlsCertFile: z.string().min(1).optional(),
    tlsKeyFile: z.string().min(1).optional(),
    tlsCaFile: z.string().min(1, 'expected the path of the internal CA certificate'),
    batchMaxLines: integer(1, 100_000).prefault('2000'),
    batchMaxSize: byteSize().prefault('1MiB'),
    flushInterval: duration().prefault('200ms'),
    /**
     * Sent and not yet acknowledged, at most (batches, and their compressed bytes): acknowledgements wait for the
     * uplink's delivery (about the cloud's heartbeat interval, 30 s), so this must hold that long of the node's logs.
     */
    maxInFlightBatches: integer(1, 100_000).prefault('1024'),
    maxInFlightBytes: byteSize().prefault('32MiB'),
    compression: boolean().prefault('true'),
    /** zlib level of the log entries' segments: the aggregator passes them to the cloud as they are (docs/transport.md). */
    compressionLevel: integer(1, 9).prefault('6'),
    ...nodeSourceSettings,
    ...flowSourceSettings,
    httpListen: hostPort().prefault('0.0.0.0:9102'),
    adminSocket: z.string().min(1).prefault('/tmp/kestrel-agent.sock'),
    logLevel: logLevel().prefault('info'),
  })
  .superRefine((c, ctx) => {
    if ((c.podNamespace === undefined) !== (c.podName === undefined)) {
      ctx.addIssue({ code: 'custom', path: [c.podName === undefined ? 'podName' : 'podNamespace'], message: 'the agent pod namespace and name are set together (the chart sets both from the downward API)' });
    }
    if ((c.aggregatorAddress === undefined) === (c.aggregatorAddressFile === undefined)) {
      ctx.addIssue({ code: 'custom', path: ['aggregatorAddress'], message: 'expected exactly one of the aggregator address list and the aggregator address file' });
    }
    if ((c.tlsCertFile === undefined) !== (c.tlsKeyFile === undefined)) {
      ctx.addIssue({ code: 'custom', path: [c.tlsCertFile === undefined ? 'tlsCertFile' : 'tlsKeyFile'], message: 'the client certificate and its key are set together' });
    }
    if (c.tokenFile === undefined && c.tlsCertFile === undefined) {
      ctx.addIssue({ code: 'custom', path: ['tokenFile'], message: 'expected an identity: a token file (in a cluster) or a client certificate and key (local runs)' });
    }
    if (c.multilineMaxSize > c.maxMessageSize) {
      ctx.addIssue({ code: 'custom', path: ['multilineMaxSize'], message: 'expected at most the maximum message size' });
    }
  });

export const PREFIX = 'KESTREL_AGENT_';

export type AgentConfig = z.infer<typeof agentSchema>;

export const loadAgentConfig = (argv: readonly string[], env: NodeJS.ProcessEnv = process.env): AgentConfig =>
  loadConfig(agentSchema, { envPrefix: PREFIX, argv, env });
