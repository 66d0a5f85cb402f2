import assert from 'node:assert/strict';
import { test } from 'node:test';
import { LAST_APPLIED, REDACTED, redact } from './redaction.js';
import { limitText } from './truncation.js';

const none = { configMapData: false, envValues: false };

test('ConfigMap values are redacted in the object, in list items and in table rows; keys stay', () => {
  const object = { kind: 'ConfigMap', apiVersion: 'v1', metadata: { name: 'a' }, data: { password: 'x', port: '80' }, binaryData: { blob: 'AAAA' } };
  assert.equal(redact(object, none, true), 3);
  assert.deepEqual(object.data, { password: REDACTED, port: REDACTED });
  assert.deepEqual(object.binaryData, { blob: REDACTED });

  const list = { kind: 'ConfigMapList', items: [{ metadata: { name: 'a' }, data: { k: 'v' } }, { metadata: { name: 'b' } }] };
  assert.equal(redact(list, none, true), 1);
  assert.deepEqual(list.items[0]!.data, { k: REDACTED });

  const table = { kind: 'Table', rows: [{ cells: ['a', 1], object: { metadata: { name: 'a' }, data: { k: 'v' } } }] };
  assert.equal(redact(table, none, true), 1);
  assert.deepEqual(table.rows[0]!.object.data, { k: REDACTED });
});

test('a "data" field of anything else is left alone', () => {
  const rev = { kind: 'ControllerRevision', data: { spec: { replicas: 2 } } };
  redact(rev, none, false);
  assert.deepEqual(rev.data, { spec: { replicas: 2 } });
});

test('environment values are redacted wherever an env list appears; references stay', () => {
  const deploy = {
    kind: 'Deployment',
    spec: {
      template: {
        spec: {
          initContainers: [{ name: 'init', env: [{ name: 'TOKEN', value: 'abc' }] }],
          containers: [{ name: 'main', env: [{ name: 'PASSWORD', value: 'hunter2' }, { name: 'FROM', valueFrom: { secretKeyRef: { name: 's', key: 'k' } } }] }],
        },
      },
    },
  };
  assert.equal(redact(deploy, none, false), 2);
  assert.deepEqual(deploy.spec.template.spec.containers[0]!.env, [
    { name: 'PASSWORD', value: REDACTED },
    { name: 'FROM', valueFrom: { secretKeyRef: { name: 's', key: 'k' } } },
  ]);
  assert.equal(deploy.spec.template.spec.initContainers[0]!.env[0]!.value, REDACTED);
});

test('last-applied-configuration, which repeats data and env, is redacted', () => {
  const o = { metadata: { annotations: { [LAST_APPLIED]: '{"data":{"k":"v"}}', other: 'x' } } };
  redact(o, none, false);
  assert.deepEqual(o.metadata.annotations, { [LAST_APPLIED]: REDACTED, other: 'x' });
});

test('settings let data and env values through', () => {
  const o = { kind: 'ConfigMap', data: { k: 'v' }, metadata: { annotations: { [LAST_APPLIED]: '{}' } }, spec: { env: [{ name: 'A', value: 'b' }] } };
  assert.equal(redact(o, { configMapData: true, envValues: true }, true), 0);
  assert.deepEqual(o.data, { k: 'v' });
});

test('a cut answer ends with a marker and never splits a character', () => {
  const full = limitText('ééé', 100);
  assert.deepEqual([full.text, full.truncated], ['ééé', false]);
  const cut = limitText('ééé', 3);
  assert.ok(cut.text.startsWith('é\n[kestrel-operator: truncated at 3 bytes of 6]'), cut.text);
  assert.equal(cut.truncated, true);
  assert.match(limitText(Buffer.from('abc'), 3, true).text, /truncated at 3 bytes; the rest was not read/);
});
