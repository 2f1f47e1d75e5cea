/**
 * What POP3 and IMAP share: auth_http outcomes, backend and relay, timers, max_errors, the
 * client going away in every state, and secrets (nginx 1.22.1's mail module (src/mail/),
 * §8.2, §8.4, §11).
 */
import { inspect } from 'node:util';
import { describe, expect, it } from 'vitest';
import type { ConnectionEffect, ConnectionEvent } from '../../machines/types.js';
import {
  AUTH_HTTP_TIMEOUT_MS,
  AUTH_PASS,
  CLIENT_PASSWORD,
  DIGEST,
  Harness,
  LOGIN_TRANSPORTS,
  SALT,
  SECRETS,
  TIMEOUT_MS,
  TLS,
  TRANSPORTS,
  authError,
  connect,
  fail,
  login,
  ok,
  onTls,
  phaseOf,
  pw,
  reply,
  requests,
  revealRequest,
  settings,
  wait,
  type ProxiedProtocol,
  type Transport,
} from './helpers.js';

interface ProtocolTexts {
  invalid(tag?: string): string;
  internalError: string;
  failed(text: string, tag?: string): string;
  noop: ConnectionEvent;
  noopReply: string;
  /** The tag `login()` uses, as it must reach the backend. */
  loginTag: string | undefined;
}

const TEXTS: Record<ProxiedProtocol, ProtocolTexts> = {
  pop3: {
    invalid: () => '-ERR invalid command\r\n',
    internalError: '-ERR internal server error\r\n',
    failed: (text) => `-ERR ${text}\r\n`,
    noop: { type: 'cmd.noop' },
    noopReply: '+OK\r\n',
    loginTag: undefined,
  },
  imap: {
    invalid: (tag) => `${tag ?? '*'} BAD invalid command\r\n`,
    internalError: '* BAD internal server error\r\n',
    failed: (text, tag) => `${tag ?? '*'} NO ${text}\r\n`,
    noop: { type: 'cmd.noop', tag: 'n1' },
    noopReply: 'n1 OK completed\r\n',
    loginTag: 'a1',
  },
};

const PROTOCOLS = ['pop3', 'imap'] as const;
const CLOSE = (reason: string): ConnectionEffect => ({ type: 'close', reason });

/** Every protocol × every transport credentials are accepted on. */
const LOGIN_MATRIX = PROTOCOLS.flatMap((protocol) => LOGIN_TRANSPORTS.map((t) => [`${protocol}, ${t.name}`, protocol, t] as const));

const connectBackendTarget = (effects: readonly ConnectionEffect[]) => {
  const effect = effects.find((e) => e.type === 'connectBackend');
  return effect?.type === 'connectBackend' ? { ...effect.target, password: effect.target.password.reveal() } : undefined;
};

