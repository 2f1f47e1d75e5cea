/**
 * Properties of the connection machine over arbitrary event sequences (client commands, SASL
 * lines, input limits, TLS outcomes, auth_http outcomes, backend and relay facts, clock ticks),
 * for POP3 and IMAP and every starttls mode, plaintext or implicit TLS.
 *
 * A failing property prints its seed and path; FC_SEED / FC_PATH replay it.
 */
import { fc, test } from '@fast-check/vitest';
import { describe, expect } from 'vitest';
import type { AuthOutcome, ConnectionEffect, ConnectionEvent, ConnectionInput, SaslInitial } from '../../machines/types.js';
import { Secret } from '../../src/secret.js';
import {
  AUTH_PASS,
  CLIENT_PASSWORD,
  DIGEST,
  Harness,
  SECRETS,
  TLS,
  settings,
  stateString,
  type ProxiedProtocol,
} from './helpers.js';

const PROPERTY_TIMEOUT_MS = 3_000;
const AUTH_HTTP_MS = 7_000;
const TIMEOUT_MS = 10_000;

const params: { numRuns: number; seed?: number; path?: string } = {
  numRuns: 200,
  ...(process.env.FC_SEED ? { seed: Number(process.env.FC_SEED) } : {}),
  ...(process.env.FC_PATH ? { path: process.env.FC_PATH } : {}),
};

type Step = { kind: 'event'; event: ConnectionEvent } | { kind: 'tick'; ms: number };

// ---------------------------------------------------------------------------------------------
// Arbitraries

const secretArb = fc.constantFrom(CLIENT_PASSWORD, '', DIGEST, `${CLIENT_PASSWORD}\r\nDELE 1`).map((value) => new Secret(value));
const userArb = fc.constantFrom('alice', '', 'a b c', 'bob@example.com', 'crlfuser\r\nDELE 1', 'nul\0user');
const opt = <T>(arb: fc.Arbitrary<T>) => fc.option(arb, { nil: undefined });

const saslInitialArb: fc.Arbitrary<SaslInitial | undefined> = fc.oneof(
  fc.constant(undefined),
  fc.constant({ valid: false } as const),
  fc.record({ valid: fc.constant(true as const), user: opt(userArb), password: opt(secretArb) }),
);

const outcomeArb: fc.Arbitrary<AuthOutcome> = fc.oneof(
  fc.record({
    status: fc.constant('ok' as const),
    server: fc.constant('127.0.0.1'),
    port: fc.constant(8110),
    user: opt(userArb),
    password: opt(fc.constantFrom(AUTH_PASS, '').map((v) => new Secret(v))),
  }),
  fc.record({
    status: fc.constant('fail' as const),
    text: fc.constantFrom('Invalid login or password', ''),
    waitSeconds: opt(fc.constantFrom(0, 1, 3, 15)),
  }),
  fc.record({ status: fc.constant('wait' as const), waitSeconds: fc.constantFrom(0, 1, 2) }),
  fc.record({ status: fc.constant('error' as const), reason: fc.constant('auth http server error') }),
);

