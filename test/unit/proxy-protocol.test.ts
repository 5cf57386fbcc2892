// The PROXY protocol parser (server/net/proxy-protocol.ts) as tables: valid v1 and v2 headers
// for IPv4 and IPv6, LOCAL and UNKNOWN, every truncation of a valid header, garbage, oversized
// and malformed headers, and the encoders the tests use, checked against the parser. Plus the
// PROXY_PROTOCOL setting's values.

import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { encodeProxyV1, encodeProxyV2, formatIPv6, parseProxyHeader, PROXY_V1_MAX_BYTES, PROXY_V2_MAX_BYTES, PROXY_V2_SIGNATURE } from '../../server/net/proxy-protocol.ts';
import type { ProxyHeader, ProxyParse } from '../../server/net/proxy-protocol.ts';
import { ConfigError, loadConfig } from '../../server/config.ts';

const v1 = (line: string): Buffer => Buffer.from(line, 'latin1');
/** A v2 header from its fields: version/command byte, family byte, address block (and TLVs). */
const v2 = (versionCommand: number, family: number, block: number[] | Buffer, declaredLength?: number): Buffer => {
  const body = Buffer.from(block);
  const fixed = Buffer.from([versionCommand, family, 0, 0]);
  fixed.writeUInt16BE(declaredLength ?? body.length, 2);
  return Buffer.concat([PROXY_V2_SIGNATURE, fixed, body]);
};
const ipv4Block = [192, 0, 2, 7, 10, 0, 0, 1, 0xd4, 0x31, 0x20, 0xfb]; // 192.0.2.7:54321 -> 10.0.0.1:8443
const ipv6Block = [
  ...[0x20, 0x01, 0x0d, 0xb8, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 1], // 2001:db8::1
  ...[0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 1], // ::1
  0x01, 0xbb, 0x20, 0xfb, // 443 -> 8443
];
const tcp4: ProxyHeader = { command: 'proxy', family: 'IPv4', sourceAddress: '192.0.2.7', sourcePort: 54321, destinationAddress: '10.0.0.1', destinationPort: 8443 };
const tcp6: ProxyHeader = { command: 'proxy', family: 'IPv6', sourceAddress: '2001:db8::1', sourcePort: 443, destinationAddress: '::1', destinationPort: 8443 };
const local: ProxyHeader = { command: 'local' };

const complete = (version: 1 | 2, header: ProxyHeader, length: number): ProxyParse => ({ status: 'complete', version, header, length });

describe('PROXY protocol: valid headers', () => {
  const cases: readonly [string, Buffer, ProxyParse][] = [
    ['v1 TCP4', v1('PROXY TCP4 192.0.2.7 10.0.0.1 54321 8443\r\n'), complete(1, tcp4, 42)],
    ['v1 TCP6', v1('PROXY TCP6 2001:db8::1 ::1 443 8443\r\n'), complete(1, tcp6, 37)],
    ['v1 UNKNOWN (health check)', v1('PROXY UNKNOWN\r\n'), complete(1, local, 15)],
    ['v1 UNKNOWN, rest of the line ignored', v1('PROXY UNKNOWN ffff::1 ffff::2 1 2\r\n'), complete(1, local, 35)],
    ['v1 ports 0 and 65535', v1('PROXY TCP4 1.2.3.4 5.6.7.8 0 65535\r\n'), complete(1, { ...tcp4, sourceAddress: '1.2.3.4', destinationAddress: '5.6.7.8', sourcePort: 0, destinationPort: 65535 }, 36)],
    ['v2 PROXY TCP over IPv4', v2(0x21, 0x11, ipv4Block), complete(2, tcp4, 28)],
    ['v2 PROXY TCP over IPv6', v2(0x21, 0x21, ipv6Block), complete(2, tcp6, 52)],
    ['v2 with TLVs after the addresses', v2(0x21, 0x11, [...ipv4Block, 0x04, 0x00, 0x02, 0xaa, 0xbb]), complete(2, tcp4, 33)],
    ['v2 LOCAL, no address block (health check)', v2(0x20, 0x00, []), complete(2, local, 16)],
    ['v2 LOCAL with an address block: discarded', v2(0x20, 0x11, ipv4Block), complete(2, local, 28)],
    ['v2 PROXY AF_UNSPEC: the socket address stands', v2(0x21, 0x00, []), complete(2, local, 16)],
    ['v2 PROXY AF_UNIX: no IP client', v2(0x21, 0x31, Buffer.alloc(216)), complete(2, local, 232)],
  ];
  for (const [name, bytes, expected] of cases) {
    it(name, () => assert.deepEqual(parseProxyHeader(bytes), expected));
    it(`${name}: the bytes after it are not part of it`, () => {
      const after = Buffer.from('\x16\x03\x01 TLS ClientHello follows', 'latin1');
      assert.deepEqual(parseProxyHeader(Buffer.concat([bytes, after])), expected);
    });
    it(`${name}: every truncation is incomplete, never invalid`, () => {
      for (let n = 0; n < bytes.length; n++) assert.deepEqual(parseProxyHeader(bytes.subarray(0, n)), { status: 'incomplete' }, `first ${n} bytes`);
    });
  }
});

