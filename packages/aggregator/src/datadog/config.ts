// Settings of the Datadog integration (KESTREL_AGGREGATOR_DATADOG_*), merged into the aggregator's schema. Keys are
// never values here: only paths of files the chart mounts from Secrets named by reference, or the names of the
// Secrets that discovery may read. See docs/metrics.md, "Datadog".
import { boolean, byteSize, duration, integer, list, z } from '@kestrel/core';
import { apiUrlProblem, siteProblem } from './sites.js';

export const datadogSettings = {
  /** The Datadog family (query types 1-5, 9) and the monitor alert poller. */
  datadogEnabled: boolean().prefault('false'),
  datadogSite: z
    .string()
    .superRefine((site, ctx) => {
      const problem = siteProblem(site);
      if (problem) ctx.addIssue({ code: 'custom', message: problem });
    })
    .prefault('datadoghq.com'),
  /** Test and air-gapped use only: the API base URL instead of https://api.<site> (https, or http to loopback). */
  datadogApiUrl: z
    .string()
    .superRefine((url, ctx) => {
      const problem = apiUrlProblem(url);
      if (problem) ctx.addIssue({ code: 'custom', message: problem });
    })
    .optional(),
  /** An extra CA (PEM) to verify datadogApiUrl's certificate. */
  datadogCaFile: z.string().min(1).optional(),
  /** Files holding the keys (the chart mounts datadog.apiKeySecret / appKeySecret here). */
  datadogApiKeyFile: z.string().min(1).optional(),
  datadogAppKeyFile: z.string().min(1).optional(),
  /** Read the keys of an in-cluster Datadog installation from the Secrets named below (the chart grants get on exactly those). */
  datadogDiscovery: boolean().prefault('false'),
  datadogNamespace: z.string().min(1).prefault('datadog'),
  datadogSecretNames: list().prefault('datadog,datadog-secret'),
  datadogAppKeySecretName: z.string().prefault('datadog-cluster-agent'),
  datadogMonitorAlerts: boolean().prefault('true'),
  datadogMonitorPollInterval: duration().prefault('60s'),
  datadogMonitorAlertQueue: integer(1, 100_000).prefault('100'),
  datadogMaxRetries: integer(0, 5).prefault('2'),
  /** A 429 is retried only when Datadog's Retry-After is at most this (and fits the request's deadline). */
  datadogMaxRetryWait: duration().prefault('10s'),
  datadogMaxBodySize: byteSize().prefault('8MiB'),
  /** Datadog writes (create monitor, send event, mute monitor): the chart's remediation.datadog.enabled. */
  remediationDatadogEnabled: boolean().prefault('false'),
};

const datadogSchema = z.object(datadogSettings);
export type DatadogSettings = z.infer<typeof datadogSchema>;
