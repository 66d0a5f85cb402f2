// Builds the Datadog integration: key source, API client, the DatadogQueryRequest family (registered on the
// dispatcher by main.ts) and the monitor alert poller (its alerts handed to the uplink). Off unless datadogEnabled.
import fs from 'node:fs';
import type { KubeConfig } from '@kubernetes/client-node';
import { ConfigError, type Logger, type Registry } from '@kestrel/core';
import type { DatadogMonitorAlert } from '@kestrel/proto/cloud/v1';
import { MAX_RESPONSE_DATA_BYTES } from '../queries/dispatch.js';
import { DatadogClient } from './client.js';
import type { DatadogSettings } from './config.js';
import { DatadogEvents, type DatadogAuditSink } from './events.js';
import { DatadogFamily } from './family.js';
import { KeySource, kubeSecretReader } from './keys.js';
import { MonitorPoller } from './poller.js';
import { apiBase } from './sites.js';

export interface DatadogView {
  site: string;
  apiBase: string;
  keySource: string;
  writesEnabled: boolean;
  monitorAlerts: boolean;
  monitorsKnown: number;
  alertsQueued: number;
  alertsSent: number;
  alertsDropped: number;
  polls: number;
  pollFailures: number;
}

export class Datadog {
  readonly family: DatadogFamily;
  readonly events: DatadogEvents;
  readonly poller: MonitorPoller | undefined;
  private readonly base: URL;

  constructor(
    private readonly s: DatadogSettings,
    deps: { registry: Registry; logger: Logger; kubeConfig: KubeConfig | undefined; audit?: DatadogAuditSink },
    setting: (key: string) => string,
  ) {
    if (!s.datadogApiKeyFile && !s.datadogDiscovery) throw new ConfigError(setting('datadogApiKeyFile'), 'the Datadog integration needs keys: a key file (chart: datadog.apiKeySecret) or datadogDiscovery=true');
    if (s.datadogDiscovery && !s.datadogApiKeyFile && !deps.kubeConfig) throw new ConfigError(setting('datadogDiscovery'), 'discovery reads Secrets through the Kubernetes API: run in a cluster or set kubeconfig');
    let ca: Buffer | undefined;
    if (s.datadogCaFile) {
      try {
        ca = fs.readFileSync(s.datadogCaFile);
      } catch (err) {
        throw new ConfigError(setting('datadogCaFile'), `cannot read it: ${(err as NodeJS.ErrnoException).code ?? String(err)}`);
      }
    }
    this.events = new DatadogEvents(deps.registry, deps.logger, deps.audit);
    this.base = apiBase(s.datadogSite, s.datadogApiUrl);
    const keys = new KeySource(
      {
        apiKeyFile: s.datadogApiKeyFile,
        appKeyFile: s.datadogAppKeyFile,
        discovery: s.datadogDiscovery ? { namespace: s.datadogNamespace, secretNames: s.datadogSecretNames, appKeySecretName: s.datadogAppKeySecretName } : undefined,
      },
      s.datadogDiscovery && deps.kubeConfig ? kubeSecretReader(deps.kubeConfig) : undefined,
    );
    const client = new DatadogClient(
      { base: this.base, ca, maxBodyBytes: Math.min(s.datadogMaxBodySize, MAX_RESPONSE_DATA_BYTES), maxRetries: s.datadogMaxRetries, maxRetryWaitMs: s.datadogMaxRetryWait, retryBackoffMs: 500 },
      this.events,
    );
    this.family = new DatadogFamily(keys, client, this.events, s.remediationDatadogEnabled);
    this.poller = s.datadogMonitorAlerts
      ? new MonitorPoller({ intervalMs: s.datadogMonitorPollInterval, queueCapacity: s.datadogMonitorAlertQueue, timeoutMs: 30_000 }, keys, client, this.events, deps.logger)
      : undefined;
  }

  /** Polls monitors and hands alerts to `send` (the uplink) until the signal aborts. */
  run(send: (alert: DatadogMonitorAlert, signal: AbortSignal) => Promise<void>, signal: AbortSignal): Promise<void> {
    return this.poller ? this.poller.run(send, signal) : Promise.resolve();
  }

  view(): DatadogView {
    return {
      site: this.s.datadogSite,
      apiBase: this.base.origin,
      keySource: this.s.datadogApiKeyFile ? 'files' : `discovery in namespace ${this.s.datadogNamespace} (${this.s.datadogSecretNames.join(', ')})`,
      writesEnabled: this.s.remediationDatadogEnabled,
      monitorAlerts: Boolean(this.poller),
      monitorsKnown: this.poller?.monitorsKnown ?? 0,
      alertsQueued: this.poller?.queue.size ?? 0,
      alertsSent: this.events.totals.alertsSent,
      alertsDropped: this.events.totals.alertsDropped,
      polls: this.events.totals.polls,
      pollFailures: this.events.totals.pollFailures,
    };
  }
}

export function renderDatadog(result: unknown): string {
  const v = result as DatadogView | { enabled: false; reason: string };
  if ('enabled' in v) return `Datadog integration off: ${v.reason}`;
  return [
    `site ${v.site}  API ${v.apiBase}  keys from ${v.keySource}`,
    `writes (create monitor, send event, mute monitor): ${v.writesEnabled ? 'ON' : 'off (remediation.datadog.enabled)'}`,
    `monitor alerts: ${v.monitorAlerts ? `${v.monitorsKnown} monitors known, ${v.polls} polls (${v.pollFailures} skipped), alerts queued ${v.alertsQueued} sent ${v.alertsSent} dropped ${v.alertsDropped}` : 'off'}`,
  ].join('\n');
}
