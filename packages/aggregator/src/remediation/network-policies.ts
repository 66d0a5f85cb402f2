// Network policies pushed by Kestrel Cloud (StreamDataResponse.network_policy, remediation-actions.md section 8):
// always parsed and validated (only networking.k8s.io/v1 NetworkPolicy, Ingress/Egress policy types, a namespace,
// the namespace allowlist) and dry-run on the server; created only when remediation.networkPolicies is on, else
// answered as validated but not applied. One policy that already exists is left as it is and answered as a success
// (as published). The answer is NetworkPoliciesWithErrors with that one policy, on the data stream.
import type { NetworkPolicyWithError } from '@kestrel/proto/cloud/v1';
import { parse as parseYaml } from 'yaml';
import type { CloudMessage, RequestHandler } from '../uplink/cloud-requests.js';
import type { StreamName, UplinkRecord } from '../uplink/records.js';
import type { MinuteRateLimit } from '../executors/limits.js';
import type { ActionDecision, RemediationEvents } from './events.js';
import { KubeError, type Json, type RemediationKube } from './kube-client.js';
import { writeRefusal, type WriteSwitch } from './settings.js';

const PATH = (namespace: string, name?: string) => `/apis/networking.k8s.io/v1/namespaces/${encodeURIComponent(namespace)}/networkpolicies${name ? `/${encodeURIComponent(name)}` : ''}`;
const POLICY_TIMEOUT_MS = 30_000;

export interface PolicyOutcome {
  errorMessage: string;
  decision: ActionDecision;
  target: string;
  dryRun?: string;
}

class Invalid extends Error {}

/** The checks that need no API server: what kind of object, its policy types, where it goes. */
export function parsePolicy(text: string): Json {
  if (!text.trim()) throw new Invalid('policy is empty');
  let parsed: unknown;
  try {
    parsed = parseYaml(text);
  } catch (err) {
    throw new Invalid(`failed to parse policy: ${err instanceof Error ? err.message.split('\n')[0] : String(err)}`);
  }
  if (typeof parsed !== 'object' || parsed === null || Array.isArray(parsed)) throw new Invalid('failed to parse policy: not a YAML object');
  const policy = parsed as Json;
  if (policy['apiVersion'] !== 'networking.k8s.io/v1' || policy['kind'] !== 'NetworkPolicy') {
    throw new Invalid(`failed to parse policy: only networking.k8s.io/v1 NetworkPolicy is accepted, not ${String(policy['apiVersion'] ?? '')} ${String(policy['kind'] ?? '')}`.trimEnd());
  }
  const spec = (typeof policy['spec'] === 'object' && policy['spec'] !== null ? policy['spec'] : {}) as Json;
  const types = Array.isArray(spec['policyTypes']) ? spec['policyTypes'] : [];
  for (const t of types) if (t !== 'Ingress' && t !== 'Egress') throw new Invalid(`failed to parse policy: spec.policyTypes: unsupported value ${JSON.stringify(t)}: supported values: "Ingress", "Egress"`);
  const meta = (typeof policy['metadata'] === 'object' && policy['metadata'] !== null ? policy['metadata'] : {}) as Json;
  if (typeof meta['name'] !== 'string' || !meta['name']) throw new Invalid('failed to parse policy: metadata.name is required');
  if (typeof meta['namespace'] !== 'string' || !meta['namespace']) throw new Invalid('failed to parse policy: metadata.namespace is required');
  return policy;
}

export class NetworkPolicyPushes implements RequestHandler {
  constructor(
    private readonly kube: RemediationKube,
    private readonly sw: WriteSwitch,
    private readonly limit: MinuteRateLimit,
    private readonly events: RemediationEvents,
  ) {}

  handles(message: CloudMessage, on: StreamName): boolean {
    // As published: only the data stream's push is acted on; the control stream's field is not handled.
    return message.$case === 'networkPolicy' && on === 'data';
  }

  async handle(message: CloudMessage): Promise<UplinkRecord | undefined> {
    if (message.$case !== 'networkPolicy') return undefined;
    const push: NetworkPolicyWithError = message.value;
    const started = Date.now();
    const outcome = await this.outcome(push.networkPolicy);
    this.events.answered({
      requestId: push.policyId,
      family: 'Network policies',
      action: 'push',
      target: outcome.target,
      decision: outcome.decision,
      ...(outcome.dryRun !== undefined ? { dryRun: outcome.dryRun } : {}),
      status: outcome.errorMessage ? 0 : 200,
      outcome: outcome.errorMessage || 'ok',
      durationMs: Date.now() - started,
    });
    return { $case: 'networkPolicyWithErrors', value: { policies: [{ networkPolicy: push.networkPolicy, policyId: push.policyId, errorMessage: outcome.errorMessage }] } };
  }

  /** Never rejects: every failure is the policy's error_message. */
  async outcome(text: string): Promise<PolicyOutcome> {
    let policy: Json;
    try {
      policy = parsePolicy(text);
    } catch (err) {
      return { errorMessage: (err as Error).message, decision: 'invalid', target: '' };
    }
    const meta = policy['metadata'] as Json;
    const namespace = meta['namespace'] as string;
    const name = meta['name'] as string;
    const target = `NetworkPolicy/${namespace}/${name}`;
    if (this.sw.namespaces.length > 0 && !this.sw.namespaces.includes(namespace)) {
      return { errorMessage: `namespace ${JSON.stringify(namespace)} is not in ${this.sw.value}.namespaces (${this.sw.namespaces.join(', ')})`, decision: 'refused', target };
    }
    if (!this.limit.take().ok) return { errorMessage: 'rate limited: network policy pushes are limited per minute on this operator; retry later', decision: 'rate_limited', target };
    const signal = AbortSignal.timeout(POLICY_TIMEOUT_MS);
    try {
      await this.kube.call({ method: 'POST', path: PATH(namespace), query: { dryRun: 'All' }, body: policy, signal });
    } catch (err) {
      const text = err instanceof Error ? err.message : String(err);
      if (err instanceof KubeError && err.code === 409 && /already exists/.test(text)) return { errorMessage: '', decision: 'already_present', target, dryRun: text };
      return { errorMessage: signal.aborted ? 'dry run failed: timed out' : `dry run failed: ${text}`, decision: signal.aborted ? 'timed_out' : 'dry_run_failed', target, dryRun: text };
    }
    const off = writeRefusal(this.sw, namespace);
    if (off) return { errorMessage: `validated (server-side dry run passed) but not applied: ${off}`, decision: 'validated_only', target, dryRun: 'ok' };
    try {
      await this.kube.call({ method: 'POST', path: PATH(namespace), body: policy, signal });
    } catch (err) {
      if (!(err instanceof KubeError && err.code === 409)) return { errorMessage: err instanceof Error ? err.message : String(err), decision: 'failed', target, dryRun: 'ok' };
      // Created by someone else between the dry run and now: replace it with the pushed one, as published.
      try {
        const live = await this.kube.call({ method: 'GET', path: PATH(namespace, name), signal });
        const resourceVersion = (live['metadata'] as Json | undefined)?.['resourceVersion'];
        await this.kube.call({ method: 'PUT', path: PATH(namespace, name), body: { ...policy, metadata: { ...meta, resourceVersion } }, signal });
      } catch (again) {
        return { errorMessage: again instanceof Error ? again.message : String(again), decision: 'failed', target, dryRun: 'ok' };
      }
    }
    return { errorMessage: '', decision: 'applied', target, dryRun: 'ok' };
  }
}
