/**
 * The `Auth-SSL-*` lines of the auth request (nginx 1.22.1's mail module, src/mail/). The fixture
 * is a request nginx 1.22.1 sent (POP3S, `ssl_verify_client on`, `auth_http_pass_client_cert
 * on`, USER u / PASS p) for the client certificate next to it.
 */
import { readFileSync } from 'node:fs';
import { describe, expect, it } from 'vitest';
import type { AuthRequest, ClientCertificate } from '../../../machines/types.js';
import { buildAuthRequest } from '../../../src/auth/request.js';
import type { AuthHttpTarget } from '../../../src/config/types.js';
import { Secret } from '../../../src/secret.js';

const fixture = (name: string) => readFileSync(new URL(`./fixtures/${name}`, import.meta.url), 'latin1');
const NGINX_REQUEST = fixture('nginx-1.22.1-client-cert-request.txt');
const ALICE_PEM = fixture('client-alice.crt');

const target: AuthHttpTarget = { url: 'http://127.0.0.1:29000/auth', host: '127.0.0.1', port: 29000, uri: '/auth', hostHeader: '127.0.0.1' };
const TLS = { protocol: 'TLSv1.2', cipher: 'ECDHE-RSA-AES256-GCM-SHA384' };

const ALICE: ClientCertificate = {
  verify: 'SUCCESS',
  subject: 'UID=42+CN=alice,O=Example\\, Inc.,C=DE',
  issuer: 'CN=Root CA',
  serial: '0123456789ABCDEF01',
  fingerprint: '86e89433f869130a280b64b973a1d4c73a97e5de',
  pem: ALICE_PEM,
};

const request = (clientCert?: ClientCertificate, over: Partial<AuthRequest> = {}): AuthRequest => ({
  method: 'plain',
  user: 'u',
  password: new Secret('p'),
  protocol: 'pop3',
  attempt: 1,
  clientIp: '127.0.0.1',
  tls: clientCert === undefined ? TLS : { ...TLS, clientCert },
  ...over,
});

const build = (r: AuthRequest, extra: Array<[string, string]> = []) => buildAuthRequest(target, r, extra).toString('latin1');
const sslLines = (text: string) => text.split('\r\n').filter((l) => l.startsWith('Auth-SSL'));

describe('Auth-SSL-* lines', () => {
  it('equal the bytes nginx 1.22.1 sent for a verified certificate with auth_http_pass_client_cert on', () => {
    expect(build(request(ALICE))).toBe(NGINX_REQUEST);
  });

  it('Auth-SSL-Cert is the PEM escaped like a credential: spaces %20, line ends %0A', () => {
    const line = sslLines(build(request(ALICE))).find((l) => l.startsWith('Auth-SSL-Cert: '))!;
    expect(line.startsWith('Auth-SSL-Cert: -----BEGIN%20CERTIFICATE-----%0AMIID')).toBe(true);
    expect(line.endsWith('%0A-----END%20CERTIFICATE-----%0A')).toBe(true);
    expect(line.slice('Auth-SSL-Cert: '.length)).not.toMatch(/[\r\n ]/);
  });

  it('without auth_http_pass_client_cert: everything but Auth-SSL-Cert', () => {
    const { pem: _pem, ...withoutPem } = ALICE;
    expect(sslLines(build(request(withoutPem)))).toEqual([
      'Auth-SSL: on',
      'Auth-SSL-Protocol: TLSv1.2',
      'Auth-SSL-Cipher: ECDHE-RSA-AES256-GCM-SHA384',
      'Auth-SSL-Verify: SUCCESS',
      'Auth-SSL-Subject: UID=42+CN=alice,O=Example\\, Inc.,C=DE',
      'Auth-SSL-Issuer: CN=Root CA',
      'Auth-SSL-Serial: 0123456789ABCDEF01',
      'Auth-SSL-Fingerprint: 86e89433f869130a280b64b973a1d4c73a97e5de',
    ]);
  });

  it('no certificate (optional): Auth-SSL-Verify NONE and nothing more (live nginx 1.22.1)', () => {
    expect(build(request({ verify: 'NONE' }))).toBe(
      [
        'GET /auth HTTP/1.0',
        'Host: 127.0.0.1',
        'Auth-Method: plain',
        'Auth-User: u',
        'Auth-Pass: p',
        'Auth-Protocol: pop3',
        'Auth-Login-Attempt: 1',
        'Client-IP: 127.0.0.1',
        'Auth-SSL: on',
        'Auth-SSL-Protocol: TLSv1.2',
        'Auth-SSL-Cipher: ECDHE-RSA-AES256-GCM-SHA384',
        'Auth-SSL-Verify: NONE',
        '',
        '',
      ].join('\r\n'),
    );
  });

  it('ssl_verify_client off: no Auth-SSL-Verify line at all', () => {
    expect(sslLines(build(request()))).toEqual(['Auth-SSL: on', 'Auth-SSL-Protocol: TLSv1.2', 'Auth-SSL-Cipher: ECDHE-RSA-AES256-GCM-SHA384']);
  });

  it('a tolerated failure (optional_no_ca) is sent as FAILED:<OpenSSL text>; the machine-only fields stay out', () => {
    const lines = sslLines(build(request({ ...ALICE, verify: 'FAILED:self-signed certificate', issuerUnknown: true, errorNumber: 18 })));
    expect(lines[3]).toBe('Auth-SSL-Verify: FAILED:self-signed certificate');
    expect(lines.join('\n')).not.toMatch(/issuerUnknown|18/);
  });

  it('AUTH EXTERNAL: Auth-Method external, empty password, then the certificate; auth_http_header lines last', () => {
    const text = build(request(ALICE, { method: 'external', user: 'alice', password: new Secret('') }), [['X-Auth-Key', 'k']]);
    expect(text).toContain('Auth-Method: external\r\nAuth-User: alice\r\nAuth-Pass: \r\n');
    expect(text).toMatch(/Auth-SSL-Cert: [^\r\n]+%0A\r\nX-Auth-Key: k\r\n\r\n$/);
  });

  it('an IMAP request carries the same lines in the same place', () => {
    const pop3 = sslLines(build(request(ALICE)));
    expect(sslLines(build(request(ALICE, { protocol: 'imap' })))).toEqual(pop3);
  });
});
