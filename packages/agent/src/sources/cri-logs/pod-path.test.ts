import assert from 'node:assert/strict';
import { test } from 'node:test';
import { parsePodLogPath } from './pod-path.js';

test('reads namespace, pod, uid, container and restart count from the kubelet path', () => {
  assert.deepEqual(parsePodLogPath('/var/log/pods', '/var/log/pods/shop_checkout-7d9f8-abcde_0b1c2d3e-aaaa-bbbb-cccc-123456789abc/app/3.log'), {
    namespace: 'shop',
    podName: 'checkout-7d9f8-abcde',
    podUid: '0b1c2d3e-aaaa-bbbb-cccc-123456789abc',
    containerName: 'app',
    restartCount: 3,
  });
});

test('ignores rotated files and paths of another shape', () => {
  assert.equal(parsePodLogPath('/r', '/r/ns_pod_uid/app/0.log.20240501-120000'), null);
  assert.equal(parsePodLogPath('/r', '/r/ns_pod_uid/app/0.log.20240501-120000.gz'), null);
  assert.equal(parsePodLogPath('/r', '/r/ns_pod/app/0.log'), null);
  assert.equal(parsePodLogPath('/r', '/r/ns_pod_uid/0.log'), null);
});
