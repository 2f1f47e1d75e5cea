/**
 * Self-test of the end-to-end harness: real Dovecot and the reference nginx (1.22.1 +
 * ngx_mail_module) on loopback, driven by the raw line client and external clients.
 * If a binary is missing this file FAILS (run `bash .ci/run`).
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import {
  connect,
  ClientPool,
  curl,
  diffLines,
  generateCert,
  nginxTest,
  normalize,
  opensslStarttls,
  python,
  requireBinaries,
  startAuthServer,
  startDovecot,
  startNginx,
  freePorts,
  removeDir,
  type AuthServer,
  type CertFiles,
  type DovecotHandle,
  type NginxHandle,
} from './harness/index.js';

requireBinaries(['nginx', 'dovecot', 'curl', 'openssl', 'python3']);

const USERS = [
  { user: 'alice', password: 'secret' },
  { user: 'test@example.com', password: 'pa ss%word' },
];

describe('e2e harness', () => {
  let dc: DovecotHandle | undefined;
  let auth: AuthServer | undefined;
  let ng: NginxHandle | undefined;
  let cert: CertFiles | undefined;
  const pool = new ClientPool();
  let ports: { imap: number; pop3: number; imapTls: number; pop3Tls: number; imaps: number };

  beforeAll(async () => {
    cert = await generateCert();
    dc = await startDovecot({ users: USERS });
    auth = await startAuthServer({
      users: Object.fromEntries(USERS.map((u) => [u.user, u.password])),
      backends: { imap: dc.imapPort, pop3: dc.pop3Port },
    });
    const [imap, pop3, imapTls, pop3Tls, imaps] = (await freePorts(5)) as [number, number, number, number, number];
    ports = { imap, pop3, imapTls, pop3Tls, imaps };
    const tlsConf = `ssl_certificate ${cert.certPath}; ssl_certificate_key ${cert.keyPath};`;
    ng = await startNginx({
      mailBlock: `mail {
    server_name mx.test;
    auth_http ${auth.url}/auth;
    server { listen 127.0.0.1:${imap}; protocol imap; }
    server { listen 127.0.0.1:${pop3}; protocol pop3; }
    server { listen 127.0.0.1:${imapTls}; protocol imap; starttls on; ${tlsConf} }
    server { listen 127.0.0.1:${pop3Tls}; protocol pop3; starttls on; ${tlsConf} }
    server { listen 127.0.0.1:${imaps} ssl; protocol imap; ${tlsConf} }
}`,
    });
  });

  afterAll(async () => {
    pool.closeAll();
    const results = await Promise.allSettled([ng?.close(), auth?.close(), dc?.close()]);
    if (cert) await removeDir(cert.dir);
    for (const r of results) if (r.status === 'rejected') throw r.reason;
  });

  describe('Dovecot directly', () => {
    it('accepts a raw IMAP LOGIN and has the seeded messages', async () => {
      const c = await pool.connect(dc!.imapPort);
      expect(await c.readLine()).toMatch(/^\* OK .*Dovecot ready\.$/);
      await c.sendLine('a1 LOGIN alice secret');
      expect((await c.readTagged('a1')).at(-1)).toMatch(/^a1 OK /);
      await c.sendLine('a2 SELECT INBOX');
      const sel = await c.readTagged('a2');
      expect(sel).toContain('* 4 EXISTS');
      expect(sel.at(-1)).toMatch(/^a2 OK /);
      await c.sendLine('a3 LOGOUT');
      expect(await c.readTagged('a3')).toContain('* BYE Logging out');
      await c.expectClosed();
    });

    it('accepts POP3 USER/PASS; one message is ~1 MB', async () => {
      const c = await pool.connect(dc!.pop3Port);
      expect(await c.readLine()).toMatch(/^\+OK /);
      await c.sendLine('USER test@example.com');
      expect(await c.readLine()).toMatch(/^\+OK/);
      await c.sendLine('PASS pa ss%word');
      expect(await c.readLine()).toMatch(/^\+OK Logged in/);
      await c.sendLine('LIST');
      const list = await c.readMultiline();
      expect(list[0]).toMatch(/^\+OK 4 messages/);
      const sizes = list.slice(1, -1).map((l) => Number(l.split(' ')[1]));
      expect(Math.max(...sizes)).toBeGreaterThan(1_000_000);
      await c.sendLine('QUIT');
      expect(await c.readLine()).toMatch(/^\+OK/);
      await c.expectClosed();
    });
  });

  describe('through nginx', () => {
    it('IMAP: greeting, CAPABILITY, LOGIN relayed to Dovecot', async () => {
      auth!.clear();
      const c = await pool.connect(ports.imap);
      expect(await c.readLine()).toBe('* OK IMAP4 ready');
      await c.sendLine('a1 CAPABILITY');
      expect(await c.readTagged('a1')).toEqual(['* CAPABILITY IMAP4 IMAP4rev1 UIDPLUS AUTH=PLAIN', 'a1 OK completed']);
      await c.sendLine('a2 LOGIN alice secret');
      // The tagged OK is Dovecot's own line.
      expect(await c.readLine()).toMatch(/^a2 OK \[CAPABILITY IMAP4rev1 .*\] Logged in$/);
      await c.sendLine('a3 SELECT INBOX');
      expect(await c.readTagged('a3')).toContain('* 4 EXISTS');
      await c.sendLine('a4 LOGOUT');
      expect(await c.readTagged('a4')).toContain('* BYE Logging out');
      await c.expectClosed();
      expect(c.transcript().slice(0, 4)).toEqual([
        'S: * OK IMAP4 ready',
        'C: a1 CAPABILITY',
        'S: * CAPABILITY IMAP4 IMAP4rev1 UIDPLUS AUTH=PLAIN',
        'S: a1 OK completed',
      ]);

      // §8.1 header order, byte-exact.
      const [req] = await auth!.waitForRequests(1);
      expect(req!.lines).toEqual([
        'GET /auth HTTP/1.0',
        'Host: 127.0.0.1',
        'Auth-Method: plain',
        'Auth-User: alice',
        'Auth-Pass: secret',
        'Auth-Protocol: imap',
        'Auth-Login-Attempt: 1',
        'Client-IP: 127.0.0.1',
      ]);
      expect(req!.raw.toString('latin1').endsWith('Client-IP: 127.0.0.1\r\n\r\n')).toBe(true);
    });

    it('IMAP: failed login waits Auth-Wait then answers NO and continues', async () => {
      const c = await pool.connect(ports.imap);
      await c.readLine();
      const t0 = Date.now();
      await c.sendLine('b1 LOGIN alice wrong');
      expect(await c.readLine(4000)).toBe('b1 NO Invalid login or password');
      expect(Date.now() - t0).toBeGreaterThanOrEqual(900);
      await c.sendLine('b2 NOOP');
      expect(await c.readLine()).toBe('b2 OK completed');
      c.close();
    });

    it('POP3: greeting, USER/PASS relayed to Dovecot, escaped credentials', async () => {
      auth!.clear();
      const c = await pool.connect(ports.pop3);
      expect(await c.readLine()).toBe('+OK POP3 ready');
      await c.sendLine('USER test@example.com');
      expect(await c.readLine()).toBe('+OK');
      await c.sendLine('PASS pa ss%word');
      expect(await c.readLine()).toMatch(/^\+OK Logged in\.$/);
      await c.sendLine('STAT');
      expect(await c.readLine()).toMatch(/^\+OK 4 \d+$/);
      await c.sendLine('QUIT');
      expect(await c.readLine()).toMatch(/^\+OK/);
      await c.expectClosed();
      const [req] = await auth!.waitForRequests(1);
      expect(req!.lines).toEqual([
        'GET /auth HTTP/1.0',
        'Host: 127.0.0.1',
        'Auth-Method: plain',
        'Auth-User: test@example.com',
        'Auth-Pass: pa%20ss%25word',
        'Auth-Protocol: pop3',
        'Auth-Login-Attempt: 1',
        'Client-IP: 127.0.0.1',
      ]);
    });

    it('IMAP STARTTLS with the raw client; auth request carries Auth-SSL headers', async () => {
      auth!.clear();
      const c = await pool.connect(ports.imapTls);
      expect(await c.readLine()).toBe('* OK IMAP4 ready');
      await c.sendLine('s1 CAPABILITY');
      expect(await c.readTagged('s1')).toEqual([
        '* CAPABILITY IMAP4 IMAP4rev1 UIDPLUS AUTH=PLAIN STARTTLS',
        's1 OK completed',
      ]);
      await c.sendLine('s2 STARTTLS');
      expect(await c.readLine()).toBe('s2 OK completed');
      await c.startTls();
      expect(c.isSecure).toBe(true);
      await c.sendLine('s3 CAPABILITY');
      expect(await c.readTagged('s3')).toEqual(['* CAPABILITY IMAP4 IMAP4rev1 UIDPLUS AUTH=PLAIN', 's3 OK completed']);
      await c.sendLine('s4 LOGIN alice secret');
      expect(await c.readLine()).toMatch(/^s4 OK /);
      await c.sendLine('s5 LOGOUT');
      await c.readTagged('s5');
      await c.expectClosed();
      expect(c.transcript()).toContain('*: TLS established TLSv1.2');
      const [req] = await auth!.waitForRequests(1);
      expect(req!.lines.slice(0, 8)).toEqual([
        'GET /auth HTTP/1.0',
        'Host: 127.0.0.1',
        'Auth-Method: plain',
        'Auth-User: alice',
        'Auth-Pass: secret',
        'Auth-Protocol: imap',
        'Auth-Login-Attempt: 1',
        'Client-IP: 127.0.0.1',
      ]);
      expect(req!.lines.slice(8, 10)).toEqual(['Auth-SSL: on', 'Auth-SSL-Protocol: TLSv1.2']);
      expect(req!.lines[10]).toMatch(/^Auth-SSL-Cipher: \S+$/);
      expect(req!.lines).toHaveLength(11);
    });

    it('implicit TLS (listen ... ssl)', async () => {
      const c = await pool.connect(ports.imaps, { tls: true });
      expect(await c.readLine()).toBe('* OK IMAP4 ready');
      expect(c.tlsInfo()?.protocol).toMatch(/^TLSv1\.[23]$/);
      await c.sendLine('i1 STARTTLS');
      expect(await c.readLine()).toBe('i1 BAD invalid command');
      c.close();
    });

    it('curl imap:// lists INBOX through nginx', async () => {
      const r = await curl(['-sS', '-u', 'alice:secret', `imap://127.0.0.1:${ports.imap}/`]);
      expect(r.stderr).toBe('');
      expect(r.code).toBe(0);
      expect(r.stdout).toMatch(/^\* LIST \([^)]*\) "[./]" INBOX\r?$/m);
    });

    it('curl pop3:// lists messages through nginx', async () => {
      const r = await curl(['-sS', '-u', 'alice:secret', `pop3://127.0.0.1:${ports.pop3}/`]);
      expect(r.code).toBe(0);
      expect(r.stdout.trim().split(/\r?\n/)).toHaveLength(4);
    });

    it('openssl s_client -starttls imap through nginx', async () => {
      const r = await opensslStarttls(ports.imapTls, 'imap', 'a1 LOGIN alice secret\na2 LIST "" "*"\na3 LOGOUT\n');
      expect(r.timedOut).toBe(false);
      expect(r.stdout).toMatch(/^a1 OK .*Logged in\r?$/m);
      expect(r.stdout).toMatch(/^\* LIST \([^)]*\) "[./]" INBOX\r?$/m);
      expect(r.stdout).toMatch(/^a3 OK/m);
    });

    it('openssl s_client -starttls pop3 through nginx', async () => {
      const r = await opensslStarttls(ports.pop3Tls, 'pop3', 'USER alice\nPASS secret\nSTAT\nQUIT\n');
      expect(r.timedOut).toBe(false);
      expect(r.stdout).toMatch(/^\+OK 4 \d+\r?$/m);
    });

    it('python imaplib and poplib through nginx', async () => {
      const r = await python(
        `import imaplib, poplib, sys
port_imap, port_pop = int(sys.argv[1]), int(sys.argv[2])
m = imaplib.IMAP4('127.0.0.1', port_imap)
print(m.login('alice', 'secret')[0])
print(m.select('INBOX'))
m.logout()
p = poplib.POP3('127.0.0.1', port_pop)
p.user('alice'); p.pass_('secret')
print('pop', p.stat()[0])
p.quit()
`,
        [String(ports.imap), String(ports.pop3)],
      );
      expect(r.stderr).toBe('');
      expect(r.stdout.split('\n')).toEqual(["OK", "('OK', [b'4'])", 'pop 4', '']);
    });

    it('error.log has the session lines at level info', () => {
      expect(ng!.errorLog()).toMatch(/\[info\] \d+#\d+: \*\d+ client 127\.0\.0\.1:\d+ connected to 127\.0\.0\.1:\d+$/m);
      expect(ng!.errorLog()).toMatch(/\[info\] \d+#\d+: \*\d+ client logged in, client: 127\.0\.0\.1, server: 127\.0\.0\.1:\d+, login: "alice", upstream: 127\.0\.0\.1:\d+/);
    });
  });

  describe('helpers', () => {
    it('nginxTest reports ok and emerg', async () => {
      const good = await nginxTest({ mailBlock: 'mail { auth_http 127.0.0.1:9/auth; server { listen 127.0.0.1:1; protocol imap; } }' });
      expect(good.output).toContain('test is successful');
      expect(good.ok).toBe(true);
      const bad = await nginxTest({ mailBlock: 'mail { server { listen 127.0.0.1:1; protocol imap; bogus on; } }' });
      expect(bad.ok).toBe(false);
      expect(bad.output).toContain('[emerg] unknown directive "bogus" in {{prefix}}/nginx.conf:');
    });

    it('nginx with a master process and one worker', async () => {
      const [p] = (await freePorts(1)) as [number];
      const m = await startNginx({
        masterProcess: true,
        mailBlock: `mail { auth_http ${auth!.url}/auth; server { listen 127.0.0.1:${p}; protocol pop3; } }`,
      });
      try {
        const c = await connect(p);
        expect(await c.readLine()).toBe('+OK POP3 ready');
        c.close();
        await m.waitForLog(/start worker process \d+/);
      } finally {
        await m.close();
      }
    });

    it('requireBinaries fails with the install hint', () => {
      expect(() => requireBinaries(['/nonexistent/postern-tool'])).toThrow(
        'missing /nonexistent/postern-tool: run `bash .ci/run` or `apt-get install -y /nonexistent/postern-tool`',
      );
    });

    it('generates an EC P-256 certificate', async () => {
      const ec = await generateCert({ type: 'ec' });
      try {
        expect(ec.keyPem).toMatch(/BEGIN PRIVATE KEY/);
        const { X509Certificate } = await import('node:crypto');
        const x = new X509Certificate(ec.certPem);
        expect(x.publicKey.asymmetricKeyDetails?.namedCurve).toBe('prime256v1');
      } finally {
        await removeDir(ec.dir);
      }
    });

    it('Dovecot with ssl: implicit TLS ports greet', async () => {
      const d = await startDovecot({ users: [USERS[0]!], messages: [], ssl: true });
      try {
        const c = await connect(d.imapsPort!, { tls: true });
        expect(await c.readLine()).toMatch(/^\* OK /);
        c.close();
        const p = await connect(d.pop3sPort!, { tls: true });
        expect(await p.readLine()).toMatch(/^\+OK /);
        p.close();
      } finally {
        await d.close();
      }
    });

    it('normalize hides salts, dates and ports', () => {
      const salt = '<1857971247.1795908603@mx.test>';
      const b64 = Buffer.from(salt).toString('base64');
      expect(normalize(`+OK POP3 ready ${salt}`)).toBe('+OK POP3 ready <SALT>');
      expect(normalize(`+ ${b64}`)).toBe('+ <B64SALT>');
      expect(normalize('Date: Mon, 01 Jan 2024 10:00:00 +0000', {})).toBe('Date: <DATE>');
      expect(normalize('connected to 127.0.0.1:12345', { ports: [12345] })).toBe('connected to 127.0.0.1:PORT');
      expect(normalize('220 mx.test ESMTP ready', { hosts: ['mx.test'] })).toBe('220 HOST ESMTP ready');
      expect(normalize('a3 OK Select completed (0.003 + 0.000 + 0.002 secs).')).toBe('a3 OK Select completed (<TIMING>).');
      expect(normalize('* OK [UIDVALIDITY 1795912268] UIDs valid')).toBe('* OK [UIDVALIDITY <N>] UIDs valid');
      expect(diffLines(['a', 'b'], ['a', 'c'])).toEqual([{ index: 1, left: 'b', right: 'c' }]);
    });
  });
});
