/**
 * TLS to the backend end to end (`postern_proxy_ssl on | starttls`, a Postern extension):
 * Python's imaplib/poplib and curl talk plaintext to Postern, Postern logs in to a real Dovecot
 * over implicit TLS or after STARTTLS/STLS, verifying Dovecot's certificate against a test CA.
 * What the clients fetch must equal what they fetch from Dovecot directly, and Dovecot's own
 * log must show each proxied login as a TLS session.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { parseConfigText } from '../../src/config/index.js';
import { silentLogger } from '../../src/log.js';
import { startProxy, type RunningProxy } from '../../src/server.js';
import {
  curl,
  freePort,
  freePorts,
  generateCa,
  messageBody,
  python,
  removeDir,
  requireBinaries,
  startAuthServer,
  startDovecot,
  startPostfix,
  type AuthServer,
  type Ca,
  type DovecotHandle,
  type PostfixHandle,
} from './harness/index.js';
import { USER_TABLE, USERS } from './scenarios/auth.js';

requireBinaries(['dovecot', 'curl', 'openssl', 'python3']);

interface Ports {
  imapImplicit: number;
  imapStarttls: number;
  pop3Implicit: number;
  pop3Starttls: number;
}

/**
 * Dovecot's login lines for `user`: `imap-login: Info: Login: user=<bob>, ..., TLS, session=<...>`
 * over TLS, `..., secured, ...` for plaintext from loopback (which Dovecot trusts as secure).
 */
const loginLines = (log: string, service: 'imap' | 'pop3', user: string): string[] =>
  log.split('\n').filter((l) => l.includes(`${service}-login: `) && l.includes(`Login: user=<${user}>`));

