// The service account folder a pod has, and the test-only prefix that moves it (KESTREL_SERVICE_ACCOUNT_PATH_PREFIX).
import assert from 'node:assert/strict';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { test } from 'node:test';
import { runningInCluster, SERVICE_ACCOUNT_DIR, serviceAccountDir, serviceAccountPathPrefix } from './service-account.js';

test('without the prefix: the folder the kubelet mounts', () => {
  assert.equal(serviceAccountPathPrefix({}), '');
  assert.equal(serviceAccountDir({}), '/var/run/secrets/kubernetes.io/serviceaccount');
  assert.equal(SERVICE_ACCOUNT_DIR, '/var/run/secrets/kubernetes.io/serviceaccount');
});

test('with the prefix: the same folder under that root', () => {
  const root = fs.mkdtempSync(path.join(os.tmpdir(), 'sa-prefix-'));
  try {
    const env = { KESTREL_SERVICE_ACCOUNT_PATH_PREFIX: `${root}/`, KUBERNETES_SERVICE_HOST: '127.0.0.1' };
    assert.equal(serviceAccountPathPrefix(env), root, 'a trailing slash is dropped');
    assert.equal(serviceAccountDir(env), path.join(root, 'var/run/secrets/kubernetes.io/serviceaccount'));
    assert.equal(runningInCluster(env), false, 'no token there yet');
    fs.mkdirSync(serviceAccountDir(env), { recursive: true });
    fs.writeFileSync(path.join(serviceAccountDir(env), 'token'), 't');
    assert.equal(runningInCluster(env), true);
    assert.equal(runningInCluster({ KESTREL_SERVICE_ACCOUNT_PATH_PREFIX: root }), false, 'KUBERNETES_SERVICE_HOST is needed too');
  } finally {
    fs.rmSync(root, { recursive: true, force: true });
  }
});
