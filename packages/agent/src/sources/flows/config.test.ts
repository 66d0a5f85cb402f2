import assert from 'node:assert/strict';
import { test } from 'node:test';
import { DEFAULT_HUBBLE_SOCKET } from '@kestrel/flows';
import { DEFAULT_HUBBLE_ADDRESS, flowSourceSettings } from './config.js';

test('the default Hubble address is the socket @kestrel/flows knows as the node default', () => {
  assert.equal(DEFAULT_HUBBLE_ADDRESS, DEFAULT_HUBBLE_SOCKET);
  assert.equal(flowSourceSettings.hubbleAddress.parse(undefined), DEFAULT_HUBBLE_SOCKET);
});
