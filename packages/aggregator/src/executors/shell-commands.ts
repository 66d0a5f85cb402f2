// ShellCommandRequest: each command line split without a shell (command-line.ts), checked as a kubectl invocation
// (kubectl-policy.ts), then run (kubectl-runner.ts) against a policy proxy session (api-proxy.ts). Answered per
// command with exit codes a shell user reads naturally:
//   126  refused by policy, or over the rate limit (stderr says which and why; nothing ran)
//   124  timed out (kubectl's process group was killed)
//   141  output over the limit (reading stopped, kubectl was stopped, as `| head` would; stdout ends with a marker)
//   127  kubectl is not installed where the operator runs
//   otherwise kubectl's own exit code.
import fs from 'node:fs';
import path from 'node:path';
import type { ShellCommandRequest, ShellCommandResponse, ShellCommandResult } from '@kestrel/proto/cloud/v1';
import type { PolicyProxy } from './api-proxy.js';
import { splitCommandLine } from './command-line.js';
import { itemBudget, timeoutFor } from './config.js';
import { malformed, rateLimited, refusedItem, type ExecutorContext } from './context.js';
import { overall, type AuditItem, type Decision } from './events.js';
import { checkKubectl, type KubectlPlan } from './kubectl-policy.js';
import { runKubectl } from './kubectl-runner.js';
import { inOrder } from './limits.js';
import { refusalText, type Refusal } from './refusal.js';
import { limitText } from './truncation.js';

export const EXIT_REFUSED = 126;
export const EXIT_TIMED_OUT = 124;
export const EXIT_TRUNCATED = 141;
export const EXIT_NO_KUBECTL = 127;

export interface ShellDeps {
  proxy: PolicyProxy;
  /** kubectl's absolute path, or why there is none. */
  kubectl: string | Error;
  /** The operator's private temp folder: each run gets its own HOME in it (discovery and HTTP caches included), removed after the run. */
  workDir: string;
}

function decide(ctx: ExecutorContext, line: string): KubectlPlan | Refusal {
  const words = splitCommandLine(line);
  if ('refused' in words) return words;
  const plan = checkKubectl(words);
  if ('refused' in plan) return plan;
  return rateLimited(ctx) ?? plan;
}

export async function executeShellCommands(ctx: ExecutorContext, deps: ShellDeps, req: ShellCommandRequest): Promise<ShellCommandResponse> {
  const started = ctx.now();
  const requestId = req.requestId ?? '';
  const commands = req.commands ?? [];
  const problem = malformed(ctx.config, requestId, commands, 'commands');
  if (problem) {
    ctx.events.answered({ requestId, kind: 'shell_command', decision: 'malformed', reason: problem, durationMs: ctx.now() - started, bytes: 0, items: [] });
    return { requestId, results: [], globalErrorMessage: problem };
  }
  const timeoutMs = timeoutFor(ctx.config, req.timeoutSeconds);
  // One command's share of the answer, stdout and stderr together, so the whole answer stays under the cloud's limit.
  const share = itemBudget(ctx.config, commands.length);
  const stderrLimit = Math.min(ctx.config.maxStderrBytes, Math.floor(share / 4));
  const budget = share - stderrLimit;
  const decided = commands.map((line) => decide(ctx, line));

  ctx.events.inFlight.inc({ kind: 'shell_command' });
  try {
    const answers = await inOrder(commands, ctx.commands, async (line, i): Promise<[ShellCommandResult, AuditItem]> => {
      const plan = decided[i]!;
      if ('refused' in plan) {
        const result: ShellCommandResult = { command: line, success: false, stdout: '', stderr: `kestrel-operator: ${refusalText(plan)}\n`, exitCode: EXIT_REFUSED };
        return [result, refusedItem(line, plan, { exitCode: EXIT_REFUSED })];
      }
      const itemStarted = ctx.now();
      if (deps.kubectl instanceof Error) {
        const reason = `kubectl is not available: ${deps.kubectl.message}`;
        const result: ShellCommandResult = { command: line, success: false, stdout: '', stderr: `kestrel-operator: ${reason}\n`, exitCode: EXIT_NO_KUBECTL };
        return [result, { item: line, ran: ['kubectl', ...plan.args], decision: 'failed', reason, exitCode: EXIT_NO_KUBECTL, bytes: 0, durationMs: 0 }];
      }
      const kubectl = deps.kubectl;
      const home = fs.mkdtempSync(path.join(deps.workDir, 'run-'));
      const session = await deps.proxy.open({
        dir: home,
        allowSelfAccessReviews: plan.allowSelfAccessReviews,
        timeoutMs,
        // More than kubectl may print: a log cut by the proxy still overflows stdout, so the cut is always marked.
        textLimit: budget + 64 * 1024,
        maxCalls: ctx.config.maxApiCallsPerCommand,
        userAgent: `kestrel-operator/kubectl ${plan.verb}`,
      });
      try {
        const run = await runKubectl({ binary: kubectl, args: plan.args, kubeconfig: session.kubeconfigPath, home, timeoutMs, maxStdout: budget, maxStderr: stderrLimit });
        const stdout = limitText(run.stdout, budget, run.stdoutTruncated);
        let stderr = limitText(run.stderr, stderrLimit, run.stderrTruncated).text;
        let exitCode = run.exitCode ?? -1;
        let decision: Decision = 'allowed';
        let reason: string | undefined;
        if (run.startError) {
          decision = 'failed';
          reason = `kubectl could not be started: ${run.startError}`;
          stderr += `kestrel-operator: ${reason}\n`;
        } else if (run.timedOut) {
          decision = 'timed_out';
          exitCode = EXIT_TIMED_OUT;
          reason = `kubectl did not finish within ${timeoutMs / 1000}s and was stopped`;
          stderr += `kestrel-operator: ${reason}\n`;
        } else if (run.stdoutTruncated) {
          exitCode = EXIT_TRUNCATED;
          reason = `output truncated at ${budget} bytes (the limit for one command in this request); kubectl was stopped`;
          stderr += `kestrel-operator: ${reason}\n`;
        }
        if (session.refusedCodes.size > 0) {
          const codes = [...session.refusedCodes].join(', ');
          reason = [reason, `the policy proxy refused some of kubectl's API calls (${codes})`].filter(Boolean).join('; ');
        }
        const result: ShellCommandResult = { command: line, success: exitCode === 0 && decision === 'allowed', stdout: stdout.text, stderr, exitCode };
        const item: AuditItem = {
          item: line,
          ran: ['kubectl', ...plan.args],
          decision,
          ...(session.refusedCodes.size > 0 ? { code: [...session.refusedCodes].join(',') } : {}),
          ...(reason ? { reason } : {}),
          exitCode,
          bytes: stdout.bytes + Buffer.byteLength(stderr),
          truncated: stdout.truncated,
          durationMs: ctx.now() - itemStarted,
          apiCalls: session.calls,
        };
        return [result, item];
      } finally {
        await session.close();
        fs.rmSync(home, { recursive: true, force: true });
      }
    });
    const items = answers.map(([, a]) => a);
    const reasons = [...new Set(items.filter((a) => a.reason).map((a) => a.reason!))];
    ctx.events.answered({
      requestId,
      kind: 'shell_command',
      decision: overall(items),
      ...(reasons.length ? { reason: reasons.join('; ') } : {}),
      durationMs: ctx.now() - started,
      bytes: items.reduce((n, a) => n + a.bytes, 0),
      items,
    });
    return { requestId, results: answers.map(([r]) => r), globalErrorMessage: '' };
  } finally {
    ctx.events.inFlight.dec({ kind: 'shell_command' });
  }
}