describe('PROXY protocol: refused', () => {
  const cases: readonly [string, Buffer, string][] = [
    ['a TLS ClientHello', Buffer.from([0x16, 0x03, 0x01, 0x02, 0x00, 0x01]), 'not-proxy-protocol'],
    ['the HTTP/2 preface', v1('PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n'), 'not-proxy-protocol'],
    ['an HTTP/1.1 request', v1('GET / HTTP/1.1\r\n'), 'not-proxy-protocol'],
    ['lower-case v1', v1('proxy TCP4 1.2.3.4 5.6.7.8 1 2\r\n'), 'not-proxy-protocol'],
    ['half a v2 signature, then garbage', Buffer.concat([PROXY_V2_SIGNATURE.subarray(0, 6), Buffer.from('xx')]), 'not-proxy-protocol'],
    ['v1 without CRLF in 107 bytes', v1(`PROXY TCP4 ${'1'.repeat(PROXY_V1_MAX_BYTES)}`), 'oversized'],
    ['v1 CRLF at byte 108', v1(`PROXY UNKNOWN ${'x'.repeat(PROXY_V1_MAX_BYTES - 15)}\r\n`), 'oversized'],
    ['v1 unknown protocol', v1('PROXY TCP5 1.2.3.4 5.6.7.8 1 2\r\n'), 'malformed'],
    ['v1 bad IPv4', v1('PROXY TCP4 1.2.3.256 5.6.7.8 1 2\r\n'), 'malformed'],
    ['v1 IPv6 for TCP4', v1('PROXY TCP4 ::1 ::1 1 2\r\n'), 'malformed'],
    ['v1 IPv4 for TCP6', v1('PROXY TCP6 1.2.3.4 5.6.7.8 1 2\r\n'), 'malformed'],
    ['v1 port above 65535', v1('PROXY TCP4 1.2.3.4 5.6.7.8 65536 2\r\n'), 'malformed'],
    ['v1 port with a leading zero', v1('PROXY TCP4 1.2.3.4 5.6.7.8 080 2\r\n'), 'malformed'],
    ['v1 negative port', v1('PROXY TCP4 1.2.3.4 5.6.7.8 -1 2\r\n'), 'malformed'],
    ['v1 a field missing', v1('PROXY TCP4 1.2.3.4 5.6.7.8 1\r\n'), 'malformed'],
    ['v1 two spaces', v1('PROXY TCP4  1.2.3.4 5.6.7.8 1 2\r\n'), 'malformed'],
    ['v1 bare LF', v1('PROXY TCP4 1.2.3.4 5.6.7.8 1 2\n'), 'malformed'],
    ['v1 CR without LF', v1('PROXY TCP4 1.2.3.4\r5.6.7.8 1 2\r\n'), 'malformed'],
    ['v1 NUL byte', v1('PROXY TCP4 1.2.3.4\x005.6.7.8 1 2\r\n'), 'malformed'],
    ['v2 version 1', v2(0x11, 0x11, ipv4Block), 'unsupported'],
    ['v2 command 2', v2(0x22, 0x11, ipv4Block), 'unsupported'],
    ['v2 UDP over IPv4', v2(0x21, 0x12, ipv4Block), 'unsupported'],
    ['v2 family 4', v2(0x21, 0x41, ipv4Block), 'unsupported'],
    ['v2 IPv4 with transport unspecified', v2(0x21, 0x10, ipv4Block), 'unsupported'],
    ['v2 IPv4 address block too short', v2(0x21, 0x11, ipv4Block.slice(0, 11)), 'malformed'],
    ['v2 IPv6 with an IPv4-sized block', v2(0x21, 0x21, ipv4Block), 'malformed'],
    ['v2 longer than the bound', v2(0x21, 0x11, [], PROXY_V2_MAX_BYTES - 15), 'oversized'],
    ['v2 announcing 64 KiB', v2(0x21, 0x11, [], 0xffff), 'oversized'],
  ];
  for (const [name, bytes, reason] of cases) {
    it(`${name}: ${reason}`, () => {
      const parsed = parseProxyHeader(bytes);
      assert.equal(parsed.status, 'invalid', JSON.stringify(parsed));
      assert.equal(parsed.status === 'invalid' && parsed.reason, reason);
    });
  }
  it('v2 at exactly the bound is read; one byte more is refused', () => {
    const atBound = v2(0x21, 0x11, [...ipv4Block, ...Array<number>(PROXY_V2_MAX_BYTES - 16 - ipv4Block.length).fill(0)]);
    assert.equal(atBound.length, PROXY_V2_MAX_BYTES);
    assert.deepEqual(parseProxyHeader(atBound), complete(2, tcp4, PROXY_V2_MAX_BYTES));
    assert.equal(parseProxyHeader(v2(0x21, 0x11, [], PROXY_V2_MAX_BYTES - 15)).status, 'invalid');
  });
  it('nothing yet is incomplete', () => assert.deepEqual(parseProxyHeader(Buffer.alloc(0)), { status: 'incomplete' }));
});

