// The Datadog family of DatadogQueryRequest (types 0-9), registered on the uplink's QueryDispatcher
// (queries/dispatch.ts routes, times out and caps; this answers). Reads (1-5, 9) go out when the family is on; writes
// (6 create monitor, 7 send event, 8 mute monitor) only with remediation.datadog.enabled, else 403 naming that value,
// and every write, allowed or refused, is one audit line (events.ts). Pre-checks in the published order
// (remediation-actions.md section 2): keys (503 "Datadog discovery failed"), application key (403), type 0 (400).
// Result mapping: 2xx → success with Datadog's raw body; other HTTP → "Datadog API returned HTTP <code>: <first 500
// chars>"; no HTTP answer → status 0. No text that leaves here can contain a key (scrub()).
import { DatadogQueryType, type DatadogQueryRequest } from '@kestrel/proto/cloud/v1';
import { MAX_RESPONSE_DATA_BYTES, queryTypeName, type QueryAnswer, type QueryFamily } from '../queries/dispatch.js';
import type { CallResult, DatadogClient } from './client.js';
import type { DatadogEvents, WriteAudit } from './events.js';
import { KeyError, type DatadogKeys, type KeySource } from './keys.js';
import { buildCall } from './requests.js';
import { scrub } from './secret-value.js';

const WRITES: Partial<Record<DatadogQueryType, WriteAudit['action']>> = {
  [DatadogQueryType.DATADOG_CREATE_MONITOR]: 'create_monitor',
  [DatadogQueryType.DATADOG_SEND_EVENT]: 'send_event',
  [DatadogQueryType.DATADOG_MUTE_MONITOR]: 'mute_monitor',
};

export const WRITES_SWITCH = 'remediation.datadog.enabled';
export const WRITES_SETTING = 'KESTREL_AGGREGATOR_REMEDIATION_DATADOG_ENABLED';

export const APP_KEY_REQUIRED =
  'a Datadog Application Key is required for this query type: give one with the chart value datadog.appKeySecret (setting datadogAppKeyFile), or put app-key in the discovered Datadog Secret';

const answer = (success: boolean, statusCode: number, errorMessage = '', responseData = ''): QueryAnswer => ({ success, statusCode, errorMessage, responseData });

export class DatadogFamily implements QueryFamily {
  readonly name = 'Datadog' as const;

  constructor(
    private readonly keys: KeySource,
    private readonly client: DatadogClient,
    private readonly events: DatadogEvents,
    private readonly writesEnabled: boolean,
    private readonly now: () => number = Date.now,
  ) {}

  async handle(request: DatadogQueryRequest, signal: AbortSignal): Promise<QueryAnswer> {
    const action = WRITES[request.queryType];
    return action ? this.write(action, request, signal) : this.read(request, signal);
  }

  private async read(request: DatadogQueryRequest, signal: AbortSignal): Promise<QueryAnswer> {
    const type = queryTypeName(request.queryType);
    const result = await this.run(request, signal);
    this.events.request(type, result.outcome, result.answer.errorMessage);
    return result.answer;
  }

  private async write(action: WriteAudit['action'], request: DatadogQueryRequest, signal: AbortSignal): Promise<QueryAnswer> {
    const started = this.now();
    const target = targetOf(action, request);
    const audit = (decision: WriteAudit['decision'], a: QueryAnswer) =>
      this.events.write({ requestId: request.requestId, action, target, decision, status: a.statusCode, outcome: a.success ? 'ok' : a.errorMessage, durationMs: this.now() - started });
    const type = queryTypeName(request.queryType);
    if (!this.writesEnabled) {
      const refused = answer(false, 403, `Datadog writes are off on this operator: the installer turns them on with the chart value ${WRITES_SWITCH}=true (${WRITES_SETTING})`);
      audit('refused', refused);
      this.events.request(type, 'refused');
      return refused;
    }
    if (request.jsonBody && !isJsonObject(request.jsonBody)) {
      const invalid = answer(false, 400, 'json_body is not a JSON object');
      audit('invalid', invalid);
      this.events.request(type, 'invalid');
      return invalid;
    }
    const result = await this.run(request, signal);
    audit(result.outcome === 'invalid' ? 'invalid' : 'allowed', result.answer);
    this.events.request(type, result.outcome, result.answer.errorMessage);
    return result.answer;
  }

  private async run(request: DatadogQueryRequest, signal: AbortSignal): Promise<{ answer: QueryAnswer; outcome: string }> {
    let keys: DatadogKeys;
    try {
      keys = await this.keys.load();
    } catch (err) {
      const reason = err instanceof KeyError ? err.message : 'unexpected error while reading the keys';
      return { outcome: 'no_keys', answer: answer(false, 503, `Datadog discovery failed: ${reason}`) };
    }
    if (request.queryType !== DatadogQueryType.DATADOG_SEND_EVENT && !keys.appKey) return { outcome: 'no_keys', answer: answer(false, 403, APP_KEY_REQUIRED) };
    const built = buildCall(request, Math.floor(this.now() / 1000));
    if ('invalid' in built) return { outcome: 'invalid', answer: answer(false, 400, built.invalid) };
    const result = await this.client.call(built.call, keys, signal);
    return mapResult(result, [keys.apiKey, keys.appKey]);
  }
}

function mapResult(result: CallResult, secrets: Parameters<typeof scrub>[1]): { answer: QueryAnswer; outcome: string } {
  if (result.kind === 'failed') return { outcome: 'failed', answer: answer(false, 0, scrub(result.error, secrets)) };
  if (result.tooLarge) {
    return {
      outcome: 'too_large',
      answer: answer(false, result.status, `Response too large (more than ${MAX_RESPONSE_DATA_BYTES} bytes, max ${MAX_RESPONSE_DATA_BYTES}). Narrow the query: a shorter time range, a filter, or fewer max_results.`),
    };
  }
  const body = scrub(result.body, secrets);
  if (result.status >= 200 && result.status < 300) return { outcome: 'ok', answer: answer(true, result.status, '', body) };
  const shown = body.length > 500 ? `${body.slice(0, 500)}...` : body;
  return { outcome: 'upstream_error', answer: answer(false, result.status, `Datadog API returned HTTP ${result.status}: ${shown}`) };
}

function isJsonObject(text: string): boolean {
  try {
    const v: unknown = JSON.parse(text);
    return typeof v === 'object' && v !== null && !Array.isArray(v);
  } catch {
    return false;
  }
}

/** What a write names, for the audit: the monitor's name, the event's title, the monitor id. */
function targetOf(action: WriteAudit['action'], r: DatadogQueryRequest): string {
  if (action === 'mute_monitor') return r.filter ? `monitor ${r.filter}` : '';
  try {
    const body = JSON.parse(r.jsonBody) as Record<string, unknown>;
    const name = action === 'create_monitor' ? body['name'] : body['title'];
    return typeof name === 'string' ? `${action === 'create_monitor' ? 'monitor' : 'event'} ${JSON.stringify(name.slice(0, 200))}` : '';
  } catch {
    return '';
  }
}
