/**
 * Real mail clients through Postern to a real Dovecot: curl (pop3/pop3s/imap/imaps and
 * --ssl-reqd over STARTTLS), openssl s_client -starttls, Python's poplib/imaplib and the
 * imapflow npm package. What the clients fetch through Postern must be byte-identical to
 * what they fetch from Dovecot directly, including the ~1 MB message.
 */
import { createHash } from 'node:crypto';
import { ImapFlow } from 'imapflow';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { parseConfigText } from '../../src/config/index.js';
import { silentLogger } from '../../src/log.js';
import { startProxy, type RunningProxy } from '../../src/server.js';
import {
  connect,
  curl,
  freePorts,
  generateCert,
  opensslSClient,
  opensslStarttls,
  python,
  removeDir,
  requireBinaries,
  startAuthServer,
  startDovecot,
  type AuthServer,
  type CertFiles,
  type DovecotHandle,
} from './harness/index.js';
import { USER_TABLE, USERS } from './scenarios/auth.js';

requireBinaries(['dovecot', 'curl', 'openssl', 'python3']);

const sha = (b: Buffer | string): string => createHash('sha256').update(typeof b === 'string' ? Buffer.from(b, 'latin1') : b).digest('hex');

interface Ports {
  imap: number;
  imapStarttls: number;
  imaps: number;
  pop3: number;
  pop3Starttls: number;
  pop3s: number;
}

