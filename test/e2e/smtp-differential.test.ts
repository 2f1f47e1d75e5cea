/**
 * SMTP differential test: the same `mail { }` block runs in the reference nginx 1.22.1 and
 * in Postern, both in front of the same real Postfix (test/e2e/harness/postfix.ts, with
 * Dovecot SASL for `proxy_smtp_auth`); every scenario below is played against both at the
 * same time and the client transcripts (every reply line, timing buckets, closes) and the raw
 * auth_http requests must be equal after normalising salts and Postfix queue ids.
 *
 * The runner is SMTP's own (test/e2e/scenarios/runner.ts is keyed to the IMAP/POP3
 * servers and reads `+ ` challenges): `reply` reads one complete, possibly multi-line, SMTP
 * reply, and `{{cram:user:pass}}` takes the salt from the last `334` challenge.
 *
 * Known differences kept out of the transcripts, by design:
 * - XCLIENT `LOGIN=` is xtext-encoded by Postern (nginx >= 1.29.2), raw in nginx 1.22; that
 *   is in the backend dialogue, which the clients never see (smtp.test.ts checks it).
 * - `ssl_protocols TLSv1.2;` is set explicitly (1.22's default includes TLSv1/TLSv1.1,
 *   Postern's is today's nginx default), so `Auth-SSL-Protocol` compares equal.
 */
import net from 'node:net';
import { createHmac } from 'node:crypto';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { parseConfigText } from '../../src/config/index.js';
import { silentLogger } from '../../src/log.js';
import { startProxy, type RunningProxy } from '../../src/server.js';
import {
  connect,
  defaultAuthHandler,
  diffLines,
  formatDiff,
  freePorts,
  generateCert,
  makeTempDir,
  removeDir,
  requireBinaries,
  sleep,
  startAuthServer,
  startDovecot,
  startNginx,
  startPostfix,
  unescapeAuthValue,
  type AuthHandler,
  type AuthServer,
  type CertFiles,
  type LineClient,
  type NginxHandle,
  type NormalizeOptions,
  type PostfixHandle,
} from './harness/index.js';
import { authLines, esc } from './scenarios/runner.js';

requireBinaries(['nginx', 'postfix', 'dovecot', 'openssl']);

const USER = 'test@example.com';
const PASS = 'secret';

const SERVERS = ['smtp', 'starttls', 'only', 'smtps', 'delay', 'small', 'proxyAuth', 'noXclient', 'passError'] as const;
type Server = (typeof SERVERS)[number];
const IMPLICIT: ReadonlySet<Server> = new Set<Server>(['smtps']);

const MAIL_BLOCK = `mail {
    server_name mx.test;
    auth_http {{auth}}/auth;
    auth_http_timeout 2s;
    ssl_certificate {{cert}};
    ssl_certificate_key {{key}};
    ssl_protocols TLSv1.2;
    smtp_capabilities PIPELINING 8BITMIME "SIZE 10240000";

    server { listen 127.0.0.1:{{smtp}}; protocol smtp; smtp_auth plain login cram-md5 external none; }
    server { listen 127.0.0.1:{{starttls}}; protocol smtp; starttls on; smtp_auth plain login none; }
    server { listen 127.0.0.1:{{only}}; protocol smtp; starttls only; smtp_auth plain login none; }
    server { listen 127.0.0.1:{{smtps}} ssl; protocol smtp; smtp_auth plain login cram-md5; }
    server { listen 127.0.0.1:{{delay}}; protocol smtp; smtp_greeting_delay 1s; }
    server { listen 127.0.0.1:{{small}}; protocol smtp; smtp_auth none; smtp_client_buffer 128; max_errors 3; }
    server { listen 127.0.0.1:{{proxyAuth}}; protocol smtp; proxy_smtp_auth on; smtp_auth plain login external; }
    server { listen 127.0.0.1:{{noXclient}}; protocol smtp; xclient off; smtp_auth plain login none; }
    server { listen 127.0.0.1:{{passError}}; protocol smtp; proxy_pass_error_message on; }
}
`;

type Step =
  | { send: string }
  /** Read `n` (default 1) complete replies. */
  | { reply: number; timed?: boolean }
  | { starttls: true }
  | { closed: true }
  | { sleep: number };

