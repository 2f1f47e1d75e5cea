/**
 * POP3 dialogue of the connection machine (nginx 1.22.1's mail module (src/mail/)).
 */
import { describe, expect, it } from 'vitest';
import { saslTag } from '../../machines/connection.js';
import {
  CLIENT_IP,
  CLIENT_PASSWORD,
  DIGEST,
  Harness,
  PASSWORD_CHALLENGE,
  SALT,
  SALT_B64,
  TLS,
  TRANSPORTS,
  USERNAME_CHALLENGE,
  connect,
  onTls,
  phaseOf,
  pw,
  reply,
  requests,
  revealRequest,
  settings,
} from './helpers.js';

const INVALID = reply('-ERR invalid command\r\n');
const OK = reply('+OK\r\n');

const CAPA_DEFAULT = '+OK Capability list follows\r\nTOP\r\nUSER\r\nUIDL\r\nSASL PLAIN LOGIN CRAM-MD5 EXTERNAL\r\n.\r\n';
const CAPA_STLS = '+OK Capability list follows\r\nTOP\r\nUSER\r\nUIDL\r\nSASL PLAIN LOGIN CRAM-MD5 EXTERNAL\r\nSTLS\r\n.\r\n';
const CAPA_ONLY = '+OK Capability list follows\r\nTOP\r\nUIDL\r\nSTLS\r\n.\r\n';
const AUTH_LIST = '+OK methods supported:\r\nPLAIN\r\nLOGIN\r\nCRAM-MD5\r\nEXTERNAL\r\n.\r\n';

describe('POP3 greeting (§4.1, §10.1)', () => {
  it('plaintext greets at once, with the salt when apop/cram-md5 is enabled', () => {
    const h = new Harness(settings('pop3'));
    expect(h.take()).toEqual([reply(`+OK POP3 ready ${SALT}\r\n`)]);
    expect(h.state).toBe('preauth.plaintext.idle');
    expect(h.readsInput).toBe(true);
  });

  it.each([[['plain']], [['plain', 'external']]])('no salt with pop3_auth %j', (authMethods) => {
    const h = new Harness(settings('pop3', { authMethods }));
    expect(h.take()).toEqual([reply('+OK POP3 ready\r\n')]);
  });

  it.each([[['plain', 'apop']], [['plain', 'cram-md5']]])('salt with pop3_auth %j', (authMethods) => {
    const h = new Harness(settings('pop3', { authMethods }));
    expect(h.take()).toEqual([reply(`+OK POP3 ready ${SALT}\r\n`)]);
  });

  it.each(['off', 'on', 'only'] as const)('implicit TLS (starttls %s) waits for the handshake, then greets', (starttls) => {
    const h = new Harness(settings('pop3', { implicitTls: true, starttls }));
    expect(h.take()).toEqual([]);
    expect(h.state).toBe('preauth.upgrading.greeting');
    expect(h.readsInput).toBe(false);
    expect(h.send({ type: 'tls.established', tls: TLS })).toEqual([reply(`+OK POP3 ready ${SALT}\r\n`)]);
    expect(h.state).toBe('preauth.secure.idle');
    expect(h.snapshot.context.tls).toEqual(TLS);
  });

  it('implicit TLS handshake failure closes without a protocol message', () => {
    const h = new Harness(settings('pop3', { implicitTls: true }));
    const effects = h.send({ type: 'tls.failed', reason: 'SSL handshake failed: wrong version number' });
    expect(effects).toEqual([{ type: 'close', reason: 'SSL handshake failed: wrong version number' }]);
    expect(h.done).toBe(true);
  });
});

