// The executors for the cloud's investigation requests (issue 8), as one object the uplink calls: one method per
// request kind, each resolving to the answer message (never throwing, never silent), plus `handle` that maps the
// control stream's request oneof to the answer oneof, so wiring is one call in the uplink's CloudRequests.
// See docs/investigations.md for what is and is not done, and why.
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import type { KubeConfig } from '@kubernetes/client-node';
import type { Logger, Registry } from '@kestrel/core';
import type {
  KubernetesAPIRequest,
  KubernetesAPIResponse,
  OperatorRestartRequest,
  OperatorRestartResponse,
  ShellCommandRequest,
  ShellCommandResponse,
  StreamControlRequest,
  StreamControlResponse,
  YamlApplyRequest,
  YamlApplyResponse,
  YamlDryRunRequest,
  YamlDryRunResponse,
} from '@kestrel/proto/cloud/v1';
import { PolicyProxy } from './api-proxy.js';
import { ApiReader } from './api-reader.js';
import { DEFAULT_EXECUTORS_CONFIG, type ExecutorsConfig } from './config.js';
import type { ExecutorContext } from './context.js';
import { ExecutorEvents, loggerAuditSink, type AuditSink, type RequestKind } from './events.js';
import { KindResolver } from './kinds.js';
import { KubeHttp } from './kube-http.js';
import { resolveBinary } from './kubectl-runner.js';
import { executeKubernetesApi } from './kubernetes-api.js';
import { MinuteRateLimit, Semaphore } from './limits.js';
import { OperatorRestarts, type RestartHooks } from './operator-restart.js';
import { executeShellCommands } from './shell-commands.js';
import { applyYaml, dryRunYaml } from './yaml-manifests.js';

export { DEFAULT_EXECUTORS_CONFIG, investigationSettings, executorsConfigFrom, type ExecutorsConfig } from './config.js';
export type { AuditRecord, AuditItem, AuditSink, Decision, RequestKind } from './events.js';
export type { RestartHooks } from './operator-restart.js';
export { checkApiPath, normaliseApiPath, type ApiTarget } from './api-paths.js';
export { splitCommandLine } from './command-line.js';
export { checkKubectl, type KubectlPlan } from './kubectl-policy.js';
export { EXIT_NO_KUBECTL, EXIT_REFUSED, EXIT_TIMED_OUT, EXIT_TRUNCATED } from './shell-commands.js';
export { REDACTED } from './redaction.js';
export type { Refusal, RefusalCode } from './refusal.js';

export interface ExecutorsDeps {
  /** The operator's own credentials: loadFromCluster() in a pod, a kubeconfig file in local runs and tests. */
  kubeConfig: KubeConfig;
  registry: Registry;
  logger: Logger;
  /** Where audit records go; default: one JSON line on `logger`. */
  audit?: AuditSink;
  /** Parent of the temp folder that holds each kubectl run's HOME and session kubeconfig; default os.tmpdir(). */
  tempRoot?: string;
  now?: () => number;
}

type Cases = 'kubernetesApiRequest' | 'shellCommandRequest' | 'yamlDryRunRequest' | 'yamlApplyRequest' | 'operatorRestartRequest';
/** The request kinds the executors answer, as they arrive in StreamControlResponse (StreamDataResponse has the same). */
export type ExecutorRequest = Extract<NonNullable<StreamControlResponse['response']>, { $case: Cases }>;
/** Their answers, as StreamControlRequest carries them (StreamDataRequest uses the same $case names). */
export type ExecutorAnswer = Extract<
  NonNullable<StreamControlRequest['request']>,
  { $case: 'kubernetesApiResponse' | 'shellCommandResponse' | 'yamlDryRunResponse' | 'yamlApplyResponse' | 'operatorRestartResponse' }
>;

export const isExecutorRequest = (m: { $case: string } | undefined): m is ExecutorRequest =>
  m !== undefined && ['kubernetesApiRequest', 'shellCommandRequest', 'yamlDryRunRequest', 'yamlApplyRequest', 'operatorRestartRequest'].includes(m.$case);

const STOPPED = 'the operator is shutting down; retry on the next connection';

export class Executors {
  private stopped = false;

  private constructor(
    private readonly ctx: ExecutorContext,
    private readonly proxy: PolicyProxy,
    private readonly http: KubeHttp,
    private readonly kinds: KindResolver,
    private readonly kubectl: string | Error,
    private readonly home: string,
    private readonly restarts: OperatorRestarts,
  ) {}

