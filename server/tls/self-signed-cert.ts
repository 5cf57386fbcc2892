// Self-signed X.509 v3 certificates for local HTTPS/HTTP2 development.
//
// Browsers only speak HTTP/2 over TLS, so the server needs a certificate even on a
// laptop. Rather than pulling in an npm X.509 library or shelling out to an openssl
// binary that may not be installed, we hand-encode the few ASN.1 DER structures a
// certificate needs and let node:crypto do the key generation and signing.

import { generateKeyPairSync, randomBytes, sign } from 'node:crypto';
import { isIP } from 'node:net';

export interface SelfSignedCertOptions {
  commonName: string;
  dnsNames: readonly string[];
  ipAddresses: readonly string[];
  validDays: number;
}

export interface CertificatePair {
  certPem: string;
  keyPem: string;
}

// --- Minimal DER encoder: just the types a certificate uses. ---

function tlv(tag: number, content: Buffer): Buffer {
  const len = content.length;
  if (len < 0x80) return Buffer.concat([Buffer.from([tag, len]), content]);
  // Long form: a prefix byte counting the big-endian length bytes that follow.
  const lenBytes: number[] = [];
  for (let rest = len; rest > 0; rest = Math.floor(rest / 256)) lenBytes.unshift(rest & 0xff);
  return Buffer.concat([Buffer.from([tag, 0x80 | lenBytes.length, ...lenBytes]), content]);
}

const sequence = (...items: Buffer[]): Buffer => tlv(0x30, Buffer.concat(items));
const set = (...items: Buffer[]): Buffer => tlv(0x31, Buffer.concat(items));
const octetString = (bytes: Buffer): Buffer => tlv(0x04, bytes);
const utf8String = (text: string): Buffer => tlv(0x0c, Buffer.from(text, 'utf8'));
const booleanTrue = (): Buffer => Buffer.from([0x01, 0x01, 0xff]);
// Constructed context-specific tag wrapping a complete inner element.
const explicit = (tagNumber: number, inner: Buffer): Buffer => tlv(0xa0 | tagNumber, inner);
// Primitive context-specific tag replacing the inner type's own tag.
const implicit = (tagNumber: number, bytes: Buffer): Buffer => tlv(0x80 | tagNumber, bytes);

function bitString(bytes: Buffer, unusedBits = 0): Buffer {
  return tlv(0x03, Buffer.concat([Buffer.from([unusedBits]), bytes]));
}

// Callers pass minimal big-endian bytes whose top bit is clear, so the value is positive.
const integer = (bytes: Buffer): Buffer => tlv(0x02, bytes);

function oid(dotted: string): Buffer {
  const [first, second, ...rest] = dotted.split('.').map(Number);
  const bytes = [first * 40 + second];
  for (const arc of rest) {
    // Base-128, most significant group first, continuation bit on all but the last.
    const groups = [arc & 0x7f];
    for (let v = arc >>> 7; v > 0; v >>>= 7) groups.unshift((v & 0x7f) | 0x80);
    bytes.push(...groups);
  }
  return tlv(0x06, Buffer.from(bytes));
}

// RFC 5280 4.1.2.5: UTCTime through 2049, GeneralizedTime from 2050 on.
function time(date: Date): Buffer {
  const iso = date.toISOString(); // YYYY-MM-DDTHH:MM:SS.sssZ, always UTC
  const digits = iso.slice(0, 19).replace(/[-T:]/g, '') + 'Z';
  return date.getUTCFullYear() < 2050
    ? tlv(0x17, Buffer.from(digits.slice(2), 'ascii'))
    : tlv(0x18, Buffer.from(digits, 'ascii'));
}

// --- Certificate pieces. ---

const OID = {
  commonName: '2.5.4.3',
  ecdsaWithSha256: '1.2.840.10045.4.3.2',
  basicConstraints: '2.5.29.19',
  keyUsage: '2.5.29.15',
  extKeyUsage: '2.5.29.37',
  subjectAltName: '2.5.29.17',
  serverAuth: '1.3.6.1.5.5.7.3.1',
} as const;

function extension(id: string, critical: boolean, value: Buffer): Buffer {
  // DER forbids encoding a DEFAULT value, so "not critical" means omitting the field.
  return sequence(oid(id), ...(critical ? [booleanTrue()] : []), octetString(value));
}