describe('POP3 STLS (§3.5, §4.2)', () => {
  it('starttls off: STLS is refused, not counted', () => {
    const h = connect('pop3', TRANSPORTS[0]!);
    expect(h.send({ type: 'cmd.starttls' })).toEqual([INVALID]);
    expect(h.state).toBe('preauth.plaintext.idle');
    expect(h.snapshot.context.errors).toBe(0);
  });

  it.each(['on', 'only'] as const)('starttls %s: +OK, then startTls, then upgrading → secure on tls.established (no new greeting)', (starttls) => {
    const h = new Harness(settings('pop3', { starttls }));
    h.take();
    expect(h.send({ type: 'cmd.starttls' })).toEqual([OK, { type: 'startTls' }]);
    expect(h.state).toBe('preauth.upgrading.handshake');
    expect(h.readsInput).toBe(false);
    expect(h.send({ type: 'tls.established', tls: TLS })).toEqual([]);
    expect(h.state).toBe('preauth.secure.idle');
    expect(h.snapshot.context.tls).toEqual(TLS);
    // Already on TLS: refused.
    expect(h.send({ type: 'cmd.starttls' })).toEqual([INVALID]);
    expect(h.state).toBe('preauth.secure.idle');
    expect(h.snapshot.context.errors).toBe(0);
  });

  it('a failed STLS handshake closes without a protocol message', () => {
    const h = new Harness(settings('pop3', { starttls: 'on' }));
    h.send({ type: 'cmd.starttls' });
    expect(h.send({ type: 'tls.failed', reason: 'SSL handshake failed' })).toEqual([{ type: 'close', reason: 'SSL handshake failed' }]);
    expect(h.done).toBe(true);
  });

  it.each(['off', 'on', 'only'] as const)('implicit TLS (starttls %s): STLS refused', (starttls) => {
    const h = connect('pop3', { name: '', starttls, implicitTls: true, upgrade: false });
    expect(h.send({ type: 'cmd.starttls' })).toEqual([INVALID]);
    expect(h.state).toBe('preauth.secure.idle');
  });
});

describe('POP3 CAPA and AUTH lists (§4.4, §4.5, §17)', () => {
  const capaCases: Array<[string, (typeof TRANSPORTS)[number], string]> = TRANSPORTS.map((t) => [
    t.name,
    t,
    onTls(t) || t.starttls === 'off' ? CAPA_DEFAULT : t.starttls === 'on' ? CAPA_STLS : CAPA_ONLY,
  ]);

  it.each(capaCases)('CAPA, %s', (_name, transport, expected) => {
    const h = connect('pop3', transport);
    expect(h.send({ type: 'cmd.capability' })).toEqual([reply(expected)]);
  });

  it('default pop3_auth plain: SASL PLAIN LOGIN', () => {
    const h = new Harness(settings('pop3', { authMethods: ['plain'] }));
    h.take();
    expect(h.send({ type: 'cmd.capability' })).toEqual([
      reply('+OK Capability list follows\r\nTOP\r\nUSER\r\nUIDL\r\nSASL PLAIN LOGIN\r\n.\r\n'),
    ]);
    expect(h.send({ type: 'cmd.authList' })).toEqual([reply('+OK methods supported:\r\nPLAIN\r\nLOGIN\r\n.\r\n')]);
  });

  it('no SASL mechanism enabled: a bare SASL line (quirk)', () => {
    const h = new Harness(settings('pop3', { authMethods: ['apop'] }));
    h.take();
    expect(h.send({ type: 'cmd.capability' })).toEqual([reply('+OK Capability list follows\r\nTOP\r\nUSER\r\nUIDL\r\nSASL\r\n.\r\n')]);
  });

  it('starttls only drops USER case-insensitively', () => {
    const h = new Harness(settings('pop3', { starttls: 'only', capabilities: ['TOP', 'user', 'UIDL'] }));
    h.take();
    expect(h.send({ type: 'cmd.capability' })).toEqual([reply(CAPA_ONLY)]);
  });

  it.each(TRANSPORTS.map((t) => [t.name, t] as const))('bare AUTH, %s', (_name, transport) => {
    const h = connect('pop3', transport);
    const refused = transport.starttls === 'only' && !onTls(transport);
    expect(h.send({ type: 'cmd.authList' })).toEqual([refused ? INVALID : reply(AUTH_LIST)]);
    expect(h.snapshot.context.errors).toBe(0);
  });
});

describe('POP3 NOOP / QUIT', () => {
  it('NOOP → +OK; QUIT → +OK and close', () => {
    const h = connect('pop3', TRANSPORTS[0]!);
    expect(h.send({ type: 'cmd.noop' })).toEqual([OK]);
    expect(h.send({ type: 'cmd.quit' })).toEqual([OK, { type: 'close', reason: expect.any(String) }]);
    expect(h.done).toBe(true);
  });
});

