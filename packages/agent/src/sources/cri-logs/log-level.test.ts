import assert from 'node:assert/strict';
import { test } from 'node:test';
import { detectLevel } from './log-level.js';

test('reads the level of JSON logs from level, severity, lvl and log.level, names or numbers', () => {
  assert.equal(detectLevel('{"level":"info","msg":"listening"}'), 'INFO');
  assert.equal(detectLevel('{"severity":"ERROR","message":"x"}'), 'ERROR');
  assert.equal(detectLevel('{"ts":1,"lvl":"warning","msg":"slow"}'), 'WARN');
  assert.equal(detectLevel('{"@timestamp":"t","log.level":"debug"}'), 'DEBUG');
  assert.equal(detectLevel('{"level":50,"msg":"pino error"}'), 'ERROR');
  assert.equal(detectLevel('{"level":30,"msg":"pino info"}'), 'INFO');
  assert.equal(detectLevel('{"level" : "fatal"}'), 'ERROR');
  assert.equal(detectLevel('{"msg":"no level here"}'), '');
});

test('reads common text prefixes: words, brackets, Python logging, klog, logfmt, timestamps first', () => {
  const cases: [string, string][] = [
    ['ERROR something failed', 'ERROR'],
    ['[warn] disk almost full', 'WARN'],
    ['WARNING:root:retrying', 'WARN'],
    ['INFO: started', 'INFO'],
    ['error: cannot connect', 'ERROR'],
    ['E0501 12:00:00.000123       1 reflector.go:535] failed', 'ERROR'],
    ['I0501 12:00:00.000123       1 main.go:10] ok', 'INFO'],
    ['W0501 12:00:00.000123       1 main.go:10] hmm', 'WARN'],
    ['time="2024-05-01T12:00:00Z" level=error msg="upstream timeout"', 'ERROR'],
    ['ts=2024-05-01T12:00:00Z caller=main.go:12 lvl=debug msg=x', 'DEBUG'],
    ['2024-05-01 12:00:00.123 ERROR 1 --- [main] o.s.boot.SpringApplication : failed', 'ERROR'],
    ['12:00:00.123 [main] DEBUG com.example.App - starting', 'DEBUG'],
    ['2024/05/01 12:00:00 [error] 7#7: *1 open() failed', 'ERROR'],
    ['<TRACE> deep detail', 'DEBUG'],
  ];
  for (const [msg, level] of cases) assert.equal(detectLevel(msg), level, msg);
});

test('does not take prose or other words for a level', () => {
  for (const msg of ['info about the order was sent', 'GET /healthz 200', 'errors=0 warnings=0', '10.0.0.1 - - "GET / HTTP/1.1" 200', '', 'Informational text', 'the order for customer 42 was shipped today, no ERROR']) {
    assert.equal(detectLevel(msg), '', msg);
  }
});
