import type { Protocol } from '../src/config/types.js';
import type { Dialect } from '../src/protocols/dialect.js';
import type { Secret } from '../src/secret.js';
import type { AuthMethod, AuthRequest, BackendTarget, ConnectionEvent, ConnectionInput } from './types.js';

/**
 * What one protocol adds to the connection chart: its commands before authentication, as a
 * subchart of plain data that machines/connection.ts grafts onto the shared skeleton (greeting,
 * transport, authentication, backend, relay). A protocol module (src/protocols/<name>/) supplies
 * one; nothing in it touches sockets, clocks or randomness.
 *
 * Names in a subchart refer to the skeleton's guards and actions (listed in connection.ts), to
 * `say` (a line of the protocol's dialect, `params.line` naming a key of `Dialect.lines`), to
 * `note` (a memory update, `params.update` naming a key of `updates`) and to `check` (a guard of
 * the protocol's own, `params.guard` naming a key of `guards`). The skeleton checks every name
 * when it builds the chart.
 */

/** What a protocol remembers between its commands (SMTP: HELO name, MAIL and RCPT lines). Plain data, journaled with the state. */
export type DialogueMemory = Readonly<Record<string, string | boolean | null>>;

/** Credentials collected from the client, waiting for (or being checked by) the auth service. */
export interface Credentials {
  method: AuthMethod;
  user: string;
  password: Secret;
  salt?: string;
}

/** What a protocol's guards, memory updates and request builders see. */
export interface DialogueFacts {
  settings: ConnectionInput;
  memory: DialogueMemory;
  event: ConnectionEvent;
  /** The connection runs over TLS now. */
  tls: boolean;
  credentials: Credentials | null;
}

/** A guard as a subchart names it: a name, a parameterised name, or XState's `and`/`not` of those. */
export type GuardRef = string | { type: string; params?: Record<string, unknown> } | ((...args: never[]) => boolean);
export type ActionRef = string | { type: string; params?: Record<string, unknown> };

export interface Transition {
  guard?: GuardRef;
  target?: string;
  actions?: ActionRef | readonly ActionRef[];
}

export type Transitions = Readonly<Record<string, Transition | readonly Transition[]>>;

export interface DialogueState {
  tags?: readonly string[];
  on?: Transitions;
}

export interface Dialogue {
  /** Transitions that hold throughout the pre-authentication phase (IMAP: a literal's `+ OK`). */
  readonly preauth?: Transitions;
  /** What the command phase's `idle` state does with this protocol's own commands. */
  readonly idle: Transitions;
  /** States of the command phase besides `idle` and the shared SASL steps (POP3: after USER). */
  readonly states?: Readonly<Record<string, DialogueState>>;
  readonly guards?: Readonly<Record<string, (facts: DialogueFacts) => boolean>>;
  readonly updates?: Readonly<Record<string, (facts: DialogueFacts) => DialogueMemory>>;
  /** The memory a connection starts with. */
  readonly memory: DialogueMemory;
  /**
   * Whether the backend login needs a password (the client's or `Auth-Pass`): an `OK` from the
   * auth service without one is an internal error, as in nginx for POP3 and IMAP.
   */
  readonly needsBackendPassword: boolean;
  /** Fields of the auth request beyond the shared ones (SMTP: `Client-Host`, the envelope). */
  authRequest?(facts: DialogueFacts): Partial<AuthRequest>;
  /** Fields of the backend target beyond the shared ones (SMTP: what the backend dialogue replays). */
  backendTarget?(facts: DialogueFacts): Partial<BackendTarget>;
  /** The line the proxy itself sends once the backend login is done (SMTP AUTH: 235), or null. */
  loginAnswer?(backend: BackendTarget): string | null;
  /**
   * What makes credentials unfit for this protocol's backend login (they would change the
   * commands it writes), for the log line, never the value; null when they are fine.
   */
  unsafeCredentials?(settings: ConnectionInput, user: string, password: Secret): string | null;
}

/** One protocol as the chart sees it: what it says and what it does before authentication. */
export interface ProtocolChart {
  readonly name: Protocol;
  readonly dialect: Dialect;
  readonly dialogue: Dialogue;
}

/*
 * The kit: transitions every protocol builds its credential commands from.
 *
 * Complete credentials go to the auth service, unless the backend login could not carry them
 * (`Dialogue.unsafeCredentials`): then the auth service is not asked, the client gets nginx's
 * answer to a login it cannot take (ngx_mail_auth_plain's "invalid login": the invalid-command
 * line) and starts over. Commands guarded on their own combine their guard with `unsafe`.
 */
export const unsafe = (method: AuthMethod) => ({ type: 'unsafeCredentials', params: { method } }) as const;

export const refuse = (method: AuthMethod) =>
  ({
    target: 'idle',
    actions: [{ type: 'logUnsafeCredentials', params: { method } }, 'replyInvalid', 'forgetUser'],
  }) as const satisfies Transition;

/** Credentials complete in one command; it carries the IMAP tag the auth replies will use. */
export const toAuth = (method: AuthMethod) =>
  ({
    target: '#connection.authenticating',
    actions: ['rememberTag', { type: 'takeCredentials', params: { method } }],
  }) as const satisfies Transition;

/** Credentials completed by a continuation line (POP3 PASS, a SASL response): no tag of its own. */
export const saslToAuth = (method: AuthMethod) =>
  [
    { guard: unsafe(method), ...refuse(method) },
    { target: '#connection.authenticating', actions: [{ type: 'takeCredentials', params: { method } }] },
  ] as const satisfies readonly Transition[];

/** A line of the protocol's own dialect (`Dialect.lines`), by name. */
export const say = (line: string, extra: { afterUser?: boolean } = {}) => ({ type: 'say', params: { line, ...extra } }) as const;
/** An update of the protocol's memory (`Dialogue.updates`), by name. */
export const note = (update: string) => ({ type: 'note', params: { update } }) as const;
/** A guard of the protocol's own (`Dialogue.guards`), by name. */
export const check = (guard: string) => ({ type: 'check', params: { guard } }) as const;