describe('POP3 USER / PASS (§4.2)', () => {
  it.each(TRANSPORTS.filter((t) => t.starttls !== 'only' || onTls(t)).map((t) => [t.name, t] as const))(
    'USER → +OK (state user), PASS → authenticate, %s',
    (_name, transport) => {
      const h = connect('pop3', transport);
      expect(h.send({ type: 'cmd.user', user: 'a b c' })).toEqual([OK]);
      expect(h.state).toBe(`preauth.${phaseOf(transport)}.user`);
      const effects = h.send({ type: 'cmd.pass', password: pw() });
      expect(effects.map(revealRequest)).toEqual([
        {
          method: 'plain',
          user: 'a b c',
          password: CLIENT_PASSWORD,
          protocol: 'pop3',
          attempt: 1,
          clientIp: CLIENT_IP,
          ...(onTls(transport) ? { tls: TLS } : {}),
        },
      ]);
      expect(h.state).toBe('authenticating');
      expect(h.readsInput).toBe(false);
    },
  );

  it('PASS before USER is refused, not counted', () => {
    const h = connect('pop3', TRANSPORTS[0]!);
    expect(h.send({ type: 'cmd.pass', password: pw() })).toEqual([INVALID]);
    expect(h.state).toBe('preauth.plaintext.idle');
    expect(h.snapshot.context.errors).toBe(0);
  });

  it.each(['off', 'on'] as const)('CAPA in state user: plain list without STLS, state kept (starttls %s)', (starttls) => {
    const h = connect('pop3', { name: '', starttls, implicitTls: false, upgrade: false });
    h.send({ type: 'cmd.user', user: 'alice' });
    expect(h.send({ type: 'cmd.capability' })).toEqual([reply(CAPA_DEFAULT)]);
    expect(h.state).toBe('preauth.plaintext.user');
    expect(requests(h.send({ type: 'cmd.pass', password: pw() }))).toHaveLength(1);
  });

  it('NOOP in state user keeps the state; PASS then completes', () => {
    const h = connect('pop3', TRANSPORTS[0]!);
    h.send({ type: 'cmd.user', user: 'alice' });
    expect(h.send({ type: 'cmd.noop' })).toEqual([OK]);
    expect(h.state).toBe('preauth.plaintext.user');
    expect(requests(h.send({ type: 'cmd.pass', password: pw() }))[0]?.user).toBe('alice');
  });

  it('QUIT in state user: +OK and close', () => {
    const h = connect('pop3', TRANSPORTS[0]!);
    h.send({ type: 'cmd.user', user: 'alice' });
    expect(h.send({ type: 'cmd.quit' })).toEqual([OK, { type: 'close', reason: expect.any(String) }]);
  });

  const others: Array<[string, Parameters<Harness['send']>[0], number]> = [
    ['USER', { type: 'cmd.user', user: 'bob' }, 0],
    ['STLS', { type: 'cmd.starttls' }, 0],
    ['AUTH', { type: 'cmd.authList' }, 0],
    ['AUTH PLAIN', { type: 'cmd.authenticate', mechanism: 'PLAIN' }, 0],
    ['APOP', { type: 'cmd.apop', user: 'bob', digest: pw(DIGEST) }, 0],
    ['USER (no argument)', { type: 'cmd.refused' }, 0],
    ['STAT (parse-level invalid)', { type: 'cmd.invalid' }, 1],
  ];
  it.each(others)('%s in state user → -ERR invalid command, back to start; PASS then refused', (_name, event, counted) => {
    const h = connect('pop3', { name: '', starttls: 'on', implicitTls: false, upgrade: false });
    h.send({ type: 'cmd.user', user: 'alice' });
    expect(h.send(event)).toEqual([INVALID]);
    expect(h.state).toBe('preauth.plaintext.idle');
    expect(h.snapshot.context.errors).toBe(counted);
    expect(h.send({ type: 'cmd.pass', password: pw() })).toEqual([INVALID]);
    expect(h.state).toBe('preauth.plaintext.idle');
    expect(h.effects.some((e) => e.type === 'authenticate' || e.type === 'startTls')).toBe(false);
  });

  it('§17 transcript: STAT / USER a b c / FOO / PASS x', () => {
    const h = connect('pop3', TRANSPORTS[0]!);
    expect(h.send({ type: 'cmd.starttls' })).toEqual([INVALID]);
    expect(h.send({ type: 'cmd.invalid' })).toEqual([INVALID]);
    expect(h.send({ type: 'cmd.user', user: 'a b c' })).toEqual([OK]);
    expect(h.send({ type: 'cmd.invalid' })).toEqual([INVALID]);
    expect(h.send({ type: 'cmd.pass', password: pw('x') })).toEqual([INVALID]);
    expect(h.snapshot.context.errors).toBe(2);
  });
});

