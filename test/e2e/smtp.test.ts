/**
 * SMTP end to end: Postern in front of a real Postfix (test/e2e/harness/postfix.ts, XCLIENT
 * allowed from loopback, Dovecot SASL behind it for `proxy_smtp_auth`), with the harness's
 * auth_http server, and real clients: swaks, Python's smtplib, nodemailer and curl, plus a raw
 * line client for the edge cases. Every delivered message is compared byte for byte with what
 * the client sent, and Postfix's debug log shows the XCLIENT line it received and the
 * attributes it applied (client name/address, `sasl_username`).
 *
 * Expected proxy replies are nginx's (nginx 1.22.1's mail module, src/mail/);
 * smtp-differential.test.ts compares them with nginx 1.22.1 directly.
 */
import { spawnSync } from 'node:child_process';
import net from 'node:net';
import nodemailer from 'nodemailer';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { parseConfigText } from '../../src/config/index.js';
import { silentLogger } from '../../src/log.js';
import { startProxy, type RunningProxy } from '../../src/server.js';
import {
  connect,
  curl,
  defaultAuthHandler,
  freePort,
  freePorts,
  generateCert,
  makeTempDir,
  messageBody,
  python,
  removeDir,
  requireBinaries,
  run,
  sleep,
  startAuthServer,
  startDovecot,
  startPostfix,
  unescapeAuthValue,
  type AuthHandler,
  type AuthServer,
  type CertFiles,
  type DovecotHandle,
  type LineClient,
  type PostfixHandle,
} from './harness/index.js';

requireBinaries(['postfix', 'dovecot', 'swaks', 'curl', 'openssl', 'python3']);
// swaks --tls/--tlsc need Perl's Net::SSLeay (only "recommended" by the swaks package).
if (spawnSync('perl', ['-MNet::SSLeay', '-e', '1']).status !== 0) {
  throw new Error('missing Perl Net::SSLeay for swaks TLS: run `apt-get install -y libnet-ssleay-perl`');
}

const USER = 'test@example.com';
const PASS = 'secret';
/** A login that needs xtext in XCLIENT (space, `+`, `=`). */
const ODD_USER = 'te st+x=y@example.com';

/** Handles that a leaked session would keep alive (as in robustness.test.ts). */
const WATCHED = ['TCPSocketWrap', 'TCPServerWrap', 'ConnectWrap', 'Timeout', 'TLSWrap'];
function resources(): Record<string, number> {
  const out: Record<string, number> = {};
  for (const r of process.getActiveResourcesInfo()) if (WATCHED.includes(r)) out[r] = (out[r] ?? 0) + 1;
  return out;
}
async function expectNoLeak(before: Record<string, number>, timeoutMs = 5000): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  const over = () => Object.keys(resources()).filter((k) => (resources()[k] ?? 0) > (before[k] ?? 0));
  while (over().length > 0 && Date.now() < deadline) await sleep(50);
  expect(over(), `resources before ${JSON.stringify(before)}, now ${JSON.stringify(resources())}`).toEqual([]);
}

/** One complete SMTP reply (all its lines). */
async function reply(c: LineClient, timeoutMs = 5000): Promise<string[]> {
  const out: string[] = [];
  for (;;) {
    const line = await c.readLine(timeoutMs);
    out.push(line);
    if (line.length < 4 || line[3] !== '-') return out;
  }
}
/** The last line of the next reply. */
const last = async (c: LineClient, timeoutMs?: number): Promise<string> => (await reply(c, timeoutMs)).at(-1)!;

const b64 = (s: string): string => Buffer.from(s, 'latin1').toString('base64');

let counter = 0;
/** A message with every header Postfix would otherwise add, and a unique Message-ID. */
function message(subject: string, body = 'Hello.\r\n'): { id: string; text: string } {
  counter += 1;
  const id = `<smtp-e2e-${process.pid}-${counter}@client.example>`;
  const text =
    `From: Sender <sender@client.example>\r\n` +
    `To: Recipient <rcpt@example.com>\r\n` +
    `Subject: ${subject}\r\n` +
    `Date: Mon, 01 Jan 2024 10:00:00 +0000\r\n` +
    `Message-ID: ${id}\r\n` +
    `\r\n` +
    body;
  return { id, text };
}

