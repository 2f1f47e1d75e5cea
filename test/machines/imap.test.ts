/**
 * IMAP dialogue of the connection machine (nginx 1.22.1's mail module, src/mail/).
 */
import { describe, expect, it } from 'vitest';
import { saslTag } from '../../machines/connection.js';
import {
  CLIENT_IP,
  CLIENT_PASSWORD,
  DIGEST,
  Harness,
  LOGIN_TRANSPORTS,
  PASSWORD_CHALLENGE,
  SALT,
  SALT_B64,
  TLS,
  TRANSPORTS,
  USERNAME_CHALLENGE,
  connect,
  ok,
  onTls,
  phaseOf,
  pw,
  reply,
  requests,
  revealRequest,
  settings,
} from './helpers.js';

const bad = (tag: string) => reply(`${tag} BAD invalid command\r\n`);
const completed = (tag: string) => reply(`${tag} OK completed\r\n`);

const CAPS_PLAIN = '* CAPABILITY IMAP4 IMAP4rev1 UIDPLUS AUTH=PLAIN';
const CAPS_PLAIN_STARTTLS = '* CAPABILITY IMAP4 IMAP4rev1 UIDPLUS AUTH=PLAIN STARTTLS';
const CAPS_ONLY = '* CAPABILITY IMAP4 IMAP4rev1 UIDPLUS STARTTLS LOGINDISABLED';
const CAPS_ALL = '* CAPABILITY IMAP4 IMAP4rev1 UIDPLUS AUTH=PLAIN AUTH=LOGIN AUTH=CRAM-MD5 AUTH=EXTERNAL';

describe('IMAP greeting (§5.1, §10.1)', () => {
  it('plaintext greets at once', () => {
    const h = new Harness(settings('imap'));
    expect(h.take()).toEqual([reply('* OK IMAP4 ready\r\n')]);
    expect(h.state).toBe('preauth.plaintext.idle');
  });

  it.each(['off', 'on', 'only'] as const)('implicit TLS (starttls %s) greets after the handshake', (starttls) => {
    const h = new Harness(settings('imap', { implicitTls: true, starttls }));
    expect(h.take()).toEqual([]);
    expect(h.state).toBe('preauth.upgrading.greeting');
    expect(h.send({ type: 'tls.established', tls: TLS })).toEqual([reply('* OK IMAP4 ready\r\n')]);
    expect(h.state).toBe('preauth.secure.idle');
  });

  it('implicit TLS handshake failure closes silently', () => {
    const h = new Harness(settings('imap', { implicitTls: true }));
    expect(h.send({ type: 'tls.failed', reason: 'bad record mac' })).toEqual([{ type: 'close', reason: 'bad record mac' }]);
    expect(h.done).toBe(true);
  });
});

describe('IMAP CAPABILITY (§5.4, §17)', () => {
  const cases = TRANSPORTS.map(
    (t) => [t.name, t, onTls(t) || t.starttls === 'off' ? CAPS_PLAIN : t.starttls === 'on' ? CAPS_PLAIN_STARTTLS : CAPS_ONLY] as const,
  );
  it.each(cases)('imap_auth plain, %s', (_name, transport, caps) => {
    const h = connect('imap', transport, { authMethods: ['plain'] });
    expect(h.send({ type: 'cmd.capability', tag: 'a1' })).toEqual([reply(`${caps}\r\na1 OK completed\r\n`)]);
  });

  it('imap_auth plain login cram-md5 external', () => {
    const h = connect('imap', TRANSPORTS[0]!);
    expect(h.send({ type: 'cmd.capability', tag: 'a1' })).toEqual([reply(`${CAPS_ALL}\r\na1 OK completed\r\n`)]);
  });

  it('imap_capabilities SEE-THIS', () => {
    const h = connect('imap', TRANSPORTS[0]!, { authMethods: ['plain'], capabilities: ['SEE-THIS'] });
    expect(h.send({ type: 'cmd.capability', tag: 'x' })).toEqual([reply('* CAPABILITY SEE-THIS AUTH=PLAIN\r\nx OK completed\r\n')]);
  });
});