describe.each(LOGIN_MATRIX)('auth_http outcomes, %s (§8.2, §8.4)', (_name, protocol, transport) => {
  const T = TEXTS[protocol];
  const phase = phaseOf(transport);
  const tagged = T.loginTag === undefined ? {} : { tag: T.loginTag };

  it('the request carries tls info only on TLS', () => {
    const h = connect(protocol, transport);
    const [request] = requests(login(h));
    expect(request?.tls).toEqual(onTls(transport) ? TLS : undefined);
    expect('tls' in request!).toBe(onTls(transport));
    expect(request?.salt).toBeUndefined();
  });

  it('ok → connectBackend with the client credentials (and the IMAP tag); backend.ready → startRelay', () => {
    const h = connect(protocol, transport);
    login(h, 'alice');
    const effects = h.send(ok());
    expect(effects.map((e) => e.type)).toEqual(['connectBackend']);
    expect(connectBackendTarget(effects)).toEqual({ server: '127.0.0.1', port: 8110, user: 'alice', password: CLIENT_PASSWORD, ...tagged });
    expect(h.state).toBe('backend');
    expect(h.readsInput).toBe(false);
    expect(h.send({ type: 'backend.ready' })).toEqual([{ type: 'startRelay' }, { type: 'log', level: 'info', message: 'client logged in' }]);
    expect(h.state).toBe('relaying');
    expect(h.send({ type: 'relay.ended', reason: 'proxied session done' })).toEqual([CLOSE('proxied session done')]);
    expect(h.done).toBe(true);
  });

  it('ok with Auth-User / Auth-Pass → they override the login and password', () => {
    const h = connect(protocol, transport);
    login(h, 'alice');
    const effects = h.send(ok({ server: '10.0.0.2', port: 1143, user: 'alice@backend', password: pw(AUTH_PASS) }));
    expect(connectBackendTarget(effects)).toEqual({ server: '10.0.0.2', port: 1143, user: 'alice@backend', password: AUTH_PASS, ...tagged });
  });

  it('ok without any password (empty plain password) → internal error + close', () => {
    const h = connect(protocol, transport);
    login(h, 'alice', '');
    expect(h.send(ok())).toEqual([reply(T.internalError), { type: 'close', reason: expect.stringContaining('did not send password') }]);
    expect(h.done).toBe(true);
  });

  it('ok with Auth-Pass after an empty plain password → connectBackend', () => {
    const h = connect(protocol, transport);
    login(h, 'alice', '');
    expect(connectBackendTarget(h.send(ok({ password: pw(AUTH_PASS) })))?.password).toBe(AUTH_PASS);
  });

  it('fail with Auth-Wait → silence for exactly that long, the failure reply, back to the same phase; a new attempt is counted', () => {
    const h = connect(protocol, transport);
    const [first] = requests(login(h, 'wait1'));
    expect(first?.attempt).toBe(1);
    expect(h.send(fail('Invalid login or password', 3))).toEqual([]);
    expect(h.state).toBe('authFailed');
    expect(h.readsInput).toBe(false);
    expect(h.tick(2_999)).toEqual([]);
    expect(h.tick(1)).toEqual([reply(T.failed('Invalid login or password', T.loginTag))]);
    expect(h.state).toBe(`preauth.${phase}.idle`);
    expect(h.readsInput).toBe(true);
    expect(h.snapshot.context.tls).toEqual(onTls(transport) ? TLS : null);
    if (protocol === 'pop3') {
      // POP3 must send USER again.
      expect(h.send({ type: 'cmd.pass', password: pw() })).toEqual([reply(T.invalid())]);
    }
    const [second] = requests(login(h, 'alice', CLIENT_PASSWORD, 'a2'));
    expect(second?.attempt).toBe(2);
    expect(second?.user).toBe('alice');
    expect(second?.tls).toEqual(onTls(transport) ? TLS : undefined);
    expect(connectBackendTarget(h.send(ok()))).toEqual({
      server: '127.0.0.1',
      port: 8110,
      user: 'alice',
      password: CLIENT_PASSWORD,
      ...(protocol === 'imap' ? { tag: 'a2' } : {}),
    });
  });

  it.each([[undefined], [0]])('fail with Auth-Wait %s → reply + close', (waitSeconds) => {
    const h = connect(protocol, transport);
    login(h);
    expect(h.send(fail('Invalid login or password', waitSeconds))).toEqual([
      reply(T.failed('Invalid login or password', T.loginTag)),
      CLOSE('client login failed'),
    ]);
    expect(h.done).toBe(true);
  });

  it('fail with an empty Auth-Status text → "-ERR " / "tag NO "', () => {
    const h = connect(protocol, transport);
    login(h);
    expect(h.send(fail(''))[0]).toEqual(reply(T.failed('', T.loginTag)));
  });

  it('WAIT → nothing to the client; the same request again after Auth-Wait (same attempt number)', () => {
    const h = connect(protocol, transport);
    const initial = login(h);
    expect(h.send(wait(2))).toEqual([]);
    expect(h.state).toBe('authRetry');
    expect(h.tick(1_999)).toEqual([]);
    const again = h.tick(1);
    expect(again.map(revealRequest)).toEqual(initial.map(revealRequest));
    expect(h.state).toBe('authenticating');
    // WAIT without Auth-Wait: re-asked at once (next timer turn).
    expect(h.send(wait(0))).toEqual([]);
    expect(h.tick(0).map(revealRequest)).toEqual(initial.map(revealRequest));
    expect(requests(h.effects).map((r) => r.attempt)).toEqual([1, 1, 1]);
    expect(connectBackendTarget(h.send(ok()))?.password).toBe(CLIENT_PASSWORD);
  });

  it('error → internal error + close', () => {
    const h = connect(protocol, transport);
    login(h);
    expect(h.send(authError('auth http server refused'))).toEqual([reply(T.internalError), CLOSE('auth http server refused')]);
    expect(h.done).toBe(true);
  });

  it('backend.failed → internal error + close (proxy_pass_error_message off)', () => {
    const h = connect(protocol, transport);
    login(h);
    h.send(ok());
    expect(h.send({ type: 'backend.failed', reason: 'upstream sent invalid response', passthrough: '-ERR busy\r\n' })).toEqual([
      reply(T.internalError),
      CLOSE('upstream sent invalid response'),
    ]);
  });
});

