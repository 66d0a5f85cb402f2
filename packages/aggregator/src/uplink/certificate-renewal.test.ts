import assert from 'node:assert/strict';
import fs from 'node:fs';
import { test } from 'node:test';
import type { CertificateRenewalRequest } from '@kestrel/proto/cloud/v1';
import { parseRenewal } from './certificate-renewal.js';

const fixture = (name: string) => fs.readFileSync(new URL(`../../src/uplink/testdata/${name}`, import.meta.url), 'utf8');
const b64 = (text: string) => Buffer.from(text).toString('base64');

const request = (cert: string, key: string, ca: string): CertificateRenewalRequest => ({
  requestId: 'r-1',
  clientCert: cert,
  clientKey: key,
  caCert: ca,
  issuedAt: undefined,
  expiresAt: undefined,
  serialNumber: '',
});

test('a renewal with base64-encoded PEM (as the cloud sends it) gives usable TLS material', () => {
  const m = parseRenewal(request(b64(fixture('client.crt')), b64(fixture('client.key')), b64(fixture('ca.crt'))));
  assert.match(m.subject, /CN=fixture-cluster/);
  assert.equal(m.notAfter.toISOString(), '2045-01-01T00:00:00.000Z');
  assert.equal(m.cert.toString(), fixture('client.crt'));
});

test('plain PEM is accepted too', () => {
  const m = parseRenewal(request(fixture('client.crt'), fixture('client.key'), fixture('ca.crt')));
  assert.match(m.subject, /CN=fixture-cluster/);
});

test('what is wrong with a renewal is said precisely', () => {
  const ok = { cert: b64(fixture('client.crt')), key: b64(fixture('client.key')), ca: b64(fixture('ca.crt')) };
  assert.throws(() => parseRenewal(request('', ok.key, ok.ca)), /client_cert is empty/);
  assert.throws(() => parseRenewal(request('%%%', ok.key, ok.ca)), /client_cert is neither base64-encoded PEM nor PEM/);
  assert.throws(() => parseRenewal(request(b64('hello'), ok.key, ok.ca)), /client_cert is base64 but does not decode to PEM/);
  assert.throws(() => parseRenewal(request(ok.cert, b64(fixture('other.key')), ok.ca)), /client_key does not belong to client_cert/);
  assert.throws(() => parseRenewal(request(b64(fixture('expired.crt')), b64(fixture('expired.key')), ok.ca)), /client_cert expired at 2021-01-01/);
  assert.throws(() => parseRenewal(request(ok.cert, ok.key, b64('-----BEGIN CERTIFICATE-----\nnope\n-----END CERTIFICATE-----\n'))), /ca_cert is not a PEM certificate/);
});
