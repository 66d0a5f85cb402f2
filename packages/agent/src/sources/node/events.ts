// Every thing worth knowing about the node source is one named event here: it is counted in /metrics and, when it
// is a problem, logged (repeated problems at most once a minute). Code in this source reports through these.
import { Counter, Gauge, RateLimitedLog, type Logger, type Registry } from '@kestrel/core';
import { Action } from '@kestrel/proto/cloud/v1';

/** The two watches of the Kubernetes API this source runs. */
export type WatchName = 'node' | 'pods';

export class NodeSourceEvents {
  private readonly watchErrors: Counter<'watch'>;
  private readonly relists: Counter<'watch'>;
  private readonly disabled: Gauge<'watch'>;
  private readonly sent: Counter<'action'>;
  private readonly psi: Gauge;
  private readonly sampleErrors: Counter<'source'>;
  private readonly conditionTrue: Gauge<'type'>;
  private readonly log: RateLimitedLog;
  /** Totals since start, for the debug views. */
  readonly totals = { watchErrors: 0, relists: 0, sent: 0, sampleErrors: 0 };

  constructor(
    registry: Registry,
    private readonly logger: Logger,
    podsTracked: () => number = () => 0,
  ) {
    const registers = [registry];
    this.watchErrors = new Counter({ name: 'kestrel_agent_node_watch_errors_total', help: 'Failed list or watch requests to the Kubernetes API (retried with backoff)', labelNames: ['watch'], registers });
    this.relists = new Counter({ name: 'kestrel_agent_node_watch_relists_total', help: 'Lists made again because the watched resourceVersion was gone (410)', labelNames: ['watch'], registers });
    this.disabled = new Gauge({ name: 'kestrel_agent_node_watch_disabled', help: '1 when a watch is off because RBAC denies it (403)', labelNames: ['watch'], registers });
    this.sent = new Counter({ name: 'kestrel_agent_node_condition_changes_sent_total', help: 'NodeConditionChange messages handed to the forwarder, by action', labelNames: ['action'], registers });
    this.psi = new Gauge({ name: 'kestrel_agent_node_psi_unavailable', help: '1 when the kernel offers no pressure stall information (no <procRoot>/pressure)', registers });
    this.sampleErrors = new Counter({ name: 'kestrel_agent_node_sample_errors_total', help: 'Samples of node pressure or filesystems that could not be read or parsed', labelNames: ['source'], registers });
    this.conditionTrue = new Gauge({ name: 'kestrel_agent_node_condition_true', help: "The agent's own node conditions: 1 while True", labelNames: ['type'], registers });
    new Gauge({
      name: 'kestrel_agent_node_pods_tracked',
      help: 'Pods on this node whose owners are known',
      registers,
      collect() {
        this.set(podsTracked());
      },
    });
    this.log = new RateLimitedLog(logger);
  }

  watchError(watch: WatchName, err: unknown): void {
    this.watchErrors.inc({ watch });
    this.totals.watchErrors++;
    this.log.warn(`watch:${watch}`, 'Kubernetes API request failed; retrying with backoff', { watch, error: errorText(err) });
  }

  relisted(watch: WatchName): void {
    this.relists.inc({ watch });
    this.totals.relists++;
    this.logger.info('watch resourceVersion expired (410 Gone); listed again', { watch });
  }

  /** RBAC denies a watch: it stays off until the agent restarts. One log line. */
  forbidden(watch: WatchName, err: unknown): void {
    this.disabled.set({ watch }, 1);
    this.logger.error(
      watch === 'node'
        ? "RBAC denies reading this node's Node object (get/list/watch nodes); Kubernetes node conditions are not reported, the agent's own conditions still are"
        : 'RBAC denies listing and watching pods; owners of pods on this node are unknown, the rest goes on',
      { watch, error: errorText(err) },
    );
  }

  conditionSent(action: Action): void {
    const name = action === Action.ACTION_CREATE ? 'create' : action === Action.ACTION_DELETE ? 'delete' : 'update';
    this.sent.inc({ action: name });
    this.totals.sent++;
  }

  psiUnavailable(path: string, reason: string): void {
    this.psi.set(1);
    this.logger.warn('pressure stall information is not available (kernel without PSI, or booted with psi=0); pressure conditions are not reported', { path, reason });
  }

  psiAvailable(): void {
    this.psi.set(0);
  }

  sampleError(source: string, err: unknown): void {
    this.sampleErrors.inc({ source });
    this.totals.sampleErrors++;
    this.log.warn(`sample:${source}`, 'node condition sample failed; the condition keeps its last state', { source, error: errorText(err) });
  }

  /** A filesystem path to watch is absent (or came back): logged once per change. */
  pathMissing(source: string, path: string, missing: boolean): void {
    if (missing) this.logger.info('filesystem path not found; its fill level is not reported until it appears', { source, path });
    else this.logger.info('filesystem path found; its fill level is reported', { source, path });
  }

  conditionState(type: string, status: string | undefined): void {
    if (status === undefined) this.conditionTrue.remove({ type });
    else this.conditionTrue.set({ type }, status === 'True' ? 1 : 0);
  }

  sinkFailed(err: unknown): void {
    this.log.error('sink', 'the forwarder refused a node condition change', { error: errorText(err) });
  }
}

export function errorText(err: unknown): string {
  if (err instanceof Error) {
    const e = err as { body?: unknown; code?: unknown };
    const message = statusMessage(e.body);
    if (message) return typeof e.code === 'number' ? `${e.code}: ${message}` : message;
    return err.message.split('\n')[0] ?? err.message;
  }
  return String(err);
}

/** client-node's ApiException carries the Status body (text or parsed); its `message` is what a human needs. */
function statusMessage(body: unknown): string | undefined {
  let parsed = body;
  if (typeof body === 'string') {
    try {
      parsed = JSON.parse(body);
    } catch {
      return body || undefined;
    }
  }
  const message = typeof parsed === 'object' && parsed !== null ? (parsed as { message?: unknown }).message : undefined;
  return typeof message === 'string' && message ? message : undefined;
}