describe('IMAP NOOP / LOGOUT / tags (§5.1, §5.3, §17)', () => {
  it('NOOP → tag OK completed; LOGOUT → * BYE, tag OK completed, close', () => {
    const h = connect('imap', TRANSPORTS[0]!);
    expect(h.send({ type: 'cmd.noop', tag: 'a2' })).toEqual([completed('a2')]);
    expect(h.send({ type: 'cmd.quit', tag: 'e1' })).toEqual([reply('* BYE\r\ne1 OK completed\r\n'), { type: 'close', reason: expect.any(String) }]);
    expect(h.done).toBe(true);
  });

  it('untagged invalid → * BAD; empty tag echoed as a single space', () => {
    const h = connect('imap', TRANSPORTS[0]!);
    expect(h.send({ type: 'cmd.invalid' })).toEqual([reply('* BAD invalid command\r\n')]);
    expect(h.send({ type: 'cmd.invalid', tag: '' })).toEqual([reply(' BAD invalid command\r\n')]);
    expect(h.send({ type: 'cmd.noop', tag: '' })).toEqual([reply(' OK completed\r\n')]);
    expect(h.send({ type: 'cmd.invalid', tag: 'a4' })).toEqual([bad('a4')]);
    expect(h.snapshot.context.errors).toBe(3);
  });

  it('LOGIN with wrong arguments (refused) → tag BAD, not counted', () => {
    const h = connect('imap', TRANSPORTS[0]!);
    expect(h.send({ type: 'cmd.refused', tag: 'l1' })).toEqual([bad('l1')]);
    expect(h.snapshot.context.errors).toBe(0);
  });

  it('a synchronising literal gets "+ OK"', () => {
    const h = connect('imap', TRANSPORTS[0]!);
    expect(h.send({ type: 'input.literal' })).toEqual([reply('+ OK\r\n')]);
    expect(h.state).toBe('preauth.plaintext.idle');
  });
});

describe('IMAP STARTTLS (§3.5, §5.3, §17)', () => {
  it('starttls off → tag BAD, not counted', () => {
    const h = connect('imap', TRANSPORTS[0]!);
    expect(h.send({ type: 'cmd.starttls', tag: 'a3' })).toEqual([bad('a3')]);
    expect(h.snapshot.context.errors).toBe(0);
    expect(h.state).toBe('preauth.plaintext.idle');
  });

  it.each(['on', 'only'] as const)('starttls %s: OK completed, then startTls; secure after the handshake; then refused', (starttls) => {
    const h = connect('imap', { name: '', starttls, implicitTls: false, upgrade: false });
    expect(h.send({ type: 'cmd.starttls', tag: 'i5' })).toEqual([completed('i5'), { type: 'startTls' }]);
    expect(h.state).toBe('preauth.upgrading.handshake');
    expect(h.send({ type: 'tls.established', tls: TLS })).toEqual([]);
    expect(h.state).toBe('preauth.secure.idle');
    expect(h.send({ type: 'cmd.capability', tag: 'c' })).toEqual([reply(`${CAPS_ALL}\r\nc OK completed\r\n`)]);
    expect(h.send({ type: 'cmd.starttls', tag: 'i6' })).toEqual([bad('i6')]);
    expect(h.snapshot.context.errors).toBe(0);
  });

  it('handshake failure after STARTTLS closes silently', () => {
    const h = connect('imap', TRANSPORTS[1]!);
    h.send({ type: 'cmd.starttls', tag: 's' });
    expect(h.send({ type: 'tls.failed', reason: 'x' })).toEqual([{ type: 'close', reason: 'x' }]);
  });

  it.each(['off', 'on', 'only'] as const)('implicit TLS (starttls %s): STARTTLS refused', (starttls) => {
    const h = connect('imap', { name: '', starttls, implicitTls: true, upgrade: false });
    expect(h.send({ type: 'cmd.starttls', tag: 't' })).toEqual([bad('t')]);
  });
});

