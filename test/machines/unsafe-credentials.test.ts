/**
 * Credentials that would rewrite the backend's login commands are refused before the auth
 * service is asked (issue 10, item 8; beyond nginx 1.22.1, see docs/nginx-migration.md):
 * POP3 writes login and password raw into USER/PASS lines (CR, LF, NUL refused), SMTP with
 * `proxy_smtp_auth` splits AUTH PLAIN's fields at NUL (NUL in the login refused), IMAP's
 * literals carry anything. The client gets nginx's invalid-login answer, the invalid-command
 * line, and starts over; nothing secret reaches the log effect.
 */
import { describe, expect, it } from 'vitest';
import type { ConnectionEffect, ConnectionEvent, ConnectionInput } from '../../machines/types.js';
import { CLIENT_PASSWORD, Harness, PASSWORD_CHALLENGE, USERNAME_CHALLENGE, TRANSPORTS, connect, login, ok, pw, reply, requests, settings } from './helpers.js';

const INJECTED = 'crlfuser\r\nDELE 1';
const POP3_INVALID = reply('-ERR invalid command\r\n');
const SMTP_INVALID = reply('500 5.5.1 Invalid command\r\n');

const refusedLog = (what: string): ConnectionEffect => ({ type: 'log', level: 'info', message: `client sent ${what}` });

/** How a POP3 client completes its credentials: the events, with the last one completing them. */
const POP3_PATHS: Array<{ name: string; events: (user: string, password: string) => ConnectionEvent[] }> = [
  { name: 'USER/PASS', events: (user, password) => [{ type: 'cmd.user', user }, { type: 'cmd.pass', password: pw(password) }] },
  { name: 'APOP', events: (user) => [{ type: 'cmd.apop', user, digest: pw('0123456789abcdef0123456789abcdef') }] },
  {
    name: 'AUTH PLAIN with an initial response',
    events: (user, password) => [{ type: 'cmd.authenticate', mechanism: 'PLAIN', initial: { valid: true, user, password: pw(password) } }],
  },
  {
    name: 'AUTH PLAIN, then the response',
    events: (user, password) => [{ type: 'cmd.authenticate', mechanism: 'PLAIN' }, { type: 'sasl.response', user, password: pw(password) }],
  },
  {
    name: 'AUTH LOGIN, user name, password',
    events: (user, password) => [{ type: 'cmd.authenticate', mechanism: 'LOGIN' }, { type: 'sasl.response', user }, { type: 'sasl.response', password: pw(password) }],
  },
  {
    name: 'AUTH LOGIN with the user name, then the password',
    events: (user, password) => [
      { type: 'cmd.authenticate', mechanism: 'LOGIN', initial: { valid: true, user } },
      { type: 'sasl.response', password: pw(password) },
    ],
  },
  {
    name: 'AUTH CRAM-MD5',
    events: (user) => [{ type: 'cmd.authenticate', mechanism: 'CRAM-MD5' }, { type: 'sasl.response', user, password: pw('0123456789abcdef0123456789abcdef') }],
  },
  { name: 'AUTH EXTERNAL with an initial response', events: (user) => [{ type: 'cmd.authenticate', mechanism: 'EXTERNAL', initial: { valid: true, user } }] },
  { name: 'AUTH EXTERNAL, then the user name', events: (user) => [{ type: 'cmd.authenticate', mechanism: 'EXTERNAL' }, { type: 'sasl.response', user }] },
];

/** Plays `events`; returns the effects of the last one (the one that completes the credentials). */
function complete(h: Harness, events: ConnectionEvent[]): ConnectionEffect[] {
  let last: ConnectionEffect[] = [];
  for (const event of events) last = h.send(event);
  return last;
}

describe('POP3: CR, LF or NUL in the login is refused before the auth service is asked', () => {
  for (const transport of [TRANSPORTS[0]!, TRANSPORTS[5]!]) {
    const phase = transport.implicitTls ? 'secure' : 'plaintext';
    it.each(POP3_PATHS)(`${transport.name}: $name`, ({ events }) => {
      for (const user of [INJECTED, 'crlfuser\nDELE 1', 'crlfuser\rDELE 1', 'alice\0bob']) {
        const h = connect('pop3', transport);
        expect(complete(h, events(user, CLIENT_PASSWORD))).toEqual([refusedLog('login with CR, LF or NUL'), POP3_INVALID]);
        expect(requests(h.effects)).toEqual([]);
        expect(h.state).toBe(`preauth.${phase}.idle`);
        expect(h.snapshot.context.attempt).toBe(0);
        expect(h.snapshot.context.pendingUser).toBeNull();
      }
    });
  }

  it('the client may start over: a clean login then reaches the auth service as attempt 1', () => {
    const h = connect('pop3', TRANSPORTS[0]!);
    expect(login(h, INJECTED)).toEqual([refusedLog('login with CR, LF or NUL'), POP3_INVALID]);
    // POP3 starts over with USER: PASS alone is out of sequence.
    expect(h.send({ type: 'cmd.pass', password: pw() })).toEqual([POP3_INVALID]);
    const [request] = requests(login(h, 'alice'));
    expect(request).toMatchObject({ user: 'alice', attempt: 1 });
  });

  it('the refusal leaves the preauth timeout where it was (nothing re-arms it)', () => {
    const h = connect('pop3', TRANSPORTS[0]!);
    h.tick(6_000);
    login(h, INJECTED);
    expect(h.tick(4_000)).toEqual([{ type: 'close', reason: 'client timed out' }]);
  });
});