describe.each(PROTOCOLS)('%s: ok without a usable password (§4.7, §5.5, §7, §8.2)', (protocol) => {
  const T = TEXTS[protocol];
  const tag = protocol === 'imap' ? { tag: 'm1' } : {};
  const paths: Array<[string, ConnectionEvent[]]> = [
    ['cram-md5', [{ type: 'cmd.authenticate', ...tag, mechanism: 'CRAM-MD5' }, { type: 'sasl.response', user: 'alice', password: pw(DIGEST) }]],
    ['external', [{ type: 'cmd.authenticate', ...tag, mechanism: 'EXTERNAL', initial: { valid: true, user: 'alice' } }]],
    ['external (continuation)', [{ type: 'cmd.authenticate', ...tag, mechanism: 'EXTERNAL' }, { type: 'sasl.response', user: 'alice' }]],
    ...(protocol === 'pop3' ? ([['apop', [{ type: 'cmd.apop', user: 'alice', digest: pw(DIGEST) }]]] as Array<[string, ConnectionEvent[]]>) : []),
  ];

  it.each(paths)('%s without Auth-Pass → internal error + close', (_name, events) => {
    const h = connect(protocol, TRANSPORTS[0]!);
    for (const event of events) h.send(event);
    expect(h.state).toBe('authenticating');
    expect(h.send(ok())).toEqual([reply(T.internalError), { type: 'close', reason: expect.stringContaining('did not send password') }]);
  });

  it('no stale password: plain attempt fails with Auth-Wait, then CRAM-MD5 ok without Auth-Pass → internal error', () => {
    const h = connect(protocol, TRANSPORTS[0]!);
    login(h, 'alice', CLIENT_PASSWORD, 'm0');
    h.send(fail('Bad', 1));
    h.tick(1_000);
    h.send({ type: 'cmd.authenticate', ...tag, mechanism: 'CRAM-MD5' });
    h.send({ type: 'sasl.response', user: 'alice', password: pw(DIGEST) });
    expect(h.send(ok())).toEqual([reply(T.internalError), { type: 'close', reason: expect.stringContaining('did not send password') }]);
  });

  // nginx nulls the APOP/CRAM-MD5 digest right after writing it into the first request
  // (ngx_mail_auth_http_create_request: `ngx_str_null(&s->passwd)`), and a WAIT re-query
  // rebuilds the request from the session: `Auth-Pass:` is then empty, the salt is still sent.
  const digestPaths = paths.filter(([name]) => name === 'cram-md5' || name === 'apop');
  it.each(digestPaths)('%s: a WAIT re-query does not resend the digest (§7 "a retry cannot reuse stale state")', (name, events) => {
    const h = connect(protocol, TRANSPORTS[0]!);
    let first: ConnectionEffect[] = [];
    for (const event of events) first = h.send(event);
    expect(requests(first)[0]?.password.reveal()).toBe(DIGEST);
    h.send(wait(1));
    const [again] = requests(h.tick(1_000));
    expect(again).toMatchObject({ method: name, user: 'alice', salt: SALT, attempt: 1 });
    expect(again?.password.reveal()).toBe('');
  });

  it.each(paths)('%s with Auth-Pass → connectBackend with it', (_name, events) => {
    const h = connect(protocol, TRANSPORTS[0]!);
    for (const event of events) h.send(event);
    expect(connectBackendTarget(h.send(ok({ password: pw(AUTH_PASS) })))).toEqual({
      server: '127.0.0.1',
      port: 8110,
      user: 'alice',
      password: AUTH_PASS,
      ...tag,
    });
  });
});