describe('PROXY protocol: IPv6 text (RFC 5952) and the encoders', () => {
  const hex = (text: string): Buffer => Buffer.from(text.replaceAll(':', ''), 'hex');
  const formats: readonly [string, string][] = [
    ['2001:0db8:0000:0000:0000:0000:0000:0001', '2001:db8::1'],
    ['0000:0000:0000:0000:0000:0000:0000:0001', '::1'],
    ['0000:0000:0000:0000:0000:0000:0000:0000', '::'],
    ['fe80:0000:0000:0000:0000:0000:0000:0000', 'fe80::'],
    ['2001:0db8:0000:0001:0000:0000:0000:0001', '2001:db8:0:1::1'], // the longer run is shortened
    ['2001:0db8:0000:0000:0001:0000:0000:0001', '2001:db8::1:0:0:1'], // the first of two equal runs
    ['0001:0000:0002:0003:0004:0005:0006:0007', '1:0:2:3:4:5:6:7'], // one zero group stays
    ['0000:0000:0000:0000:0000:ffff:c000:0207', '::ffff:192.0.2.7'],
  ];
  for (const [bytes, text] of formats) it(`${bytes} -> ${text}`, () => assert.equal(formatIPv6(hex(bytes)), text));

  const headers: readonly ProxyHeader[] = [
    tcp4,
    tcp6,
    local,
    { command: 'proxy', family: 'IPv6', sourceAddress: '::ffff:192.0.2.7', sourcePort: 1, destinationAddress: 'fe80::1:2', destinationPort: 2 },
  ];
  for (const header of headers) {
    it(`round trip v1 and v2: ${JSON.stringify(header)}`, () => {
      for (const [version, encode] of [[1, encodeProxyV1], [2, encodeProxyV2]] as const) {
        const bytes = encode(header);
        assert.deepEqual(parseProxyHeader(bytes), complete(version, header, bytes.length));
      }
    });
  }
});

describe('PROXY_PROTOCOL setting', () => {
  it('is off by default', () => assert.equal(loadConfig({}, []).proxyProtocol, false));
  for (const [value, expected] of [['on', true], ['true', true], ['1', true], ['off', false], ['false', false], ['0', false]] as const) {
    it(`${value} -> ${expected}`, () => assert.equal(loadConfig({ PROXY_PROTOCOL: value }, []).proxyProtocol, expected));
  }
  it('the flag wins', () => assert.equal(loadConfig({ PROXY_PROTOCOL: 'off' }, ['--proxy-protocol', 'on']).proxyProtocol, true));
  it('anything else is one ConfigError line', () => {
    assert.throws(() => loadConfig({ PROXY_PROTOCOL: 'yes' }, []), (err: unknown) => err instanceof ConfigError && /^PROXY_PROTOCOL \(--proxy-protocol\) must be on or off/.test(err.message));
  });
});
