/**
 * Test harness for the connection statechart: a live actor on a SimulatedClock whose emitted
 * effects are collected in order. Expected reply texts in the tests are written out literally
 * (nginx 1.22.1's observed wire bytes), never computed with the dialects under test.
 */
import { createActor, SimulatedClock, type Actor, type SnapshotFrom, type StateValue } from 'xstate';
import { connectionMachine, READS_INPUT } from '../../machines/connection.js';
import type { AuthOutcome, ConnectionEffect, ConnectionEvent, ConnectionInput, TlsInfo } from '../../machines/types.js';
import type { Protocol, StartTlsMode } from '../../src/config/types.js';
import { Secret } from '../../src/secret.js';

export type Snapshot = SnapshotFrom<typeof connectionMachine>;
export type ProxiedProtocol = Extract<Protocol, 'pop3' | 'imap'>;

/** Distinctive secrets: none of them may ever show up in an effect or the context, serialised. */
export const CLIENT_PASSWORD = 's3cr3t-XYZ';
export const AUTH_PASS = 'b4ck3nd-PW-QRS';
export const DIGEST = 'd1g3st-0123456789abcdef-0123456789';
export const SECRETS = [CLIENT_PASSWORD, AUTH_PASS, DIGEST] as const;

export const SALT = '<1857971247.1795908603@mx.test>';
/** base64 of SALT (the CRAM-MD5 challenge). */
export const SALT_B64 = Buffer.from(SALT, 'latin1').toString('base64');
export const TLS: TlsInfo = { protocol: 'TLSv1.3', cipher: 'TLS_AES_256_GCM_SHA384' };
export const CLIENT_IP = '192.0.2.7';

export const TIMEOUT_MS = 10_000;
export const AUTH_HTTP_TIMEOUT_MS = 25_000;

export const CRLF = '\r\n';
export const USERNAME_CHALLENGE = `+ VXNlcm5hbWU6${CRLF}`;
export const PASSWORD_CHALLENGE = `+ UGFzc3dvcmQ6${CRLF}`;

export const pw = (value: string = CLIENT_PASSWORD): Secret => new Secret(value);

export function settings(protocol: ProxiedProtocol, overrides: Partial<ConnectionInput> = {}): ConnectionInput {
  return {
    protocol,
    starttls: 'off',
    implicitTls: false,
    authMethods: protocol === 'pop3' ? ['plain', 'apop', 'cram-md5', 'external'] : ['plain', 'login', 'cram-md5', 'external'],
    capabilities: protocol === 'pop3' ? ['TOP', 'USER', 'UIDL'] : ['IMAP4', 'IMAP4rev1', 'UIDPLUS'],
    maxErrors: 5,
    timeoutMs: TIMEOUT_MS,
    authHttpTimeoutMs: AUTH_HTTP_TIMEOUT_MS,
    serverName: 'mx.test',
    salt: SALT,
    clientIp: CLIENT_IP,
    clientHost: '[UNAVAILABLE]',
    proxyPassErrorMessage: false,
    greetingDelayMs: 0,
    xclient: false,
    proxySmtpAuth: false,
    ...overrides,
  };
}

/**
 * `{ authenticating: {} }` → `authenticating`; the two regions of `preauth` as transport, then
 * dialogue: `{ preauth: { transport: 'plaintext', dialogue: 'idle' } }` → `preauth.plaintext.idle`.
 */
export function stateString(value: StateValue): string {
  if (typeof value === 'string') return value;
  const entries = Object.entries(value);
  const regions = value as { transport?: StateValue; dialogue?: StateValue };
  if (entries.length === 2 && regions.transport !== undefined && regions.dialogue !== undefined) {
    return `${stateString(regions.transport)}.${stateString(regions.dialogue)}`;
  }
  return entries.map(([key, child]) => (child === undefined ? key : `${key}.${stateString(child)}`)).join('|');
}

export const reply = (text: string): ConnectionEffect => ({ type: 'reply', text });
export const isClose = (e: ConnectionEffect): boolean => e.type === 'close';

/** A live actor on a simulated clock; every emitted effect lands in `effects`. */
export class Harness {
  readonly clock = new SimulatedClock();
  readonly effects: ConnectionEffect[] = [];
  readonly actor: Actor<typeof connectionMachine>;
  private mark = 0;

  constructor(readonly input: ConnectionInput) {
    this.actor = createActor(connectionMachine, { input, clock: this.clock });
    this.actor.on('*', (effect) => this.effects.push(effect));
    this.actor.start();
  }

  /** Sends one event; returns the effects it caused. */
  send(event: ConnectionEvent): ConnectionEffect[] {
    const from = this.effects.length;
    if (this.snapshot.status === 'active') {
      this.actor.send(event);
    } else {
      // Deliberately sent after the end (to prove nothing happens): mute XState's dev warning.
      const warn = console.warn;
      console.warn = () => undefined;
      try {
        this.actor.send(event);
      } finally {
        console.warn = warn;
      }
    }
    this.mark = this.effects.length;
    return this.effects.slice(from);
  }