/** The commands each protocol's parser can produce (src/protocols/<proto>/parse.ts). */
function commandArb(protocol: ProxiedProtocol): fc.Arbitrary<ConnectionEvent> {
  const mechanism = fc.constantFrom('PLAIN', 'LOGIN', 'CRAM-MD5', 'EXTERNAL', 'GSSAPI');
  if (protocol === 'pop3') {
    return fc.oneof(
      fc.constant({ type: 'cmd.capability' } as const),
      fc.constant({ type: 'cmd.noop' } as const),
      { arbitrary: fc.constant({ type: 'cmd.quit' } as const), weight: 1 },
      fc.constant({ type: 'cmd.starttls' } as const),
      { arbitrary: userArb.map((user) => ({ type: 'cmd.user', user }) as const), weight: 4 },
      { arbitrary: secretArb.map((password) => ({ type: 'cmd.pass', password }) as const), weight: 4 },
      fc.record({ type: fc.constant('cmd.apop' as const), user: userArb, digest: secretArb }),
      fc.constant({ type: 'cmd.authList' } as const),
      { arbitrary: fc.record({ type: fc.constant('cmd.authenticate' as const), mechanism, initial: saslInitialArb }), weight: 3 },
      fc.constant({ type: 'cmd.refused' } as const),
      fc.record({ type: fc.constant('cmd.invalid' as const), closeAfter: fc.constantFrom(undefined, false) }),
    );
  }
  const tag = fc.constantFrom('a1', 'b2', '', undefined);
  return fc.oneof(
    fc.record({ type: fc.constant('cmd.capability' as const), tag }),
    fc.record({ type: fc.constant('cmd.noop' as const), tag }),
    { arbitrary: fc.record({ type: fc.constant('cmd.quit' as const), tag }), weight: 1 },
    fc.record({ type: fc.constant('cmd.starttls' as const), tag }),
    { arbitrary: fc.record({ type: fc.constant('cmd.login' as const), tag, user: userArb, password: secretArb }), weight: 4 },
    { arbitrary: fc.record({ type: fc.constant('cmd.authenticate' as const), tag, mechanism, initial: saslInitialArb }), weight: 3 },
    fc.record({ type: fc.constant('cmd.refused' as const), tag }),
    fc.record({ type: fc.constant('cmd.invalid' as const), tag, closeAfter: fc.constantFrom(undefined, false, true) }),
  );
}

function stepArb(protocol: ProxiedProtocol): fc.Arbitrary<Step> {
  const event = (arb: fc.Arbitrary<ConnectionEvent>, weight: number) => ({
    arbitrary: arb.map((e): Step => ({ kind: 'event', event: e })),
    weight,
  });
  return fc.oneof(
    event(commandArb(protocol), 12),
    event(fc.record({ type: fc.constant('sasl.response' as const), user: opt(userArb), password: opt(secretArb) }), 4),
    event(fc.constant({ type: 'sasl.invalid' } as const), 1),
    event(
      protocol === 'imap'
        ? fc.oneof(fc.constant({ type: 'input.literal' } as const), fc.record({ type: fc.constant('input.tooLong' as const), tag: fc.constantFrom('t', undefined) }))
        : fc.constant({ type: 'input.tooLong' } as const),
      1,
    ),
    event(fc.constant({ type: 'tls.established', tls: TLS } as const), 3),
    event(fc.constant({ type: 'tls.failed', reason: 'handshake failed' } as const), 1),
    event(outcomeArb.map((outcome) => ({ type: 'auth.result', outcome }) as const), 6),
    event(fc.constant({ type: 'backend.ready' } as const), 2),
    event(
      fc.record({ type: fc.constant('backend.failed' as const), reason: fc.constant('upstream failed'), passthrough: opt(fc.constant('-ERR no\r\n')) }),
      1,
    ),
    event(fc.constant({ type: 'relay.ended', reason: 'proxied session done' } as const), 1),
    event(fc.constant({ type: 'client.closed' } as const), 1),
    {
      arbitrary: fc
        .oneof(fc.constant(0), fc.integer({ min: 1, max: 4_000 }), fc.constantFrom(TIMEOUT_MS - 1, TIMEOUT_MS, AUTH_HTTP_MS))
        .map((ms): Step => ({ kind: 'tick', ms })),
      weight: 4,
    },
  );
}

function inputArb(protocol: ProxiedProtocol, starttls?: ConnectionInput['starttls']): fc.Arbitrary<ConnectionInput> {
  const methods = protocol === 'pop3' ? ['apop', 'cram-md5', 'external'] : ['login', 'cram-md5', 'external'];
  return fc
    .record({
      starttls: starttls === undefined ? fc.constantFrom('off', 'on', 'only') : fc.constant(starttls),
      implicitTls: fc.boolean(),
      extra: fc.subarray(methods),
      maxErrors: fc.integer({ min: 1, max: 5 }),
      proxyPassErrorMessage: fc.boolean(),
    })
    .map(({ extra, ...rest }) =>
      settings(protocol, { ...rest, authMethods: ['plain', ...extra], timeoutMs: TIMEOUT_MS, authHttpTimeoutMs: AUTH_HTTP_MS }),
    );
}

const stepsArb = (protocol: ProxiedProtocol) => fc.array(stepArb(protocol), { minLength: 1, maxLength: 40 });

// ---------------------------------------------------------------------------------------------
// Running a sequence

