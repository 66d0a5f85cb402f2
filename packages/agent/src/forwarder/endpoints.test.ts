import assert from 'node:assert/strict';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { test } from 'node:test';
import { resolveEndpoints } from './endpoints.js';

const lookup = async (host: string) => {
  if (host === 'kestrel-aggregator-headless') return ['10.0.0.7', '10.0.0.8', 'fd00::9'];
  throw new Error(`getaddrinfo ENOTFOUND ${host}`);
};

test('a DNS name stands for every address it resolves to, checked under that name', async () => {
  const { endpoints, errors } = await resolveEndpoints({ entries: ['kestrel-aggregator-headless:4800', '127.0.0.1:4801'] }, lookup);
  assert.deepEqual(errors, []);
  assert.deepEqual(
    endpoints.map((e) => [e.address, e.serverName]),
    [
      ['10.0.0.7:4800', 'kestrel-aggregator-headless'],
      ['10.0.0.8:4800', 'kestrel-aggregator-headless'],
      ['[fd00::9]:4800', 'kestrel-aggregator-headless'],
      ['127.0.0.1:4801', '127.0.0.1'],
    ],
  );
  const named = await resolveEndpoints({ entries: ['127.0.0.1:4801'], serverName: 'localhost' }, lookup);
  assert.equal(named.endpoints[0]!.serverName, 'localhost');
});

test('a name that does not resolve is reported and the other entries still count', async () => {
  const { endpoints, errors } = await resolveEndpoints({ entries: ['gone:4800', '127.0.0.1:4801', '127.0.0.1:4801'] }, lookup);
  assert.deepEqual(endpoints.map((e) => e.address), ['127.0.0.1:4801']);
  assert.match(errors[0]!, /cannot resolve gone/);
});

test('an address file is read at each resolve, so replicas can be added while the agent runs', async () => {
  const file = path.join(fs.mkdtempSync(path.join(os.tmpdir(), 'endpoints-')), 'aggregators');
  fs.writeFileSync(file, '127.0.0.1:4801\n# a comment\n\n');
  assert.deepEqual((await resolveEndpoints({ file }, lookup)).endpoints.map((e) => e.address), ['127.0.0.1:4801']);
  fs.writeFileSync(file, '127.0.0.1:4801\n127.0.0.2:4801\nnonsense\n');
  const again = await resolveEndpoints({ file }, lookup);
  assert.deepEqual(again.endpoints.map((e) => e.address), ['127.0.0.1:4801', '127.0.0.2:4801']);
  assert.deepEqual(again.errors, ['not host:port: nonsense']);
  fs.rmSync(file);
  assert.match((await resolveEndpoints({ file }, lookup)).errors[0]!, /cannot read/);
});
