// Reads Chrome's network log (--log-net-log=FILE): the HTTP/2 frames the browser says it sent
// and received that matter under a seek storm. Event types are numbers in the events; the
// file's own "constants" section maps them to names, so no Chrome version is hard-coded.

import { readFile } from 'node:fs/promises';

export interface NetLogHttp2Summary {
  /** HTTP2_SESSION_SEND_RST_STREAM events: streams the browser cancelled (its seeks). */
  readonly rstStreamsSent: number;
  /** HTTP2_SESSION_RECV_RST_STREAM error codes, e.g. { "8 (CANCEL)": 2 }. */
  readonly rstStreamsReceived: Readonly<Record<string, number>>;
  /** HTTP2_SESSION_RECV_GOAWAY error codes in the order received, e.g. "0 (NO_ERROR)". */
  readonly goawaysReceived: readonly string[];
  /** Of those, the ones whose code is not 0 (NO_ERROR): what Chrome turns into ERR_HTTP2_PROTOCOL_ERROR. */
  readonly goawayErrors: number;
  /** HTTP/2 sessions Chrome closed with a network error (a reset socket, a closed connection),
   *  other than ERR_ABORTED, which is how every session ends when the browser shuts down. */
  readonly sessionErrors: number;
}

const ERR_ABORTED = -3;

interface NetLog {
  readonly constants: { readonly logEventTypes: Record<string, number> };
  readonly events: readonly {
    readonly type: number;
    readonly params?: { readonly error_code?: string | number; readonly net_error?: number };
  }[];
}

export async function readNetLogHttp2(file: string): Promise<NetLogHttp2Summary> {
  const log = parseNetLog(await readFile(file, 'utf8'));
  const typeOf = (name: string): number => {
    const type = log.constants.logEventTypes[name];
    if (type === undefined) throw new Error(`net log has no event type ${name}`);
    return type;
  };
  const sendRst = typeOf('HTTP2_SESSION_SEND_RST_STREAM');
  const recvRst = typeOf('HTTP2_SESSION_RECV_RST_STREAM');
  const recvGoaway = typeOf('HTTP2_SESSION_RECV_GOAWAY');
  const sessionClose = typeOf('HTTP2_SESSION_CLOSE');
  let rstStreamsSent = 0;
  const rstStreamsReceived: Record<string, number> = {};
  const goawaysReceived: string[] = [];
  let sessionErrors = 0;
  for (const event of log.events) {
    if (event.type === sendRst) rstStreamsSent++;
    const code = String(event.params?.error_code ?? 'unknown');
    if (event.type === recvRst) rstStreamsReceived[code] = (rstStreamsReceived[code] ?? 0) + 1;
    if (event.type === recvGoaway) goawaysReceived.push(code);
    const netError = event.params?.net_error ?? 0;
    if (event.type === sessionClose && netError !== 0 && netError !== ERR_ABORTED) sessionErrors++;
  }
  const goawayErrors = goawaysReceived.filter((code) => Number.parseInt(code, 10) !== 0).length;
  return { rstStreamsSent, rstStreamsReceived, goawaysReceived, goawayErrors, sessionErrors };
}

/** A browser that did not shut down cleanly leaves the events array open: close it. */
function parseNetLog(text: string): NetLog {
  try {
    return JSON.parse(text) as NetLog;
  } catch {
    const lastEvent = text.lastIndexOf('},\n');
    if (lastEvent < 0) throw new Error('net log is empty or not JSON');
    return JSON.parse(`${text.slice(0, lastEvent + 1)}]}`) as NetLog;
  }
}