interface Scenario {
  name: string;
  server: Server;
  steps: Step[];
  /** A deliberate difference: the transcripts must differ exactly in these lines. */
  differs?: Array<{ index: number; nginx: string; postern: string }>;
}

const L = (s: string): Step => ({ send: `${s}\r\n` });
const R = (n = 1, timed = false): Step => (timed ? { reply: n, timed } : { reply: n });
const b64 = (s: string) => Buffer.from(s, 'latin1').toString('base64');
const plain = (user: string, pass: string) => b64(`\0${user}\0${pass}`);

/** A message with every header Postfix would otherwise add; dot-stuffed line included. */
const MESSAGE =
  'From: <sender@client.example>\r\nTo: <rcpt@example.com>\r\nSubject: differential\r\nDate: Mon, 01 Jan 2024 10:00:00 +0000\r\n' +
  'Message-ID: <diff@client.example>\r\n\r\nbody line\r\n..dot-stuffed\r\ncaf\xe9\r\n.\r\n';
/** MAIL, RCPT, DATA, the message and QUIT, each answered by Postfix through the relay. */
const TRANSACTION: Step[] = [
  L('MAIL FROM:<sender@client.example>'),
  R(),
  L('RCPT TO:<rcpt@example.com>'),
  R(),
  L('DATA'),
  R(),
  { send: MESSAGE },
  R(),
  L('QUIT'),
  R(),
  { closed: true },
];

