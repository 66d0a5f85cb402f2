import assert from 'node:assert/strict';
import fs from 'node:fs';
import { test } from 'node:test';
import { StackTraceGrouper, traceHeader } from './stack-traces.js';
import { agentSample } from './testdata.js';
import type { LogLine } from './types.js';

const limits = { maxLines: 1000, maxBytes: 256 * 1024, maxGapMs: 500 };

/** Lines of a sample as the records of one stream, 1 ms apart; returns what the grouper emits. */
function group(text: string, options: { stream?: 'stdout' | 'stderr'; gapMs?: number; limits?: typeof limits } = {}): LogLine[] {
  const out: LogLine[] = [];
  const g = new StackTraceGrouper(options.limits ?? limits, (l) => out.push(l), () => 0);
  let offset = 0;
  text
    .replace(/\n$/, '')
    .split('\n')
    .forEach((message, i) => {
      const ms = i * (options.gapMs ?? 1);
      const line: LogLine = { seconds: 1714564800 + Math.floor(ms / 1000), nanos: (ms % 1000) * 1e6, stream: options.stream ?? 'stderr', message, offset, endOffset: offset + message.length + 1, lineNumber: 0, resumeOffset: 0, resumeLine: 0, parseError: false, truncated: false, level: '', errorInfo: undefined };
      offset = line.endOffset;
      g.offer(line);
    });
  g.flush();
  return out;
}

const sample = (name: string) => fs.readFileSync(agentSample(`stack-traces/${name}`), 'utf8');

test('groups a Java exception with its frames, cause and "... N more" into one record with its error info', () => {
  const out = group(sample('java.txt'));
  assert.equal(out.length, 3, 'the log line before, the trace, the log line after');
  const trace = out[1]!;
  assert.equal(trace.message.split('\n').length, 8);
  assert.equal(trace.level, 'ERROR');
  assert.deepEqual(trace.errorInfo && { type: trace.errorInfo.errorType, message: trace.errorInfo.errorMessage }, { type: 'java.lang.IllegalStateException', message: 'Order 42 has no lines' });
  assert.match(trace.errorInfo!.stackTrace, /^\tat com\.example\.shop\.OrderService\.total/);
  assert.match(trace.errorInfo!.stackTrace, /\.\.\. 3 more$/);
  assert.equal(trace.endOffset, out[2]!.offset, 'the record spans its lines');
});

test('groups a chained Python traceback and takes the last exception as the error', () => {
  const out = group(sample('python.txt'));
  assert.deepEqual(out.map((l) => l.message.split('\n')[0]), ['ERROR:root:payment failed', 'Traceback (most recent call last):', 'INFO:root:next job']);
  const info = out[1]!.errorInfo!;
  assert.deepEqual([info.errorType, info.errorMessage], ['payments.errors.PaymentError', 'charge failed for 42']);
  assert.equal(out[1]!.message.split('\n').length, 15);
});

test('groups a Go panic with its goroutines and reads the exit status', () => {
  const out = group(sample('go-panic.txt'));
  assert.equal(out.length, 1);
  const info = out[0]!.errorInfo!;
  assert.deepEqual([info.errorType, info.errorMessage, info.exitCode], ['panic', 'runtime error: invalid memory address or nil pointer dereference', 2]);
  assert.match(info.stackTrace, /goroutine 42 \[running\]:/);
});

test('groups a Node.js error with its frames and the version trailer', () => {
  const out = group(sample('node.txt'));
  assert.equal(out.length, 1);
  const info = out[0]!.errorInfo!;
  assert.deepEqual([info.errorType, info.errorMessage], ['TypeError', "Cannot read properties of undefined (reading 'id')"]);
  assert.match(out[0]!.message, /Node\.js v20\.11\.1$/);
});

test('a header without frames, or lines far apart in time, stay ordinary lines', () => {
  assert.equal(group('java.lang.RuntimeException: alone\nnext line').length, 2);
  assert.equal(group('TypeError: x\n    at f (/a.js:1:1)', { gapMs: 2000 }).length, 2, 'a frame written 2 s later is not part of it');
  assert.equal(traceHeader('Traceback (most recent call last):'), 'python');
  assert.equal(traceHeader('GET /api 500 Internal Server Error'), null);
  assert.equal(traceHeader('{"error":"x"}'), null);
});

test('a blank line held after a trace is emitted after it when nothing continues the trace', () => {
  const out = group('panic: boom\n\ngoroutine 1 [running]:\nmain.main()\n\t/a.go:1 +0x1\n\nafter');
  assert.deepEqual(out.map((l) => l.message), ['panic: boom\n\ngoroutine 1 [running]:\nmain.main()\n\t/a.go:1 +0x1', '', 'after']);
});

test('bounded: a trace longer than the line limit is cut, the rest stays lines', () => {
  const frames = Array.from({ length: 20 }, (_, i) => `\tat a.B.c(B.java:${i})`).join('\n');
  const out = group(`java.lang.Error: deep\n${frames}`, { limits: { ...limits, maxLines: 5 } });
  assert.equal(out[0]!.message.split('\n').length, 5);
  assert.equal(out.length, 1 + 16);
});

test('another stream ends a held trace: records are emitted in the order they complete', () => {
  const out: LogLine[] = [];
  const g = new StackTraceGrouper(limits, (l) => out.push(l), () => 0);
  const mk = (stream: 'stdout' | 'stderr', message: string, offset: number): LogLine => ({ seconds: 1, nanos: 0, stream, message, offset, endOffset: offset + 10, lineNumber: 0, resumeOffset: 0, resumeLine: 0, parseError: false, truncated: false, level: '', errorInfo: undefined });
  g.offer(mk('stderr', 'Error: boom', 0));
  g.offer(mk('stderr', '    at f (/a.js:1:1)', 10));
  g.offer(mk('stdout', 'unrelated', 20));
  g.offer(mk('stderr', '    at g (/a.js:2:1)', 30));
  g.flush();
  assert.deepEqual(out.map((l) => l.message), ['Error: boom\n    at f (/a.js:1:1)', 'unrelated', '    at g (/a.js:2:1)']);
});

test('a held trace may be sent once no later line could continue it (its quiet period), bounded for skewed clocks', () => {
  const t = 1714564800_000;
  let now = t + 50;
  const g = new StackTraceGrouper(limits, () => undefined, () => now);
  const line: LogLine = { seconds: t / 1000, nanos: 0, stream: 'stderr', message: 'Traceback (most recent call last):', offset: 0, endOffset: 10, lineNumber: 0, resumeOffset: 0, resumeLine: 0, parseError: false, truncated: false, level: '', errorInfo: undefined };
  g.offer(line);
  assert.equal(g.flushDeadline(), t + 500 + 250, 'the gap and a margin after the last line was written');
  const skewed = new StackTraceGrouper(limits, () => undefined, () => now);
  now = t - 10 * 60_000; // the runtime's clock is 10 minutes ahead of ours
  skewed.offer(line);
  assert.equal(skewed.flushDeadline(), now + 4 * 500);
});
