import { isIP } from 'node:net';
import type { AuthOutcome } from '../../machines/types.js';
import type { Protocol } from '../config/types.js';
import { Secret } from '../secret.js';

/** nginx reads the auth service's answer into a 1024-byte buffer: status line and headers must fit. */
export const AUTH_RESPONSE_LIMIT = 1024;

/** Result of looking at the bytes received so far. */
export type AuthScan = { state: 'more' } | { state: 'done'; outcome: AuthOutcome };

const CR = 0x0d;
const LF = 0x0a;
const SP = 0x20;

const isLetterOrDigit = (c: number) => (c >= 0x30 && c <= 0x39) || ((c | 0x20) >= 0x61 && (c | 0x20) <= 0x7a);

/** Printable form of text from the auth server for a log line: control bytes as `\xNN`. */
const printable = (value: string) =>
  value.replace(/[\u0000-\u001f\u007f]/g, (c) => `\\x${c.charCodeAt(0).toString(16).padStart(2, '0')}`);

const error = (reason: string): AuthScan => ({ state: 'done', outcome: { status: 'error', reason } });

/** `auth http server 127.0.0.1:9000`, the subject of nginx's log lines about the auth service. */
const subject = (peer: string) => (peer === '' ? 'auth http server' : `auth http server ${peer}`);

/**
 * Where the header lines start: a first line beginning with `HTTP/` is a status line and is
 * skipped without looking at the code; anything else means there is no status line at all.
 * `'more'` when the bytes so far cannot tell; `-1` for a CR not followed by LF in the status line.
 */
function headerStart(data: Buffer): number | 'more' {
  const prefix = 'HTTP/';
  for (let i = 0; i < prefix.length; i++) {
    if (i >= data.length) return 'more';
    if (data[i] !== prefix.charCodeAt(i)) return 0;
  }
  for (let p = prefix.length; p < data.length; p++) {
    if (data[p] === LF) return p + 1;
    if (data[p] === CR) {
      if (p + 1 >= data.length) return 'more';
      return data[p + 1] === LF ? p + 2 : -1;
    }
  }
  return 'more';
}

/**
 * The header lines as nginx's ngx_mail_auth_http_parse_header_line accepts them: the name is
 * letters, digits and `-` (starting with a letter or digit), a line with a name and no colon is
 * an empty header, only spaces are skipped before the value and trimmed after it, a CR must be
 * followed by LF. Returns the headers once the empty line was seen.
 */
function headerLines(data: Buffer, start: number): Array<[name: string, value: string]> | 'more' | 'invalid' {
  const headers: Array<[string, string]> = [];
  let p = start;
  /** At a CR or LF ending a line: index after the line end, 'more' or 'invalid'. */
  const lineEnd = (at: number): number | 'more' | 'invalid' => {
    if (data[at] === LF) return at + 1;
    if (at + 1 >= data.length) return 'more';
    return data[at + 1] === LF ? at + 2 : 'invalid';
  };
  for (;;) {
    if (p >= data.length) return 'more';
    const first = data[p]!;
    if (first === CR || first === LF) {
      const end = lineEnd(p);
      return typeof end === 'number' ? headers : end;
    }
    if (!isLetterOrDigit(first)) return 'invalid';
    const nameStart = p;
    let q = p + 1;
    let value = '';
    for (;;) {
      if (q >= data.length) return 'more';
      const c = data[q]!;
      if (isLetterOrDigit(c) || c === 0x2d) {
        q++;
        continue;
      }
      if (c === 0x3a || c === CR || c === LF) break;
      return 'invalid';
    }
    const name = data.toString('latin1', nameStart, q);
    if (data[q] === 0x3a) {
      q++;
      while (q < data.length && data[q] === SP) q++;
      const valueStart = q;
      let valueEnd = q;
      for (;;) {
        if (q >= data.length) return 'more';
        const c = data[q]!;
        if (c === CR || c === LF) break;
        if (c !== SP) valueEnd = q + 1;
        q++;
      }
      value = data.toString('latin1', valueStart, valueEnd);
    }
    const end = lineEnd(q);
    if (typeof end !== 'number') return end;
    headers.push([name, value]);
    p = end;
  }
}

/** nginx's ngx_atoi: decimal digits only, no sign, not empty, no overflow. */
function atoi(text: string): number | undefined {
  if (!/^[0-9]+$/.test(text)) return undefined;
  const value = Number(text);
  return Number.isSafeInteger(value) ? value : undefined;
}

/** nginx's ngx_inet_addr: four dot-separated decimal octets (empty ones count as 0); 255.255.255.255 is refused. */
function parseIpv4(text: string): number[] | undefined {
  const octets = [0];
  for (const char of text) {
    if (char === '.') {
      octets.push(0);
      continue;
    }
    if (char < '0' || char > '9') return undefined;
    const value = octets[octets.length - 1]! * 10 + Number(char);
    if (value > 255) return undefined;
    octets[octets.length - 1] = value;
  }
  if (octets.length !== 4 || octets.every((octet) => octet === 255)) return undefined;
  return octets;
}

/**
 * nginx's ngx_inet6_addr: eight groups of up to four hex digits, one `::`, an optional trailing
 * dotted IPv4 part, no brackets, no zone. Returns the eight 16-bit groups.
 */