function ipToBytes(ip: string): Buffer {
  const version = isIP(ip);
  if (version === 4) return Buffer.from(ip.split('.').map(Number));
  if (version !== 6) throw new Error(`Not an IP address: ${ip}`);

  let text = ip.split('%')[0]; // a zone id is meaningless outside the local host
  // An IPv4 tail (::ffff:1.2.3.4) stands for the last two 16-bit groups.
  const v4Tail = /(\d+)\.(\d+)\.(\d+)\.(\d+)$/.exec(text);
  if (v4Tail) {
    const [a, b, c, d] = v4Tail.slice(1).map(Number);
    text = text.slice(0, v4Tail.index) + ((a << 8) | b).toString(16) + ':' + ((c << 8) | d).toString(16);
  }
  const [head, tail] = text.split('::');
  const parse = (part: string | undefined): string[] => (part ? part.split(':') : []);
  const headGroups = parse(head);
  const tailGroups = parse(tail);
  const zeros = tail === undefined ? [] : new Array<string>(8 - headGroups.length - tailGroups.length).fill('0');
  const out = Buffer.alloc(16);
  [...headGroups, ...zeros, ...tailGroups].forEach((group, i) => out.writeUInt16BE(parseInt(group, 16), i * 2));
  return out;
}

function subjectAltName(dnsNames: readonly string[], ipAddresses: readonly string[]): Buffer {
  return sequence(
    ...dnsNames.map((name) => {
      // dNSName is an IA5String: international names must arrive already punycoded.
      if (!/^[\x20-\x7e]+$/.test(name)) throw new Error(`DNS name must be ASCII: ${name}`);
      return implicit(2, Buffer.from(name, 'ascii'));
    }),
    ...ipAddresses.map((ip) => implicit(7, ipToBytes(ip))),
  );
}

function toPem(label: string, der: Buffer): string {
  const lines = der.toString('base64').match(/.{1,64}/g) ?? [];
  return `-----BEGIN ${label}-----\n${lines.join('\n')}\n-----END ${label}-----\n`;
}

export function createSelfSignedCert(options: SelfSignedCertOptions): CertificatePair {
  const { commonName, dnsNames, ipAddresses, validDays } = options;
  if (!(validDays > 0)) throw new Error(`validDays must be positive, got ${validDays}`);

  const { publicKey, privateKey } = generateKeyPairSync('ec', { namedCurve: 'prime256v1' });

  // 16 random bytes with the top bit cleared (stays positive) and the next one set
  // (no leading zero byte that DER would require us to strip).
  const serial = randomBytes(16);
  serial[0] = (serial[0] & 0x7f) | 0x40;

  // Backdate by an hour so a client whose clock runs slightly behind still accepts it.
  const now = Date.now();
  const notBefore = new Date(now - 60 * 60 * 1000);
  const notAfter = new Date(now + validDays * 24 * 60 * 60 * 1000);

  // ECDSA algorithm identifiers carry no parameters field at all (RFC 5758).
  const signatureAlgorithm = sequence(oid(OID.ecdsaWithSha256));
  // Self-signed: issuer and subject are the same name.
  const name = sequence(set(sequence(oid(OID.commonName), utf8String(commonName))));

  const tbsCertificate = sequence(
    explicit(0, integer(Buffer.from([2]))), // version v3 is encoded as 2
    integer(serial),
    signatureAlgorithm,
    name,
    sequence(time(notBefore), time(notAfter)),
    name,
    publicKey.export({ type: 'spki', format: 'der' }),
    explicit(
      3,
      sequence(
        extension(OID.basicConstraints, true, sequence()), // empty: cA defaults to false
        // digitalSignature is bit 0; DER drops trailing zero bits, leaving 7 unused.
        extension(OID.keyUsage, true, bitString(Buffer.from([0x80]), 7)),
        extension(OID.extKeyUsage, false, sequence(oid(OID.serverAuth))),
        // GeneralNames may not be empty, so with no names there is no SAN extension.
        ...(dnsNames.length + ipAddresses.length > 0
          ? [extension(OID.subjectAltName, false, subjectAltName(dnsNames, ipAddresses))]
          : []),
      ),
    ),
  );

  // For EC keys crypto.sign already returns the DER ECDSA-Sig-Value X.509 expects.
  const signature = sign('sha256', tbsCertificate, privateKey);
  const certificate = sequence(tbsCertificate, signatureAlgorithm, bitString(signature));

  return {
    certPem: toPem('CERTIFICATE', certificate),
    keyPem: privateKey.export({ type: 'pkcs8', format: 'pem' }).toString(),
  };
}