describe.each(PROTOCOLS)('%s: backend phase (§9, §11)', (protocol) => {
  const T = TEXTS[protocol];
  const atBackend = (overrides = {}) => {
    const h = connect(protocol, TRANSPORTS[0]!, overrides);
    login(h);
    h.send(ok());
    expect(h.state).toBe('backend');
    return h;
  };

  it('proxy_pass_error_message on: the backend bytes are relayed, then close', () => {
    const h = atBackend({ proxyPassErrorMessage: true });
    const text = protocol === 'pop3' ? '-ERR backend says no\r\n' : 'a1 NO backend says bad password\r\n';
    expect(h.send({ type: 'backend.failed', reason: 'upstream sent invalid response', passthrough: text })).toEqual([
      reply(text),
      CLOSE('upstream sent invalid response'),
    ]);
  });

  it('proxy_pass_error_message on, nothing to pass (connect failed) → internal error', () => {
    const h = atBackend({ proxyPassErrorMessage: true });
    expect(h.send({ type: 'backend.failed', reason: 'connect() failed' })).toEqual([reply(T.internalError), CLOSE('connect() failed')]);
  });

  it('timeout guards the backend login: internal error at exactly timeoutMs', () => {
    const h = atBackend();
    h.tick(5_000); // how long the client had been connected before does not matter
    expect(h.tick(TIMEOUT_MS - 5_001)).toEqual([]);
    expect(h.state).toBe('backend');
    expect(h.tick(1)).toEqual([reply(T.internalError), CLOSE('upstream timed out')]);
  });

  it('no timer in relaying: a day later nothing happens', () => {
    const h = atBackend();
    h.send({ type: 'backend.ready' });
    expect(h.tick(86_400_000)).toEqual([]);
    expect(h.state).toBe('relaying');
    expect(h.send({ type: 'client.closed' })).toEqual([CLOSE('proxied session done')]);
  });
});

describe.each(PROTOCOLS)('%s: timers (§1, §8.3, §10.1)', (protocol) => {
  const T = TEXTS[protocol];

  it.each(TRANSPORTS.map((t) => [t.name, t] as const))('timeout is absolute from connection start, %s', (_name, transport) => {
    const h = new Harness(settings(protocol, { starttls: transport.starttls, implicitTls: transport.implicitTls }));
    h.take();
    if (transport.implicitTls) {
      h.tick(500);
      h.send({ type: 'tls.established', tls: TLS });
    }
    if (transport.upgrade) {
      h.send({ type: 'cmd.starttls', tag: 's1' });
      h.tick(500);
      h.send({ type: 'tls.established', tls: TLS });
    }
    h.take();
    while (h.clock.now() + 1_000 < TIMEOUT_MS) {
      h.tick(1_000);
      expect(h.send(T.noop)).toEqual([reply(T.noopReply)]);
    }
    expect(h.tick(TIMEOUT_MS - 1 - h.clock.now())).toEqual([]);
    expect(h.readsInput).toBe(true);
    expect(h.tick(1)).toEqual([CLOSE('client timed out')]);
    expect(h.done).toBe(true);
  });

  it('implicit TLS: a handshake that never completes is closed at timeoutMs, silently', () => {
    const h = new Harness(settings(protocol, { implicitTls: true }));
    expect(h.tick(TIMEOUT_MS - 1)).toEqual([]);
    expect(h.tick(1)).toEqual([CLOSE('client timed out')]);
  });

  it('STARTTLS handshake in progress: closed at the original deadline, silently', () => {
    const h = new Harness(settings(protocol, { starttls: 'on' }));
    h.tick(4_000);
    h.send({ type: 'cmd.starttls', tag: 's1' });
    expect(h.tick(TIMEOUT_MS - 4_001)).toEqual([]);
    expect(h.state).toBe('preauth.upgrading.handshake');
    expect(h.tick(1)).toEqual([CLOSE('client timed out')]);
  });

  it('timeout in the middle of a SASL exchange closes silently', () => {
    const h = connect(protocol, TRANSPORTS[0]!);
    h.send({ type: 'cmd.authenticate', tag: 'a', mechanism: 'LOGIN' });
    h.send({ type: 'sasl.response', user: 'alice' });
    expect(h.tick(TIMEOUT_MS)).toEqual([CLOSE('client timed out')]);
  });

  it('timeout is removed while authenticating; auth_http_timeout applies there (internal error + close)', () => {
    const h = connect(protocol, TRANSPORTS[0]!);
    h.tick(1_000);
    login(h);
    expect(h.tick(AUTH_HTTP_TIMEOUT_MS - 1)).toEqual([]);
    expect(h.state).toBe('authenticating');
    expect(h.tick(1)).toEqual([reply(T.internalError), { type: 'close', reason: expect.stringContaining('timed out') }]);
  });

  it('auth_http_timeout restarts with each WAIT re-query', () => {
    const h = connect(protocol, TRANSPORTS[0]!);
    login(h);
    h.tick(AUTH_HTTP_TIMEOUT_MS - 1);
    h.send(wait(1));
    expect(requests(h.tick(1_000))).toHaveLength(1);
    expect(h.tick(AUTH_HTTP_TIMEOUT_MS - 1)).toEqual([]);
    expect(h.tick(1)).toEqual([reply(T.internalError), { type: 'close', reason: expect.stringContaining('timed out') }]);
  });

  it('timeout is re-armed (full) when the Auth-Wait failure reply is sent', () => {
    const h = connect(protocol, TRANSPORTS[0]!);
    h.tick(TIMEOUT_MS - 1_000);
    login(h);
    h.tick(500);
    h.send(fail('Bad', 20)); // longer than `timeout`: the client's deadline is not running meanwhile
    expect(h.tick(19_999)).toEqual([]);
    expect(h.tick(1)).toEqual([reply(T.failed('Bad', T.loginTag))]);
    expect(h.tick(TIMEOUT_MS - 1)).toEqual([]);
    expect(h.readsInput).toBe(true);
    expect(h.tick(1)).toEqual([CLOSE('client timed out')]);
  });
});

