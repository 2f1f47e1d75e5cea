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

/**
 * nginx's escaping of `Auth-User`/`Auth-Pass` (`NGX_ESCAPE_MAIL_AUTH`): bytes 0x00-0x20 and `%`
 * become `%XX`; every other byte, 0x7F and 0x80-0xFF included, goes raw. A credential therefore
 * can neither end a header nor add one.
 */
export function escapeCredential(value: string): Buffer {
  return percentEscape(bytesOf(value), (byte) => byte <= 0x20 || byte === 0x25);
}

/** The same escaping as a latin1 string (for tests and logs of non-secret values). */
export function escapeHeaderValue(value: string): string {
  return escapeCredential(value).toString('latin1');
}

/**
 * Values nginx copies verbatim (salt, Client-IP, Client-Host, HELO/MAIL/RCPT lines, TLS names,
 * configured headers) cannot carry a control byte when they come from our own parsers. Be sure
 * anyway (CVE-2026-28753 was exactly such a value): a control byte is sent as `%XX`, so CR/LF
 * can never reach the request as a line break. Printable text goes out byte for byte.
 */
function verbatim(value: string): Buffer {
  return percentEscape(bytesOf(value), (byte) => byte < 0x20 || byte === 0x7f);
}

/**
 * The auth request exactly as nginx sends it (ngx_mail_auth_http_create_request): HTTP/1.0 GET,
 * headers in nginx's order, the `auth_http_header` lines last, then the empty line.
 */
export function buildAuthRequest(
  target: AuthHttpTarget,
  request: AuthRequest,
  extraHeaders: ReadonlyArray<readonly [string, string]>,
): Buffer {
  const parts: Buffer[] = [];
  const text = (value: string) => parts.push(Buffer.from(value, 'latin1'));
  const header = (name: string, value: Buffer) => {
    text(`${name}: `);
    parts.push(value);
    text('\r\n');
  };

  text('GET ');
  parts.push(verbatim(target.uri === '' ? '/' : target.uri));
  text(' HTTP/1.0\r\n');
  header('Host', verbatim(target.hostHeader));
  header('Auth-Method', verbatim(request.method));
  header('Auth-User', escapeCredential(request.user));
  header('Auth-Pass', escapeCredential(request.password.reveal()));
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
    text('Auth-SSL: on\r\n');
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
      if (cert.pem) header('Auth-SSL-Cert', escapeCredential(cert.pem));
    }
  }
  for (const [name, value] of extraHeaders) {
    parts.push(verbatim(name));
    text(': ');
    parts.push(verbatim(value));
    text('\r\n');
  }
  text('\r\n');
  return Buffer.concat(parts);
}