interface Observed {
  state: string;
  active: boolean;
  readsInput: boolean;
  tls: boolean;
}

interface Record {
  step: Step;
  before: Observed;
  after: Observed;
  effects: ConnectionEffect[];
  now: number;
}

const observe = (h: Harness): Observed => ({
  state: h.snapshot.status === 'active' ? h.state : 'closed',
  active: h.snapshot.status === 'active',
  readsInput: h.readsInput,
  tls: h.snapshot.context.tls !== null,
});

function simulate(input: ConnectionInput, steps: readonly Step[]): { h: Harness; records: Record[]; start: ConnectionEffect[] } {
  const h = new Harness(input);
  const start = h.take();
  const records: Record[] = [];
  for (const step of steps) {
    const before = observe(h);
    const effects = step.kind === 'tick' ? h.tick(step.ms) : h.send(step.event);
    records.push({ step, before, after: observe(h), effects, now: h.clock.now() });
  }
  return { h, records, start };
}

/** JSON with secrets revealed, so that determinism also covers what secrets are passed where. */
const revealingJson = (value: unknown): string =>
  JSON.stringify(value, function (this: { [key: string]: unknown }, key: string, replaced: unknown) {
    const raw = this[key];
    return raw instanceof Secret ? `secret:${raw.reveal()}` : replaced;
  });

const top = (state: string): string => state.split('.')[0]!;

// ---------------------------------------------------------------------------------------------
// Properties