describe.each(PROTOCOLS)('%s: max_errors and input limits (§3.1, §3.3, §3.6)', (protocol) => {
  const T = TEXTS[protocol];
  const tag = (t: string) => (protocol === 'imap' ? { tag: t } : {});
  const tagText = (t: string) => (protocol === 'imap' ? t : undefined);

  it('max_errors 3: invalid, refused, refused, invalid, invalid → the 3rd counted error is answered, then close', () => {
    const h = connect(protocol, TRANSPORTS[0]!, { maxErrors: 3 });
    expect(h.send({ type: 'cmd.invalid', ...tag('e1') })).toEqual([reply(T.invalid(tagText('e1')))]);
    expect(h.send({ type: 'cmd.refused', ...tag('e2') })).toEqual([reply(T.invalid(tagText('e2')))]);
    expect(
      h.send(protocol === 'pop3' ? { type: 'cmd.pass', password: pw() } : { type: 'cmd.refused', tag: 'e3' }),
    ).toEqual([reply(T.invalid(tagText('e3')))]);
    expect(h.send({ type: 'cmd.invalid', ...tag('e4') })).toEqual([reply(T.invalid(tagText('e4')))]);
    expect(h.snapshot.context.errors).toBe(2);
    expect(h.send({ type: 'cmd.invalid', ...tag('e5') })).toEqual([
      reply(T.invalid(tagText('e5'))),
      CLOSE('client sent too many invalid commands'),
    ]);
    expect(h.done).toBe(true);
  });

  it('refusals, SASL failures, STARTTLS refusals and failed logins are never counted', () => {
    const h = connect(protocol, TRANSPORTS[0]!, { maxErrors: 1 });
    h.send({ type: 'cmd.refused', ...tag('r') });
    h.send({ type: 'cmd.starttls', ...tag('s') });
    h.send({ type: 'cmd.authenticate', ...tag('x'), mechanism: 'NOPE' });
    h.send({ type: 'cmd.authenticate', ...tag('x'), mechanism: 'PLAIN' });
    h.send({ type: 'sasl.invalid' });
    login(h);
    h.send(fail('Bad', 1));
    h.tick(1_000);
    expect(h.snapshot.context.errors).toBe(0);
    expect(h.readsInput).toBe(true);
    expect(h.send({ type: 'cmd.invalid', ...tag('z') })).toEqual([
      reply(T.invalid(tagText('z'))),
      CLOSE('client sent too many invalid commands'),
    ]);
  });

  it('the error count survives STARTTLS and Auth-Wait failures', () => {
    const h = connect(protocol, TRANSPORTS[1]!, { maxErrors: 3 });
    h.send({ type: 'cmd.invalid' });
    h.send({ type: 'cmd.starttls', ...tag('s') });
    h.send({ type: 'tls.established', tls: TLS });
    h.send({ type: 'cmd.invalid' });
    login(h);
    h.send(fail('Bad', 1));
    h.tick(1_000);
    expect(h.send({ type: 'cmd.invalid' }).map((e) => e.type)).toEqual(['reply', 'close']);
  });

  it('closeAfter (invalid line ending in a non-synchronising literal) → reply, then close at once', () => {
    const h = connect(protocol, TRANSPORTS[0]!);
    expect(h.send({ type: 'cmd.invalid', ...tag('d1'), closeAfter: true })).toEqual([
      reply(T.invalid(tagText('d1'))),
      CLOSE('client sent too many invalid commands'),
    ]);
    expect(h.done).toBe(true);
  });

  const tooLongPlaces: Array<[string, ConnectionEvent[]]> = [
    ['idle', []],
    ['a SASL step', [{ type: 'cmd.authenticate', ...tag('t0'), mechanism: 'PLAIN' }]],
    ...(protocol === 'pop3' ? ([['state user', [{ type: 'cmd.user', user: 'alice' }]]] as Array<[string, ConnectionEvent[]]>) : []),
  ];
  it.each(tooLongPlaces)('input.tooLong in %s → invalid reply (with the tag), close', (_name, before) => {
    const h = connect(protocol, TRANSPORTS[0]!);
    for (const event of before) h.send(event);
    expect(h.send({ type: 'input.tooLong', ...tag('t1') })).toEqual([
      reply(T.invalid(tagText('t1'))),
      CLOSE('client sent too long command'),
    ]);
    expect(h.done).toBe(true);
  });
});

