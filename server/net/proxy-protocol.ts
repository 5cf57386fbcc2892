// The PROXY protocol header (HAProxy's proxy-protocol.txt, versions 1 and 2): a load balancer
// that passes TCP through (TLS and ALPN h2 untouched) writes it first on each connection it
// opens to us, naming the client it relays. Pure: bytes in, a header or a verdict out; the
// listener (net/proxy-listener.ts) does the I/O.
//
// - v1 is one text line, at most 107 bytes with its CRLF: `PROXY TCP4 src dst sport dport`,
//   `PROXY TCP6 ...`, or `PROXY UNKNOWN ...` (the proxy could not tell; keep the socket's own).
// - v2 is binary: a 12-byte signature, version/command, family/transport, a 16-bit length,
//   the addresses, then optional TLVs (skipped). LOCAL is a connection the proxy made on its
//   own behalf, its health checks: the socket's own address stands. So do AF_UNSPEC and
//   AF_UNIX, which name no IP client. Datagram transports are refused: we serve TCP.
// Anything else is refused rather than guessed at: a connection that does not start with a
// whole, valid header within PROXY_HEADER_MAX_BYTES did not come from our proxy.

import net from 'node:net';

export const PROXY_V1_MAX_BYTES = 107;
/** v2: 16 fixed bytes, 216 for the largest address block (AF_UNIX), room for a few TLVs. */
export const PROXY_V2_MAX_BYTES = 1024;
export const PROXY_HEADER_MAX_BYTES = Math.max(PROXY_V1_MAX_BYTES, PROXY_V2_MAX_BYTES);

export const PROXY_V2_SIGNATURE = Buffer.from([0x0d, 0x0a, 0x0d, 0x0a, 0x00, 0x0d, 0x0a, 0x51, 0x55, 0x49, 0x54, 0x0a]);
const V1_PREFIX = Buffer.from('PROXY ', 'latin1');
const V2_FIXED_BYTES = 16;

export type ProxyHeader =
  /** The socket's own address stands: v2 LOCAL (the proxy's health check), v1 UNKNOWN, no IP family. */
  | { readonly command: 'local' }
  | {
      readonly command: 'proxy';
      readonly family: 'IPv4' | 'IPv6';
      readonly sourceAddress: string;
      readonly sourcePort: number;
      readonly destinationAddress: string;
      readonly destinationPort: number;
    };

export type ProxyRefusal = 'not-proxy-protocol' | 'malformed' | 'oversized' | 'unsupported';

export type ProxyParse =
  | { readonly status: 'incomplete' }
  | { readonly status: 'invalid'; readonly reason: ProxyRefusal; readonly detail: string }
  | { readonly status: 'complete'; readonly version: 1 | 2; readonly header: ProxyHeader; /** Bytes the header took. */ readonly length: number };

const INCOMPLETE: ProxyParse = { status: 'incomplete' };
const invalid = (reason: ProxyRefusal, detail: string): ProxyParse => ({ status: 'invalid', reason, detail });

/** Parses the header at the start of `bytes` (everything received so far on the connection). */
export function parseProxyHeader(bytes: Uint8Array): ProxyParse {
  const buf = Buffer.from(bytes.buffer, bytes.byteOffset, bytes.byteLength);
  if (startsLike(buf, PROXY_V2_SIGNATURE)) return buf.length < PROXY_V2_SIGNATURE.length ? INCOMPLETE : parseV2(buf);
  if (startsLike(buf, V1_PREFIX)) return buf.length < V1_PREFIX.length ? INCOMPLETE : parseV1(buf);
  return invalid('not-proxy-protocol', 'no PROXY v1 or v2 signature');
}

/** True when `buf` and `prefix` agree on their common length (so more bytes may still match). */
function startsLike(buf: Buffer, prefix: Buffer): boolean {
  const n = Math.min(buf.length, prefix.length);
  return buf.subarray(0, n).equals(prefix.subarray(0, n));
}

