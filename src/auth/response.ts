import { isIP } from 'node:net';
import type { AuthOutcome } from '../../machines/types.js';
import type { Protocol } from '../config/types.js';
import { Secret } from '../secret.js';

/** nginx reads at most this much of the auth service's answer (status line and headers). */
export const AUTH_RESPONSE_LIMIT = 1024;

export type ParsedResponse = { complete: true; outcome: AuthOutcome } | { complete: false };

const HEADER_NAME = /^[A-Za-z0-9][A-Za-z0-9-]*$/;

/**
 * Parse what the auth service sent so far. Complete once the header block ended (empty line);
 * the status line, if any, is skipped without looking at the code, as nginx does.
 */
export function parseAuthResponse(raw: Buffer, protocol: Protocol, serverName: string, ended = false): ParsedResponse {
  const text = raw.toString('latin1');
  let lines = text.split('\n');
  const hasEnd = lines.some((line, i) => i < lines.length - 1 && (line === '' || line === '\r'));
  if (!hasEnd && !ended) return { complete: false };
  if (!hasEnd) return { complete: true, outcome: { status: 'error', reason: `auth http server ${serverName} sent invalid response` } };
  if (lines[0]?.startsWith('HTTP/')) {
    if (/\r[^\n]*$/.test(lines[0].slice(0, -1))) {
      return { complete: true, outcome: { status: 'error', reason: `auth http server ${serverName} sent invalid response` } };
    }
    lines = lines.slice(1);
  }
  const headers = new Map<string, string>();
  for (let line of lines) {
    if (line.endsWith('\r')) line = line.slice(0, -1);
    if (line === '') break;
    const colon = line.indexOf(':');
    const name = (colon < 0 ? line : line.slice(0, colon)).trimEnd();
    if (!HEADER_NAME.test(name)) {
      return { complete: true, outcome: { status: 'error', reason: `auth http server ${serverName} sent invalid header in response` } };
    }
    const value = colon < 0 ? '' : line.slice(colon + 1).trim();
    headers.set(name.toLowerCase(), value);
  }
  return { complete: true, outcome: interpret(headers, protocol, serverName) };
}

function interpret(headers: Map<string, string>, protocol: Protocol, serverName: string): AuthOutcome {
  const status = headers.get('auth-status');
  const waitHeader = headers.get('auth-wait');
  const waitSeconds = waitHeader !== undefined && /^\d+$/.test(waitHeader) ? Number(waitHeader) : undefined;
  // An empty Auth-Status is a failure for POP3/IMAP, but not for SMTP (nginx quirk, §8.2).
  const failed = status !== undefined && status !== 'OK' && status !== 'WAIT' && (status !== '' || protocol !== 'smtp');
  if (failed) {
    const errorCode = protocol === 'smtp' ? headers.get('auth-error-code') : undefined;
    return {
      status: 'fail',
      text: status,
      ...(waitSeconds === undefined ? {} : { waitSeconds }),
      ...(errorCode ? { errorCode } : {}),
    };
  }
  if (status === 'WAIT') return { status: 'wait', waitSeconds: waitSeconds ?? 0 };
  const server = headers.get('auth-server');
  const port = headers.get('auth-port');
  if (server === undefined || port === undefined) {
    return { status: 'error', reason: `auth http server ${serverName} did not send server or port` };
  }
  if (isIP(server) === 0) return { status: 'error', reason: `auth http server ${serverName} sent invalid server address:"${server}"` };
  const portNumber = /^\d{1,5}$/.test(port) ? Number(port) : 0;
  if (portNumber < 1 || portNumber > 65535) {
    return { status: 'error', reason: `auth http server ${serverName} sent invalid server port:"${port}"` };
  }
  const user = headers.get('auth-user');
  const password = headers.get('auth-pass');
  return {
    status: 'ok',
    server,
    port: portNumber,
    ...(user === undefined ? {} : { user }),
    ...(password === undefined ? {} : { password: new Secret(password) }),
  };
}
