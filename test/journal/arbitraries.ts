/**
 * Arbitraries for one connection's machine: its input, the events the runtime sends it, and the
 * time between them (shared by the journal's replay property and the machine cores' equivalence).
 */
import { fc } from '@fast-check/vitest';
import type { AuthOutcome, ConnectionEvent, ConnectionInput } from '../../machines/types.js';
import { Secret } from '../../src/secret.js';

/** Every secret the generator makes carries this, so a leak is easy to spot. */
export const LEAK = 'LEAK-';
const secretArb = fc.oneof(
  { weight: 4, arbitrary: fc.string({ minLength: 1, maxLength: 8 }).map((s) => new Secret(`${LEAK}${s}`)) },
  { weight: 1, arbitrary: fc.constant(new Secret('')) },
  // CR, LF or NUL: a fact the machine acts on (POP3 refuses such credentials), kept by the codec.
  { weight: 1, arbitrary: fc.constantFrom('\r\nDELE 1', '\0').map((s) => new Secret(`${LEAK}${s}`)) },
);
const tagArb = fc.option(fc.constantFrom('a1', 'b2', 'C3'), { nil: undefined });
const userArb = fc.constantFrom('alice', 'bob@example.com', '', 'crlfuser\r\nDELE 1', 'nul\0user');
const opt = <T>(key: string, arb: fc.Arbitrary<T>) => fc.option(arb, { nil: undefined }).map((v) => (v === undefined ? {} : { [key]: v }));

const outcomeArb: fc.Arbitrary<AuthOutcome> = fc.oneof(
  fc.record({ status: fc.constant('ok' as const), server: fc.constant('127.0.0.1'), port: fc.constant(110) }),
  fc.tuple(userArb, secretArb).map(([user, password]) => ({ status: 'ok' as const, server: '127.0.0.1', port: 110, user, password })),
  fc.tuple(fc.constantFrom('Invalid login', 'Temporary'), fc.constantFrom(undefined, 0, 1, 3)).map(([text, waitSeconds]) => ({
    status: 'fail' as const,
    text,
    ...(waitSeconds === undefined ? {} : { waitSeconds }),
  })),
  fc.constantFrom(1, 2).map((waitSeconds) => ({ status: 'wait' as const, waitSeconds })),
  fc.constant({ status: 'error' as const, reason: 'auth http server sent invalid header' }),
);

export const eventArb: fc.Arbitrary<ConnectionEvent> = fc.oneof(
  tagArb.map((tag) => ({ type: 'cmd.capability' as const, ...(tag ? { tag } : {}) })),
  tagArb.map((tag) => ({ type: 'cmd.noop' as const, ...(tag ? { tag } : {}) })),
  fc.constant({ type: 'cmd.quit' as const }),
  tagArb.map((tag) => ({ type: 'cmd.starttls' as const, ...(tag ? { tag } : {}) })),
  userArb.map((user) => ({ type: 'cmd.user' as const, user })),
  secretArb.map((password) => ({ type: 'cmd.pass' as const, password })),
  fc.tuple(userArb, secretArb).map(([user, digest]) => ({ type: 'cmd.apop' as const, user, digest })),
  fc.tuple(tagArb, userArb, secretArb).map(([tag, user, password]) => ({ type: 'cmd.login' as const, ...(tag ? { tag } : {}), user, password })),
  fc.constant({ type: 'cmd.authList' as const }),
  fc
    .tuple(
      tagArb,
      fc.constantFrom('PLAIN', 'LOGIN', 'CRAM-MD5', 'EXTERNAL', 'XOAUTH2'),
      fc.option(fc.oneof(fc.constant({ valid: false as const }), fc.tuple(opt('user', userArb), opt('password', secretArb)).map(([u, p]) => ({ valid: true as const, ...u, ...p }))), { nil: undefined }),
    )
    .map(([tag, mechanism, initial]) => ({ type: 'cmd.authenticate' as const, ...(tag ? { tag } : {}), mechanism, ...(initial ? { initial } : {}) })),
  fc.tuple(fc.boolean(), fc.constantFrom('client.example', '')).map(([esmtp, domain]) => ({ type: 'cmd.helo' as const, esmtp, domain })),
  fc.constantFrom('MAIL FROM:<a@b>', 'MAIL').map((line) => ({ type: 'cmd.mail' as const, line })),
  fc.constantFrom('RCPT TO:<c@d>', 'RCPT').map((line) => ({ type: 'cmd.rcpt' as const, line })),
  fc.constant({ type: 'cmd.rset' as const }),
  fc.constantFrom(undefined, 'invalidArgument' as const).map((reply) => ({ type: 'cmd.refused' as const, ...(reply ? { reply } : {}) })),
  fc.boolean().map((closeAfter) => ({ type: 'cmd.invalid' as const, ...(closeAfter ? { closeAfter } : {}) })),
  fc.tuple(opt('user', userArb), opt('password', secretArb)).map(([u, p]) => ({ type: 'sasl.response' as const, ...u, ...p })),
  fc.constant({ type: 'sasl.invalid' as const }),
  fc.constant({ type: 'input.literal' as const }),
  fc.constant({ type: 'input.tooLong' as const }),
  fc.constant({ type: 'tls.established' as const, tls: { protocol: 'TLSv1.3', cipher: 'TLS_AES_256_GCM_SHA384' } }),
  fc.constant({ type: 'tls.failed' as const, reason: 'SSL handshake failed' }),
  outcomeArb.map((outcome) => ({ type: 'auth.result' as const, outcome })),
  fc.constant({ type: 'backend.ready' as const }),
  fc.option(fc.constant('-ERR no'), { nil: undefined }).map((p) => ({ type: 'backend.failed' as const, reason: 'login failed', ...(p ? { passthrough: p } : {}) })),
  fc.constant({ type: 'relay.ended' as const, reason: 'upstream closed connection' }),
  fc.constant({ type: 'client.closed' as const }),
);

export const inputArb: fc.Arbitrary<ConnectionInput> = fc
  .record({
    protocol: fc.constantFrom('pop3' as const, 'imap' as const, 'smtp' as const),
    starttls: fc.constantFrom('off' as const, 'on' as const, 'only' as const),
    implicitTls: fc.boolean(),
    authMethods: fc.subarray(['plain', 'apop', 'login', 'cram-md5', 'external', 'none']),
    maxErrors: fc.integer({ min: 1, max: 4 }),
    timeoutMs: fc.constantFrom(500, 3000, 60_000),
    authHttpTimeoutMs: fc.constantFrom(500, 60_000),
    greetingDelayMs: fc.constantFrom(0, 0, 200),
    proxyPassErrorMessage: fc.boolean(),
    xclient: fc.boolean(),
    proxySmtpAuth: fc.boolean(),
  })
  .map((r) => ({
    ...r,
    capabilities: ['TOP', 'USER'],
    serverName: 'mx.test',
    salt: '<1.2@mx.test>',
    clientIp: '192.0.2.7',
    clientHost: '[UNAVAILABLE]',
  }));

/** Milliseconds between events: often none, often a little, sometimes past every timeout. */
export const gapArb = fc.oneof(fc.constant(0), fc.integer({ min: 1, max: 400 }), fc.integer({ min: 400, max: 70_000 }));