const scenarios: Scenario[] = [
  {
    name: 'greeting and the §6.3 live transcript (HELO/EHLO, HELP, DATA, MAIL/RCPT ordering, VRFY/EXPN, RSET, NOOP, QUIT)',
    server: 'smtp',
    steps: [
      R(),
      L('EHLO client.example'),
      R(),
      L('HELO client.example'),
      R(),
      L('EHLO'),
      R(),
      L('EHLO a b'),
      R(),
      L('HELP'),
      R(),
      L('DATA'),
      R(),
      L('RCPT TO:<a@example.com>'),
      R(),
      L('MAIL'),
      R(),
      L('VRFY root'),
      R(),
      L('EXPN list'),
      R(),
      L('NOOP'),
      R(),
      L('RSET'),
      R(),
      L('STARTTLS'),
      R(),
      L('XCLIENT ADDR=1.2.3.4'),
      R(),
      L('QUIT'),
      R(),
      { closed: true },
    ],
  },
  {
    name: 'AUTH PLAIN with initial response, then a transaction relayed to Postfix',
    server: 'smtp',
    steps: [R(), L('EHLO client.example'), R(), L(`AUTH PLAIN ${plain(USER, PASS)}`), R(), ...TRANSACTION],
  },
  {
    name: 'AUTH PLAIN without initial response (334 ), HELO only: backend EHLO/XCLIENT/HELO',
    server: 'smtp',
    steps: [R(), L('HELO old.client.example'), R(), L('AUTH PLAIN'), R(), L(plain(USER, PASS)), R(), ...TRANSACTION],
  },
  {
    name: 'AUTH LOGIN: wrong password (Auth-Wait 1 s, 535, session continues), then with initial user name',
    server: 'smtp',
    steps: [
      R(),
      L('AUTH LOGIN'),
      R(),
      L(b64(USER)),
      R(),
      L(b64('wrong')),
      R(1, true),
      L(`AUTH LOGIN ${b64(USER)}`),
      R(),
      L(b64(PASS)),
      R(),
      ...TRANSACTION,
    ],
  },
  {
    name: 'AUTH CRAM-MD5: wrong digest, then good (Auth-Pass from the auth service)',
    server: 'smtp',
    steps: [R(), L('AUTH CRAM-MD5'), R(), L('{{cram:test@example.com:wrong}}'), R(1, true), L('AUTH CRAM-MD5'), R(), L('{{cram:test@example.com:secret}}'), R(), L('QUIT'), R(), { closed: true }],
  },
  {
    name: 'AUTH EXTERNAL: challenge, then the user name (Auth-Pass from the auth service)',
    server: 'smtp',
    steps: [R(), L('AUTH EXTERNAL'), R(), L(b64(USER)), R(), L('NOOP'), R(), L('QUIT'), R(), { closed: true }],
  },
  {
    name: 'AUTH EXTERNAL with an initial response',
    server: 'smtp',
    steps: [R(), L(`AUTH EXTERNAL ${b64(USER)}`), R(), L('QUIT'), R(), { closed: true }],
  },
  {
    name: 'AUTH refusals: bare AUTH, unknown mechanism, invalid base64, "=", extra arguments, CRAM-MD5 with initial response, LOGIN "*"',
    server: 'smtp',
    steps: [
      R(),
      L('AUTH'),
      R(),
      L('AUTH FOO'),
      R(),
      L('AUTH PLAIN !!!'),
      R(),
      L('AUTH PLAIN'),
      R(),
      L('='),
      R(),
      L('AUTH LOGIN a b'),
      R(),
      L('AUTH CRAM-MD5 abc'),
      R(),
      L('AUTH LOGIN'),
      R(),
      L('*'),
      R(),
      L(`AUTH PLAIN ${b64('nonul')}`),
      R(),
      L(`AUTH PLAIN ${b64('\0onlyone')}`),
      R(),
      L('NOOP'),
      R(),
    ],
  },
  {
    name: 'Auth-Error-Code with Auth-Wait (451 4.3.0), then a failure without wait closes',
    server: 'smtp',
    steps: [R(), L(`AUTH PLAIN ${plain('code1', 'x')}`), R(1, true), L(`AUTH PLAIN ${plain('nowait', 'x')}`), R(), { closed: true }],
  },
  {
    name: 'pipelined failing AUTH + MAIL (535 after the wait, then nginx\'s own 250), pipelined good AUTH + MAIL (nginx-tests 20-21)',
    server: 'smtp',
    steps: [
      R(),
      { send: `AUTH PLAIN ${plain(USER, 'bad')}\r\nMAIL FROM:<sender@client.example>\r\n` },
      R(2, true),
      L('RSET'),
      R(),
      { send: `AUTH PLAIN ${plain(USER, PASS)}\r\nMAIL FROM:<sender@client.example>\r\n` },
      R(2),
      L('QUIT'),
      R(),
      { closed: true },
    ],
  },
  {
    name: 'smtp_auth none: Auth-SMTP-* headers, RCPT reply from Postfix, message delivered',
    server: 'smtp',
    steps: [R(), L('EHLO mta.client.example'), R(), L('MAIL FROM:<sender@client.example> SIZE=100'), R(), L('MAIL FROM:<again@client.example>'), R(), L('RCPT TO:<rcpt@example.com>'), R(), L('RCPT TO:<second@example.com>'), R(), L('DATA'), R(), { send: MESSAGE }, R(), L('QUIT'), R(), { closed: true }],
  },
  {
    name: 'smtp_auth none: the auth service refuses the recipient with Auth-Error-Code 550',
    server: 'smtp',
    steps: [R(), L('MAIL FROM:<a@client.example>'), R(), L('RCPT TO:<x@elsewhere.test>'), R(), { closed: true }],
  },
  {
    name: 'smtp_auth none: "RCPT TO:" with an empty path is proxied (Postfix answers it), then RSET',
    server: 'smtp',
    steps: [R(), L('MAIL FROM:<a@client.example>'), R(), L('RCPT TO:'), R(), L('RCPT TO:<rcpt@example.com>'), R(), L('RSET'), R(), L('QUIT'), R(), { closed: true }],
  },
  {
    name: 'smtp_auth none pipelined: MAIL/RCPT/RSET in one write, and split across writes (nginx-tests 25-30)',
    server: 'smtp',
    steps: [R(), { send: 'MAIL FROM:<a@client.example>\r\nRCPT TO:<rcpt@example.com>\r\nRS' }, { sleep: 200 }, { send: 'ET\r\n' }, R(3), L('QUIT'), R(), { closed: true }],
  },
  {
    name: 'pipelining EHLO, AUTH, MAIL, RCPT, DATA, message and QUIT in one write',
    server: 'smtp',
    steps: [
      R(),
      {
        send:
          `EHLO pipe.client.example\r\nAUTH PLAIN ${plain(USER, PASS)}\r\nMAIL FROM:<sender@client.example>\r\nRCPT TO:<rcpt@example.com>\r\nDATA\r\n` +
          `${MESSAGE}QUIT\r\n`,
      },
      R(7),
      { closed: true },
    ],
  },
  {
    name: 'STARTTLS: pipelined MAIL is discarded, no new greeting, EHLO after TLS without STARTTLS, AUTH with Auth-SSL headers',
    server: 'starttls',
    steps: [
      R(),
      L('EHLO before.tls'),
      R(),
      { send: 'STARTTLS\r\nMAIL FROM:<injected@evil.example>\r\n' },
      R(),
      { starttls: true },
      L('RCPT TO:<rcpt@example.com>'),
      R(),
      L('EHLO after.tls'),
      R(),
      L('STARTTLS'),
      R(),
      L(`AUTH PLAIN ${plain(USER, PASS)}`),
      R(),
      ...TRANSACTION,
    ],
  },
  {
    name: 'STARTTLS forgets HELO and the envelope: smtp_auth none after TLS has an empty Auth-SMTP-Helo',
    server: 'starttls',
    steps: [R(), L('EHLO before.tls'), R(), L('MAIL FROM:<a@client.example>'), R(), L('STARTTLS'), R(), { starttls: true }, L('MAIL FROM:<a@client.example>'), R(), L('RCPT TO:<rcpt@example.com>'), R(), L('QUIT'), R(), { closed: true }],
  },
  {
    name: 'starttls only: EHLO without AUTH, AUTH refused, MAIL/RCPT (none) still proxied in plaintext (quirk 9)',
    server: 'only',
    steps: [R(), L('EHLO client.example'), R(), L(`AUTH PLAIN ${plain(USER, PASS)}`), R(), L('AUTH LOGIN'), R(), L('MAIL FROM:<a@client.example>'), R(), L('RCPT TO:<rcpt@example.com>'), R(), L('QUIT'), R(), { closed: true }],
  },
  {
    name: 'starttls only: after STARTTLS the EHLO lists AUTH and AUTH LOGIN works',
    server: 'only',
    steps: [R(), L('STARTTLS'), R(), { starttls: true }, L('EHLO client.example'), R(), L('AUTH LOGIN'), R(), L(b64(USER)), R(), L(b64(PASS)), R(), ...TRANSACTION],
  },
  {
    name: 'implicit TLS: greeting after the handshake, STARTTLS refused, AUTH PLAIN, transaction',
    server: 'smtps',
    steps: [R(), L('EHLO client.example'), R(), L('STARTTLS'), R(), L(`AUTH PLAIN ${plain(USER, PASS)}`), R(), ...TRANSACTION],
  },
  {
    name: 'smtp_greeting_delay: a client that talks first gets 503 and a close',
    server: 'delay',
    steps: [L('EHLO early.client.example'), R(), { closed: true }],
  },
  {
    name: 'smtp_greeting_delay: a patient client gets the greeting after the delay',
    server: 'delay',
    steps: [R(1, true), L('EHLO client.example'), R(), L('QUIT'), R(), { closed: true }],
  },
  {
    name: 'smtp_client_buffer 128: MAIL + 4 RCPT + RSET in one write (>128 bytes) get six replies (nginx-tests 31-36)',
    server: 'small',
    steps: [
      R(),
      {
        send:
          'MAIL FROM:<sender@client.example>\r\nRCPT TO:<rcpt1@example.com>\r\nRCPT TO:<rcpt2@example.com>\r\n' +
          'RCPT TO:<rcpt3@example.com>\r\nRCPT TO:<rcpt4@example.com>\r\nRSET\r\n',
      },
      R(6),
      L('QUIT'),
      R(),
      { closed: true },
    ],
  },
  {
    name: 'smtp_client_buffer 128: an overlong line gets 500 and a close',
    server: 'small',
    steps: [R(), L(`MAIL FROM:<${'x'.repeat(140)}@client.example>`), R(), { closed: true }],
  },
  {
    name: 'max_errors 3: VRFY and bad arguments are not counted, DATA/FOO/BDAT are',
    server: 'small',
    steps: [R(), L('DATA'), R(), L('VRFY x'), R(), L('HELO'), R(), L('FOO'), R(), L('BDAT 10'), R(), { closed: true }],
  },
  {
    name: 'bare LF, CR inside a command, leading space, lower case, empty line, split verbs (nginx-tests 39-41)',
    server: 'smtp',
    steps: [
      R(),
      { send: 'ehlo lf.client.example\n' },
      R(),
      { send: 'NO\rOP\r\n' },
      R(),
      L(' NOOP'),
      R(),
      L(''),
      R(),
      { send: 'HEL' },
      { sleep: 100 },
      { send: 'O example.com\r\n' },
      R(),
      { send: 'FOO B' },
      { sleep: 100 },
      { send: 'AR\r\n' },
      R(),
      { send: 'noop\n' },
      R(),
    ],
  },
  {
    name: '8-bit bytes in commands: HELO, MAIL and RCPT (none) carry them raw to the auth service',
    server: 'smtp',
    steps: [R(), L('EHLO caf\xe9.client.example'), R(), L('MAIL FROM:<j\xfcrgen@client.example>'), R(), L('RCPT TO:<\xff\xfe@example.com>'), R(), L('QUIT'), R(), { closed: true }],
  },
  {
    name: 'binary garbage with NUL bytes: invalid commands until max_errors (5)',
    server: 'smtp',
    steps: [R(), { send: '\x00\x00\r\n\xff\xfe\x80 N\x00OP\r\nq\x00 \x7f\r\n\x16\x03\x01\x02\x00\r\n\x01\r\n' }, R(5), { closed: true }],
  },
  {
    name: 'proxy_smtp_auth: EHLO + AUTH PLAIN, AUTH PLAIN to Postfix, transaction',
    server: 'proxyAuth',
    steps: [R(), L('EHLO client.example'), R(), L(`AUTH PLAIN ${plain(USER, PASS)}`), R(), ...TRANSACTION],
  },
  {
    name: 'proxy_smtp_auth: EXTERNAL without Auth-Pass gives 451 (nginx-tests 13.11 6-7)',
    server: 'proxyAuth',
    steps: [R(), L('AUTH EXTERNAL'), R(), L(b64('nopass')), R(), { closed: true }],
  },
  {
    name: 'xclient off, HELO: AUTH, then MAIL answered by Postfix',
    server: 'noXclient',
    steps: [R(), L('HELO old.client.example'), R(), L(`AUTH PLAIN ${plain(USER, PASS)}`), R(), ...TRANSACTION],
  },
  {
    name: 'a login with space, "+" and "=": nginx 1.22 puts it raw into XCLIENT (Postfix refuses: 451), Postern xtext-encodes it (235)',
    server: 'smtp',
    steps: [R(), L(`AUTH PLAIN ${plain('te st+x=y@example.com', PASS)}`), R()],
    differs: [{ index: 2, nginx: 'S: 451 4.3.2 Internal server error', postern: 'S: 235 2.0.0 OK' }],
  },
  {
    name: 'a login that needs no xtext: the same XCLIENT from both',
    server: 'smtp',
    steps: [R(), L(`AUTH PLAIN ${plain(USER, PASS)}`), R(), L('QUIT'), R(), { closed: true }],
  },
  {
    name: 'a backend that closes mid-dialogue (after EHLO): 451 and close',
    server: 'smtp',
    steps: [R(), L(`AUTH PLAIN ${plain('closer', 'x')}`), R(), { closed: true }],
  },
  {
    name: 'a backend that refuses with 554: 451 (off) / its line (proxy_pass_error_message on)',
    server: 'passError',
    steps: [R(), L(`AUTH PLAIN ${plain('refuser', 'x')}`), R(), { closed: true }],
  },
  {
    name: 'a backend that refuses with 554, proxy_pass_error_message off: 451',
    server: 'smtp',
    steps: [R(), L(`AUTH PLAIN ${plain('refuser', 'x')}`), R(), { closed: true }],
  },
  {
    name: 'auth service without server/port: 451; hangs: 451 after auth_http_timeout',
    server: 'smtp',
    steps: [R(), L(`AUTH PLAIN ${plain('noserver', 'x')}`), R(), { closed: true }],
  },
];