describe('IMAP starttls only refusals (§5.3, §17)', () => {
  const refusals: Array<[string, Parameters<Harness['send']>[0]]> = [
    ['LOGIN', { type: 'cmd.login', tag: 'i2', user: 'a', password: pw() }],
    ['AUTHENTICATE PLAIN', { type: 'cmd.authenticate', tag: 'i2', mechanism: 'PLAIN' }],
    ['AUTHENTICATE PLAIN <initial>', { type: 'cmd.authenticate', tag: 'i2', mechanism: 'PLAIN', initial: { valid: true, user: 'a', password: pw() } }],
    ['AUTHENTICATE LOGIN', { type: 'cmd.authenticate', tag: 'i2', mechanism: 'LOGIN' }],
    ['AUTHENTICATE CRAM-MD5', { type: 'cmd.authenticate', tag: 'i2', mechanism: 'CRAM-MD5' }],
    ['AUTHENTICATE EXTERNAL', { type: 'cmd.authenticate', tag: 'i2', mechanism: 'EXTERNAL' }],
  ];
  it.each(refusals)('%s before TLS → tag BAD, not counted', (_name, event) => {
    const h = connect('imap', TRANSPORTS[2]!);
    expect(h.send(event)).toEqual([bad('i2')]);
    expect(h.state).toBe('preauth.plaintext.idle');
    expect(h.snapshot.context.errors).toBe(0);
  });

  it('NOOP and CAPABILITY work before TLS', () => {
    const h = connect('imap', TRANSPORTS[2]!, { authMethods: ['plain'] });
    expect(h.send({ type: 'cmd.noop', tag: 'i4' })).toEqual([completed('i4')]);
    expect(h.send({ type: 'cmd.capability', tag: 'i1' })).toEqual([reply(`${CAPS_ONLY}\r\ni1 OK completed\r\n`)]);
  });
});

describe('IMAP LOGIN (§5.3, §5.5)', () => {
  it.each(LOGIN_TRANSPORTS.map((t) => [t.name, t] as const))('LOGIN → authenticate plain; ok → connectBackend with the tag, %s', (_name, transport) => {
    const h = connect('imap', transport);
    const effects = h.send({ type: 'cmd.login', tag: 'b1', user: 'test@example.com', password: pw() });
    expect(effects.map(revealRequest)).toEqual([
      {
        method: 'plain',
        user: 'test@example.com',
        password: CLIENT_PASSWORD,
        protocol: 'imap',
        attempt: 1,
        clientIp: CLIENT_IP,
        ...(onTls(transport) ? { tls: TLS } : {}),
      },
    ]);
    expect(h.state).toBe('authenticating');
    const [connectBackend, ...rest] = h.send(ok());
    expect(rest).toEqual([]);
    expect(connectBackend?.type).toBe('connectBackend');
    if (connectBackend?.type !== 'connectBackend') return;
    expect({ ...connectBackend.target, password: connectBackend.target.password.reveal() }).toEqual({
      server: '127.0.0.1',
      port: 8110,
      user: 'test@example.com',
      password: CLIENT_PASSWORD,
      tag: 'b1',
    });
  });
});