function parseV1(buf: Buffer): ProxyParse {
  let end = -1;
  for (let i = 0; i < Math.min(buf.length, PROXY_V1_MAX_BYTES); i++) {
    const byte = buf[i]!;
    if (byte === 0x0d && i + 1 < buf.length && buf[i + 1] === 0x0a) {
      end = i;
      break;
    }
    // Printable ASCII only; a CR may only be followed by LF (a lone CR last may still be).
    const isLastCr = byte === 0x0d && i + 1 === buf.length;
    if (!isLastCr && (byte < 0x20 || byte > 0x7e)) return invalid('malformed', `v1: byte 0x${byte.toString(16)} at ${i}`);
  }
  if (end < 0 || end + 2 > PROXY_V1_MAX_BYTES) {
    return buf.length >= PROXY_V1_MAX_BYTES ? invalid('oversized', `v1: no CRLF within ${PROXY_V1_MAX_BYTES} bytes`) : INCOMPLETE;
  }
  const length = end + 2;
  const fields = buf.toString('latin1', 0, end).split(' ');
  const complete = (header: ProxyHeader): ProxyParse => ({ status: 'complete', version: 1, header, length });
  if (fields[1] === 'UNKNOWN') return complete({ command: 'local' }); // the rest of the line is ignored (spec 2.1)
  if (fields.length !== 6) return invalid('malformed', `v1: ${fields.length} fields`);
  const [, protocol, source, destination, sourcePort, destinationPort] = fields as [string, string, string, string, string, string];
  const family = protocol === 'TCP4' ? 'IPv4' : protocol === 'TCP6' ? 'IPv6' : undefined;
  if (!family) return invalid('malformed', `v1: protocol ${JSON.stringify(protocol)}`);
  const isAddress = family === 'IPv4' ? net.isIPv4 : net.isIPv6;
  if (!isAddress(source) || !isAddress(destination)) return invalid('malformed', `v1: not ${family} addresses`);
  const ports = [sourcePort, destinationPort].map(parseV1Port);
  if (ports[0] === undefined || ports[1] === undefined) return invalid('malformed', 'v1: bad port');
  return complete({ command: 'proxy', family, sourceAddress: source, sourcePort: ports[0], destinationAddress: destination, destinationPort: ports[1] });
}

/** Decimal 0-65535 without leading zeros or sign (spec 2.1). */
function parseV1Port(text: string): number | undefined {
  if (!/^(0|[1-9][0-9]{0,4})$/.test(text)) return undefined;
  const port = Number(text);
  return port <= 65535 ? port : undefined;
}

function parseV2(buf: Buffer): ProxyParse {
  if (buf.length < V2_FIXED_BYTES) return INCOMPLETE;
  const versionCommand = buf[12]!;
  if (versionCommand >> 4 !== 2) return invalid('unsupported', `v2: version ${versionCommand >> 4}`);
  const command = versionCommand & 0x0f;
  if (command > 1) return invalid('unsupported', `v2: command ${command}`);
  const addressFamily = buf[13]! >> 4;
  const transport = buf[13]! & 0x0f;
  const length = V2_FIXED_BYTES + buf.readUInt16BE(14);
  if (length > PROXY_V2_MAX_BYTES) return invalid('oversized', `v2: ${length} bytes`);
  if (buf.length < length) return INCOMPLETE;
  const complete = (header: ProxyHeader): ProxyParse => ({ status: 'complete', version: 2, header, length });
  // LOCAL: "the receiver must ... use the real connection endpoints and discard the protocol block".
  if (command === 0) return complete({ command: 'local' });
  if (addressFamily > 3 || transport > 2) return invalid('unsupported', `v2: family/transport 0x${buf[13]!.toString(16)}`);
  if (transport === 2) return invalid('unsupported', 'v2: datagram transport');
  if (addressFamily === 0 || addressFamily === 3) return complete({ command: 'local' }); // AF_UNSPEC, AF_UNIX: no IP client
  if (transport !== 1) return invalid('unsupported', 'v2: transport unspecified for an IP family');
  const addressBytes = addressFamily === 1 ? 4 : 16;
  if (length - V2_FIXED_BYTES < 2 * addressBytes + 4) return invalid('malformed', `v2: address block of ${length - V2_FIXED_BYTES} bytes`);
  const format = addressFamily === 1 ? formatIPv4 : formatIPv6;
  const at = V2_FIXED_BYTES;
  return complete({
    command: 'proxy',
    family: addressFamily === 1 ? 'IPv4' : 'IPv6',
    sourceAddress: format(buf.subarray(at, at + addressBytes)),
    destinationAddress: format(buf.subarray(at + addressBytes, at + 2 * addressBytes)),
    sourcePort: buf.readUInt16BE(at + 2 * addressBytes),
    destinationPort: buf.readUInt16BE(at + 2 * addressBytes + 2),
  });
}

