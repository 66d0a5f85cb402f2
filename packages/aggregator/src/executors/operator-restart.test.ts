import assert from 'node:assert/strict';
import { test } from 'node:test';
import { Registry } from '@kestrel/core';
import { DEFAULT_EXECUTORS_CONFIG } from './config.js';
import type { ExecutorContext } from './context.js';
import { ExecutorEvents, type AuditRecord } from './events.js';
import { MinuteRateLimit, Semaphore } from './limits.js';
import { OperatorRestarts } from './operator-restart.js';

function context(audit: AuditRecord[], perMinute = 100): ExecutorContext {
  return {
    config: { ...DEFAULT_EXECUTORS_CONFIG, drainTimeoutMs: 200 },
    reader: undefined as never,
    apiCalls: new Semaphore(1),
    commands: new Semaphore(1),
    rateLimit: new MinuteRateLimit(perMinute),
    events: new ExecutorEvents(new Registry(), (r) => audit.push(r)),
    now: Date.now,
  };
}

test('a restart is answered first, then drained and exited after the delay; a second one is refused', async () => {
  const audit: AuditRecord[] = [];
  const restarts = new OperatorRestarts(context(audit));
  const steps: string[] = [];
  const hooks = {
    drain: async (reason: string) => {
      steps.push(`drain: ${reason}`);
    },
    exit: (code: number) => void steps.push(`exit ${code}`),
  };
  const started = Date.now();
  const answer = restarts.handle({ requestId: 'r1', reason: 'new version', delaySeconds: 0, graceful: true }, hooks);
  steps.push('answered');
  assert.equal(answer.success, true);
  assert.equal(answer.requestId, 'r1');
  assert.ok(answer.initiatedAt && answer.initiatedAt.seconds > 0);
  const second = restarts.handle({ requestId: 'r2', reason: '', delaySeconds: 0, graceful: true }, hooks);
  assert.equal(second.success, false);
  assert.match(second.errorMessage, /already scheduled \(request r1/);
  while (!steps.includes('exit 0')) await new Promise((r) => setTimeout(r, 50));
  assert.ok(Date.now() - started >= 1000, 'at least a second, so the answer is on the wire');
  assert.deepEqual(steps, ['answered', 'drain: restart requested by the cloud (request r1: new version)', 'exit 0']);
  assert.deepEqual(
    audit.map((a) => [a.requestId, a.decision]),
    [
      ['r1', 'allowed'],
      ['r2', 'refused'],
    ],
  );
});

test('a drain that hangs is cut at the drain timeout; graceful=false skips it; no request id is malformed', async () => {
  const audit: AuditRecord[] = [];
  const steps: string[] = [];
  const hang = new OperatorRestarts(context(audit));
  hang.handle({ requestId: 'r1', reason: '', delaySeconds: 0, graceful: true }, { drain: () => new Promise(() => {}), exit: () => void steps.push('exit after hang') });
  const quick = new OperatorRestarts(context(audit));
  quick.handle({ requestId: 'r2', reason: '', delaySeconds: 0, graceful: false }, { drain: async () => void steps.push('drained?'), exit: () => void steps.push('exit quick') });
  while (steps.length < 2) await new Promise((r) => setTimeout(r, 50));
  assert.deepEqual(steps.sort(), ['exit after hang', 'exit quick']);
  const bad = new OperatorRestarts(context(audit)).handle({ requestId: '', reason: '', delaySeconds: 0, graceful: true }, { drain: async () => {}, exit: () => assert.fail('must not exit') });
  assert.equal(bad.success, false);
  assert.match(bad.errorMessage, /request_id is missing/);
  assert.equal(audit.at(-1)!.decision, 'malformed');
});
