import assert from 'node:assert/strict';
import { X509Certificate } from 'node:crypto';
import { once } from 'node:events';
import type { AddressInfo } from 'node:net';
import { describe, it } from 'node:test';
import tls from 'node:tls';

import { createSelfSignedCert } from '../../server/tls/self-signed-cert.ts';

const DAY_MS = 24 * 60 * 60 * 1000;

describe('createSelfSignedCert', () => {
  const before = Date.now();
  const pair = createSelfSignedCert({
    commonName: 'media-server dev',
    dnsNames: ['localhost'],
    ipAddresses: ['127.0.0.1', '::1'],
    validDays: 30,
  });
  const after = Date.now();
  const cert = new X509Certificate(pair.certPem);

  it('produces PEM output', () => {
    assert.match(pair.certPem, /^-----BEGIN CERTIFICATE-----\n/);
    assert.match(pair.keyPem, /^-----BEGIN PRIVATE KEY-----\n/);
  });

  it('carries the subject and issuer common name', () => {
    assert.equal(cert.subject, 'CN=media-server dev');
    assert.equal(cert.issuer, 'CN=media-server dev');
  });

  it('matches the DNS name and both IP addresses', () => {
    assert.equal(cert.checkHost('localhost'), 'localhost');
    assert.equal(cert.checkIP('127.0.0.1'), '127.0.0.1');
    assert.equal(cert.checkIP('::1'), '::1');
    assert.equal(cert.checkIP('10.0.0.1'), undefined);
    assert.equal(cert.subjectAltName, 'DNS:localhost, IP Address:127.0.0.1, IP Address:0:0:0:0:0:0:0:1');
  });

  it('is valid from an hour ago until validDays from now', () => {
    // Certificate times have one-second resolution.
    const notBefore = cert.validFromDate.getTime();
    const notAfter = cert.validToDate.getTime();
    assert.ok(notBefore >= before - 60 * 60 * 1000 - 1000 && notBefore <= after - 60 * 60 * 1000);
    assert.ok(notAfter >= before + 30 * DAY_MS - 1000 && notAfter <= after + 30 * DAY_MS);
  });

  it('is self-signed, not a CA, and has a positive 16-byte serial', () => {
    assert.equal(cert.verify(cert.publicKey), true);
    assert.equal(cert.ca, false);
    assert.equal(cert.publicKey.asymmetricKeyType, 'ec');
    assert.equal(cert.publicKey.asymmetricKeyDetails?.namedCurve, 'prime256v1');
    assert.match(cert.serialNumber, /^[4-7][0-9A-F]{31}$/);
    assert.deepEqual(cert.keyUsage, ['1.3.6.1.5.5.7.3.1']);
  });

  it('completes a TLS handshake with ALPN h2 when trusted as CA', async () => {
    const server = tls.createServer({ key: pair.keyPem, cert: pair.certPem, ALPNProtocols: ['h2'] }, (socket) => {
      socket.end();
    });
    server.listen(0, '127.0.0.1');
    await once(server, 'listening');
    try {
      const { port } = server.address() as AddressInfo;
      const socket = tls.connect({
        host: '127.0.0.1',
        port,
        servername: 'localhost',
        ca: pair.certPem,
        ALPNProtocols: ['h2'],
      });
      try {
        await once(socket, 'secureConnect');
        assert.equal(socket.authorized, true, String(socket.authorizationError));
        assert.equal(socket.alpnProtocol, 'h2');
      } finally {
        socket.destroy();
      }
    } finally {
      server.close();
      await once(server, 'close');
    }
  });

  it('does not match hosts it was not issued for', () => {
    const other = new X509Certificate(
      createSelfSignedCert({ commonName: 'example', dnsNames: ['example.test'], ipAddresses: [], validDays: 1 }).certPem,
    );
    assert.equal(other.checkHost('example.test'), 'example.test');
    assert.equal(other.checkHost('localhost'), undefined);
  });

  it('uses GeneralizedTime for dates from 2050 on', () => {
    const longLived = new X509Certificate(
      createSelfSignedCert({ commonName: 'far', dnsNames: ['localhost'], ipAddresses: [], validDays: 365 * 40 }).certPem,
    );
    assert.ok(longLived.validToDate.getUTCFullYear() >= 2065);
    assert.equal(longLived.verify(longLived.publicKey), true);
  });

  it('encodes expanded and IPv4-mapped IPv6 addresses', () => {
    const ipCert = new X509Certificate(
      createSelfSignedCert({
        commonName: 'ips',
        dnsNames: [],
        ipAddresses: ['fe80::1:2', '2001:db8:0:0:0:0:0:ff', '::ffff:192.168.1.2'],
        validDays: 1,
      }).certPem,
    );
    assert.equal(ipCert.checkIP('fe80::1:2'), 'fe80::1:2');
    assert.equal(ipCert.checkIP('2001:db8::ff'), '2001:db8::ff');
    assert.equal(ipCert.checkIP('::ffff:192.168.1.2'), '::ffff:192.168.1.2');
  });

  it('rejects invalid input', () => {
    const base = { commonName: 'x', dnsNames: ['localhost'], ipAddresses: [], validDays: 1 };
    assert.throws(() => createSelfSignedCert({ ...base, validDays: 0 }), /validDays/);
    assert.throws(() => createSelfSignedCert({ ...base, ipAddresses: ['not-an-ip'] }), /Not an IP/);
    assert.throws(() => createSelfSignedCert({ ...base, dnsNames: ['bücher.example'] }), /ASCII/);
  });
});