  /** Advances the simulated clock; returns the effects the timers caused. */
  tick(ms: number): ConnectionEffect[] {
    const from = this.effects.length;
    this.clock.increment(ms);
    this.mark = this.effects.length;
    return this.effects.slice(from);
  }

  /** Effects since the last send/tick/take (e.g. the greeting emitted at start). */
  take(): ConnectionEffect[] {
    const out = this.effects.slice(this.mark);
    this.mark = this.effects.length;
    return out;
  }

  get snapshot(): Snapshot {
    return this.actor.getSnapshot();
  }

  get state(): string {
    return stateString(this.snapshot.value);
  }

  get done(): boolean {
    return this.snapshot.status === 'done';
  }

  get readsInput(): boolean {
    return this.snapshot.status === 'active' && this.snapshot.hasTag(READS_INPUT);
  }

  hasTag(tag: string): boolean {
    return this.snapshot.hasTag(tag);
  }
}

/** How the client reaches the command dialogue. */
export interface Transport {
  name: string;
  starttls: StartTlsMode;
  implicitTls: boolean;
  /** Issue STARTTLS/STLS first (only meaningful with starttls on/only). */
  upgrade: boolean;
}

export const TRANSPORTS: readonly Transport[] = [
  { name: 'plaintext, starttls off', starttls: 'off', implicitTls: false, upgrade: false },
  { name: 'plaintext, starttls on', starttls: 'on', implicitTls: false, upgrade: false },
  { name: 'plaintext, starttls only', starttls: 'only', implicitTls: false, upgrade: false },
  { name: 'STARTTLS, starttls on', starttls: 'on', implicitTls: false, upgrade: true },
  { name: 'STARTTLS, starttls only', starttls: 'only', implicitTls: false, upgrade: true },
  { name: 'implicit TLS, starttls off', starttls: 'off', implicitTls: true, upgrade: false },
  { name: 'implicit TLS, starttls on', starttls: 'on', implicitTls: true, upgrade: false },
  { name: 'implicit TLS, starttls only', starttls: 'only', implicitTls: true, upgrade: false },
];

export const onTls = (t: Transport): boolean => t.implicitTls || t.upgrade;
/** Transports on which credentials are accepted (everything but plaintext `starttls only`). */
export const LOGIN_TRANSPORTS = TRANSPORTS.filter((t) => t.starttls !== 'only' || onTls(t));

/** A connection that has been greeted (and upgraded, if asked); pending effects are consumed. */
export function connect(protocol: ProxiedProtocol, transport: Transport, overrides: Partial<ConnectionInput> = {}): Harness {
  const h = new Harness(settings(protocol, { starttls: transport.starttls, implicitTls: transport.implicitTls, ...overrides }));
  if (transport.implicitTls) h.send({ type: 'tls.established', tls: TLS });
  if (transport.upgrade) {
    h.send({ type: 'cmd.starttls', ...(protocol === 'imap' ? { tag: 's1' } : {}) });
    h.send({ type: 'tls.established', tls: TLS });
  }
  h.take();
  return h;
}

/** The phase the connection reads commands in: `secure` on TLS, else `plaintext`. */
export const phaseOf = (t: Transport): 'secure' | 'plaintext' => (onTls(t) ? 'secure' : 'plaintext');

/** Completes one credential set with the protocol's simplest login (POP3 USER/PASS, IMAP LOGIN). */
export function login(h: Harness, user = 'alice', password = CLIENT_PASSWORD, tag = 'a1'): ConnectionEffect[] {
  if (h.input.protocol === 'pop3') {
    h.send({ type: 'cmd.user', user });
    return h.send({ type: 'cmd.pass', password: pw(password) });
  }
  return h.send({ type: 'cmd.login', tag, user, password: pw(password) });
}

export const ok = (extra: Partial<Extract<AuthOutcome, { status: 'ok' }>> = {}): ConnectionEvent => ({
  type: 'auth.result',
  outcome: { status: 'ok', server: '127.0.0.1', port: 8110, ...extra },
});
export const fail = (text: string, waitSeconds?: number): ConnectionEvent => ({
  type: 'auth.result',
  outcome: { status: 'fail', text, ...(waitSeconds === undefined ? {} : { waitSeconds }) },
});
export const wait = (waitSeconds: number): ConnectionEvent => ({ type: 'auth.result', outcome: { status: 'wait', waitSeconds } });
export const authError = (reason = 'auth http server 127.0.0.1:9000 timed out'): ConnectionEvent => ({
  type: 'auth.result',
  outcome: { status: 'error', reason },
});

/** The `authenticate` requests among some effects. */
export const requests = (effects: readonly ConnectionEffect[]) =>
  effects.flatMap((e) => (e.type === 'authenticate' ? [e.request] : []));

/** Serialises a request with the password revealed, for comparing two requests exactly. */
export const revealRequest = (effect: ConnectionEffect | undefined) =>
  effect?.type === 'authenticate' ? { ...effect.request, password: effect.request.password.reveal() } : effect;