describe.each(['pop3', 'imap'] as const)('%s connection machine properties', (protocol) => {
  test.prop({ input: inputArb(protocol), steps: stepsArb(protocol) }, params)(
    'at most one close, nothing after it, and a closed machine has announced it',
    ({ input, steps }) => {
      const { h } = simulate(input, steps);
      const closes = h.effects.filter((e) => e.type === 'close');
      expect(closes.length).toBeLessThanOrEqual(1);
      if (closes.length === 1) expect(h.effects.at(-1)?.type).toBe('close');
      expect(closes.length === 1).toBe(h.done);
    },
    PROPERTY_TIMEOUT_MS,
  );

  test.prop({ input: inputArb(protocol, 'only'), steps: stepsArb(protocol) }, params)(
    'starttls only: no authenticate effect while not on TLS',
    ({ input, steps }) => {
      const { records } = simulate(input, steps);
      for (const record of records) {
        for (const effect of record.effects) {
          if (effect.type !== 'authenticate') continue;
          expect(record.after.tls).toBe(true);
          expect(effect.request.tls).toEqual(TLS);
        }
      }
    },
    PROPERTY_TIMEOUT_MS,
  );

  test.prop({ input: inputArb(protocol), steps: stepsArb(protocol) }, params)(
    'auth requests carry tls info exactly when the connection is on TLS',
    ({ input, steps }) => {
      const { records } = simulate(input, steps);
      for (const record of records) {
        for (const effect of record.effects) {
          if (effect.type === 'authenticate') expect(effect.request.tls !== undefined).toBe(record.after.tls);
        }
      }
    },
    PROPERTY_TIMEOUT_MS,
  );

  test.prop({ input: inputArb(protocol, 'off'), steps: stepsArb(protocol) }, params)(
    'starttls off: never upgrading but for the implicit-TLS handshake before the greeting, never startTls',
    ({ input, steps }) => {
      const { records } = simulate(input, steps);
      for (const record of records) {
        if (record.after.state.includes('upgrading')) expect([input.implicitTls, record.after.state]).toEqual([true, 'preauth.upgrading.greeting']);
        expect(record.effects.some((e) => e.type === 'startTls')).toBe(false);
      }
    },
    PROPERTY_TIMEOUT_MS,
  );

  test.prop({ input: inputArb(protocol), steps: stepsArb(protocol) }, params)(
    'startTls only right after the positive STARTTLS reply, and only from plaintext with starttls on/only',
    ({ input, steps }) => {
      const { records } = simulate(input, steps);
      for (const record of records) {
        const i = record.effects.findIndex((e) => e.type === 'startTls');
        if (i < 0) continue;
        expect(record.step.kind === 'event' && record.step.event.type).toBe('cmd.starttls');
        expect(input.starttls).not.toBe('off');
        expect(record.before.tls).toBe(false);
        expect(i).toBe(1);
        expect(record.effects).toHaveLength(2);
        expect(record.effects[0]?.type).toBe('reply');
        expect(record.after.state).toBe('preauth.upgrading.handshake');
      }
    },
    PROPERTY_TIMEOUT_MS,
  );

  test.prop({ input: inputArb(protocol), steps: stepsArb(protocol) }, params)(
    'every cmd.* received while reading input gets a non-empty reply (or completes credentials); none while not reading',
    ({ input, steps }) => {
      const { records } = simulate(input, steps);
      for (const record of records) {
        if (record.step.kind !== 'event' || !record.step.event.type.startsWith('cmd.') || !record.before.active) continue;
        const replies = record.effects.filter((e) => e.type === 'reply');
        if (record.before.readsInput) {
          // A command that completes a credential set is answered by the auth outcome instead.
          const authenticates = record.effects.some((e) => e.type === 'authenticate');
          expect(authenticates ? record.effects.map((e) => e.type) : replies.length >= 1).toEqual(authenticates ? ['authenticate'] : true);
          for (const r of replies) expect(r.type === 'reply' && r.text.length > 0 && r.text.endsWith('\r\n')).toBe(true);
        } else {
          expect(record.effects).toEqual([]);
        }
      }
    },
    PROPERTY_TIMEOUT_MS,
  );

  test.prop({ input: inputArb(protocol), steps: stepsArb(protocol) }, params)(
    'deadlines hold: preauth < timeout, authenticating < auth_http_timeout, backend < timeout',
    ({ input, steps }) => {
      const { records } = simulate(input, steps);
      let phase = 'preauth';
      let since = 0;
      const limit: { [phase: string]: number } = { preauth: input.timeoutMs, authenticating: input.authHttpTimeoutMs, backend: input.timeoutMs };
      for (const record of records) {
        const now = top(record.after.state);
        if (now !== phase) {
          phase = now;
          since = record.now;
        }
        const max = limit[phase];
        if (max !== undefined) expect(record.now - since).toBeLessThan(max);
      }
    },
    PROPERTY_TIMEOUT_MS,
  );

  test.prop({ input: inputArb(protocol), steps: stepsArb(protocol) }, params)(
    'max_errors: the connection closes exactly when the counted errors reach the limit',
    ({ input, steps }) => {
      const { records, h } = simulate(input, steps);
      let counted = 0;
      for (const record of records) {
        if (record.step.kind !== 'event' || record.step.event.type !== 'cmd.invalid' || !record.before.readsInput) continue;
        counted += 1;
        const closes = record.effects.some((e) => e.type === 'close');
        expect(closes).toBe(counted >= input.maxErrors || record.step.event.closeAfter === true);
      }
      expect(h.snapshot.context.errors).toBe(counted);
    },
    PROPERTY_TIMEOUT_MS,
  );

  test.prop({ input: inputArb(protocol), steps: stepsArb(protocol) }, params)(
    'secrets never appear in serialised effects or context',
    ({ input, steps }) => {
      const { h, records } = simulate(input, steps);
      const dumps = [JSON.stringify(h.effects), JSON.stringify(h.snapshot.context), JSON.stringify(records)];
      for (const dump of dumps) for (const secret of SECRETS) expect(dump).not.toContain(secret);
    },
    PROPERTY_TIMEOUT_MS,
  );

  test.prop({ input: inputArb(protocol), steps: stepsArb(protocol) }, params)(
    'determinism: replaying the same events and clock increments gives the same state and effects',
    ({ input, steps }) => {
      const a = simulate(input, steps);
      const b = simulate(input, steps);
      expect(stateString(b.h.snapshot.value)).toBe(stateString(a.h.snapshot.value));
      expect(b.h.snapshot.status).toBe(a.h.snapshot.status);
      expect(revealingJson(b.h.effects)).toBe(revealingJson(a.h.effects));
      expect(revealingJson(b.h.snapshot.context)).toBe(revealingJson(a.h.snapshot.context));
      expect(b.records.map((r) => r.after)).toEqual(a.records.map((r) => r.after));
    },
    PROPERTY_TIMEOUT_MS,
  );
});