/** Plays one scenario; returns the raw transcript. */
async function play(sc: Scenario, port: number): Promise<string[]> {
  const t: string[] = [];
  let salt = '';
  let c: LineClient;
  try {
    c = await connect(port, IMPLICIT.has(sc.server) ? { tls: true } : {});
  } catch (err) {
    return [`!: connect failed: ${(err as Error).message}`];
  }
  if (IMPLICIT.has(sc.server)) t.push('*: TLS established');
  const expand = (s: string) =>
    s.replace(/\{\{cram:([^:]*):([^}]*)\}\}/g, (_m, user: string, pass: string) =>
      b64(`${user} ${createHmac('md5', Buffer.from(pass, 'latin1')).update(Buffer.from(salt, 'latin1')).digest('hex')}`),
    );
  const readReply = async () => {
    for (;;) {
      const raw = await c.readRawLine(4000);
      const line = raw.replace(/\r?\n$/, '');
      t.push(`S: ${esc(line)}${raw.endsWith('\r\n') ? '' : raw.endsWith('\n') ? '<LF>' : '<noeol>'}`);
      const challenge = /^334 ([A-Za-z0-9+/=]+)$/.exec(line);
      if (challenge) salt = Buffer.from(challenge[1]!, 'base64').toString('latin1');
      if (line.length < 4 || line[3] !== '-') return;
    }
  };
  try {
    for (const step of sc.steps) {
      if ('send' in step) {
        for (const l of step.send.split(/(?<=\n)/)) t.push(`C: ${esc(l)}`);
        await c.send(expand(step.send));
      } else if ('reply' in step) {
        const t0 = Date.now();
        for (let i = 0; i < step.reply; i++) await readReply();
        if (step.timed) t.push(`T: ${Date.now() - t0 >= 800 ? 'delayed' : 'immediate'}`);
      } else if ('starttls' in step) {
        await c.startTls({ servername: 'mx.test' });
        t.push('*: TLS established');
      } else if ('closed' in step) {
        const rest = await c.expectClosed(4000);
        if (rest) t.push(`U: ${esc(rest)}`);
        t.push('*: closed by server');
      } else {
        await sleep(step.sleep);
      }
    }
    await sleep(100);
    if (c.pending()) t.push(`U: ${esc(c.pending())}`);
  } catch (err) {
    t.push(`!: ${(err as Error).message.replace(/pending .*/, '').slice(0, 120)}`);
  } finally {
    c.close();
  }
  return t;
}