/** Event sequences that reach each state, from a fresh connection. */
function statePaths(protocol: ProxiedProtocol): Array<[string, Partial<Parameters<typeof settings>[1]>, ConnectionEvent[], number]> {
  const t = protocol === 'imap' ? { tag: 'k1' } : {};
  const creds: ConnectionEvent[] =
    protocol === 'pop3'
      ? [{ type: 'cmd.user', user: 'alice' }, { type: 'cmd.pass', password: pw() }]
      : [{ type: 'cmd.login', tag: 'k1', user: 'alice', password: pw() }];
  return [
    ['preauth.upgrading.greeting', { implicitTls: true }, [], 0],
    ['preauth.plaintext.idle', {}, [], 0],
    ...(protocol === 'pop3'
      ? ([['preauth.plaintext.user', {}, [{ type: 'cmd.user', user: 'alice' }], 0]] as Array<[string, object, ConnectionEvent[], number]>)
      : []),
    ['preauth.plaintext.saslPlain', {}, [{ type: 'cmd.authenticate', ...t, mechanism: 'PLAIN' }], 0],
    ['preauth.plaintext.saslLoginUser', {}, [{ type: 'cmd.authenticate', ...t, mechanism: 'LOGIN' }], 0],
    ['preauth.plaintext.saslLoginPassword', {}, [{ type: 'cmd.authenticate', ...t, mechanism: 'LOGIN', initial: { valid: true, user: 'a' } }], 0],
    ['preauth.plaintext.saslCramMd5', {}, [{ type: 'cmd.authenticate', ...t, mechanism: 'CRAM-MD5' }], 0],
    ['preauth.plaintext.saslExternal', {}, [{ type: 'cmd.authenticate', ...t, mechanism: 'EXTERNAL' }], 0],
    ['preauth.upgrading.handshake', { starttls: 'on' }, [{ type: 'cmd.starttls', ...t }], 0],
    ['preauth.secure.idle', { starttls: 'only' }, [{ type: 'cmd.starttls', ...t }, { type: 'tls.established', tls: TLS }], 0],
    ['preauth.secure.idle', { implicitTls: true }, [{ type: 'tls.established', tls: TLS }], 0],
    ['authenticating', {}, creds, 0],
    ['authFailed', {}, [...creds, fail('Bad', 5)], 0],
    ['authRetry', {}, [...creds, wait(5)], 0],
    ['backend', {}, [...creds, ok()], 0],
    ['relaying', {}, [...creds, ok(), { type: 'backend.ready' }], 0],
  ];
}