describe('TLS from Postern to Dovecot', () => {
  let ca: Ca | undefined;
  let dc: DovecotHandle | undefined;
  let implicitAuth: AuthServer | undefined;
  let starttlsAuth: AuthServer | undefined;
  let proxy: RunningProxy | undefined;
  let p: Ports;

  beforeAll(async () => {
    ca = await generateCa({ cn: 'Postern Backend CA' });
    const cert = await ca.issue({ cn: 'dovecot.test' });
    dc = await startDovecot({ users: USERS, ssl: true, cert });
    implicitAuth = await startAuthServer({ users: USER_TABLE, backends: { imap: dc.imapsPort!, pop3: dc.pop3sPort! } });
    starttlsAuth = await startAuthServer({ users: USER_TABLE, backends: { imap: dc.imapPort, pop3: dc.pop3Port } });
    const [imapImplicit, imapStarttls, pop3Implicit, pop3Starttls] = (await freePorts(4)) as [number, number, number, number];
    p = { imapImplicit, imapStarttls, pop3Implicit, pop3Starttls };
    // Verification on: Dovecot's certificate names 127.0.0.1 (the Auth-Server) and dovecot.test.
    const block = `mail {
    server_name mx.test;
    postern_proxy_ssl_verify on;
    postern_proxy_ssl_trusted_certificate ${ca.certPath};
    server { listen 127.0.0.1:${imapImplicit}; protocol imap; auth_http ${implicitAuth.url}/auth; postern_proxy_ssl on; }
    server { listen 127.0.0.1:${imapStarttls}; protocol imap; auth_http ${starttlsAuth.url}/auth; postern_proxy_ssl starttls;
             postern_proxy_ssl_name dovecot.test; postern_proxy_ssl_server_name on; }
    server { listen 127.0.0.1:${pop3Implicit}; protocol pop3; auth_http ${implicitAuth.url}/auth; postern_proxy_ssl on; }
    server { listen 127.0.0.1:${pop3Starttls}; protocol pop3; auth_http ${starttlsAuth.url}/auth; postern_proxy_ssl starttls; }
}
`;
    proxy = await startProxy(parseConfigText(block, 'backend-tls.conf'), { logger: silentLogger() });
  });

  afterAll(async () => {
    const results = await Promise.allSettled([proxy?.close(), implicitAuth?.close(), starttlsAuth?.close(), dc?.close()]);
    if (ca) await removeDir(ca.dir);
    for (const r of results) if (r.status === 'rejected') throw r.reason;
  });

  it('imaplib and poplib through Postern fetch what they fetch from Dovecot directly', async () => {
    const script = `
import imaplib, poplib, json, sys
args = dict(a.split('=') for a in sys.argv[1:])
out = {}
def imap(port, user, password):
    c = imaplib.IMAP4('127.0.0.1', int(port))
    c.login(user, password)
    c.select('INBOX')
    typ, data = c.fetch('2', '(BODY.PEEK[])')
    c.logout()
    return data[0][1].decode('latin1')
def pop(port, user, password):
    c = poplib.POP3('127.0.0.1', int(port))
    c.user(user)
    c.pass_(password)
    resp, lines, octets = c.retr(3)
    c.quit()
    return '\\n'.join(l.decode('latin1') for l in lines)
out['direct_imap'] = imap(args['dimap'], 'alice', 'secret')
out['direct_pop'] = pop(args['dpop'], 'alice', 'secret')
for name in ('imap_implicit', 'imap_starttls'):
    out[name] = imap(args[name], 'bob', 'a"b\\\\c d')
for name in ('pop_implicit', 'pop_starttls'):
    out[name] = pop(args[name], 'bob', 'a"b\\\\c d')
print(json.dumps(out))
`;
    const r = await python(script, [
      `dimap=${dc!.imapPort}`,
      `dpop=${dc!.pop3Port}`,
      `imap_implicit=${p.imapImplicit}`,
      `imap_starttls=${p.imapStarttls}`,
      `pop_implicit=${p.pop3Implicit}`,
      `pop_starttls=${p.pop3Starttls}`,
    ]);
    expect(r.stderr).toBe('');
    expect(r.code).toBe(0);
    const out = JSON.parse(r.stdout) as Record<string, string>;
    // Same seeded messages for every user, apart from the To: and Message-ID lines.
    const anonymous = (text: string) => text.replace(/^To: .*$/m, 'To: x').replace(/^Message-ID: .*$/m, 'Message-ID: x');
    expect(out['direct_imap']).toContain('Second test message');
    expect(out['direct_pop']).toContain('Third test message');
    for (const name of ['imap_implicit', 'imap_starttls']) expect({ name, text: anonymous(out[name]!) }).toEqual({ name, text: anonymous(out['direct_imap']!) });
    for (const name of ['pop_implicit', 'pop_starttls']) expect({ name, text: anonymous(out[name]!) }).toEqual({ name, text: anonymous(out['direct_pop']!) });

    const log = await dc!.log();
    const imapLogins = loginLines(log, 'imap', 'bob');
    const pop3Logins = loginLines(log, 'pop3', 'bob');
    expect(imapLogins).toHaveLength(2);
    expect(pop3Logins).toHaveLength(2);
    for (const line of [...imapLogins, ...pop3Logins]) expect(line).toMatch(/, TLS, /);
    // alice logged in directly, in clear: Dovecot says so too (the check can tell them apart).
    for (const line of [...loginLines(log, 'imap', 'alice'), ...loginLines(log, 'pop3', 'alice')]) expect(line).toMatch(/, secured, /);
  });

  it('curl (imap:// and pop3://) through Postern over both backend TLS modes', async () => {
    for (const [url, expected] of [
      [`imap://127.0.0.1:${p.imapImplicit}/INBOX;UID=2`, /Second test message/],
      [`imap://127.0.0.1:${p.imapStarttls}/INBOX;UID=1`, /First test message/],
      [`pop3://127.0.0.1:${p.pop3Implicit}/`, /^1 \d+\r\n/],
      [`pop3://127.0.0.1:${p.pop3Starttls}/4`, /^000000GHIJ/m],
    ] as const) {
      const r = await curl(['-sS', '-u', 'test@example.com:pa ss%word', url]);
      expect({ url, code: r.code, stderr: r.stderr }).toEqual({ url, code: 0, stderr: '' });
      expect(r.stdout).toMatch(expected);
    }
    // The ~1 MB message, byte for byte as Dovecot serves it in clear.
    const [viaProxy, direct] = await Promise.all([
      curl(['-sS', '-u', 'test@example.com:pa ss%word', `pop3://127.0.0.1:${p.pop3Implicit}/4`]),
      curl(['-sS', '-u', 'test@example.com:pa ss%word', `pop3://127.0.0.1:${dc!.pop3Port}/4`]),
    ]);
    expect(viaProxy.stdout.length).toBeGreaterThan(1_000_000);
    expect(viaProxy.stdout === direct.stdout).toBe(true);
    const log = await dc!.log();
    const logins = [...loginLines(log, 'imap', 'test@example.com'), ...loginLines(log, 'pop3', 'test@example.com')];
    // Five logins through Postern over TLS, one direct in clear.
    expect(logins.filter((l) => l.includes(', TLS, '))).toHaveLength(5);
    expect(logins.filter((l) => l.includes(', secured, '))).toHaveLength(1);
  });
});