const NORMALIZE: NormalizeOptions = {
  extra: [[/queued as [0-9A-F]+/g, 'queued as <QID>']],
};

interface Side {
  name: 'nginx' | 'postern';
  ports: Record<Server, number>;
  auth: AuthServer;
}

describe('SMTP differential: nginx 1.22.1 and Postern with the same mail block, Postfix behind both', () => {
  let cert: CertFiles | undefined;
  let saslDir: string | undefined;
  let ng: NginxHandle | undefined;
  let proxy: RunningProxy | undefined;
  let pf: PostfixHandle | undefined;
  const closers: Array<() => Promise<unknown>> = [];
  const sides: Partial<Record<Side['name'], Side>> = {};

  beforeAll(async () => {
    cert = await generateCert();
    saslDir = await makeTempDir('sasl');
    const socket = `${saslDir}/auth`;
    const dc = await startDovecot({
      users: [{ user: USER, password: PASS }],
      messages: [],
      extraConfig: `service auth {\n  unix_listener ${socket} {\n    mode = 0666\n  }\n}\n`,
    });
    closers.push(() => dc.close());
    pf = await startPostfix({ sasl: { dovecotSocket: socket } });
    const postfix = pf;
    closers.push(() => postfix.close());
    const fake = async (onConnect: (s: net.Socket) => void): Promise<number> => {
      const server = net.createServer((s) => {
        s.on('error', () => undefined);
        onConnect(s);
      });
      closers.push(() => new Promise<void>((resolve) => server.close(() => resolve())));
      return new Promise<number>((resolve) => server.listen(0, '127.0.0.1', () => resolve((server.address() as net.AddressInfo).port)));
    };
    const closerPort = await fake((s) => {
      s.write('220 fake ESMTP\r\n');
      s.once('data', () => s.destroy());
    });
    const refuserPort = await fake((s) => {
      s.end('554 5.7.1 go away\r\n');
    });
    const users = { [USER]: PASS, 'te st+x=y@example.com': PASS };
    const backend = (port: number) => ({ 'Auth-Status': 'OK', 'Auth-Server': '127.0.0.1', 'Auth-Port': String(port) });
    const handler: AuthHandler = (req) => {
      const user = unescapeAuthValue(req.headers['auth-user'] ?? '');
      switch (user) {
        case 'code1':
          return { headers: { 'Auth-Status': 'Temporary server problem, try again later', 'Auth-Error-Code': '451 4.3.0', 'Auth-Wait': '1' } };
        case 'nowait':
          return { headers: { 'Auth-Status': 'Invalid login or password' } };
        case 'closer':
          return { headers: backend(closerPort) };
        case 'refuser':
          return { headers: backend(refuserPort) };
        case 'nopass':
          return { headers: backend(postfix.port) };
        case 'noserver':
          return { headers: { 'Auth-Status': 'OK' } };
      }
      if (req.headers['auth-method'] === 'none' && /elsewhere/.test(req.headers['auth-smtp-to'] ?? '')) {
        return { headers: { 'Auth-Status': 'Recipient refused', 'Auth-Error-Code': '550 5.7.1' } };
      }
      return defaultAuthHandler({ users, backends: { smtp: postfix.port }, host: '127.0.0.1' })(req);
    };
    const [authN, authP] = await Promise.all([startAuthServer({ handler }), startAuthServer({ handler })]);
    closers.push(
      () => authN.close(),
      () => authP.close(),
    );
    const ports = await freePorts(SERVERS.length * 2);
    const portsOf = (list: number[]) => Object.fromEntries(SERVERS.map((k, i) => [k, list[i]!])) as Record<Server, number>;
    const n: Side = { name: 'nginx', ports: portsOf(ports.slice(0, SERVERS.length)), auth: authN };
    const p: Side = { name: 'postern', ports: portsOf(ports.slice(SERVERS.length)), auth: authP };
    const block = (s: Side) =>
      MAIL_BLOCK.replace(/\{\{(\w+)\}\}/g, (_m, key: string) => {
        if (key === 'auth') return s.auth.url;
        if (key === 'cert') return cert!.certPath;
        if (key === 'key') return cert!.keyPath;
        return String(s.ports[key as Server]);
      });
    ng = await startNginx({ mailBlock: block(n) });
    proxy = await startProxy(parseConfigText(block(p), 'smtp-differential.conf'), { logger: silentLogger() });
    sides.nginx = n;
    sides.postern = p;
  });

  afterAll(async () => {
    const results = await Promise.allSettled([proxy?.close(), ng?.close(), ...closers.map((c) => c())]);
    if (cert) await removeDir(cert.dir);
    if (saslDir) await removeDir(saslDir);
    for (const r of results) if (r.status === 'rejected') throw r.reason;
  });

  for (const sc of scenarios) {
    it(sc.name, async () => {
      const n = sides.nginx!;
      const p = sides.postern!;
      const startN = n.auth.requests.length;
      const startP = p.auth.requests.length;
      const [tn, tp] = await Promise.all([play(sc, n.ports[sc.server]), play(sc, p.ports[sc.server])]);
      const an = authLines(n.auth.requests.slice(startN));
      const ap = authLines(p.auth.requests.slice(startP));
      const clientDiffs = diffLines(tn, tp, NORMALIZE);
      if (sc.differs) {
        expect(clientDiffs.map((d) => ({ index: d.index, nginx: d.left, postern: d.right }))).toEqual(sc.differs);
        expect(diffLines(an, ap, NORMALIZE)).toEqual([]);
        return;
      }
      const authDiffs = diffLines(an, ap, NORMALIZE);
      if (clientDiffs.length > 0 || authDiffs.length > 0) {
        expect.fail(
          `Postern differs from nginx in "${sc.name}"\n` +
            (clientDiffs.length > 0 ? `=== client transcript diff ===\n${formatDiff(clientDiffs)}\n` : '') +
            (authDiffs.length > 0 ? `=== auth request diff ===\n${formatDiff(authDiffs)}\n` : '') +
            `--- nginx ---\n${[...tn, ...an].join('\n')}\n--- postern ---\n${[...tp, ...ap].join('\n')}`,
        );
      }
      // A transcript that ended in an error on both sides is still a broken scenario.
      expect(tn.filter((l) => l.startsWith('!:')), tn.join('\n')).toEqual([]);
    });
  }
});