function parseIpv6(text: string): number[] | undefined {
  if (text.length === 0) return undefined;
  const groups: number[] = [];
  let zeroAt = -1;
  let groupStart = -1;
  let nibbles = 0;
  let word = 0;
  let i = text[0] === ':' ? 1 : 0;
  for (; i < text.length; i++) {
    const char = text[i]!;
    if (char === ':') {
      if (nibbles > 0) {
        groups.push(word);
        groupStart = i + 1;
        if (groups.length >= 8) return undefined;
        nibbles = 0;
        word = 0;
        continue;
      }
      if (zeroAt >= 0) return undefined;
      zeroAt = groups.length;
      groupStart = i + 1;
      continue;
    }
    if (char === '.' && nibbles > 0) {
      if (groups.length > 6 || groupStart < 0) return undefined;
      const v4 = parseIpv4(text.slice(groupStart));
      if (v4 === undefined) return undefined;
      groups.push((v4[0]! << 8) | v4[1]!);
      word = (v4[2]! << 8) | v4[3]!;
      nibbles = 1;
      break;
    }
    if (++nibbles > 4) return undefined;
    const digit = parseInt(char, 16);
    if (Number.isNaN(digit)) return undefined;
    word = word * 16 + digit;
  }
  if (nibbles === 0 && zeroAt < 0) return undefined;
  groups.push(word);
  if (groups.length < 8) {
    if (zeroAt < 0) return undefined;
    groups.splice(zeroAt, 0, ...new Array<number>(8 - groups.length).fill(0));
    return groups;
  }
  return zeroAt < 0 ? groups : undefined;
}

/**
 * `Auth-Server` must be an IP literal as nginx's ngx_parse_addr reads it (no host names, no
 * brackets). Returns text the backend connector can use: the server's own text when Node reads
 * it the same way, else the canonical form of what nginx understood (e.g. `10..0.1` → `10.0.0.1`).
 */
export function parseServerAddress(text: string): string | undefined {
  const v4 = parseIpv4(text);
  if (v4 !== undefined) return isIP(text) === 4 ? text : v4.join('.');
  const v6 = parseIpv6(text);
  if (v6 !== undefined) return isIP(text) === 6 && !text.includes('%') ? text : v6.map((g) => g.toString(16)).join(':');
  return undefined;
}

/** What the header lines mean, following ngx_mail_auth_http_process_headers. */
function interpret(headers: Array<[string, string]>, protocol: Protocol, peer: string): AuthOutcome {
  let failed = false;
  let errorText = '';
  let wait = false;
  let server = '';
  let port = '';
  let user: string | undefined;
  let password: string | undefined;
  let sleep: number | undefined;
  let errorCode = '';
  for (const [rawName, value] of headers) {
    switch (rawName.toLowerCase()) {
      case 'auth-status':
        // Exact, case-sensitive comparisons; OK and WAIT do not undo an earlier failure status.
        if (value === 'OK') break;
        if (value === 'WAIT') {
          wait = true;
          break;
        }
        errorText = value;
        // nginx keeps an SMTP failure as the bare text, so an empty one is no failure at all;
        // for POP3/IMAP it builds `-ERR <text>` / `<tag>NO <text>`, never empty.
        failed = protocol === 'smtp' ? value !== '' : true;
        break;
      case 'auth-server':
        server = value;
        break;
      case 'auth-port':
        port = value;
        break;
      case 'auth-user':
        user = value;
        break;
      case 'auth-pass':
        password = value;
        break;
      case 'auth-wait': {
        const seconds = atoi(value);
        if (seconds !== undefined) sleep = seconds;
        break;
      }
      case 'auth-error-code':
        errorCode = value;
        break;
      default:
        break;
    }
  }
  if (failed) {
    return {
      status: 'fail',
      text: errorText,
      ...(sleep === undefined ? {} : { waitSeconds: sleep }),
      ...(protocol === 'smtp' && errorCode !== '' ? { errorCode } : {}),
    };
  }
  if (wait) return { status: 'wait', waitSeconds: sleep ?? 0 };
  if (server === '' || port === '') return { status: 'error', reason: `${subject(peer)} did not send server or port` };
  const address = parseServerAddress(server);
  if (address === undefined) {
    return { status: 'error', reason: `${subject(peer)} sent invalid server address:"${printable(server)}"` };
  }
  const portNumber = atoi(port);
  if (portNumber === undefined || portNumber < 1 || portNumber > 65535) {
    return { status: 'error', reason: `${subject(peer)} sent invalid server port:"${printable(port)}"` };
  }
  return {
    status: 'ok',
    server: address,
    port: portNumber,
    ...(user === undefined ? {} : { user }),
    ...(password === undefined ? {} : { password: new Secret(password) }),
  };
}

/**
 * Look at the first bytes of the answer received so far (the caller passes at most
 * AUTH_RESPONSE_LIMIT of them). `'more'` until the empty line ending the headers arrived; a
 * malformed status line or header line is an error as soon as it is seen, like nginx's
 * incremental parser. Whatever follows the empty line is ignored.
 */
export function scanAuthResponse(data: Buffer, protocol: Protocol, peer = ''): AuthScan {
  const start = headerStart(data);
  if (start === 'more') return { state: 'more' };
  if (start < 0) return error(`${subject(peer)} sent invalid response`);
  const headers = headerLines(data, start);
  if (headers === 'more') return { state: 'more' };
  if (headers === 'invalid') return error(`${subject(peer)} sent invalid header in response`);
  return { state: 'done', outcome: interpret(headers, protocol, peer) };
}

/**
 * Parse a complete answer (the connection ended after `raw`), nginx's way (§8.2): only the first
 * 1024 bytes are read; the header block must end within them.
 */
export function parseAuthResponse(raw: Buffer, protocol: Protocol, peer = ''): AuthOutcome {
  const scan = scanAuthResponse(raw.subarray(0, AUTH_RESPONSE_LIMIT), protocol, peer);
  if (scan.state === 'done') return scan.outcome;
  return raw.length >= AUTH_RESPONSE_LIMIT
    ? { status: 'error', reason: `${subject(peer)} sent too big response` }
    : { status: 'error', reason: `${subject(peer)} prematurely closed connection` };
}