describe('IMAP AUTHENTICATE (§5.3, §7)', () => {
  const base = () => connect('imap', TRANSPORTS[0]!);
  const targetOf = (h: Harness) => {
    const effect = h.send(ok({ password: pw('from-auth-server') })).find((e) => e.type === 'connectBackend');
    return effect?.type === 'connectBackend' ? effect.target : undefined;
  };

  it('PLAIN <initial> → authenticate; the AUTHENTICATE tag goes to the backend', () => {
    const h = base();
    const effects = h.send({ type: 'cmd.authenticate', tag: 'p1', mechanism: 'PLAIN', initial: { valid: true, user: 'alice', password: pw() } });
    expect(effects.map(revealRequest)).toEqual([
      { method: 'plain', user: 'alice', password: CLIENT_PASSWORD, protocol: 'imap', attempt: 1, clientIp: CLIENT_IP },
    ]);
    expect(targetOf(h)?.tag).toBe('p1');
  });

  it('PLAIN → "+ ", response → authenticate; tag kept', () => {
    const h = base();
    expect(h.send({ type: 'cmd.authenticate', tag: 'p2', mechanism: 'PLAIN' })).toEqual([reply('+ \r\n')]);
    expect(h.hasTag(saslTag('plain'))).toBe(true);
    expect(requests(h.send({ type: 'sasl.response', user: 'alice', password: pw() }))[0]?.method).toBe('plain');
    expect(targetOf(h)?.tag).toBe('p2');
  });

  it('LOGIN → Username:, Password:, authenticate plain (LOGIN needs no imap_auth login)', () => {
    const h = connect('imap', TRANSPORTS[0]!, { authMethods: ['plain'] });
    expect(h.send({ type: 'cmd.authenticate', tag: 'z3', mechanism: 'LOGIN' })).toEqual([reply(USERNAME_CHALLENGE)]);
    expect(h.send({ type: 'sasl.response', user: 'alice' })).toEqual([reply(PASSWORD_CHALLENGE)]);
    const [request] = requests(h.send({ type: 'sasl.response', password: pw() }));
    expect(request && { ...request, password: request.password.reveal() }).toEqual({
      method: 'plain',
      user: 'alice',
      password: CLIENT_PASSWORD,
      protocol: 'imap',
      attempt: 1,
      clientIp: CLIENT_IP,
    });
    expect(targetOf(h)?.tag).toBe('z3');
  });

  it('LOGIN <user> → Password:', () => {
    const h = base();
    expect(h.send({ type: 'cmd.authenticate', tag: 'z4', mechanism: 'LOGIN', initial: { valid: true, user: 'alice' } })).toEqual([
      reply(PASSWORD_CHALLENGE),
    ]);
    expect(requests(h.send({ type: 'sasl.response', password: pw() }))[0]?.user).toBe('alice');
  });

  it('CRAM-MD5 (enabled) → base64 salt, response → authenticate cram-md5 with salt', () => {
    const h = base();
    expect(h.send({ type: 'cmd.authenticate', tag: 'c1', mechanism: 'CRAM-MD5' })).toEqual([reply(`+ ${SALT_B64}\r\n`)]);
    const effects = h.send({ type: 'sasl.response', user: 'alice', password: pw(DIGEST) });
    expect(effects.map(revealRequest)).toEqual([
      { method: 'cram-md5', user: 'alice', password: DIGEST, salt: SALT, protocol: 'imap', attempt: 1, clientIp: CLIENT_IP },
    ]);
  });

  it('EXTERNAL (enabled) → Username:, response → authenticate external; EXTERNAL <user> directly', () => {
    const h = base();
    expect(h.send({ type: 'cmd.authenticate', tag: 'x1', mechanism: 'EXTERNAL' })).toEqual([reply(USERNAME_CHALLENGE)]);
    expect(requests(h.send({ type: 'sasl.response', user: 'alice' }))[0]?.method).toBe('external');
    const h2 = base();
    const [request] = requests(h2.send({ type: 'cmd.authenticate', tag: 'x2', mechanism: 'EXTERNAL', initial: { valid: true, user: 'bob' } }));
    expect(request?.method).toBe('external');
    expect(request?.user).toBe('bob');
    expect(request?.password.reveal()).toBe('');
    expect(request?.salt).toBeUndefined();
  });

  const refused: Array<[string, Parameters<Harness['send']>[0], readonly string[]]> = [
    ['CRAM-MD5 disabled', { type: 'cmd.authenticate', tag: 'r1', mechanism: 'CRAM-MD5' }, ['plain']],
    ['EXTERNAL disabled', { type: 'cmd.authenticate', tag: 'r1', mechanism: 'EXTERNAL' }, ['plain', 'cram-md5']],
    ['unknown mechanism', { type: 'cmd.authenticate', tag: 'r1', mechanism: 'DIGEST-MD5' }, ['plain']],
    ['PLAIN bad base64', { type: 'cmd.authenticate', tag: 'r1', mechanism: 'PLAIN', initial: { valid: false } }, ['plain']],
    ['LOGIN bad base64', { type: 'cmd.authenticate', tag: 'r1', mechanism: 'LOGIN', initial: { valid: false } }, ['plain']],
  ];
  it.each(refused)('%s → tag BAD, not counted', (_name, event, authMethods) => {
    const h = connect('imap', TRANSPORTS[0]!, { authMethods });
    expect(h.send(event)).toEqual([bad('r1')]);
    expect(h.state).toBe('preauth.plaintext.idle');
    expect(h.snapshot.context.errors).toBe(0);
  });

  const steps: Array<[string, Array<Parameters<Harness['send']>[0]>, string]> = [
    ['PLAIN', [{ type: 'cmd.authenticate', tag: 'q1', mechanism: 'PLAIN' }], 'q1 BAD invalid command\r\n'],
    // nginx quirk (§5.3, §16.6): no tag and no star at the LOGIN username step.
    ['LOGIN username', [{ type: 'cmd.authenticate', tag: 'q1', mechanism: 'LOGIN' }], 'BAD invalid command\r\n'],
    [
      'LOGIN password',
      [{ type: 'cmd.authenticate', tag: 'q1', mechanism: 'LOGIN' }, { type: 'sasl.response', user: 'alice' }],
      'q1 BAD invalid command\r\n',
    ],
    [
      'LOGIN password after initial user',
      [{ type: 'cmd.authenticate', tag: 'q1', mechanism: 'LOGIN', initial: { valid: true, user: 'alice' } }],
      'q1 BAD invalid command\r\n',
    ],
    ['CRAM-MD5', [{ type: 'cmd.authenticate', tag: 'q1', mechanism: 'CRAM-MD5' }], 'q1 BAD invalid command\r\n'],
    ['EXTERNAL', [{ type: 'cmd.authenticate', tag: 'q1', mechanism: 'EXTERNAL' }], 'q1 BAD invalid command\r\n'],
  ];
  it.each(steps)('sasl.invalid at the %s step', (_name, before, expected) => {
    const h = base();
    for (const event of before) h.send(event);
    expect(h.send({ type: 'sasl.invalid' })).toEqual([reply(expected)]);
    expect(h.state).toBe('preauth.plaintext.idle');
    expect(h.snapshot.context.errors).toBe(0);
  });
});

