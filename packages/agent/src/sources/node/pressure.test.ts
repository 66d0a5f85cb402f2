import assert from 'node:assert/strict';
import { test } from 'node:test';
import { DEFAULT_PRESSURE_THRESHOLDS, Hysteresis, parsePressure, parsePressureThresholds, PressureParseError, ResourcePressure } from './pressure.js';

const file = (someAvg10: number | string, fullAvg10?: number | string) =>
  `some avg10=${someAvg10} avg60=1.00 avg300=0.50 total=123456\n` + (fullAvg10 === undefined ? '' : `full avg10=${fullAvg10} avg60=0.00 avg300=0.00 total=42\n`);

test('parses the some and full lines of a pressure file', () => {
  assert.deepEqual(parsePressure(file('12.34', '0.50')), {
    some: { avg10: 12.34, avg60: 1, avg300: 0.5, total: 123456 },
    full: { avg10: 0.5, avg60: 0, avg300: 0, total: 42 },
  });
});

test('a cpu file without a full line (kernels before 5.13) parses with full undefined', () => {
  assert.equal(parsePressure(file('3.00')).full, undefined);
});

test('tolerates fields the kernel may add later, but not malformed files', () => {
  assert.equal(parsePressure('some avg10=1.00 avg60=0.00 avg300=0.00 total=1 extra=7\n').some.avg10, 1);
  const malformed: [string, RegExp][] = [
    ['', /no "some" line/],
    ['full avg10=1.00 avg60=0.00 avg300=0.00 total=1\n', /no "some" line/],
    ['some avg60=0.00 avg300=0.00 total=1\n', /no avg10/],
    ['some avg10=abc avg60=0.00 avg300=0.00 total=1\n', /avg10="abc" is not a percentage/],
    ['some avg10=-1.00 avg60=0.00 avg300=0.00 total=1\n', /not a percentage/],
    ['some avg10=101.00 avg60=0.00 avg300=0.00 total=1\n', /not a percentage/],
    ['some avg10=1.00 avg60 avg300=0.00\n', /malformed field/],
    ['<html>oops</html>\n', /unexpected line/],
    [file('1.00') + file('2.00'), /two "some" lines/],
  ];
  for (const [text, message] of malformed) {
    assert.throws(() => parsePressure(text), (err: unknown) => err instanceof PressureParseError && message.test(err.message), JSON.stringify(text));
  }
});

test('hysteresis: True at the threshold, stays True inside the band, False only at threshold minus band', () => {
  const h = new Hysteresis(50, 10);
  assert.deepEqual([49.99, 50, 45, 40.01, 40, 45, 49].map((v) => h.update(v)), [false, true, true, true, false, false, false]);
});

test('hysteresis: a value hovering around the threshold changes state once, not on every sample', () => {
  const h = new Hysteresis(50, 10);
  const states = [48, 51, 49, 52, 47, 50.5, 46, 49.9].map((v) => h.update(v));
  const changes = states.filter((s, i) => s !== (i === 0 ? false : states[i - 1])).length;
  assert.equal(changes, 1);
});

test('hysteresis: threshold 0 is off; a band wider than the threshold clears at 0', () => {
  const off = new Hysteresis(0, 10);
  assert.equal(off.update(100), false);
  const narrow = new Hysteresis(5, 10);
  assert.deepEqual([5, 1, 0].map((v) => narrow.update(v)), [true, true, false]);
});

test('a resource is pressured when some or full crosses its threshold, each with its own hysteresis', () => {
  const memory = new ResourcePressure('memory', { some: 50, full: 10 }, 5);
  assert.equal(memory.judge(parsePressure(file('20', '2'))).pressured, false);
  assert.equal(memory.judge(parsePressure(file('20', '10'))).pressured, true, 'full crossed');
  assert.equal(memory.judge(parsePressure(file('20', '6'))).pressured, true, 'full inside its band');
  assert.equal(memory.judge(parsePressure(file('20', '5'))).pressured, false, 'full cleared');
  const judged = memory.judge(parsePressure(file('55', '0')));
  assert.equal(judged.pressured, true, 'some crossed');
  assert.match(judged.message, /memory pressure stall: some avg10=55\.00% \(threshold 50%, clears at 45%\), full avg10=0\.00%/);
  const cpu = new ResourcePressure('cpu', { some: 80, full: 0 }, 10);
  assert.equal(cpu.judge(parsePressure(file('90'))).pressured, true, 'cpu without a full line');
  assert.equal(new ResourcePressure('io', { some: 0, full: 0 }, 10).enabled, false);
});

test('thresholds setting: merged over the defaults, 0 turns one off, none turns all off, bad entries refused', () => {
  assert.deepEqual(parsePressureThresholds(''), DEFAULT_PRESSURE_THRESHOLDS);
  const t = parsePressureThresholds('memory.full=20, cpu.some=0,io.full=12.5');
  assert.deepEqual(t, { cpu: { some: 0, full: 0 }, memory: { some: DEFAULT_PRESSURE_THRESHOLDS.memory.some, full: 20 }, io: { some: DEFAULT_PRESSURE_THRESHOLDS.io.some, full: 12.5 } });
  assert.deepEqual(parsePressureThresholds('none'), { cpu: { some: 0, full: 0 }, memory: { some: 0, full: 0 }, io: { some: 0, full: 0 } });
  for (const bad of ['disk.some=1', 'cpu.half=1', 'cpu.some=101', 'cpu.some', 'cpu.some=-1']) assert.throws(() => parsePressureThresholds(bad), /expected resource\.kind=percent/, bad);
});