  /**
   * Resolves kubectl (once: runs never search PATH), makes the private temp folder for kubectl runs. Without kubectl
   * the executors still start: commands are then answered with exit code 127 and the reason, and a warning is logged.
   */
  static async start(config: Partial<ExecutorsConfig>, deps: ExecutorsDeps): Promise<Executors> {
    const full: ExecutorsConfig = { ...DEFAULT_EXECUTORS_CONFIG, ...config };
    let kubectl: string | Error;
    try {
      kubectl = resolveBinary(full.kubectl);
    } catch (err) {
      kubectl = err instanceof Error ? err : new Error(String(err));
      deps.logger.warn('kubectl not found: shell command requests will be answered with exit code 127', { kubectl: full.kubectl, error: kubectl.message });
    }
    const home = fs.mkdtempSync(path.join(deps.tempRoot ?? os.tmpdir(), 'kestrel-investigations-'));
    fs.chmodSync(home, 0o700);
    const now = deps.now ?? Date.now;
    const http = new KubeHttp(deps.kubeConfig);
    const events = new ExecutorEvents(deps.registry, deps.audit ?? loggerAuditSink(deps.logger));
    const reader = new ApiReader(http, { configMapData: full.configMapData, envValues: full.envValues }, full.maxCheckedBytes);
    const ctx: ExecutorContext = {
      config: full,
      reader,
      apiCalls: new Semaphore(full.maxParallelApiCalls),
      commands: new Semaphore(full.maxParallelCommands),
      rateLimit: new MinuteRateLimit(full.itemsPerMinute, now),
      events,
      now,
    };
    const proxy = new PolicyProxy(reader, events);
    return new Executors(ctx, proxy, http, new KindResolver(http), kubectl, home, new OperatorRestarts(ctx));
  }

  async executeKubernetesApi(req: KubernetesAPIRequest): Promise<KubernetesAPIResponse> {
    return this.guard('kubernetes_api', req.requestId, () => executeKubernetesApi(this.ctx, req));
  }

  async executeShellCommands(req: ShellCommandRequest): Promise<ShellCommandResponse> {
    return this.guard('shell_command', req.requestId, () => executeShellCommands(this.ctx, { proxy: this.proxy, kubectl: this.kubectl, workDir: this.home }, req));
  }

  async dryRunYaml(req: YamlDryRunRequest): Promise<YamlDryRunResponse> {
    return this.guard('yaml_dry_run', req.requestId, () => dryRunYaml(this.ctx, { http: this.http, kinds: this.kinds }, req));
  }

  async applyYaml(req: YamlApplyRequest): Promise<YamlApplyResponse> {
    return this.guard('yaml_apply', req.requestId, () => applyYaml(this.ctx, { http: this.http, kinds: this.kinds }, req));
  }

  /**
   * The promise that every request is answered: while stopping, with a shutting-down message; on an unexpected
   * failure (a full disk, a bug), with the error in global_error_message, audited as failed.
   */
  private async guard<T extends { requestId: string; results: unknown[]; globalErrorMessage: string }>(kind: RequestKind, requestId: string, work: () => Promise<T>): Promise<T> {
    if (this.stopped) return { requestId, results: [], globalErrorMessage: STOPPED } as unknown as T;
    try {
      return await work();
    } catch (err) {
      const reason = `internal error: ${err instanceof Error ? err.message : String(err)}`;
      this.ctx.events.answered({ requestId, kind, decision: 'failed', reason, durationMs: 0, bytes: 0, items: [] });
      return { requestId, results: [], globalErrorMessage: reason } as unknown as T;
    }
  }

  /** Answers at once; the drain and exit happen later through `hooks` (see operator-restart.ts). */
  operatorRestart(req: OperatorRestartRequest, hooks: RestartHooks): OperatorRestartResponse {
    if (this.stopped) return { requestId: req.requestId, success: false, errorMessage: STOPPED, initiatedAt: undefined };
    return this.restarts.handle(req, hooks);
  }

  /** One request from the control (or data) stream to its answer, for the uplink: `reply(await executors.handle(m, hooks))`. */
  async handle(request: ExecutorRequest, hooks: RestartHooks): Promise<ExecutorAnswer> {
    switch (request.$case) {
      case 'kubernetesApiRequest':
        return { $case: 'kubernetesApiResponse', value: await this.executeKubernetesApi(request.value) };
      case 'shellCommandRequest':
        return { $case: 'shellCommandResponse', value: await this.executeShellCommands(request.value) };
      case 'yamlDryRunRequest':
        return { $case: 'yamlDryRunResponse', value: await this.dryRunYaml(request.value) };
      case 'yamlApplyRequest':
        return { $case: 'yamlApplyResponse', value: await this.applyYaml(request.value) };
      case 'operatorRestartRequest':
        return { $case: 'operatorRestartResponse', value: this.operatorRestart(request.value, hooks) };
    }
  }

  /** A scheduled restart, for debug views. */
  get pendingRestart(): { requestId: string; at: number } | undefined {
    return this.restarts.pending;
  }

  /** Stops answering (new requests get a shutting-down answer), stops the proxy (running kubectl calls fail). */
  async stop(): Promise<void> {
    if (this.stopped) return;
    this.stopped = true;
    this.restarts.cancel();
    await this.proxy.stop();
    fs.rmSync(this.home, { recursive: true, force: true });
  }
}
