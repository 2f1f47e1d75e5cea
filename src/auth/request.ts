import type { AuthRequest } from '../../machines/types.js';
import type { AuthHttpTarget } from '../config/types.js';

export type { AuthRequest };

/**
 * The bytes of a value. Strings are latin1 "binary" strings (one byte per character); a
 * character above U+00FF (which should not happen) is sent as its UTF-8 bytes rather than being
 * truncated to its low byte: truncation would turn U+010A into a line feed.
 */
function bytesOf(value: string): Buffer {
  if (!/[^\u0000-\u00ff]/.test(value)) return Buffer.from(value, 'latin1');
  const parts: Buffer[] = [];
  for (const char of value) {
    parts.push(char.codePointAt(0)! > 0xff ? Buffer.from(char, 'utf8') : Buffer.from(char, 'latin1'));
  }
  return Buffer.concat(parts);
}

const HEX = '0123456789ABCDEF';

/** Replace every byte for which `escape` holds by `%XX` (upper-case hex). */
function percentEscape(bytes: Buffer, escape: (byte: number) => boolean): Buffer {
  let count = 0;
  for (const byte of bytes) if (escape(byte)) count++;
  if (count === 0) return bytes;
  const out = Buffer.alloc(bytes.length + 2 * count);
  let at = 0;
  for (const byte of bytes) {
    if (escape(byte)) {
      out[at++] = 0x25;
      out[at++] = HEX.charCodeAt(byte >> 4);
      out[at++] = HEX.charCodeAt(byte & 0x0f);
    } else {
      out[at++] = byte;
    }
  }
  return out;
}

/** Bytes nginx escapes in `Auth-User`/`Auth-Pass`: 0x00-0x20 and `%` (as latin1 characters). */
const CREDENTIAL_BYTES = /[\u0000-\u0020%]/g;
/** Control bytes in a verbatim value. */
const CONTROL_BYTES = /[\u0000-\u001f\u007f]/g;
const WIDE = /[^\u0000-\u00ff]/;
const percent = (char: string): string => {
  const byte = char.charCodeAt(0);
  return `%${HEX[byte >> 4]}${HEX[byte & 0x0f]}`;
};

/**
 * `value` escaped as a latin1 string (one character per byte of the request). The usual value
 * (every character a byte) is escaped as a string; one with a character above U+00FF goes
 * through its bytes (bytesOf), so both give the same bytes.
 */
function escapedText(value: string, pattern: RegExp, escape: (byte: number) => boolean): string {
  if (!WIDE.test(value)) return value.replace(pattern, percent);
  return percentEscape(bytesOf(value), escape).toString('latin1');
}

const isCredentialByte = (byte: number): boolean => byte <= 0x20 || byte === 0x25;
const isControlByte = (byte: number): boolean => byte < 0x20 || byte === 0x7f;

/**
 * nginx's escaping of `Auth-User`/`Auth-Pass` (`NGX_ESCAPE_MAIL_AUTH`): bytes 0x00-0x20 and `%`
 * become `%XX`; every other byte, 0x7F and 0x80-0xFF included, goes raw. A credential therefore
 * can neither end a header nor add one. A latin1 string, one character per byte.
 */
export function escapeHeaderValue(value: string): string {
  return escapedText(value, CREDENTIAL_BYTES, isCredentialByte);
}

/**
 * Values nginx copies verbatim (salt, Client-IP, Client-Host, HELO/MAIL/RCPT lines, TLS names,
 * configured headers) cannot carry a control byte when they come from our own parsers. Be sure
 * anyway (CVE-2026-28753 was exactly such a value): a control byte is sent as `%XX`, so CR/LF
 * can never reach the request as a line break. Printable text goes out byte for byte.
 */
function verbatim(value: string): string {
  return escapedText(value, CONTROL_BYTES, isControlByte);
}

/**
 * The auth request exactly as nginx sends it (ngx_mail_auth_http_create_request): HTTP/1.0 GET,
 * headers in nginx's order, the `auth_http_header` lines last, then the empty line. Built as one
 * latin1 string (every value already escaped to one character per byte) and encoded once.
 */
export function buildAuthRequest(
  target: AuthHttpTarget,
  request: AuthRequest,
  extraHeaders: ReadonlyArray<readonly [string, string]>,
): Buffer {
  let text = `GET ${verbatim(target.uri === '' ? '/' : target.uri)} HTTP/1.0\r\n`;
  const header = (name: string, value: string) => {
    text += `${name}: ${value}\r\n`;
  };

  header('Host', verbatim(target.hostHeader));
  header('Auth-Method', verbatim(request.method));
  header('Auth-User', escapeHeaderValue(request.user));
  header('Auth-Pass', escapeHeaderValue(request.password.reveal()));
  if ((request.method === 'apop' || request.method === 'cram-md5') && request.salt) {
    // nginx keeps the salt with its CRLF and copies it as is; ours comes without one.
    header('Auth-Salt', verbatim(request.salt.replace(/\r?\n$/, '')));
  }
  header('Auth-Protocol', verbatim(request.protocol));
  header('Auth-Login-Attempt', verbatim(String(request.attempt)));
  header('Client-IP', verbatim(request.clientIp));
  if (request.clientHost) header('Client-Host', verbatim(request.clientHost));
  const proxy = request.proxyProtocol;
  if (proxy) {
    header('Proxy-Protocol-Addr', verbatim(proxy.sourceAddress));
    header('Proxy-Protocol-Port', verbatim(String(proxy.sourcePort)));
    header('Proxy-Protocol-Server-Addr', verbatim(proxy.destinationAddress));
    header('Proxy-Protocol-Server-Port', verbatim(String(proxy.destinationPort)));
  }
  if (request.method === 'none') {
    header('Auth-SMTP-Helo', verbatim(request.smtp?.helo ?? ''));
    header('Auth-SMTP-From', verbatim(request.smtp?.from ?? ''));
    header('Auth-SMTP-To', verbatim(request.smtp?.to ?? ''));
  }
  if (request.tls) {
    text += 'Auth-SSL: on\r\n';
    if (request.tls.protocol) header('Auth-SSL-Protocol', verbatim(request.tls.protocol));
    if (request.tls.cipher) header('Auth-SSL-Cipher', verbatim(request.tls.cipher));
    // Only with ssl_verify_client other than off; each line only when it has a value.
    const cert = request.tls.clientCert;
    if (cert) {
      header('Auth-SSL-Verify', verbatim(cert.verify));
      if (cert.subject) header('Auth-SSL-Subject', verbatim(cert.subject));
      if (cert.issuer) header('Auth-SSL-Issuer', verbatim(cert.issuer));
      if (cert.serial) header('Auth-SSL-Serial', verbatim(cert.serial));
      if (cert.fingerprint) header('Auth-SSL-Fingerprint', verbatim(cert.fingerprint));
      // The PEM's line ends and spaces are escaped like a credential (`%0A`, `%20`).
      if (cert.pem) header('Auth-SSL-Cert', escapeHeaderValue(cert.pem));
    }
  }
  for (const [name, value] of extraHeaders) header(verbatim(name), verbatim(value));
  text += '\r\n';
  return Buffer.from(text, 'latin1');
}
