// Datadog monitor alerts (remediation-actions.md section 9): every interval, GET /api/v1/monitor; the first poll
// records a baseline; later, a monitor of the baseline whose normalised status changes to a non-empty one gives a
// DatadogMonitorAlert (new monitors are only recorded). Alerts wait in a bounded queue (oldest dropped and counted
// when full) and are handed to the uplink, which sends them on the events stream. Unlike the published operator,
// the state lives for the process, not per data-stream connection: a change during a reconnect is not lost.
import { DropOldestQueue, type Logger } from '@kestrel/core';
import type { DatadogMonitorAlert } from '@kestrel/proto/cloud/v1';
import type { DatadogClient } from './client.js';
import type { DatadogEvents } from './events.js';
import type { KeySource } from './keys.js';
import { scrub } from './secret-value.js';

export function normaliseStatus(overall: unknown): string {
  const s = typeof overall === 'string' ? overall : '';
  switch (s.toLowerCase()) {
    case 'alert':
      return 'Alert';
    case 'warn':
      return 'Warn';
    case 'ok':
      return 'OK';
    case 'no data':
      return 'No Data';
    case 'ignored':
    case 'skipped':
      return '';
    default:
      return s;
  }
}

interface Monitor {
  id: string;
  name: string;
  status: string;
  type: string;
  query: string;
  message: string;
  tags: string[];
}

function parseMonitors(body: string): Monitor[] | undefined {
  let list: unknown;
  try {
    list = JSON.parse(body);
  } catch {
    return undefined;
  }
  if (!Array.isArray(list)) return undefined;
  const text = (v: unknown) => (typeof v === 'string' ? v : '');
  return list
    .filter((m): m is Record<string, unknown> => typeof m === 'object' && m !== null && (typeof m['id'] === 'number' || typeof m['id'] === 'string'))
    .map((m) => ({
      id: String(m['id']),
      name: text(m['name']),
      status: normaliseStatus(m['overall_state']),
      type: text(m['type']),
      query: text(m['query']),
      message: text(m['message']),
      tags: Array.isArray(m['tags']) ? m['tags'].filter((t): t is string => typeof t === 'string') : [],
    }));
}

export interface PollerOptions {
  intervalMs: number;
  queueCapacity: number;
  /** One poll's deadline. */
  timeoutMs: number;
}

export type AlertSink = (alert: DatadogMonitorAlert, signal: AbortSignal) => Promise<void>;

export class MonitorPoller {
  private baseline: Map<string, string> | undefined;
  readonly queue: DropOldestQueue<DatadogMonitorAlert>;

  constructor(
    private readonly options: PollerOptions,
    private readonly keys: KeySource,
    private readonly client: DatadogClient,
    private readonly events: DatadogEvents,
    private readonly logger: Logger,
    private readonly now: () => number = Date.now,
  ) {
    this.queue = new DropOldestQueue(options.queueCapacity, () => events.alert('dropped_queue_full'));
  }

  get monitorsKnown(): number {
    return this.baseline?.size ?? 0;
  }

  /** One poll: alerts for the changes since the previous one are queued. */
  async poll(signal: AbortSignal): Promise<void> {
    let keys;
    try {
      keys = await this.keys.load();
    } catch (err) {
      this.events.poll('no_keys', err instanceof Error ? err.message : String(err));
      return;
    }
    const result = await this.client.call({ method: 'GET', path: '/api/v1/monitor', appKey: true, idempotent: true }, keys, AbortSignal.any([signal, AbortSignal.timeout(this.options.timeoutMs)]));
    if (result.kind === 'failed') return this.events.poll('failed', scrub(result.error, [keys.apiKey, keys.appKey]));
    if (result.status !== 200) return this.events.poll('http_error', `HTTP ${result.status}`);
    const monitors = result.tooLarge ? undefined : parseMonitors(result.body);
    if (!monitors) return this.events.poll('unparseable', result.tooLarge ? 'monitor list over the body limit' : 'not a JSON array of monitors');
    const timestamp = Math.floor(this.now() / 1000);
    const previous = this.baseline;
    this.baseline = new Map(monitors.map((m) => [m.id, m.status]));
    if (!previous) return this.events.poll('baseline');
    for (const m of monitors) {
      const before = previous.get(m.id);
      if (before === undefined || before === m.status || m.status === '') continue;
      this.queue.push({ monitorId: m.id, monitorName: m.name, currentStatus: m.status, previousStatus: before, monitorType: m.type, query: m.query, message: m.message, tags: m.tags, timestamp });
      this.events.alert('queued');
    }
    this.events.poll('ok');
  }

  /** Polls every interval and hands queued alerts to `send` until the signal aborts. */
  async run(send: AlertSink, signal: AbortSignal): Promise<void> {
    const sender = (async () => {
      for (;;) {
        const alert = await this.queue.take(signal);
        if (!alert) return;
        try {
          await send(alert, signal);
          this.events.alert('sent');
        } catch {
          this.events.alert('dropped_stopping');
        }
      }
    })();
    while (!signal.aborted) {
      await this.poll(signal).catch((err: unknown) => this.logger.warn('Datadog monitor poll failed', { error: err instanceof Error ? err.message : String(err) }));
      await new Promise<void>((resolve) => {
        const t = setTimeout(resolve, this.options.intervalMs);
        signal.addEventListener('abort', () => (clearTimeout(t), resolve()), { once: true });
      });
    }
    await sender;
  }
}
