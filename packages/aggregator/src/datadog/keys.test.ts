import assert from 'node:assert/strict';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { test } from 'node:test';
import { KeyError, KeySource, type SecretReader } from './keys.js';

function secrets(data: Record<string, Record<string, string>>): SecretReader & { reads: string[] } {
  const reads: string[] = [];
  const read = async (namespace: string, name: string, key: string) => {
    reads.push(`${namespace}/${name}:${key}`);
    return data[`${namespace}/${name}`]?.[key];
  };
  return Object.assign(read, { reads });
}

test('keys from files are trimmed and read again on each use (a rotated Secret is picked up)', async () => {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'kestrel-dd-keys-'));
  fs.writeFileSync(path.join(dir, 'api'), 'first-api-key\n');
  const source = new KeySource({ apiKeyFile: path.join(dir, 'api'), appKeyFile: undefined, discovery: undefined }, undefined);
  const first = await source.load();
  assert.equal(first.apiKey.reveal(), 'first-api-key');
  assert.equal(first.appKey, undefined);
  fs.writeFileSync(path.join(dir, 'api'), 'second-api-key');
  assert.equal((await source.load()).apiKey.reveal(), 'second-api-key');
  fs.writeFileSync(path.join(dir, 'api'), '  \n');
  await assert.rejects(source.load(), (e: unknown) => e instanceof KeyError && /empty/.test(e.message));
  const missing = new KeySource({ apiKeyFile: path.join(dir, 'nope'), appKeyFile: undefined, discovery: undefined }, undefined);
  await assert.rejects(missing.load(), /cannot read datadogApiKeyFile .*ENOENT/);
});

test('discovery reads only the named Secrets, in order, and takes the app key from the cluster agent Secret when needed', async () => {
  const reader = secrets({
    'datadog/datadog-secret': { 'api-key': ' api-from-second \n' },
    'datadog/datadog-cluster-agent': { 'app-key': 'app-from-cluster-agent' },
    'datadog/unrelated': { 'api-key': 'never-read' },
  });
  const source = new KeySource({ apiKeyFile: undefined, appKeyFile: undefined, discovery: { namespace: 'datadog', secretNames: ['datadog', 'datadog-secret'], appKeySecretName: 'datadog-cluster-agent' } }, reader);
  const keys = await source.load();
  assert.equal(keys.apiKey.reveal(), 'api-from-second');
  assert.equal(keys.appKey?.reveal(), 'app-from-cluster-agent');
  assert.equal(keys.source, 'Secret datadog/datadog-secret (app key: datadog/datadog-cluster-agent)');
  assert.deepEqual(reader.reads, ['datadog/datadog:api-key', 'datadog/datadog-secret:api-key', 'datadog/datadog-secret:app-key', 'datadog/datadog-cluster-agent:app-key']);
  await source.load();
  assert.equal(reader.reads.length, 4, 'a success is reused');
  assert.ok(!JSON.stringify(keys).includes('api-from-second'));
});

test('discovery that finds no API key says where it looked, and is tried again next time', async () => {
  const data: Record<string, Record<string, string>> = {};
  const reader = secrets(data);
  const source = new KeySource({ apiKeyFile: undefined, appKeyFile: undefined, discovery: { namespace: 'dd', secretNames: ['datadog'], appKeySecretName: '' } }, reader);
  await assert.rejects(source.load(), /no Secret with a non-empty api-key among dd\/datadog/);
  data['dd/datadog'] = { 'api-key': 'now-there' };
  assert.equal((await source.load()).apiKey.reveal(), 'now-there');
});