describe('POP3 starttls only refusals (§4.2, §17)', () => {
  const refusals: Array<[string, Parameters<Harness['send']>[0]]> = [
    ['USER', { type: 'cmd.user', user: 'a' }],
    ['APOP', { type: 'cmd.apop', user: 'a', digest: pw(DIGEST) }],
    ['bare AUTH', { type: 'cmd.authList' }],
    ['AUTH PLAIN <initial>', { type: 'cmd.authenticate', mechanism: 'PLAIN', initial: { valid: true, user: 'a', password: pw() } }],
    ['AUTH PLAIN', { type: 'cmd.authenticate', mechanism: 'PLAIN' }],
    ['AUTH LOGIN', { type: 'cmd.authenticate', mechanism: 'LOGIN' }],
    ['AUTH CRAM-MD5', { type: 'cmd.authenticate', mechanism: 'CRAM-MD5' }],
    ['AUTH EXTERNAL', { type: 'cmd.authenticate', mechanism: 'EXTERNAL' }],
  ];
  it.each(refusals)('%s before TLS → -ERR invalid command, not counted, no auth request', (_name, event) => {
    const h = connect('pop3', TRANSPORTS[2]!);
    expect(h.send(event)).toEqual([INVALID]);
    expect(h.state).toBe('preauth.plaintext.idle');
    expect(h.snapshot.context.errors).toBe(0);
  });

  it('§17 transcript: CAPA / USER a / AUTH / NOOP / STLS / CAPA / USER+PASS', () => {
    const h = connect('pop3', TRANSPORTS[2]!);
    expect(h.send({ type: 'cmd.capability' })).toEqual([reply(CAPA_ONLY)]);
    expect(h.send({ type: 'cmd.user', user: 'a' })).toEqual([INVALID]);
    expect(h.send({ type: 'cmd.authList' })).toEqual([INVALID]);
    expect(h.send({ type: 'cmd.noop' })).toEqual([OK]);
    expect(h.send({ type: 'cmd.starttls' })).toEqual([OK, { type: 'startTls' }]);
    h.send({ type: 'tls.established', tls: TLS });
    expect(h.send({ type: 'cmd.capability' })).toEqual([reply(CAPA_DEFAULT)]);
    expect(h.send({ type: 'cmd.user', user: 'a' })).toEqual([OK]);
    const [request] = requests(h.send({ type: 'cmd.pass', password: pw() }));
    expect(request?.tls).toEqual(TLS);
  });
});

describe('POP3 APOP (§4.2, §7)', () => {
  it.each(TRANSPORTS.filter((t) => t.starttls !== 'only' || onTls(t)).map((t) => [t.name, t] as const))(
    'enabled: authenticate with method apop, the digest and the salt, %s',
    (_name, transport) => {
      const h = connect('pop3', transport);
      const effects = h.send({ type: 'cmd.apop', user: 'alice', digest: pw(DIGEST) });
      expect(effects.map(revealRequest)).toEqual([
        {
          method: 'apop',
          user: 'alice',
          password: DIGEST,
          salt: SALT,
          protocol: 'pop3',
          attempt: 1,
          clientIp: CLIENT_IP,
          ...(onTls(transport) ? { tls: TLS } : {}),
        },
      ]);
      expect(h.state).toBe('authenticating');
    },
  );

  it('disabled: refused, not counted', () => {
    const h = new Harness(settings('pop3', { authMethods: ['plain'] }));
    h.take();
    expect(h.send({ type: 'cmd.apop', user: 'alice', digest: pw(DIGEST) })).toEqual([INVALID]);
    expect(h.state).toBe('preauth.plaintext.idle');
    expect(h.snapshot.context.errors).toBe(0);
  });
});