describe.each(PROTOCOLS)('%s: client.closed from every state', (protocol) => {
  it.each(statePaths(protocol))('%s', (state, overrides, events) => {
    const h = new Harness(settings(protocol, overrides));
    for (const event of events) h.send(event);
    expect(h.state).toBe(state);
    const effects = h.send({ type: 'client.closed' });
    expect(effects).toEqual([state === 'relaying' ? CLOSE('proxied session done') : { type: 'close', reason: expect.any(String) }]);
    expect(h.done).toBe(true);
    expect(h.state).toBe('closed');
    // Nothing after close: no timer, no event produces anything.
    const before = h.effects.length;
    h.tick(0);
    for (const event of [
      { type: 'cmd.noop' },
      { type: 'tls.established', tls: TLS },
      ok(),
      fail('x', 1),
      { type: 'backend.ready' },
      { type: 'relay.ended', reason: 'x' },
      { type: 'client.closed' },
      { type: 'input.tooLong' },
    ] satisfies ConnectionEvent[]) {
      h.send(event);
    }
    h.tick(10 * AUTH_HTTP_TIMEOUT_MS);
    expect(h.effects.length).toBe(before);
  });
});

describe('secrets never leave as data (JSON of effects and context)', () => {
  const scripts: Array<[string, ProxiedProtocol, Partial<Parameters<typeof settings>[1]>, ConnectionEvent[]]> = [
    ['POP3 USER/PASS → ok with Auth-Pass → relay', 'pop3', { implicitTls: true }, [
      { type: 'tls.established', tls: TLS },
      { type: 'cmd.user', user: 'alice' },
      { type: 'cmd.pass', password: pw(CLIENT_PASSWORD) },
      ok({ password: pw(AUTH_PASS) }),
      { type: 'backend.ready' },
    ]],
    ['POP3 APOP → fail with wait → USER/PASS → ok', 'pop3', {}, [
      { type: 'cmd.apop', user: 'alice', digest: pw(DIGEST) },
      fail('Bad', 1),
      { type: 'cmd.user', user: 'alice' },
      { type: 'cmd.pass', password: pw(CLIENT_PASSWORD) },
      wait(1),
      ok(),
    ]],
    ['POP3 AUTH LOGIN / CRAM-MD5', 'pop3', {}, [
      { type: 'cmd.authenticate', mechanism: 'LOGIN' },
      { type: 'sasl.response', user: 'alice' },
      { type: 'sasl.response', password: pw(CLIENT_PASSWORD) },
      fail('Bad', 1),
      { type: 'cmd.authenticate', mechanism: 'CRAM-MD5' },
      { type: 'sasl.response', user: 'alice', password: pw(DIGEST) },
      ok({ password: pw(AUTH_PASS) }),
    ]],
    ['IMAP LOGIN → ok → backend.failed', 'imap', { proxyPassErrorMessage: true }, [
      { type: 'cmd.login', tag: 'a', user: 'alice', password: pw(CLIENT_PASSWORD) },
      ok(),
      { type: 'backend.failed', reason: 'x', passthrough: 'a NO nope\r\n' },
    ]],
    ['IMAP AUTHENTICATE PLAIN (initial and continuation)', 'imap', { starttls: 'on' }, [
      { type: 'cmd.starttls', tag: 's' },
      { type: 'tls.established', tls: TLS },
      { type: 'cmd.authenticate', tag: 'p', mechanism: 'PLAIN', initial: { valid: true, user: 'alice', password: pw(CLIENT_PASSWORD) } },
      fail('Bad', 1),
      { type: 'cmd.authenticate', tag: 'q', mechanism: 'PLAIN' },
      { type: 'sasl.response', user: 'alice', password: pw(CLIENT_PASSWORD) },
      ok({ password: pw(AUTH_PASS) }),
      { type: 'backend.ready' },
    ]],
  ];

  it.each(scripts)('%s', (_name, protocol, overrides, events) => {
    const h = new Harness(settings(protocol, overrides));
    const check = () => {
      const dumps = [JSON.stringify(h.effects), JSON.stringify(h.snapshot.context), inspect(h.snapshot.context, { depth: 10 })];
      for (const dump of dumps) for (const secret of SECRETS) expect(dump).not.toContain(secret);
    };
    for (const event of events) {
      h.send(event);
      check();
      h.tick(1_000);
      check();
    }
    // The passwords did travel (only via reveal()), so the check above was not vacuous.
    const revealed = h.effects.flatMap((e) =>
      e.type === 'authenticate' ? [e.request.password.reveal()] : e.type === 'connectBackend' ? [e.target.password.reveal()] : [],
    );
    expect(revealed.some((p) => (SECRETS as readonly string[]).includes(p))).toBe(true);
  });
});

export type { Transport };