describe('real clients through Postern to Dovecot', () => {
  let cert: CertFiles | undefined;
  let dc: DovecotHandle | undefined;
  let auth: AuthServer | undefined;
  let proxy: RunningProxy | undefined;
  let p: Ports;

  beforeAll(async () => {
    cert = await generateCert();
    dc = await startDovecot({ users: USERS });
    auth = await startAuthServer({ users: USER_TABLE, backends: { imap: dc.imapPort, pop3: dc.pop3Port } });
    const [imap, imapStarttls, imaps, pop3, pop3Starttls, pop3s] = (await freePorts(6)) as [number, number, number, number, number, number];
    p = { imap, imapStarttls, imaps, pop3, pop3Starttls, pop3s };
    const block = `mail {
    server_name mx.test;
    auth_http ${auth.url}/auth;
    ssl_certificate ${cert.certPath};
    ssl_certificate_key ${cert.keyPath};
    server { listen 127.0.0.1:${imap}; protocol imap; }
    server { listen 127.0.0.1:${imapStarttls}; protocol imap; starttls on; }
    server { listen 127.0.0.1:${imaps} ssl; protocol imap; }
    server { listen 127.0.0.1:${pop3}; protocol pop3; }
    server { listen 127.0.0.1:${pop3Starttls}; protocol pop3; starttls on; }
    server { listen 127.0.0.1:${pop3s} ssl; protocol pop3; }
}
`;
    proxy = await startProxy(parseConfigText(block, 'clients.conf'), { logger: silentLogger() });
  });

  afterAll(async () => {
    const results = await Promise.allSettled([proxy?.close(), auth?.close(), dc?.close()]);
    if (cert) await removeDir(cert.dir);
    for (const r of results) if (r.status === 'rejected') throw r.reason;
  });

  /** curl against Postern and against Dovecot directly; both must succeed with equal output. */
  async function curlBoth(posternUrl: string, directUrl: string, extra: string[] = []): Promise<string> {
    const [viaProxy, direct] = await Promise.all([
      curl(['-sS', '-u', 'alice:secret', ...extra, posternUrl]),
      curl(['-sS', '-u', 'alice:secret', directUrl]),
    ]);
    expect(direct.code, direct.stderr).toBe(0);
    expect({ code: viaProxy.code, stderr: viaProxy.stderr }).toEqual({ code: 0, stderr: '' });
    expect(viaProxy.stdout.length).toBeGreaterThan(0);
    expect(viaProxy.stdout).toBe(direct.stdout);
    return viaProxy.stdout;
  }

  describe('curl', () => {
    it('pop3:// lists and fetches like Dovecot', async () => {
      const list = await curlBoth(`pop3://127.0.0.1:${p.pop3}/`, `pop3://127.0.0.1:${dc!.pop3Port}/`);
      expect(list.trim().split(/\r?\n/)).toHaveLength(4);
      const msg = await curlBoth(`pop3://127.0.0.1:${p.pop3}/2`, `pop3://127.0.0.1:${dc!.pop3Port}/2`);
      expect(msg).toContain('Subject: Second test message');
    });

    it('pop3s:// -k fetches like Dovecot', async () => {
      await curlBoth(`pop3s://127.0.0.1:${p.pop3s}/`, `pop3://127.0.0.1:${dc!.pop3Port}/`, ['-k']);
      const msg = await curlBoth(`pop3s://127.0.0.1:${p.pop3s}/3`, `pop3://127.0.0.1:${dc!.pop3Port}/3`, ['-k']);
      expect(msg).toContain('Subject: Third test message');
    });

    it('pop3:// --ssl-reqd uses STLS and fetches like Dovecot', async () => {
      const msg = await curlBoth(`pop3://127.0.0.1:${p.pop3Starttls}/1`, `pop3://127.0.0.1:${dc!.pop3Port}/1`, ['--ssl-reqd', '-k']);
      expect(msg).toContain('Subject: First test message');
    });

    it('pop3:// --ssl-reqd fails on a server without starttls', async () => {
      const r = await curl(['-sS', '-u', 'alice:secret', '--ssl-reqd', '-k', `pop3://127.0.0.1:${p.pop3}/`]);
      expect(r.code).not.toBe(0);
    });

    it('imap:// lists and fetches like Dovecot', async () => {
      const list = await curlBoth(`imap://127.0.0.1:${p.imap}/`, `imap://127.0.0.1:${dc!.imapPort}/`);
      expect(list).toMatch(/^\* LIST \([^)]*\) "[./]" INBOX\r?$/m);
      const msg = await curlBoth(`imap://127.0.0.1:${p.imap}/INBOX;UID=2`, `imap://127.0.0.1:${dc!.imapPort}/INBOX;UID=2`);
      expect(msg).toContain('..leading dots');
    });

    it('imaps:// -k fetches like Dovecot', async () => {
      const msg = await curlBoth(`imaps://127.0.0.1:${p.imaps}/INBOX;UID=3`, `imap://127.0.0.1:${dc!.imapPort}/INBOX;UID=3`, ['-k']);
      expect(msg).toContain('Short.');
    });

    it('imap:// --ssl-reqd uses STARTTLS and fetches like Dovecot', async () => {
      const msg = await curlBoth(`imap://127.0.0.1:${p.imapStarttls}/INBOX;UID=1`, `imap://127.0.0.1:${dc!.imapPort}/INBOX;UID=1`, ['--ssl-reqd', '-k']);
      expect(msg).toContain('Hello from message one.');
    });

    it('imap:// --ssl-reqd fails on a server without starttls', async () => {
      const r = await curl(['-sS', '-u', 'alice:secret', '--ssl-reqd', '-k', `imap://127.0.0.1:${p.imap}/`]);
      expect(r.code).not.toBe(0);
    });

    it('imap:// with a wrong password fails cleanly', async () => {
      const r = await curl(['-sS', '-u', 'alice:wrong', `imap://127.0.0.1:${p.imap}/`]);
      expect(r.timedOut).toBe(false);
      expect(r.code).toBe(67); // CURLE_LOGIN_DENIED
    });
  });

  describe('openssl s_client', () => {
    it('-starttls imap: login, LIST, LOGOUT', async () => {
      const r = await opensslStarttls(p.imapStarttls, 'imap', 'a1 LOGIN alice secret\na2 LIST "" "*"\na3 LOGOUT\n');
      expect(r.timedOut).toBe(false);
      expect(r.stdout).toMatch(/^a1 OK .*Logged in\r?$/m);
      expect(r.stdout).toMatch(/^\* LIST \([^)]*\) "[./]" INBOX\r?$/m);
      expect(r.stdout).toMatch(/^a3 OK/m);
    });

    it('-starttls pop3: USER/PASS, STAT, QUIT', async () => {
      const r = await opensslStarttls(p.pop3Starttls, 'pop3', 'USER alice\nPASS secret\nSTAT\nQUIT\n');
      expect(r.timedOut).toBe(false);
      expect(r.stdout).toMatch(/^\+OK Logged in\.\r?$/m);
      expect(r.stdout).toMatch(/^\+OK 4 \d+\r?$/m);
      expect(r.stdout).toMatch(/^\+OK Logging out\.\r?$/m);
    });

    it('implicit TLS imaps: greeting, login, LOGOUT', async () => {
      const r = await opensslSClient({ port: p.imaps, input: 'a1 LOGIN alice secret\na2 LOGOUT\n' });
      expect(r.timedOut).toBe(false);
      expect(r.stdout).toMatch(/^\* OK IMAP4 ready\r?$/m);
      expect(r.stdout).toMatch(/^a1 OK .*Logged in\r?$/m);
      expect(r.stdout).toMatch(/^a2 OK Logout completed/m);
    });
  });

  describe('python', () => {
    const script = `
import hashlib, imaplib, json, poplib, ssl, sys
ctx = ssl._create_unverified_context()
a = {k: int(v) for k, v in (x.split('=') for x in sys.argv[1:])}
out = {}
def h(b): return hashlib.sha256(b).hexdigest()
def pop_run(p):
    p.user('alice'); p.pass_('secret')
    stat = p.stat()
    body = b'\\r\\n'.join(p.retr(2)[1])
    p.quit()
    return [stat[0], stat[1], h(body)]
out['pop_direct'] = pop_run(poplib.POP3('127.0.0.1', a['dpop']))
out['pop'] = pop_run(poplib.POP3('127.0.0.1', a['pop']))
out['pop_ssl'] = pop_run(poplib.POP3_SSL('127.0.0.1', a['pops'], context=ctx))
p = poplib.POP3('127.0.0.1', a['popstls'])
out['pop_stls_capa'] = sorted(p.capa().keys())
p.stls(context=ctx)
out['pop_stls'] = pop_run(p)
def imap_run(m):
    login = m.login('alice', 'secret')[0]
    sel = m.select('INBOX')
    typ, data = m.fetch('2', '(BODY.PEEK[])')
    body = data[0][1]
    m.logout()
    return [login, sel[0], sel[1][0].decode(), typ, h(body)]
out['imap_direct'] = imap_run(imaplib.IMAP4('127.0.0.1', a['dimap']))
out['imap'] = imap_run(imaplib.IMAP4('127.0.0.1', a['imap']))
out['imap_ssl'] = imap_run(imaplib.IMAP4_SSL('127.0.0.1', a['imaps'], ssl_context=ctx))
m = imaplib.IMAP4('127.0.0.1', a['imapstls'])
out['imap_stls_caps'] = sorted(m.capabilities)
m.starttls(ssl_context=ctx)
out['imap_stls_caps_after'] = sorted(m.capabilities)
out['imap_stls'] = imap_run(m)
print(json.dumps(out))
`;

    it('poplib (POP3, POP3_SSL, stls) and imaplib (IMAP4, IMAP4_SSL, starttls) get what Dovecot serves', async () => {
      const r = await python(script, [
        `dpop=${dc!.pop3Port}`,
        `dimap=${dc!.imapPort}`,
        `pop=${p.pop3}`,
        `pops=${p.pop3s}`,
        `popstls=${p.pop3Starttls}`,
        `imap=${p.imap}`,
        `imaps=${p.imaps}`,
        `imapstls=${p.imapStarttls}`,
      ]);
      expect(r.stderr).toBe('');
      expect(r.code).toBe(0);
      const out = JSON.parse(r.stdout) as Record<string, unknown[]>;
      expect(out.pop_direct?.[0]).toBe(4);
      for (const k of ['pop', 'pop_ssl', 'pop_stls']) expect(out[k], k).toEqual(out.pop_direct);
      expect(out.imap_direct?.slice(0, 4)).toEqual(['OK', 'OK', '4', 'OK']);
      for (const k of ['imap', 'imap_ssl', 'imap_stls']) expect(out[k], k).toEqual(out.imap_direct);
      expect(out.pop_stls_capa).toEqual(['SASL', 'STLS', 'TOP', 'UIDL', 'USER']);
      expect(out.imap_stls_caps).toEqual(['AUTH=PLAIN', 'IMAP4', 'IMAP4REV1', 'STARTTLS', 'UIDPLUS']);
      expect(out.imap_stls_caps_after).toEqual(['AUTH=PLAIN', 'IMAP4', 'IMAP4REV1', 'UIDPLUS']);
    });
  });

  describe('imapflow', () => {
    async function fetchWith(opts: { port: number; secure: boolean; doSTARTTLS?: boolean }, seq: string): Promise<{ source: Buffer; exists: number; secure: boolean }> {
      const client = new ImapFlow({
        host: '127.0.0.1',
        port: opts.port,
        secure: opts.secure,
        ...(opts.doSTARTTLS === undefined ? {} : { doSTARTTLS: opts.doSTARTTLS }),
        auth: { user: 'alice', pass: 'secret' },
        tls: { rejectUnauthorized: false },
        logger: false,
      });
      await client.connect();
      try {
        const box = await client.mailboxOpen('INBOX', { readOnly: true });
        const msg = await client.fetchOne(seq, { source: true });
        if (!msg || !msg.source) throw new Error('imapflow: no message source');
        return { source: msg.source, exists: box.exists, secure: client.secureConnection };
      } finally {
        await client.logout();
      }
    }

    it('secure (implicit TLS): mailboxOpen + fetchOne source equal to Dovecot (1 MB message)', async () => {
      const direct = await fetchWith({ port: dc!.imapPort, secure: false, doSTARTTLS: false }, '4');
      const via = await fetchWith({ port: p.imaps, secure: true }, '4');
      expect(via.secure).toBe(true);
      expect(via.exists).toBe(4);
      expect(direct.source.length).toBeGreaterThan(1_000_000);
      expect(via.source.length).toBe(direct.source.length);
      expect(sha(via.source)).toBe(sha(direct.source));
    });

    it('STARTTLS (doSTARTTLS: true): mailboxOpen + fetchOne source equal to Dovecot', async () => {
      const direct = await fetchWith({ port: dc!.imapPort, secure: false, doSTARTTLS: false }, '2');
      const via = await fetchWith({ port: p.imapStarttls, secure: false, doSTARTTLS: true }, '2');
      expect(via.secure).toBe(true);
      expect(via.exists).toBe(4);
      expect(via.source.toString('latin1')).toBe(direct.source.toString('latin1'));
    });
  });

  describe('large message relay', () => {
    async function retr(port: number, n: number, tls = false): Promise<string> {
      const c = await connect(port, { tls });
      try {
        await c.readLine();
        await c.send('USER alice\r\nPASS secret\r\n');
        expect(await c.readLine()).toMatch(/^\+OK/);
        expect(await c.readLine()).toBe('+OK Logged in.');
        await c.sendLine(`RETR ${n}`);
        const text = await c.readUntil(/\r\n\.\r\n/, 15_000);
        await c.sendLine('QUIT');
        expect(await c.readLine()).toBe('+OK Logging out.');
        await c.expectClosed();
        return text;
      } finally {
        c.close();
      }
    }

    it('POP3 RETR of the ~1 MB message is intact (plain and implicit TLS)', async () => {
      const direct = await retr(dc!.pop3Port, 4);
      expect(direct.length).toBeGreaterThan(1_000_000);
      const via = await retr(p.pop3, 4);
      expect(via.length).toBe(direct.length);
      expect(sha(via)).toBe(sha(direct));
      const viaTls = await retr(p.pop3s, 4, true);
      expect(viaTls.length).toBe(direct.length);
      expect(sha(viaTls)).toBe(sha(direct));
    });
  });
});