describe('SMTP: STARTTLS from Postern to Postfix, then XCLIENT', () => {
  let ca: Ca | undefined;
  let pf: PostfixHandle | undefined;
  let auth: AuthServer | undefined;
  let proxy: RunningProxy | undefined;
  let port: number;

  beforeAll(async () => {
    requireBinaries(['postfix']);
    ca = await generateCa({ cn: 'Postern Backend CA' });
    const cert = await ca.issue({ cn: 'backend.test' });
    pf = await startPostfix({
      extraMain: `smtpd_tls_cert_file = ${cert.certPath}\nsmtpd_tls_key_file = ${cert.keyPath}\nsmtpd_tls_security_level = may\nsmtpd_tls_loglevel = 1\n`,
    });
    auth = await startAuthServer({ users: { 'test@example.com': 'secret' }, backends: { smtp: pf.port } });
    port = await freePort();
    const block = `mail {
    server_name mx.test;
    auth_http ${auth.url}/auth;
    server { listen 127.0.0.1:${port}; protocol smtp; postern_proxy_ssl starttls; postern_proxy_ssl_verify on;
             postern_proxy_ssl_trusted_certificate ${ca.certPath}; postern_proxy_ssl_name backend.test; }
}
`;
    proxy = await startProxy(parseConfigText(block, 'backend-tls-smtp.conf'), { logger: silentLogger() });
  });

  afterAll(async () => {
    const results = await Promise.allSettled([proxy?.close(), auth?.close(), pf?.close()]);
    if (ca) await removeDir(ca.dir);
    for (const r of results) if (r.status === 'rejected') throw r.reason;
  });

  it('smtplib sends a message through Postern; Postfix sees STARTTLS, then EHLO and XCLIENT over TLS', async () => {
    const script = `
import smtplib, sys
s = smtplib.SMTP('127.0.0.1', int(sys.argv[1]))
s.ehlo('client.example')
s.login('test@example.com', 'secret')
s.sendmail('a@example.com', ['b@example.com'], 'Subject: over backend TLS\\r\\n\\r\\nHello through STARTTLS.\\r\\n')
s.quit()
`;
    const r = await python(script, [String(port)]);
    expect(r.stderr).toBe('');
    expect(r.code).toBe(0);
    const [message] = await pf!.waitForMessages(1);
    // Postfix adds the headers the client left out (Message-Id, Date, From).
    expect(messageBody(message!.raw)).toMatch(/^Subject: over backend TLS\n[^]*\n\nHello through STARTTLS\.\n$/);
    // From Postern's connection on (the harness probes Postfix with a QUIT before).
    const all = pf!.commands().map((c) => c.line);
    const lines = all.slice(all.indexOf('EHLO mx.test'));
    expect(lines.slice(0, 5)).toEqual([
      'EHLO mx.test',
      'STARTTLS',
      'EHLO mx.test',
      'XCLIENT ADDR=127.0.0.1 LOGIN=test@example.com NAME=[UNAVAILABLE]',
      'EHLO client.example',
    ]);
    expect(pf!.log()).toMatch(/TLS connection established from [^\n]*127\.0\.0\.1\]: TLSv1\.3/);
  });
});
