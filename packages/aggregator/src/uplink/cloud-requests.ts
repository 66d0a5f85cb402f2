// Requests from the cloud, which arrive on StreamControl (or StreamData) with a request_id and are answered on the
// stream they came on with the same request_id. This version carries out certificate renewal; every other request
// kind is a later feature and is answered at once with a clear "not supported by this operator version" in the
// answer's error field, so the cloud's agent is never left waiting. A message this version does not know at all
// (a newer cloud) or cannot decode is counted and logged, never fatal.
import { StreamControlResponse, StreamDataResponse, StreamLogsResponse } from '@kestrel/proto/cloud/v1';
import type { CertificateRenewals } from './certificate-renewal.js';
import type { UplinkEvents } from './events.js';
import type { StreamName, UplinkRecord } from './records.js';

export const OPERATOR_VERSION = '0.1.0';

export const unsupported = (what: string) => `${what} are not supported by this operator version (kestrel-aggregator ${OPERATOR_VERSION})`;

export type CloudMessage = NonNullable<StreamControlResponse['response']> | NonNullable<StreamDataResponse['response']>;

/**
 * Carries out a request kind beyond certificate renewal (investigation executors, metrics queries, the
 * DatadogQueryRequest families, network policy pushes); resolves to the answer, which goes back on the stream the
 * request came on (`on`), or to undefined when the request kind has no answer. Never rejects.
 */
export interface RequestHandler {
  handles(message: CloudMessage, on: StreamName): boolean;
  handle(message: CloudMessage, on: StreamName): Promise<UplinkRecord | undefined>;
}

export class CloudRequests {
  heartbeats = 0;
  /** Added once the process has what a request kind needs (e.g. Kubernetes access for investigations); the first that handles a message wins. */
  readonly handlers: RequestHandler[] = [];

  constructor(
    private readonly certificates: CertificateRenewals,
    /** Queues an answer on the named stream. */
    private readonly answer: (on: StreamName, record: UplinkRecord) => void,
    private readonly events: UplinkEvents,
  ) {}

  /** Decodes and handles a message from the cloud on any stream. */
  received(on: StreamName, bytes: Buffer): void {
    let message: CloudMessage | undefined;
    try {
      // The flows, events and logs responses share one shape (heartbeat = 1); data and control carry requests too.
      message =
        on === 'control' ? StreamControlResponse.decode(bytes).response : on === 'data' ? StreamDataResponse.decode(bytes).response : StreamLogsResponse.decode(bytes).response;
    } catch (err) {
      this.events.cloudMessage(on, 'undecodable', 'malformed', err instanceof Error ? err.message : String(err));
      return;
    }
    this.handle(on, message);
  }

  private handle(on: StreamName, message: CloudMessage | undefined): void {
    const reply = (record: UplinkRecord) => this.answer(on, record);
    const handler = message && this.handlers.find((h) => h.handles(message, on));
    if (message && handler) {
      this.events.cloudMessage(on, message.$case, 'handled');
      // Handlers answer every request, refusals included, and never reject (see executors/index.ts); a rejection
      // anyway is a bug, logged, never an unhandled rejection that ends the process.
      void handler.handle(message, on).then(
        (record) => record && reply(record),
        (err: unknown) => this.events.cloudMessage(on, message.$case, 'handler_failed', err instanceof Error ? err.message : String(err)),
      );
      return;
    }
    switch (message?.$case) {
      case undefined:
        this.events.cloudMessage(on, 'unknown', 'unknown', 'a message kind this operator version does not know (or an empty message)');
        return;
      case 'heartbeat':
        this.heartbeats++;
        this.events.cloudMessage(on, 'heartbeat', 'handled');
        return;
      case 'ack':
        this.events.cloudMessage(on, 'ack', 'handled');
        return;
      case 'certificateRenewalRequest': {
        this.events.cloudMessage(on, message.$case, 'handled');
        void this.certificates.apply(message.value).then((response) => reply({ $case: 'certificateRenewalResponse', value: response }));
        return;
      }
      case 'kubernetesApiRequest':
        this.notSupported(on, message.$case);
        reply({ $case: 'kubernetesApiResponse', value: { requestId: message.value.requestId, results: [], globalErrorMessage: unsupported('Kubernetes API requests') } });
        return;
      case 'shellCommandRequest':
        this.notSupported(on, message.$case);
        reply({ $case: 'shellCommandResponse', value: { requestId: message.value.requestId, results: [], globalErrorMessage: unsupported('shell commands') } });
        return;
      case 'yamlDryRunRequest':
        this.notSupported(on, message.$case);
        reply({ $case: 'yamlDryRunResponse', value: { requestId: message.value.requestId, results: [], globalErrorMessage: unsupported('YAML dry runs') } });
        return;
      case 'yamlApplyRequest':
        this.notSupported(on, message.$case);
        reply({ $case: 'yamlApplyResponse', value: { requestId: message.value.requestId, results: [], globalErrorMessage: unsupported('YAML applies') } });
        return;
      case 'operatorRestartRequest':
        this.notSupported(on, message.$case);
        reply({ $case: 'operatorRestartResponse', value: { requestId: message.value.requestId, success: false, errorMessage: unsupported('restart requests'), initiatedAt: undefined } });
        return;
      case 'metricsQueryRequest':
        this.notSupported(on, message.$case);
        reply({
          $case: 'metricsQueryResponse',
          value: { requestId: message.value.requestId, metrics: [], totalSeriesMatched: 0, totalSeriesReturned: 0, truncated: false, errorMessage: unsupported('metrics queries') },
        });
        return;
      case 'datadogQueryRequest':
        this.notSupported(on, message.$case);
        reply({ $case: 'datadogQueryResponse', value: { requestId: message.value.requestId, success: false, responseData: '', errorMessage: unsupported('Datadog, Argo CD, Argo Rollouts, Flux and Karpenter queries'), statusCode: 501 } });
        return;
      case 'networkPolicy':
        // Reached only without Kubernetes access (remediation/network-policies.ts handles the data stream's pushes
        // otherwise). The data stream's answer is NetworkPoliciesWithErrors by policy_id; the control stream's push
        // has no answer in the published operator: counted and logged.
        if (on === 'data') {
          this.notSupported(on, message.$case);
          reply({ $case: 'networkPolicyWithErrors', value: { policies: [{ networkPolicy: message.value.networkPolicy, policyId: message.value.policyId, errorMessage: unsupported('network policies without Kubernetes access') }] } });
          return;
        }
        this.events.cloudMessage(on, message.$case, 'unsupported_no_answer', `policy ${message.value.policyId}: network policies are only taken on the data stream`);
        return;
      default: {
        const unknown: { $case: string } = message;
        this.events.cloudMessage(on, unknown.$case, 'unknown');
      }
    }
  }

  private notSupported(on: StreamName, kind: string): void {
    this.events.cloudMessage(on, kind, 'answered_unsupported');
  }
}