describe('IMAP auth outcomes use the LOGIN/AUTHENTICATE tag (§5.3, §8.4, §17)', () => {
  it.each(LOGIN_TRANSPORTS.map((t) => [t.name, t] as const))('f1 with Auth-Wait: silence, then f1 NO, session continues; f2 without: NO + close, %s', (_name, transport) => {
    const h = connect('imap', transport);
    h.send({ type: 'cmd.login', tag: 'f1', user: 'wait1', password: pw('x') });
    expect(h.send({ type: 'auth.result', outcome: { status: 'fail', text: 'Invalid login or password', waitSeconds: 1 } })).toEqual([]);
    expect(h.tick(999)).toEqual([]);
    expect(h.tick(1)).toEqual([reply('f1 NO Invalid login or password\r\n')]);
    expect(h.state).toBe(`preauth.${phaseOf(transport)}.idle`);
    h.send({ type: 'cmd.login', tag: 'f2', user: 'nowait', password: pw('x') });
    expect(h.send({ type: 'auth.result', outcome: { status: 'fail', text: 'Invalid login or password' } })).toEqual([
      reply('f2 NO Invalid login or password\r\n'),
      { type: 'close', reason: 'client login failed' },
    ]);
  });

  it('AUTHENTICATE failure answers with the AUTHENTICATE tag', () => {
    const h = connect('imap', TRANSPORTS[0]!);
    h.send({ type: 'cmd.authenticate', tag: 'g7', mechanism: 'LOGIN' });
    h.send({ type: 'sasl.response', user: 'alice' });
    h.send({ type: 'sasl.response', password: pw() });
    expect(h.send({ type: 'auth.result', outcome: { status: 'fail', text: 'Nope' } })[0]).toEqual(reply('g7 NO Nope\r\n'));
  });
});
