import assert from 'node:assert/strict';
import { test } from 'node:test';
import { parseLogFileName, parsePodDir, parsePodLogPath } from './pod-path.js';

test('reads namespace, pod, uid, container and restart count from the kubelet path', () => {
  assert.deepEqual(parsePodLogPath('/var/log/pods', '/var/log/pods/shop_checkout-7d9f8-abcde_0b1c2d3e-aaaa-bbbb-cccc-123456789abc/app/3.log'), {
    namespace: 'shop',
    podName: 'checkout-7d9f8-abcde',
    podUid: '0b1c2d3e-aaaa-bbbb-cccc-123456789abc',
    containerName: 'app',
    restartCount: 3,
  });
});

test('tells live, rotated and compressed files apart, with the rotation time that orders them', () => {
  assert.deepEqual(parseLogFileName('0.log'), { restartCount: 0, kind: 'live', rotatedAt: '' });
  assert.deepEqual(parseLogFileName('2.log.20240501-120000'), { restartCount: 2, kind: 'rotated', rotatedAt: '20240501-120000' });
  assert.deepEqual(parseLogFileName('2.log.20240501-120000.gz'), { restartCount: 2, kind: 'gzip', rotatedAt: '20240501-120000' });
  assert.ok(parseLogFileName('0.log.20240501-115959')!.rotatedAt < parseLogFileName('0.log.20240501-120000')!.rotatedAt);
});

test("ignores the kubelet's temporary files and names of other shapes", () => {
  for (const name of ['0.log.20240501-120000.gz.tmp', '0.log.tmp', 'app.log', '0.logx', '.0.log.swp']) assert.equal(parseLogFileName(name), null, name);
  assert.equal(parsePodDir('ns_pod'), null);
  assert.equal(parsePodDir('ns__uid'), null);
  assert.equal(parsePodLogPath('/r', '/r/ns_pod_uid/app/0.log.20240501-120000'), null);
  assert.equal(parsePodLogPath('/r', '/r/ns_pod_uid/0.log'), null);
});