interface Ports {
  main: number;
  only: number;
  smtps: number;
  delay: number;
  small: number;
  noXclient: number;
  proxyAuth: number;
}

describe('SMTP through Postern to Postfix', () => {
  let cert: CertFiles | undefined;
  let saslDir: string | undefined;
  let dc: DovecotHandle | undefined;
  let pf: PostfixHandle | undefined;
  let auth: AuthServer | undefined;
  let proxy: RunningProxy | undefined;
  let fakeBackend: net.Server | undefined;
  let handler: AuthHandler;
  let p: Ports;

  beforeAll(async () => {
    cert = await generateCert();
    saslDir = await makeTempDir('sasl');
    const socket = `${saslDir}/auth`;
    dc = await startDovecot({
      users: [{ user: USER, password: PASS }],
      messages: [],
      extraConfig: `service auth {\n  unix_listener ${socket} {\n    mode = 0666\n  }\n}\n`,
    });
    pf = await startPostfix({ sasl: { dovecotSocket: socket } });
    // A backend that greets, reads EHLO and hangs up: "a backend that closes mid-dialogue".
    fakeBackend = net.createServer((s) => {
      s.on('error', () => undefined);
      s.write('220 fake ESMTP\r\n');
      s.once('data', () => s.destroy());
    });
    const fakePort = await new Promise<number>((resolve) => fakeBackend!.listen(0, '127.0.0.1', () => resolve((fakeBackend!.address() as net.AddressInfo).port)));
    const users = { [USER]: PASS, [ODD_USER]: PASS };
    const fallback = defaultAuthHandler({ users, backends: { smtp: pf.port }, host: '127.0.0.1' });
    handler = (req) => {
      const user = unescapeAuthValue(req.headers['auth-user'] ?? '');
      if (user === 'code1') {
        return { headers: { 'Auth-Status': 'Temporary server problem, try again later', 'Auth-Error-Code': '451 4.3.0', 'Auth-Wait': '1' } };
      }
      if (user === 'nowait') return { headers: { 'Auth-Status': 'Invalid login or password' } };
      if (user === 'closer') return { headers: { 'Auth-Status': 'OK', 'Auth-Server': '127.0.0.1', 'Auth-Port': String(fakePort) } };
      // smtp_auth none: refuse recipients outside example.com like nginx-tests' auth server.
      if (req.headers['auth-method'] === 'none' && !/example\.com/.test(req.headers['auth-smtp-to'] ?? '')) {
        return { headers: { 'Auth-Status': 'Recipient refused', 'Auth-Error-Code': '550 5.7.1' } };
      }
      return fallback(req);
    };
    auth = await startAuthServer({ handler });
    const [main, only, smtps, delay, small, noXclient, proxyAuth] = (await freePorts(7)) as [number, number, number, number, number, number, number];
    p = { main, only, smtps, delay, small, noXclient, proxyAuth };
    const block = `mail {
    server_name mx.test;
    auth_http ${auth.url}/auth;
    auth_http_timeout 5s;
    ssl_certificate ${cert.certPath};
    ssl_certificate_key ${cert.keyPath};
    smtp_capabilities PIPELINING 8BITMIME "SIZE 10240000";
    server { listen 127.0.0.1:${main}; protocol smtp; smtp_auth plain login cram-md5 none; starttls on; }
    server { listen 127.0.0.1:${only}; protocol smtp; starttls only; smtp_auth plain login none; }
    server { listen 127.0.0.1:${smtps} ssl; protocol smtp; smtp_auth plain login cram-md5; }
    server { listen 127.0.0.1:${delay}; protocol smtp; smtp_greeting_delay 1s; }
    server { listen 127.0.0.1:${small}; protocol smtp; smtp_auth none; smtp_client_buffer 128; max_errors 3; }
    server { listen 127.0.0.1:${noXclient}; protocol smtp; xclient off; }
    server { listen 127.0.0.1:${proxyAuth}; protocol smtp; proxy_smtp_auth on; smtp_auth plain login external; }
}
`;
    proxy = await startProxy(parseConfigText(block, 'smtp.conf'), { logger: silentLogger() });
  });

  afterAll(async () => {
    const results = await Promise.allSettled([
      proxy?.close(),
      auth?.close(),
      pf?.close(),
      dc?.close(),
      new Promise<void>((resolve) => (fakeBackend ? fakeBackend.close(() => resolve()) : resolve())),
    ]);
    if (cert) await removeDir(cert.dir);
    if (saslDir) await removeDir(saslDir);
    for (const r of results) if (r.status === 'rejected') throw r.reason;
  });

  /** Postfix's commands since `mark` (see `pf.commands()`), once `until` shows up among them. */
  async function backendCommands(mark: number, until: RegExp): Promise<string[]> {
    const deadline = Date.now() + 8000;
    for (;;) {
      const lines = pf!.commands().slice(mark).map((c) => `${c.client}: ${c.line}`);
      if (lines.some((l) => until.test(l))) return lines;
      if (Date.now() > deadline) throw new Error(`Postfix never saw ${until}; saw:\n${lines.join('\n')}`);
      await sleep(50);
    }
  }

  /** The delivered message with this Message-ID, as Postfix stored it. */
  async function delivered(id: string): Promise<{ raw: string; body: string; recipient: string }> {
    const deadline = Date.now() + 10_000;
    for (;;) {
      const m = pf!.messages().find((x) => x.raw.includes(`Message-ID: ${id}`));
      if (m) return { raw: m.raw, body: messageBody(m.raw), recipient: m.recipient };
      if (Date.now() > deadline) throw new Error(`message ${id} was not delivered:\n${pf!.log().slice(-3000)}`);
      await sleep(50);
    }
  }
  const lf = (s: string) => s.replace(/\r\n/g, '\n');

  describe('swaks', () => {
    /** swaks ends the data with CRLF.CRLF itself: it gets the message without its last CRLF. */
    const data = (text: string) => text.replace(/\r\n$/, '');
    const swaks = (args: string[]) =>
      run('/usr/bin/swaks', ['--server', '127.0.0.1', '--from', 'sender@client.example', '--to', 'rcpt@example.com', '--timeout', '15', ...args], {
        timeoutMs: 30_000,
      });

    it('AUTH PLAIN after STARTTLS: 235 from Postern, XCLIENT with ADDR, LOGIN and NAME, mail delivered byte for byte', async () => {
      const mark = pf!.commands().length;
      const m = message('swaks plain');
      const r = await swaks(['--port', String(p.main), '--tls', '--auth', 'PLAIN', '--auth-user', USER, '--auth-password', PASS, '--ehlo', 'client.example', '--data', data(m.text)]);
      expect(r.code, r.stdout + r.stderr).toBe(0);
      expect(r.stdout).toContain('<-  220 2.0.0 Start TLS');
      expect(r.stdout).toContain('<~  235 2.0.0 OK');
      const got = await delivered(m.id);
      expect(got.body).toBe(lf(m.text));
      expect(got.recipient).toBe('rcpt@example.com');
      const cmds = await backendCommands(mark, /DATA/);
      expect(cmds.slice(0, 3)).toEqual([
        'localhost[127.0.0.1]: EHLO mx.test',
        `localhost[127.0.0.1]: XCLIENT ADDR=127.0.0.1 LOGIN=${USER} NAME=[UNAVAILABLE]`,
        'unknown[127.0.0.1]: EHLO client.example',
      ]);
      expect(pf!.log()).toMatch(/client=unknown\[127\.0\.0\.1\], sasl_method=XCLIENT, sasl_username=test@example\.com/);
    });

    it('AUTH LOGIN in plaintext, from 127.0.0.2: XCLIENT ADDR is the client address', async () => {
      const mark = pf!.commands().length;
      const m = message('swaks login');
      const r = await swaks(['--port', String(p.main), '--local-interface', '127.0.0.2', '--auth', 'LOGIN', '--auth-user', USER, '--auth-password', PASS, '--data', data(m.text)]);
      expect(r.code, r.stdout + r.stderr).toBe(0);
      expect(r.stdout).toContain('<-  334 VXNlcm5hbWU6');
      expect(r.stdout).toContain('<-  334 UGFzc3dvcmQ6');
      expect(r.stdout).toContain('<-  235 2.0.0 OK');
      expect((await delivered(m.id)).body).toBe(lf(m.text));
      const cmds = await backendCommands(mark, /DATA/);
      expect(cmds[1]).toBe(`localhost[127.0.0.1]: XCLIENT ADDR=127.0.0.2 LOGIN=${USER} NAME=[UNAVAILABLE]`);
      expect(cmds[2]).toMatch(/^unknown\[127\.0\.0\.2\]: EHLO /);
    });

    it('AUTH CRAM-MD5 (Auth-Pass from the auth service) on implicit TLS (--tlsc)', async () => {
      const m = message('swaks cram');
      const r = await swaks(['--port', String(p.smtps), '--tlsc', '--auth', 'CRAM-MD5', '--auth-user', USER, '--auth-password', PASS, '--data', data(m.text)]);
      expect(r.code, r.stdout + r.stderr).toBe(0);
      expect(r.stdout).toMatch(/<~ {2}334 [A-Za-z0-9+/=]+\r?\n/);
      expect(r.stdout).toContain('<~  235 2.0.0 OK');
      expect((await delivered(m.id)).body).toBe(lf(m.text));
    });

    it('bad passwords: PLAIN, LOGIN and CRAM-MD5 get 535 5.7.0 after Auth-Wait, nothing reaches Postfix', async () => {
      const before = pf!.commands().length;
      for (const mech of ['PLAIN', 'LOGIN', 'CRAM-MD5']) {
        const r = await swaks(['--port', String(p.main), '--auth', mech, '--auth-user', USER, '--auth-password', 'wrong', '--quit-after', 'AUTH']);
        expect(r.code, r.stdout).not.toBe(0);
        expect(r.stdout).toContain('<** 535 5.7.0 Invalid login or password');
      }
      await sleep(200);
      expect(pf!.commands().length).toBe(before);
    });

    it('--pipeline: the whole transaction after AUTH is pipelined and delivered', async () => {
      const m = message('swaks pipeline');
      const r = await swaks(['--port', String(p.main), '--pipeline', '--auth', 'PLAIN', '--auth-user', USER, '--auth-password', PASS, '--data', data(m.text)]);
      expect(r.code, r.stdout + r.stderr).toBe(0);
      expect(r.stdout).toMatch(/<- {2}250 2\.0\.0 Ok: queued as/);
      expect((await delivered(m.id)).body).toBe(lf(m.text));
    });

    it('smtp_auth none: no AUTH, MAIL/RCPT go to the auth service and are replayed to Postfix', async () => {
      const mark = pf!.commands().length;
      const start = auth!.requests.length;
      const m = message('swaks none');
      const r = await swaks(['--port', String(p.main), '--ehlo', 'mta.client.example', '--data', data(m.text)]);
      expect(r.code, r.stdout + r.stderr).toBe(0);
      expect((await delivered(m.id)).body).toBe(lf(m.text));
      const req = auth!.requests.slice(start).at(-1)!;
      expect(req.lines.slice(2)).toEqual([
        'Auth-Method: none',
        'Auth-User: ',
        'Auth-Pass: ',
        'Auth-Protocol: smtp',
        'Auth-Login-Attempt: 1',
        'Client-IP: 127.0.0.1',
        'Client-Host: [UNAVAILABLE]',
        'Auth-SMTP-Helo: mta.client.example',
        'Auth-SMTP-From: MAIL FROM:<sender@client.example>',
        'Auth-SMTP-To: RCPT TO:<rcpt@example.com>',
      ]);
      const cmds = await backendCommands(mark, /DATA/);
      expect(cmds.slice(0, 5)).toEqual([
        'localhost[127.0.0.1]: EHLO mx.test',
        'localhost[127.0.0.1]: XCLIENT ADDR=127.0.0.1 NAME=[UNAVAILABLE]',
        'unknown[127.0.0.1]: EHLO mta.client.example',
        'unknown[127.0.0.1]: MAIL FROM:<sender@client.example>',
        'unknown[127.0.0.1]: RCPT TO:<rcpt@example.com>',
      ]);
    });
  });

  describe('Python smtplib', () => {
    it('starttls only: AUTH is hidden until STARTTLS, then login and sendmail deliver 8-bit mail', async () => {
      const m = message('smtplib', 'caf\xe9 \xff bytes\r\n.leading dot\r\n..two dots\r\n');
      const script = `
import smtplib, sys
msg = bytes.fromhex(sys.argv[2])
s = smtplib.SMTP('127.0.0.1', int(sys.argv[1]), local_hostname='py.client.example', timeout=15)
s.ehlo()
print('before', s.has_extn('auth'), s.has_extn('starttls'))
try:
    s.login('${USER}', '${PASS}')
except smtplib.SMTPException as e:
    print('login-refused', type(e).__name__)
print('starttls', s.starttls()[0])
s.ehlo()
print('after', s.has_extn('auth'), s.has_extn('starttls'), s.esmtp_features.get('auth').strip())
print('login', s.login('${USER}', '${PASS}')[0])
print('refused', s.sendmail('sender@client.example', ['rcpt@example.com'], msg))
print('quit', s.quit()[0])
`;
      const r = await python(script, [String(p.only), Buffer.from(m.text, 'latin1').toString('hex')]);
      expect(r.code, r.stdout + r.stderr).toBe(0);
      expect(r.stdout.split('\n').filter(Boolean)).toEqual([
        'before False True',
        'login-refused SMTPNotSupportedError',
        'starttls 220',
        'after True False PLAIN LOGIN',
        'login 235',
        'refused {}',
        'quit 221',
      ]);
      expect((await delivered(m.id)).body).toBe(lf(m.text));
    });

    it('a wrong password ends the session with 535 (SMTPAuthenticationError)', async () => {
      const r = await python(
        `
import smtplib, sys
s = smtplib.SMTP('127.0.0.1', int(sys.argv[1]), timeout=15)
s.ehlo()
# smtplib would try CRAM-MD5 first and then PLAIN on the closed connection: PLAIN only.
s.esmtp_features['auth'] = 'PLAIN'
try:
    s.login('nowait', 'x')
except smtplib.SMTPAuthenticationError as e:
    print(e.smtp_code, e.smtp_error.decode())
`,
        [String(p.main)],
      );
      expect(r.stdout.trim(), r.stderr).toBe('535 5.7.0 Invalid login or password');
    });
  });

  describe('nodemailer', () => {
    it('STARTTLS (requireTLS) + AUTH, and implicit TLS (secure: true)', async () => {
      for (const [port, secure] of [
        [p.main, false],
        [p.smtps, true],
      ] as const) {
        const m = message(`nodemailer ${secure ? 'smtps' : 'starttls'}`, 'Gr\xfc\xdfe\r\n');
        const transport = nodemailer.createTransport({
          host: '127.0.0.1',
          port,
          secure,
          requireTLS: !secure,
          name: 'nodemailer.client.example',
          auth: { user: USER, pass: PASS },
          tls: { rejectUnauthorized: false },
        });
        try {
          const info = await transport.sendMail({
            envelope: { from: 'sender@client.example', to: ['rcpt@example.com'] },
            raw: Buffer.from(m.text, 'latin1'),
          });
          expect(info.accepted).toEqual(['rcpt@example.com']);
          expect(info.response).toMatch(/^250 2\.0\.0 Ok: queued as /);
        } finally {
          transport.close();
        }
        expect((await delivered(m.id)).body).toBe(lf(m.text));
      }
    });
  });

  describe('curl', () => {
    it('smtp:// with --ssl-reqd (STARTTLS) and smtps://, --mail-from, --mail-rcpt, --upload-file', async () => {
      const dir = await makeTempDir('curl');
      try {
        for (const url of [`smtp://127.0.0.1:${p.main}/curl.client.example`, `smtps://127.0.0.1:${p.smtps}/curl.client.example`]) {
          const m = message(`curl ${url.slice(0, 5)}`);
          const file = `${dir}/msg-${counter}.eml`;
          const { writeFile } = await import('node:fs/promises');
          await writeFile(file, Buffer.from(m.text, 'latin1'));
          const r = await curl(['-sS', '-k', '-v', '--ssl-reqd', '--user', `${USER}:${PASS}`, '--mail-from', 'sender@client.example', '--mail-rcpt', 'rcpt@example.com', '--upload-file', file, url]);
          expect(r.code, r.stderr).toBe(0);
          expect(r.stderr).toContain('< 235 2.0.0 OK');
          expect((await delivered(m.id)).body).toBe(lf(m.text));
        }
      } finally {
        await removeDir(dir);
      }
    });
  });

  describe('raw client', () => {
    it('pipelining EHLO/AUTH/MAIL/RCPT/DATA/message/QUIT in one write: every reply in order, mail delivered', async () => {
      const before = resources();
      const m = message('pipelined');
      const c = await connect(p.main);
      expect(await reply(c)).toEqual(['220 mx.test ESMTP ready']);
      await c.send(
        `EHLO pipe.client.example\r\nAUTH PLAIN ${b64(`\0${USER}\0${PASS}`)}\r\nMAIL FROM:<sender@client.example>\r\nRCPT TO:<rcpt@example.com>\r\nDATA\r\n` +
          `${m.text}.\r\nQUIT\r\n`,
      );
      expect(await reply(c)).toEqual(['250-mx.test', '250-PIPELINING', '250-8BITMIME', '250-SIZE 10240000', '250-AUTH PLAIN LOGIN CRAM-MD5', '250 STARTTLS']);
      expect(await reply(c)).toEqual(['235 2.0.0 OK']);
      expect(await reply(c)).toEqual(['250 2.1.0 Ok']);
      expect(await reply(c)).toEqual(['250 2.1.5 Ok']);
      expect(await reply(c)).toEqual(['354 End data with <CR><LF>.<CR><LF>']);
      expect(await last(c)).toMatch(/^250 2\.0\.0 Ok: queued as [0-9A-F]+$/);
      expect(await reply(c)).toEqual(['221 2.0.0 Bye']);
      await c.expectClosed();
      expect((await delivered(m.id)).body).toBe(lf(m.text));
      c.close();
      await expectNoLeak(before);
    });

    it('smtp_auth none pipelined with the message: RCPT reply from Postfix, DATA relayed', async () => {
      const m = message('none pipelined');
      const c = await connect(p.small);
      await reply(c);
      await c.send('MAIL FROM:<a@client.example>\r\nRCPT TO:<rcpt@example.com>\r\nDATA\r\n');
      expect(await reply(c)).toEqual(['250 2.0.0 OK']);
      expect(await reply(c)).toEqual(['250 2.1.5 Ok']);
      expect(await reply(c)).toEqual(['354 End data with <CR><LF>.<CR><LF>']);
      await c.send(`${m.text}.\r\nQUIT\r\n`);
      expect(await last(c)).toMatch(/^250 2\.0\.0 Ok: queued as /);
      expect(await reply(c)).toEqual(['221 2.0.0 Bye']);
      c.close();
      expect((await delivered(m.id)).body).toBe(lf(m.text));
    });

    it('smtp_auth none: a refused recipient gets Auth-Error-Code and the connection closes', async () => {
      const c = await connect(p.main);
      await reply(c);
      await c.sendLine('MAIL FROM:<a@client.example>');
      expect(await reply(c)).toEqual(['250 2.0.0 OK']);
      await c.sendLine('RCPT TO:<someone@elsewhere.test>');
      expect(await reply(c)).toEqual(['550 5.7.1 Recipient refused']);
      await c.expectClosed();
      c.close();
    });

    it('Auth-Error-Code with Auth-Wait: the code replaces 535, the session continues', async () => {
      const c = await connect(p.main);
      await reply(c);
      await c.sendLine('AUTH LOGIN');
      expect(await reply(c)).toEqual(['334 VXNlcm5hbWU6']);
      await c.sendLine(b64('code1'));
      expect(await reply(c)).toEqual(['334 UGFzc3dvcmQ6']);
      await c.sendLine(b64('x'));
      const t0 = Date.now();
      expect(await reply(c)).toEqual(['451 4.3.0 Temporary server problem, try again later']);
      expect(Date.now() - t0).toBeGreaterThanOrEqual(900);
      await c.sendLine('NOOP');
      expect(await reply(c)).toEqual(['250 2.0.0 OK']);
      c.close();
    });

    it('XCLIENT LOGIN is xtext-encoded (nginx >= 1.29.2); Postfix decodes it back', async () => {
      const mark = pf!.commands().length;
      const m = message('xtext');
      const c = await connect(p.main);
      await reply(c);
      await c.sendLine(`AUTH PLAIN ${b64(`\0${ODD_USER}\0${PASS}`)}`);
      expect(await reply(c)).toEqual(['235 2.0.0 OK']);
      await c.send(`MAIL FROM:<sender@client.example>\r\nRCPT TO:<rcpt@example.com>\r\nDATA\r\n`);
      await reply(c);
      await reply(c);
      await reply(c);
      await c.send(`${m.text}.\r\n`);
      expect(await last(c)).toMatch(/^250 /);
      c.close();
      await delivered(m.id);
      const cmds = await backendCommands(mark, /DATA/);
      // No HELO from the client: nginx sends none after XCLIENT either (§6.6).
      expect(cmds.slice(0, 3)).toEqual([
        'localhost[127.0.0.1]: EHLO mx.test',
        'localhost[127.0.0.1]: XCLIENT ADDR=127.0.0.1 LOGIN=te+20st+2Bx+3Dy@example.com NAME=[UNAVAILABLE]',
        'unknown[127.0.0.1]: MAIL FROM:<sender@client.example>',
      ]);
      expect(pf!.log()).toContain('sasl_method=XCLIENT, sasl_username=te st+x=y@example.com');
    });

    it('xclient off: HELO mx.test only (the client used HELO), no XCLIENT', async () => {
      const mark = pf!.commands().length;
      const c = await connect(p.noXclient);
      await reply(c);
      await c.sendLine('HELO old.client.example');
      expect(await reply(c)).toEqual(['250 mx.test']);
      await c.sendLine(`AUTH PLAIN ${b64(`\0${USER}\0${PASS}`)}`);
      expect(await reply(c)).toEqual(['235 2.0.0 OK']);
      await c.sendLine('MAIL FROM:<sender@client.example>');
      expect(await reply(c)).toEqual(['250 2.1.0 Ok']);
      await c.sendLine('QUIT');
      expect(await reply(c)).toEqual(['221 2.0.0 Bye']);
      c.close();
      const cmds = await backendCommands(mark, /QUIT/);
      expect(cmds).toEqual([
        'localhost[127.0.0.1]: HELO mx.test',
        'localhost[127.0.0.1]: MAIL FROM:<sender@client.example>',
        'localhost[127.0.0.1]: QUIT',
      ]);
    });

    it('proxy_smtp_auth on: AUTH PLAIN to Postfix (Dovecot SASL), XCLIENT without LOGIN', async () => {
      const mark = pf!.commands().length;
      const m = message('proxy_smtp_auth');
      const c = await connect(p.proxyAuth);
      await reply(c);
      await c.sendLine('EHLO client.example');
      await reply(c);
      await c.sendLine(`AUTH PLAIN ${b64(`\0${USER}\0${PASS}`)}`);
      expect(await reply(c)).toEqual(['235 2.0.0 OK']);
      await c.send(`MAIL FROM:<sender@client.example>\r\nRCPT TO:<rcpt@example.com>\r\nDATA\r\n`);
      expect(await reply(c)).toEqual(['250 2.1.0 Ok']);
      expect(await reply(c)).toEqual(['250 2.1.5 Ok']);
      expect(await reply(c)).toEqual(['354 End data with <CR><LF>.<CR><LF>']);
      await c.send(`${m.text}.\r\n`);
      expect(await last(c)).toMatch(/^250 /);
      c.close();
      const got = await delivered(m.id);
      expect(got.body).toBe(lf(m.text));
      // Postfix's Received header says it was authenticated by SASL, not by XCLIENT.
      expect(got.raw).toMatch(/\(Authenticated sender: test@example\.com\)/);
      const cmds = await backendCommands(mark, /DATA/);
      expect(cmds.slice(0, 4)).toEqual([
        'localhost[127.0.0.1]: EHLO mx.test',
        'localhost[127.0.0.1]: XCLIENT ADDR=127.0.0.1 NAME=[UNAVAILABLE]',
        'unknown[127.0.0.1]: EHLO client.example',
        'unknown[127.0.0.1]: AUTH PLAIN <redacted>'.replace('<redacted>', cmds[3]?.split(' ').at(-1) ?? ''),
      ]);
      expect(cmds[3]).toMatch(/^unknown\[127\.0\.0\.1\]: AUTH PLAIN \S+$/);
      expect(pf!.log()).toMatch(/sasl_method=PLAIN, sasl_username=test@example\.com/);
    });

    it('hostile and broken clients leave no leaked sockets or timers', async () => {
      const before = resources();
      const closedAfter = async (port: number, send: string, expected: string[], opts: { greeting?: boolean } = {}) => {
        const c = await connect(port);
        if (opts.greeting !== false) expect(await reply(c)).toEqual([expect.stringMatching(/^220 mx\.test ESMTP ready$/)]);
        await c.send(send);
        const rest = await c.expectClosed();
        expect(rest.split('\r\n').filter(Boolean)).toEqual(expected);
        c.close();
      };
      // smtp_greeting_delay: an early talker (mail content before the greeting) is refused.
      await closedAfter(p.delay, 'MAIL FROM:<a@b>\r\nRCPT TO:<c@d>\r\nDATA\r\nSubject: x\r\n\r\nearly\r\n.\r\n', ['503 5.5.0 Improper use of SMTP command pipelining'], { greeting: false });
      // smtp_client_buffer 128: an overlong line.
      await closedAfter(p.small, `HELO ${'x'.repeat(200)}\r\n`, ['500 5.5.1 Invalid command']);
      // max_errors 3: DATA before RCPT, then 8-bit junk and bare LFs.
      await closedAfter(p.small, 'DATA\r\n\xff\xfe\x80\nFOO\n', ['500 5.5.1 Invalid command', '500 5.5.1 Invalid command', '500 5.5.1 Invalid command']);
      // Invalid base64, unknown mechanism, then QUIT.
      await closedAfter(p.main, 'AUTH PLAIN !!!\r\nAUTH DIGEST-MD5\r\nAUTH LOGIN\r\n%%%\r\nQUIT\r\n', [
        '500 5.5.1 Invalid command',
        '500 5.5.1 Invalid command',
        '334 VXNlcm5hbWU6',
        '500 5.5.1 Invalid command',
        '221 2.0.0 Bye',
      ]);
      // A backend that closes mid-dialogue (after our EHLO).
      await closedAfter(p.main, `AUTH PLAIN ${b64('\0closer\0x')}\r\n`, ['451 4.3.2 Internal server error']);
      // A client that hangs up while the auth service is asked, and one mid-relay.
      const c1 = await connect(p.main);
      await reply(c1);
      await c1.sendLine(`AUTH PLAIN ${b64(`\0${USER}\0${PASS}`)}`);
      c1.close();
      const c2 = await connect(p.main);
      await reply(c2);
      await c2.sendLine(`AUTH PLAIN ${b64(`\0${USER}\0${PASS}`)}`);
      expect(await reply(c2)).toEqual(['235 2.0.0 OK']);
      await c2.sendLine('MAIL FROM:<sender@client.example>');
      expect(await reply(c2)).toEqual(['250 2.1.0 Ok']);
      c2.close();
      await expectNoLeak(before);
    });

    it('proxy_smtp_auth on without a password (EXTERNAL, no Auth-Pass): 451 internal error (nginx-tests 13.11)', async () => {
      auth!.setHandler(() => ({ headers: { 'Auth-Status': 'OK', 'Auth-Server': '127.0.0.1', 'Auth-Port': String(pf!.port) } }));
      try {
        const c = await connect(p.proxyAuth);
        await reply(c);
        await c.sendLine('AUTH EXTERNAL');
        expect(await reply(c)).toEqual(['334 VXNlcm5hbWU6']);
        await c.sendLine(b64(USER));
        expect(await reply(c)).toEqual(['451 4.3.2 Internal server error']);
        await c.expectClosed();
        c.close();
      } finally {
        auth!.setHandler(handler);
      }
    });
  });
});
