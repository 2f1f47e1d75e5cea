import { describe, expect, it } from 'vitest';
import type { AuthRequest } from '../../../machines/types.js';
import type { AuthHttpTarget } from '../../../src/config/types.js';
import { buildAuthRequest, escapeHeaderValue } from '../../../src/auth/request.js';
import { Secret } from '../../../src/secret.js';

const target: AuthHttpTarget = { url: 'http://127.0.0.1:9000/auth', host: '127.0.0.1', port: 9000, uri: '/auth', hostHeader: '127.0.0.1' };

const base = (over: Partial<AuthRequest> = {}): AuthRequest => ({
  method: 'plain',
  user: 'test@example.com',
  password: new Secret('secret'),
  protocol: 'pop3',
  attempt: 1,
  clientIp: '127.0.0.1',
  ...over,
});

const lines = (...l: string[]) => `${l.join('\r\n')}\r\n\r\n`;
const build = (over: Partial<AuthRequest> = {}, extra: Array<[string, string]> = [], t = target) =>
  buildAuthRequest(t, base(over), extra).toString('latin1');

describe('buildAuthRequest: the bytes nginx sends', () => {
  it('plain POP3: header order, Host without port, no salt', () => {
    expect(build()).toBe(
      lines(
        'GET /auth HTTP/1.0',
        'Host: 127.0.0.1',
        'Auth-Method: plain',
        'Auth-User: test@example.com',
        'Auth-Pass: secret',
        'Auth-Protocol: pop3',
        'Auth-Login-Attempt: 1',
        'Client-IP: 127.0.0.1',
      ),
    );
  });

  it('escapes the login like nginx (live 1.22 example)', () => {
    expect(build({ user: 'te st%\r@example.com' })).toContain('\r\nAuth-User: te%20st%25%0D@example.com\r\n');
  });

  it('escapes 0x00-0x20 and % in user and password, nothing else', () => {
    let all = '';
    for (let i = 0; i < 256; i++) all += String.fromCharCode(i);
    const expected = [...all].map((c) => (c.charCodeAt(0) <= 0x20 || c === '%' ? `%${c.charCodeAt(0).toString(16).toUpperCase().padStart(2, '0')}` : c)).join('');
    expect(escapeHeaderValue(all)).toBe(expected);
    const bytes = buildAuthRequest(target, base({ user: all, password: new Secret(all) }), []);
    const text = bytes.toString('latin1');
    expect(text).toContain(`Auth-User: ${expected}\r\n`);
    expect(text).toContain(`Auth-Pass: ${expected}\r\n`);
    // 0x7F and 0x80-0xFF go out as single raw bytes.
    expect(bytes.includes(Buffer.from([0x7e, 0x7f, 0x80, 0x81]))).toBe(true);
    expect(text.split('\r\n').length).toBe(10);
  });

  it('never truncates a character above U+00FF into a control byte', () => {
    const text = build({ user: 'a\u010ab', password: new Secret('\u0d0a') });
    expect(text).not.toMatch(/a\nb/);
    expect(text).toContain(`Auth-User: a${Buffer.from('\u010a', 'utf8').toString('latin1')}b\r\n`);
    expect(text.split('\r\n').length).toBe(10);
  });

  it('a value with a character above U+00FF is still escaped byte by byte, like any other', () => {
    // é is one raw byte (0xE9), U+010A its UTF-8 bytes, space and % escaped; a header with a CR/LF is escaped too.
    const text = build({ user: '\u00e9\u010a %', password: new Secret('\u010a\r\nX-Injected: 1') }, [['X-Name', '\u010a\r\nX: 1']]);
    expect(text).toContain('\r\nAuth-User: \u00e9\u00c4\u008a%20%25\r\n');
    expect(text).toContain('\r\nAuth-Pass: \u00c4\u008a%0D%0AX-Injected:%201\r\n');
    expect(text).toContain('\r\nX-Name: \u00c4\u008a%0D%0AX: 1\r\n');
  });

  it('APOP and CRAM-MD5 carry Auth-Salt after Auth-Pass', () => {
    const salt = '<2003289005.1795908617@mx.test>';
    expect(build({ method: 'apop', password: new Secret('00000000000000000000000000000000'), salt })).toBe(
      lines(
        'GET /auth HTTP/1.0',
        'Host: 127.0.0.1',
        'Auth-Method: apop',
        'Auth-User: test@example.com',
        'Auth-Pass: 00000000000000000000000000000000',
        `Auth-Salt: ${salt}`,
        'Auth-Protocol: pop3',
        'Auth-Login-Attempt: 1',
        'Client-IP: 127.0.0.1',
      ),
    );
    expect(build({ method: 'cram-md5', salt, protocol: 'imap', attempt: 3 })).toContain(
      `Auth-Pass: secret\r\nAuth-Salt: ${salt}\r\nAuth-Protocol: imap\r\nAuth-Login-Attempt: 3\r\n`,
    );
    // A salt that kept its CRLF (as nginx stores it) is not doubled.
    expect(build({ method: 'apop', salt: `${salt}\r\n` })).toContain(`Auth-Salt: ${salt}\r\nAuth-Protocol`);
  });

  it('no Auth-Salt for other methods or an empty salt', () => {
    expect(build({ salt: '<1.2@x>' })).not.toContain('Auth-Salt');
    expect(build({ method: 'external', salt: '<1.2@x>' })).not.toContain('Auth-Salt');
    expect(build({ method: 'apop', salt: '' })).not.toContain('Auth-Salt');
  });

  it('SMTP auth none: empty user/pass lines, Client-Host, then the envelope (live 1.22 example)', () => {
    expect(
      build({
        method: 'none',
        user: '',
        password: new Secret(''),
        protocol: 'smtp',
        clientHost: '[UNAVAILABLE]',
        smtp: { helo: 'client.example', from: 'MAIL FROM:<a@example.com> SIZE=10', to: 'RCPT TO:<b@example.com>' },
      }),
    ).toBe(
      lines(
        'GET /auth HTTP/1.0',
        'Host: 127.0.0.1',
        'Auth-Method: none',
        'Auth-User: ',
        'Auth-Pass: ',
        'Auth-Protocol: smtp',
        'Auth-Login-Attempt: 1',
        'Client-IP: 127.0.0.1',
        'Client-Host: [UNAVAILABLE]',
        'Auth-SMTP-Helo: client.example',
        'Auth-SMTP-From: MAIL FROM:<a@example.com> SIZE=10',
        'Auth-SMTP-To: RCPT TO:<b@example.com>',
      ),
    );
  });

  it('Auth-SMTP-* only for method none; Client-Host only when known', () => {
    const text = build({ protocol: 'smtp', smtp: { helo: 'h', from: 'f', to: 't' } });
    expect(text).not.toContain('Auth-SMTP');
    expect(text).not.toContain('Client-Host');
  });

  it('Auth-SSL, -Protocol, -Cipher only on TLS connections, after Client-IP', () => {
    expect(build({ tls: { protocol: 'TLSv1.3', cipher: 'TLS_AES_256_GCM_SHA384' }, clientIp: '::1' })).toBe(
      lines(
        'GET /auth HTTP/1.0',
        'Host: 127.0.0.1',
        'Auth-Method: plain',
        'Auth-User: test@example.com',
        'Auth-Pass: secret',
        'Auth-Protocol: pop3',
        'Auth-Login-Attempt: 1',
        'Client-IP: ::1',
        'Auth-SSL: on',
        'Auth-SSL-Protocol: TLSv1.3',
        'Auth-SSL-Cipher: TLS_AES_256_GCM_SHA384',
      ),
    );
    expect(build()).not.toContain('Auth-SSL');
    expect(build({ tls: { protocol: '', cipher: '' } })).toContain('Client-IP: 127.0.0.1\r\nAuth-SSL: on\r\n\r\n');
  });

  it('auth_http_header lines come last, in configuration order', () => {
    expect(build({ tls: { protocol: 'TLSv1.2', cipher: 'X' } }, [['X-Auth-Key', 'secret key'], ['X-Other', 'b']])).toMatch(
      /Auth-SSL-Cipher: X\r\nX-Auth-Key: secret key\r\nX-Other: b\r\n\r\n$/,
    );
  });

  it('unix socket: Host localhost; the URI as configured', () => {
    const unix: AuthHttpTarget = { url: 'unix:/run/auth.sock:/check', unixPath: '/run/auth.sock', uri: '/check?x=1', hostHeader: 'localhost' };
    expect(build({}, [], unix)).toMatch(/^GET \/check\?x=1 HTTP\/1\.0\r\nHost: localhost\r\nAuth-Method: plain\r\n/);
  });

  it('no control byte from any unescaped field can break a header line (CVE-2026-28753)', () => {
    const evil = 'x\r\nAuth-Status: OK\r\n\r\n\u0000\t';
    const text = build(
      {
        method: 'none',
        protocol: 'smtp',
        clientIp: evil,
        clientHost: evil,
        salt: evil,
        smtp: { helo: evil, from: evil, to: evil },
        tls: { protocol: evil, cipher: evil },
      },
      [[evil, evil]],
      { ...target, uri: `/a${evil}`, hostHeader: evil },
    );
    const headerLines = text.split('\r\n');
    // request line + 14 headers + the extra header, then the empty line
    expect(headerLines.length).toBe(18);
    expect(text.endsWith('\r\n\r\n')).toBe(true);
    expect(text.slice(0, -4).replace(/\r\n/g, '')).not.toMatch(/[\u0000-\u001f\u007f]/);
    expect(text).toContain('Client-Host: x%0D%0AAuth-Status: OK%0D%0A%0D%0A%00%09\r\n');
  });
});
