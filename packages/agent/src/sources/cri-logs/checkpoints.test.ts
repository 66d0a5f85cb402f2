import assert from 'node:assert/strict';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { test } from 'node:test';
import { createLogger, createRegistry, metricTotal, type Counter } from '@kestrel/core';
import { CheckpointStore, parseState, type StateDocument } from './checkpoints.js';
import { CriLogEvents } from './events.js';

const registry = createRegistry('t', false);
const events = () => {
  registry.clear();
  return new CriLogEvents(registry, createLogger('t', 'error'));
};
const errors = (kind: string) => metricTotal(registry.getSingleMetric('kestrel_agent_checkpoint_errors_total') as Counter, { kind });
const doc: StateDocument = {
  version: 2,
  streams: {
    'uid/app/0': {
      namespace: 'ns',
      pod: 'p',
      podUid: 'uid',
      container: 'app',
      restartCount: 0,
      complete: false,
      lineBase: 0,
      files: [{ device: 1, inode: 2, fingerprint: 3, fingerprintLength: 256, name: '0.log', size: 100, offset: 50, line: 4, done: false }],
    },
  },
};

test('writes the state atomically and reads it back', () => {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'cp-'));
  const store = new CheckpointStore(path.join(dir, 'state'), events(), 10);
  store.setSnapshot(() => doc);
  store.changed(true);
  assert.deepEqual(fs.readdirSync(path.join(dir, 'state')), ['cri-checkpoints.json'], 'no temporary file left');
  const again = new CheckpointStore(path.join(dir, 'state'), events());
  const loaded = again.load();
  assert.equal(loaded.status, 'loaded');
  assert.deepEqual(loaded.streams.get('uid/app/0'), doc.streams['uid/app/0']);
});

test('a corrupt or malformed state file is set aside and reported, never thrown', async () => {
  for (const bad of ['{"version":2,"streams":{"x":', '{"version":7}', '{"version":2,"streams":{"x":{"namespace":1}}}', '']) {
    const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'cp-'));
    fs.writeFileSync(path.join(dir, 'cri-checkpoints.json'), bad);
    const e = events();
    const result = new CheckpointStore(dir, e).load();
    assert.equal(result.status, 'corrupt', bad);
    assert.equal(result.streams.size, 0);
    assert.ok(fs.readdirSync(dir).some((f) => f.startsWith('cri-checkpoints.json.corrupt-')), 'kept for inspection');
    assert.ok(!fs.existsSync(path.join(dir, 'cri-checkpoints.json')));
    assert.equal(await errors('read'), 1);
  }
});

test('a state folder that cannot be written is reported and retried; the agent goes on', async () => {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'cp-'));
  const blocker = path.join(dir, 'not-a-folder');
  fs.writeFileSync(blocker, '');
  const e = events();
  const store = new CheckpointStore(path.join(blocker, 'state'), e, 10);
  store.setSnapshot(() => doc);
  store.changed(true);
  assert.equal(store.writes, 0);
  assert.equal(await errors('write'), 1);
  fs.rmSync(blocker);
  store.flush(); // the retry
  assert.equal(store.writes, 1, 'what could not be written is written once the folder can be made');
  assert.ok(fs.existsSync(path.join(blocker, 'state', 'cri-checkpoints.json')));
  store.close();
});

test("reads the first agent's version 1 state: one checkpoint per live file path", () => {
  const streams = parseState(JSON.stringify({ version: 1, files: { '/var/log/pods/ns_p_uid/app/0.log': { file: { device: 1, inode: 2, fingerprint: 3, fingerprintLength: 256 }, offset: 77, lineNumber: 5 } } }));
  const s = streams.get('uid/app/0')!;
  assert.deepEqual([s.namespace, s.pod, s.files[0]!.name, s.files[0]!.offset, s.files[0]!.line], ['ns', 'p', '0.log', 77, 5]);
});
