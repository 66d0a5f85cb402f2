import assert from 'node:assert/strict';
import { X509Certificate, createPrivateKey } from 'node:crypto';
import { describe, it } from 'node:test';
import { createCa, issueCertificate } from './pki.js';

describe('pki', () => {
  const ca = createCa({ commonName: 'test CA' });
  const caCert = new X509Certificate(ca.certPem);

  it('creates a self-signed CA certificate that may sign certificates', () => {
    assert.equal(caCert.ca, true);
    assert.equal(caCert.subject, 'CN=test CA');
    assert.equal(caCert.issuer, 'CN=test CA');
    assert.ok(caCert.verify(caCert.publicKey));
    assert.ok(new Date(caCert.validTo).getTime() > Date.now() + 9 * 365 * 86_400_000);
    assert.doesNotThrow(() => createPrivateKey(ca.keyPem));
  });

  it('issues a server certificate with DNS and IP subject alternative names, for server auth only', () => {
    const server = issueCertificate(ca, { commonName: 'cloud-dev', usage: 'server', hosts: ['localhost', '127.0.0.1', '::1', 'cloud.example'] });
    const cert = new X509Certificate(server.certPem);
    assert.ok(cert.verify(caCert.publicKey));
    assert.ok(cert.checkIssued(caCert));
    assert.equal(cert.ca, false);
    assert.equal(cert.subjectAltName, 'DNS:localhost, IP Address:127.0.0.1, IP Address:0:0:0:0:0:0:0:1, DNS:cloud.example');
    assert.equal(cert.checkHost('localhost'), 'localhost');
    assert.equal(cert.checkIP('127.0.0.1'), '127.0.0.1');
    assert.deepEqual(cert.keyUsage, ['1.3.6.1.5.5.7.3.1']);
    assert.ok(cert.checkPrivateKey(createPrivateKey(server.keyPem)));
  });

  it('issues a client certificate named after the cluster, for client auth only', () => {
    const client = issueCertificate(ca, { commonName: 'prod-1', usage: 'client' });
    const cert = new X509Certificate(client.certPem);
    assert.equal(cert.subject, 'CN=prod-1');
    assert.equal(cert.issuer, 'CN=test CA');
    assert.ok(cert.verify(caCert.publicKey));
    assert.deepEqual(cert.keyUsage, ['1.3.6.1.5.5.7.3.2']);
    assert.equal(cert.subjectAltName, undefined);
  });

  it('issues an already-expired certificate when asked (for tests of expiry handling)', () => {
    const notAfter = new Date(Date.now() - 86_400_000);
    const stale = new X509Certificate(issueCertificate(ca, { commonName: 'old', usage: 'client', notBefore: new Date(Date.now() - 2 * 86_400_000), notAfter }).certPem);
    assert.ok(new Date(stale.validTo).getTime() < Date.now());
  });

  it('gives every certificate its own serial number', () => {
    const a = new X509Certificate(issueCertificate(ca, { commonName: 'a', usage: 'client' }).certPem);
    const b = new X509Certificate(issueCertificate(ca, { commonName: 'a', usage: 'client' }).certPem);
    assert.notEqual(a.serialNumber, b.serialNumber);
  });

  it('a certificate from another CA does not verify against this one', () => {
    const foreign = new X509Certificate(issueCertificate(createCa(), { commonName: 'prod-1', usage: 'client' }).certPem);
    assert.equal(foreign.verify(caCert.publicKey), false);
    assert.equal(foreign.checkIssued(caCert), false);
  });
});