describe('POP3 SASL (§4.6, §7)', () => {
  const base = (transport = TRANSPORTS[0]!) => connect('pop3', transport);

  it('AUTH PLAIN <initial> → authenticate plain', () => {
    const h = base();
    const effects = h.send({ type: 'cmd.authenticate', mechanism: 'PLAIN', initial: { valid: true, user: 'alice', password: pw() } });
    expect(effects.map(revealRequest)).toEqual([
      { method: 'plain', user: 'alice', password: CLIENT_PASSWORD, protocol: 'pop3', attempt: 1, clientIp: CLIENT_IP },
    ]);
  });

  it('AUTH PLAIN → "+ ", then the response → authenticate plain', () => {
    const h = base();
    expect(h.send({ type: 'cmd.authenticate', mechanism: 'PLAIN' })).toEqual([reply('+ \r\n')]);
    expect(h.state).toBe('preauth.plaintext.saslPlain');
    expect(h.hasTag(saslTag('plain'))).toBe(true);
    expect(h.readsInput).toBe(true);
    const effects = h.send({ type: 'sasl.response', user: 'alice', password: pw() });
    expect(effects.map(revealRequest)).toEqual([
      { method: 'plain', user: 'alice', password: CLIENT_PASSWORD, protocol: 'pop3', attempt: 1, clientIp: CLIENT_IP },
    ]);
  });

  it('AUTH PLAIN with an undecodable initial response → -ERR, not counted', () => {
    const h = base();
    expect(h.send({ type: 'cmd.authenticate', mechanism: 'PLAIN', initial: { valid: false } })).toEqual([INVALID]);
    expect(h.state).toBe('preauth.plaintext.idle');
    expect(h.snapshot.context.errors).toBe(0);
  });

  it('AUTH LOGIN → Username:, Password:, then authenticate plain', () => {
    const h = base();
    expect(h.send({ type: 'cmd.authenticate', mechanism: 'LOGIN' })).toEqual([reply(USERNAME_CHALLENGE)]);
    expect(h.hasTag(saslTag('loginUser'))).toBe(true);
    expect(h.send({ type: 'sasl.response', user: 'alice' })).toEqual([reply(PASSWORD_CHALLENGE)]);
    expect(h.hasTag(saslTag('loginPassword'))).toBe(true);
    const effects = h.send({ type: 'sasl.response', password: pw() });
    expect(effects.map(revealRequest)).toEqual([
      { method: 'plain', user: 'alice', password: CLIENT_PASSWORD, protocol: 'pop3', attempt: 1, clientIp: CLIENT_IP },
    ]);
  });

  it('AUTH LOGIN <user> → Password:, then authenticate plain', () => {
    const h = base();
    expect(h.send({ type: 'cmd.authenticate', mechanism: 'LOGIN', initial: { valid: true, user: 'alice' } })).toEqual([
      reply(PASSWORD_CHALLENGE),
    ]);
    expect(h.hasTag(saslTag('loginPassword'))).toBe(true);
    expect(requests(h.send({ type: 'sasl.response', password: pw() }))[0]?.user).toBe('alice');
  });

  it('AUTH CRAM-MD5 (enabled) → base64 salt, then authenticate cram-md5 with the salt', () => {
    const h = base();
    expect(h.send({ type: 'cmd.authenticate', mechanism: 'CRAM-MD5' })).toEqual([reply(`+ ${SALT_B64}\r\n`)]);
    expect(h.hasTag(saslTag('cram-md5'))).toBe(true);
    const effects = h.send({ type: 'sasl.response', user: 'alice', password: pw(DIGEST) });
    expect(effects.map(revealRequest)).toEqual([
      { method: 'cram-md5', user: 'alice', password: DIGEST, salt: SALT, protocol: 'pop3', attempt: 1, clientIp: CLIENT_IP },
    ]);
  });

  it('AUTH EXTERNAL (enabled) → Username:, then authenticate external with an empty password', () => {
    const h = base();
    expect(h.send({ type: 'cmd.authenticate', mechanism: 'EXTERNAL' })).toEqual([reply(USERNAME_CHALLENGE)]);
    expect(h.hasTag(saslTag('external'))).toBe(true);
    const effects = h.send({ type: 'sasl.response', user: 'alice' });
    expect(effects.map(revealRequest)).toEqual([
      { method: 'external', user: 'alice', password: '', protocol: 'pop3', attempt: 1, clientIp: CLIENT_IP },
    ]);
  });

  it('AUTH EXTERNAL <user> (enabled) → authenticate external', () => {
    const h = base();
    const effects = h.send({ type: 'cmd.authenticate', mechanism: 'EXTERNAL', initial: { valid: true, user: 'alice' } });
    expect(effects.map(revealRequest)).toEqual([
      { method: 'external', user: 'alice', password: '', protocol: 'pop3', attempt: 1, clientIp: CLIENT_IP },
    ]);
  });

  const refused: Array<[string, Parameters<Harness['send']>[0], readonly string[]]> = [
    ['CRAM-MD5 disabled', { type: 'cmd.authenticate', mechanism: 'CRAM-MD5' }, ['plain', 'apop']],
    ['EXTERNAL disabled', { type: 'cmd.authenticate', mechanism: 'EXTERNAL' }, ['plain']],
    ['EXTERNAL <user> disabled', { type: 'cmd.authenticate', mechanism: 'EXTERNAL', initial: { valid: true, user: 'a' } }, ['plain']],
    ['CRAM-MD5 with an initial response', { type: 'cmd.authenticate', mechanism: 'CRAM-MD5', initial: { valid: true, user: 'a' } }, ['plain', 'cram-md5']],
    ['LOGIN with bad base64', { type: 'cmd.authenticate', mechanism: 'LOGIN', initial: { valid: false } }, ['plain']],
    ['EXTERNAL with bad base64', { type: 'cmd.authenticate', mechanism: 'EXTERNAL', initial: { valid: false } }, ['plain', 'external']],
    ['unknown mechanism', { type: 'cmd.authenticate', mechanism: 'GSSAPI' }, ['plain']],
  ];
  it.each(refused)('%s → -ERR invalid command, not counted', (_name, event, authMethods) => {
    const h = new Harness(settings('pop3', { authMethods }));
    h.take();
    expect(h.send(event)).toEqual([INVALID]);
    expect(h.state).toBe('preauth.plaintext.idle');
    expect(h.snapshot.context.errors).toBe(0);
  });

  const steps: Array<[string, Array<Parameters<Harness['send']>[0]>]> = [
    ['PLAIN', [{ type: 'cmd.authenticate', mechanism: 'PLAIN' }]],
    ['LOGIN username', [{ type: 'cmd.authenticate', mechanism: 'LOGIN' }]],
    ['LOGIN password', [{ type: 'cmd.authenticate', mechanism: 'LOGIN' }, { type: 'sasl.response', user: 'alice' }]],
    ['LOGIN password after initial user', [{ type: 'cmd.authenticate', mechanism: 'LOGIN', initial: { valid: true, user: 'alice' } }]],
    ['CRAM-MD5', [{ type: 'cmd.authenticate', mechanism: 'CRAM-MD5' }]],
    ['EXTERNAL', [{ type: 'cmd.authenticate', mechanism: 'EXTERNAL' }]],
  ];
  it.each(steps)('sasl.invalid at the %s step → -ERR invalid command, back to start, not counted', (_name, before) => {
    const h = base();
    for (const event of before) h.send(event);
    expect(h.send({ type: 'sasl.invalid' })).toEqual([INVALID]);
    expect(h.state).toBe('preauth.plaintext.idle');
    expect(h.snapshot.context.errors).toBe(0);
    expect(h.snapshot.context.pendingUser).toBeNull();
    // The client may start over; the attempt counter has not moved.
    expect(requests(h.send({ type: 'cmd.authenticate', mechanism: 'PLAIN', initial: { valid: true, user: 'x', password: pw() } }))[0]?.attempt).toBe(1);
  });

  it.each(TRANSPORTS.filter(onTls).map((t) => [t.name, t] as const))('SASL requests carry the TLS info, %s', (_name, transport) => {
    const h = base(transport);
    h.send({ type: 'cmd.authenticate', mechanism: 'CRAM-MD5' });
    const [request] = requests(h.send({ type: 'sasl.response', user: 'alice', password: pw(DIGEST) }));
    expect(request?.tls).toEqual(TLS);
    expect(request?.salt).toBe(SALT);
  });
});
