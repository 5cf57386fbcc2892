// This workplace forbids load on any address but loopback: the storm refuses other hosts
// unless the user says --allow-remote, and also checks the address it actually connected to.

import net from 'node:net';

/** 127.0.0.0/8, ::1 (also as IPv4-mapped) and the name localhost. */
export function isLoopbackHost(hostname: string): boolean {
  const host = hostname.replace(/^\[|\]$/g, '').toLowerCase();
  if (host === 'localhost' || host === 'localhost.') return true;
  return isLoopbackAddress(host);
}

export function isLoopbackAddress(address: string): boolean {
  const plain = address.toLowerCase().replace(/^::ffff:/, '');
  if (net.isIPv4(plain)) return plain.startsWith('127.');
  return net.isIPv6(plain) && (plain === '::1' || plain === '0:0:0:0:0:0:0:1');
}

/** Why a URL may not be stormed, or undefined when it may. */
export function remoteRefusal(url: URL, allowRemote: boolean): string | undefined {
  if (allowRemote || isLoopbackHost(url.hostname)) return undefined;
  return `${url.host} is not a loopback address; load on other hosts needs --allow-remote`;
}
