// DatadogQueryRequest is one request type for six families (Datadog, Argo CD, Argo Rollouts, Flux, Karpenter): the
// enum number picks the family. This is the envelope the published operator gives them on the wire
// (../shared/protocols/remediation-actions.md section 1), kept in one place so each family only answers its own
// types: routing by number, the answer for a family that is not available (worded per stream as the published
// operator does), the timeout, and the 8 MiB cap on response_data. Families register themselves; the dispatcher
// is the RequestHandler the uplink calls for `datadogQueryRequest` on the control and data streams.
import { DatadogQueryType, datadogQueryTypeToJSON, type DatadogQueryRequest, type DatadogQueryResponse } from '@kestrel/proto/cloud/v1';
import type { CloudMessage, RequestHandler } from '../uplink/cloud-requests.js';
import type { StreamName, UplinkRecord } from '../uplink/records.js';

/** What a family's handler returns; the dispatcher adds request_id and applies the size cap. */
export interface QueryAnswer {
  success: boolean;
  /** JSON text (the upstream body for Datadog, an object built by the operator for the Kubernetes families). */
  responseData: string;
  errorMessage: string;
  /** HTTP-style: 200, 400, 403, 404, 500, 503, ... or 0 when no HTTP exchange happened (transport failure). */
  statusCode: number;
}

export type FamilyName = 'Datadog' | 'ArgoCD' | 'Argo Rollouts' | 'Flux CD' | 'Karpenter';

export interface QueryFamily {
  readonly name: FamilyName;
  /** Handles one request of its types; `signal` aborts at the request's timeout. Never rejects. */
  handle(request: DatadogQueryRequest, signal: AbortSignal): Promise<QueryAnswer>;
}

/** The enum numbers each family owns (section 1: 0-9 Datadog, 10-13 Argo CD, 14-22 Rollouts, 23-28 Flux, 29-35 Karpenter). */
export const FAMILY_RANGES: Readonly<Record<FamilyName, readonly [number, number]>> = {
  Datadog: [0, 9],
  ArgoCD: [10, 13],
  'Argo Rollouts': [14, 22],
  'Flux CD': [23, 28],
  Karpenter: [29, 35],
};

export function familyOf(type: number): FamilyName | undefined {
  for (const [name, [low, high]] of Object.entries(FAMILY_RANGES) as [FamilyName, readonly [number, number]][]) {
    if (type >= low && type <= high) return name;
  }
  return undefined;
}

/** response_data above this is dropped and the request reported as failed (section 1). */
export const MAX_RESPONSE_DATA_BYTES = 8 * 1024 * 1024;
/** When a request carries no timeout_seconds. */
export const DEFAULT_QUERY_TIMEOUT_MS = 30_000;

/** The enum name when known, else the bare number (as the published operator prints it). */
export function queryTypeName(type: number): string {
  const name = datadogQueryTypeToJSON(type as DatadogQueryType);
  return name === 'UNRECOGNIZED' ? String(type) : name;
}

export function notAvailable(family: FamilyName, on: StreamName): QueryAnswer {
  if (family === 'Datadog') {
    return on === 'control'
      ? { success: false, responseData: '', errorMessage: 'Datadog integration is not enabled on this operator', statusCode: 0 }
      : { success: false, responseData: '', errorMessage: 'Datadog executor not configured on this operator', statusCode: 503 };
  }
  return { success: false, responseData: '', errorMessage: `${family} integration is not available on this operator`, statusCode: 503 };
}

export interface QueryObserver {
  /** One line per request with its outcome, for metrics and logs (never the response body). */
  answered(request: DatadogQueryRequest, family: FamilyName | 'none', answer: DatadogQueryResponse, durationMs: number): void;
}

export class QueryDispatcher implements RequestHandler {
  private readonly families = new Map<FamilyName, QueryFamily>();

  constructor(
    private readonly observer?: QueryObserver,
    private readonly now: () => number = Date.now,
  ) {}

  /** Makes a family available; a second registration of the same family replaces the first. */
  register(family: QueryFamily): void {
    this.families.set(family.name, family);
  }

  unregister(name: FamilyName): void {
    this.families.delete(name);
  }

  has(name: FamilyName): boolean {
    return this.families.has(name);
  }

  handles(message: CloudMessage, on: StreamName): boolean {
    // The published operator reads DatadogQueryRequest on the control stream and on the data stream (its fallback).
    return message.$case === 'datadogQueryRequest' && (on === 'control' || on === 'data');
  }

  async handle(message: CloudMessage, on: StreamName): Promise<UplinkRecord | undefined> {
    if (message.$case !== 'datadogQueryRequest') return undefined;
    return { $case: 'datadogQueryResponse', value: await this.answer(message.value, on) };
  }

  /** One request to its answer: routing, timeout, size cap. Never rejects. */
  async answer(request: DatadogQueryRequest, on: StreamName): Promise<DatadogQueryResponse> {
    const started = this.now();
    const type = request.queryType;
    const name = familyOf(type);
    let answer: QueryAnswer;
    if (name === undefined) {
      answer = { success: false, responseData: '', errorMessage: `unsupported GitOps query type: ${queryTypeName(type)}`, statusCode: 400 };
    } else {
      const family = this.families.get(name);
      answer = family ? await this.run(family, request) : notAvailable(name, on);
    }
    const response = capped({ requestId: request.requestId, ...answer }, on);
    this.observer?.answered(request, name && this.families.has(name) ? name : 'none', response, this.now() - started);
    return response;
  }

  private async run(family: QueryFamily, request: DatadogQueryRequest): Promise<QueryAnswer> {
    const timeoutMs = request.timeoutSeconds > 0 ? request.timeoutSeconds * 1000 : DEFAULT_QUERY_TIMEOUT_MS;
    const signal = AbortSignal.timeout(timeoutMs);
    try {
      return await family.handle(request, signal);
    } catch (err) {
      // Families do not reject; if one does anyway, the cloud still gets an answer.
      const text = err instanceof Error ? err.message : String(err);
      return signal.aborted
        ? { success: false, responseData: '', errorMessage: `timed out after ${timeoutMs / 1000} s`, statusCode: 504 }
        : { success: false, responseData: '', errorMessage: text, statusCode: 500 };
    }
  }
}

function capped(response: DatadogQueryResponse, on: StreamName): DatadogQueryResponse {
  const size = Buffer.byteLength(response.responseData, 'utf8');
  if (size <= MAX_RESPONSE_DATA_BYTES) return response;
  return on === 'control'
    ? {
        ...response,
        success: false,
        responseData: '',
        errorMessage: `Response too large (${size} bytes, max ${MAX_RESPONSE_DATA_BYTES}). Narrow the query: a shorter time range, a filter, or fewer max_results.`,
      }
    : { ...response, success: false, responseData: '', errorMessage: 'Response too large (>8MB)', statusCode: 413 };
}
