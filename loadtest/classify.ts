// Names for what went wrong, with no I/O: HTTP/2 error codes (RFC 9113 section 7), session
// errors and stream resets mapped to the report's failure classes. Never just "error".

import type { FailureClass } from './report.ts';

const H2_ERROR_NAMES = [
  'NO_ERROR',
  'PROTOCOL_ERROR',
  'INTERNAL_ERROR',
  'FLOW_CONTROL_ERROR',
  'SETTINGS_TIMEOUT',
  'STREAM_CLOSED',
  'FRAME_SIZE_ERROR',
  'REFUSED_STREAM',
  'CANCEL',
  'COMPRESSION_ERROR',
  'CONNECT_ERROR',
  'ENHANCE_YOUR_CALM',
  'INADEQUATE_SECURITY',
  'HTTP_1_1_REQUIRED',
] as const;

export const H2 = { NO_ERROR: 0, PROTOCOL_ERROR: 1, REFUSED_STREAM: 7, CANCEL: 8 } as const;

export function h2ErrorName(code: number): string {
  return H2_ERROR_NAMES[code] ?? `error code ${code}`;
}

export interface Failure {
  readonly cls: FailureClass;
  readonly detail: string;
}

/** Codes that say the framing itself was wrong, whoever noticed it. */
const PROTOCOL_CODES = new Set([1, 3, 6, 9]);

/** A RST_STREAM the tool did not send, on a live connection. */
export function classifyStreamReset(code: number, hasResponse: boolean): Failure {
  const name = h2ErrorName(code);
  if (PROTOCOL_CODES.has(code)) return { cls: 'protocol-error', detail: `stream reset with ${name}` };
  const when = hasResponse ? 'after the response head' : 'before any response';
  return { cls: 'server-reset', detail: `RST_STREAM ${name} ${when}` };
}

const TLS_TRUST_CODES = new Set([
  'DEPTH_ZERO_SELF_SIGNED_CERT',
  'SELF_SIGNED_CERT_IN_CHAIN',
  'UNABLE_TO_VERIFY_LEAF_SIGNATURE',
  'UNABLE_TO_GET_ISSUER_CERT_LOCALLY',
  'CERT_HAS_EXPIRED',
  'ERR_TLS_CERT_ALTNAME_INVALID',
]);

/** A connection that failed: connect, TLS, socket, or HTTP/2 framing. */
export function classifySessionError(err: unknown): Failure {
  const e = err as NodeJS.ErrnoException | undefined;
  const code = e?.code ?? '';
  const message = e?.message ?? String(err);
  if (TLS_TRUST_CODES.has(code)) {
    const reason = message.split(';')[0];
    return { cls: 'connection-error', detail: `TLS: ${reason} (${code}); use --insecure or --ca FILE for a test certificate` };
  }
  if (code === 'ERR_SSL_TLSV1_ALERT_NO_APPLICATION_PROTOCOL') {
    return { cls: 'connection-error', detail: `TLS: the server does not offer HTTP/2 (no ALPN "h2") (${code})` };
  }
  if (code.startsWith('ERR_HTTP2_') || code === 'ERR_HTTP2_ERROR') return { cls: 'protocol-error', detail: `${code}: ${message}` };
  return { cls: 'connection-error', detail: code ? `${code}: ${message}` : message };
}