function formatIPv4(bytes: Buffer): string {
  return Array.from(bytes).join('.');
}

/** RFC 5952 text: lower-case hex, the longest run of two or more zero groups as `::`, IPv4-mapped as `::ffff:a.b.c.d`. */
export function formatIPv6(bytes: Buffer): string {
  const groups = Array.from({ length: 8 }, (_, i) => bytes.readUInt16BE(2 * i));
  if (groups.slice(0, 5).every((g) => g === 0) && groups[5] === 0xffff) return `::ffff:${formatIPv4(bytes.subarray(12))}`;
  let bestStart = -1;
  let bestLength = 1; // a single zero group is not shortened (RFC 5952 4.2.2)
  for (let i = 0; i < 8; ) {
    if (groups[i] !== 0) {
      i++;
      continue;
    }
    let j = i;
    while (j < 8 && groups[j] === 0) j++;
    if (j - i > bestLength) [bestStart, bestLength] = [i, j - i];
    i = j;
  }
  const hex = groups.map((g) => g.toString(16));
  if (bestStart < 0) return hex.join(':');
  return `${hex.slice(0, bestStart).join(':')}::${hex.slice(bestStart + bestLength).join(':')}`;
}

/** A v1 header line (for tests and tools that stand in for a proxy). */
export function encodeProxyV1(header: ProxyHeader): Buffer {
  if (header.command === 'local') return Buffer.from('PROXY UNKNOWN\r\n', 'latin1');
  const protocol = header.family === 'IPv4' ? 'TCP4' : 'TCP6';
  return Buffer.from(`PROXY ${protocol} ${header.sourceAddress} ${header.destinationAddress} ${header.sourcePort} ${header.destinationPort}\r\n`, 'latin1');
}

/** A v2 header: LOCAL, or PROXY over TCP with IPv4 or IPv6 addresses. */
export function encodeProxyV2(header: ProxyHeader): Buffer {
  if (header.command === 'local') return Buffer.concat([PROXY_V2_SIGNATURE, Buffer.from([0x20, 0x00, 0x00, 0x00])]);
  const addressBytes = header.family === 'IPv4' ? 4 : 16;
  const out = Buffer.alloc(V2_FIXED_BYTES + 2 * addressBytes + 4);
  PROXY_V2_SIGNATURE.copy(out);
  out[12] = 0x21;
  out[13] = header.family === 'IPv4' ? 0x11 : 0x21;
  out.writeUInt16BE(2 * addressBytes + 4, 14);
  addressToBytes(header.sourceAddress, header.family).copy(out, V2_FIXED_BYTES);
  addressToBytes(header.destinationAddress, header.family).copy(out, V2_FIXED_BYTES + addressBytes);
  out.writeUInt16BE(header.sourcePort, V2_FIXED_BYTES + 2 * addressBytes);
  out.writeUInt16BE(header.destinationPort, V2_FIXED_BYTES + 2 * addressBytes + 2);
  return out;
}

function addressToBytes(address: string, family: 'IPv4' | 'IPv6'): Buffer {
  if (family === 'IPv4') return Buffer.from(address.split('.').map(Number));
  // Expand `::` and a trailing dotted quad, then write the eight groups.
  const [head, tail = undefined] = address.split('::') as [string, string?];
  const toGroups = (part: string | undefined): number[] => {
    if (!part) return [];
    return part.split(':').flatMap((g) => (g.includes('.') ? (([a, b, c, d]) => [(a! << 8) | b!, (c! << 8) | d!])(g.split('.').map(Number)) : [parseInt(g, 16)]));
  };
  const headGroups = toGroups(head);
  const tailGroups = toGroups(tail);
  const groups = tail === undefined ? headGroups : [...headGroups, ...Array<number>(8 - headGroups.length - tailGroups.length).fill(0), ...tailGroups];
  const out = Buffer.alloc(16);
  groups.forEach((g, i) => out.writeUInt16BE(g, 2 * i));
  return out;
}
