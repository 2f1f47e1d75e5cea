import type { AuthRequest } from '../../machines/types.js';
import type { AuthHttpTarget } from '../config/types.js';

export type { AuthRequest };

/**
 * nginx's escaping of `Auth-User`/`Auth-Pass`: control bytes, space and `%` become `%XX`
 * (upper-case hex); every other byte goes raw. Credentials therefore cannot end or add a header.
 */
export function escapeHeaderValue(value: string): string {
  let out = '';
  for (let i = 0; i < value.length; i++) {
    const code = value.charCodeAt(i);
    out += code <= 0x20 || code === 0x25 ? `%${code.toString(16).toUpperCase().padStart(2, '0')}` : value[i];
  }
  return out;
}

/** Values we place verbatim must not carry a line break (they come from our own state, but be sure). */
const oneLine = (value: string): string => value.replace(/[\r\n]/g, ' ');

/**
 * The auth request exactly as nginx sends it: HTTP/1.0 GET, headers in nginx's order, the
 * configured `auth_http_header` lines last. Latin1: one byte per character of the credentials.
 */
export function buildAuthRequest(target: AuthHttpTarget, request: AuthRequest, extraHeaders: ReadonlyArray<readonly [string, string]>): Buffer {
  const lines = [
    `GET ${target.uri} HTTP/1.0`,
    `Host: ${target.hostHeader}`,
    `Auth-Method: ${request.method}`,
    `Auth-User: ${escapeHeaderValue(request.user)}`,
    `Auth-Pass: ${escapeHeaderValue(request.password.reveal())}`,
  ];
  if ((request.method === 'apop' || request.method === 'cram-md5') && request.salt !== undefined) {
    lines.push(`Auth-Salt: ${oneLine(request.salt)}`);
  }
  lines.push(`Auth-Protocol: ${request.protocol}`, `Auth-Login-Attempt: ${request.attempt}`, `Client-IP: ${oneLine(request.clientIp)}`);
  if (request.clientHost !== undefined) lines.push(`Client-Host: ${oneLine(request.clientHost)}`);
  if (request.method === 'none' && request.smtp) {
    lines.push(
      `Auth-SMTP-Helo: ${oneLine(request.smtp.helo)}`,
      `Auth-SMTP-From: ${oneLine(request.smtp.from)}`,
      `Auth-SMTP-To: ${oneLine(request.smtp.to)}`,
    );
  }
  if (request.tls) {
    lines.push('Auth-SSL: on', `Auth-SSL-Protocol: ${oneLine(request.tls.protocol)}`, `Auth-SSL-Cipher: ${oneLine(request.tls.cipher)}`);
  }
  for (const [name, value] of extraHeaders) lines.push(`${name}: ${value}`);
  return Buffer.from(`${lines.join('\r\n')}\r\n\r\n`, 'latin1');
}