describe('POP3: CR, LF or NUL in the password is refused the same way', () => {
  const passwordPaths = POP3_PATHS.filter((path) => ['USER/PASS', 'AUTH PLAIN with an initial response', 'AUTH PLAIN, then the response', 'AUTH LOGIN, user name, password'].includes(path.name));
  it.each(passwordPaths)('$name', ({ events }) => {
    for (const password of ['pw\r\nDELE 1', 'pw\nDELE 1', 'pw\0x']) {
      const h = connect('pop3', TRANSPORTS[0]!);
      expect(complete(h, events('alice', password))).toEqual([refusedLog('password with CR, LF or NUL'), POP3_INVALID]);
      expect(requests(h.effects)).toEqual([]);
    }
  });

  it('the log effect names the field, never the value', () => {
    const h = connect('pop3', TRANSPORTS[0]!);
    complete(h, POP3_PATHS[0]!.events('alice', `${CLIENT_PASSWORD}\r\nDELE 1`));
    const logged = JSON.stringify(h.effects);
    expect(logged).not.toContain(CLIENT_PASSWORD);
    expect(logged).not.toContain('DELE');
  });

  it('other bytes pass: spaces, tabs, 8-bit (the auth service judges them)', () => {
    for (const [user, password] of [['al ice', 'p w'], ['al\tice', 'p\x7fw'], ['caf\xe9', '\xff\x01']] as const) {
      const h = connect('pop3', TRANSPORTS[0]!);
      const [request] = requests(login(h, user, password));
      expect(request?.user).toBe(user);
      expect(request?.password.reveal()).toBe(password);
    }
  });
});

describe('IMAP: literals carry any byte, nothing is refused', () => {
  it.each([
    ['LOGIN', { type: 'cmd.login', tag: 'a1', user: INJECTED, password: pw('pw\r\n\0') }],
    ['AUTHENTICATE PLAIN', { type: 'cmd.authenticate', tag: 'a1', mechanism: 'PLAIN', initial: { valid: true, user: INJECTED, password: pw('pw\0') } }],
  ] as const)('%s', (_, event) => {
    const h = connect('imap', TRANSPORTS[0]!);
    expect(requests(h.send(event as ConnectionEvent))).toMatchObject([{ user: INJECTED, attempt: 1 }]);
  });
});

describe('SMTP: NUL in the login is refused when proxy_smtp_auth writes it into AUTH PLAIN', () => {
  const smtp = (overrides: Partial<ConnectionInput>) => {
    const h = new Harness({ ...settings('pop3'), protocol: 'smtp', authMethods: ['plain', 'login', 'cram-md5', 'external'], capabilities: [], ...overrides });
    h.take();
    return h;
  };
  const authLogin = (h: Harness, user: string, password: string) => {
    expect(h.send({ type: 'cmd.authenticate', mechanism: 'LOGIN' })).toEqual([reply(`334 ${USERNAME_CHALLENGE.slice(2)}`)]);
    expect(h.send({ type: 'sasl.response', user })).toEqual([reply(`334 ${PASSWORD_CHALLENGE.slice(2)}`)]);
    return h.send({ type: 'sasl.response', password: pw(password) });
  };

  it('proxy_smtp_auth on: AUTH LOGIN, EXTERNAL and CRAM-MD5 with a NUL in the user name', () => {
    expect(authLogin(smtp({ proxySmtpAuth: true }), 'alice\0bob', 'pw')).toEqual([refusedLog('login with NUL'), SMTP_INVALID]);
    const external = smtp({ proxySmtpAuth: true });
    expect(external.send({ type: 'cmd.authenticate', mechanism: 'EXTERNAL', initial: { valid: true, user: 'alice\0bob' } })).toEqual([
      refusedLog('login with NUL'),
      SMTP_INVALID,
    ]);
    const cram = smtp({ proxySmtpAuth: true });
    cram.send({ type: 'cmd.authenticate', mechanism: 'CRAM-MD5' });
    expect(cram.send({ type: 'sasl.response', user: 'alice\0bob', password: pw('0123456789abcdef0123456789abcdef') })).toEqual([
      refusedLog('login with NUL'),
      SMTP_INVALID,
    ]);
    for (const h of [external, cram]) expect(requests(h.effects)).toEqual([]);
  });

  it('proxy_smtp_auth on: CR and LF pass (base64), as does NUL in the password (the last field)', () => {
    expect(requests(authLogin(smtp({ proxySmtpAuth: true }), INJECTED, 'pw\0x'))).toMatchObject([{ user: INJECTED, attempt: 1 }]);
  });

  it('proxy_smtp_auth off: XCLIENT LOGIN= is xtext, nothing is refused', () => {
    expect(requests(authLogin(smtp({ proxySmtpAuth: false, xclient: true }), 'alice\0bob\r\n', 'pw'))).toMatchObject([{ user: 'alice\0bob\r\n' }]);
  });

  it('AUTH PLAIN cannot carry a NUL in the login (it is the separator): the request goes out', () => {
    const h = smtp({ proxySmtpAuth: true });
    expect(h.send({ type: 'cmd.authenticate', mechanism: 'PLAIN' })).toEqual([reply('334 \r\n')]);
    expect(requests(h.send({ type: 'sasl.response', user: 'alice', password: pw('pw') }))).toHaveLength(1);
    expect(h.send(ok())).toEqual([{ type: 'connectBackend', target: expect.objectContaining({ user: 'alice' }) }]);
  });
});
