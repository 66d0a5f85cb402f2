// DatadogQueryRequest types 1-9 as Datadog API calls, exactly as the published operator makes them
// (../shared/protocols/remediation-actions.md section 2, table): which request fields are used, the path, the query
// parameters and the body. A request missing what its type needs is a 400 with the published wording.
import { DatadogQueryType, type DatadogQueryRequest } from '@kestrel/proto/cloud/v1';
import type { DatadogCall } from './client.js';

export type Built = { call: DatadogCall } | { invalid: string };

/** Unix seconds as Go's RFC 3339 in UTC (no fractional seconds). */
export const rfc3339 = (seconds: number) => new Date(seconds * 1000).toISOString().replace(/\.\d{3}Z$/, 'Z');

const get = (path: string, query: Record<string, string> = {}): DatadogCall => ({ method: 'GET', path, query, appKey: true, idempotent: true });

export function buildCall(r: DatadogQueryRequest, nowSeconds: number): Built {
  switch (r.queryType) {
    case DatadogQueryType.DATADOG_QUERY_METRICS:
      if (!r.query) return { invalid: 'query string is required for metrics queries' };
      return { call: get('/api/v1/query', { query: r.query, from: String(r.fromTs), to: String(r.toTs) }) };
    case DatadogQueryType.DATADOG_QUERY_EVENTS: {
      const q: Record<string, string> = { start: String(r.fromTs), end: String(r.toTs) };
      if (r.filter) q['sources'] = r.filter;
      if (r.maxResults > 0) q['count'] = String(r.maxResults);
      return { call: get('/api/v1/events', q) };
    }
    case DatadogQueryType.DATADOG_QUERY_HOSTS: {
      const q: Record<string, string> = {};
      if (r.filter) q['filter'] = r.filter;
      if (r.sort) q['sort_field'] = r.sort;
      if (r.maxResults > 0) q['count'] = String(r.maxResults);
      return { call: get('/api/v1/hosts', q) };
    }
    case DatadogQueryType.DATADOG_QUERY_LOGS: {
      const body: Record<string, unknown> = { filter: { from: rfc3339(r.fromTs), to: rfc3339(r.toTs), query: r.query } };
      if (r.sort) body['sort'] = r.sort;
      if (r.maxResults > 0) body['page'] = { limit: r.maxResults };
      // A search changes nothing: safe to retry after a 5xx.
      return { call: { method: 'POST', path: '/api/v2/logs/events/search', body: JSON.stringify(body), appKey: true, idempotent: true } };
    }
    case DatadogQueryType.DATADOG_QUERY_LIST_METRICS: {
      const q: Record<string, string> = { from: String(r.fromTs > 0 ? r.fromTs : nowSeconds - 3600) };
      if (r.filter) q['host'] = r.filter;
      return { call: get('/api/v1/metrics', q) };
    }
    case DatadogQueryType.DATADOG_LIST_MONITORS:
      return { call: get('/api/v1/monitor', { page: '0', per_page: '200' }) };
    case DatadogQueryType.DATADOG_CREATE_MONITOR:
      if (!r.jsonBody) return { invalid: 'json_body is required for create-monitor' };
      return { call: { method: 'POST', path: '/api/v1/monitor', body: r.jsonBody, appKey: true, idempotent: false } };
    case DatadogQueryType.DATADOG_SEND_EVENT:
      if (!r.jsonBody) return { invalid: 'json_body is required for send-event' };
      // The events intake takes the API key alone: no application key is needed or sent.
      return { call: { method: 'POST', path: '/api/v1/events', body: r.jsonBody, appKey: false, idempotent: false } };
    case DatadogQueryType.DATADOG_MUTE_MONITOR:
      if (!r.filter) return { invalid: 'filter field must contain the monitor ID for mute-monitor' };
      return { call: { method: 'POST', path: `/api/v1/monitor/${encodeURIComponent(r.filter)}/mute`, body: r.jsonBody || '{}', appKey: true, idempotent: false } };
    default:
      return { invalid: `unsupported query type: DATADOG_QUERY_UNSPECIFIED` };
  }
}
