import { and, assign, emit, not, setup } from '../src/xstate.js';
import type { Protocol } from '../src/config/types.js';
import type { CapabilityView, LineView, SaslChallenge } from '../src/protocols/dialect.js';
import { mailProtocols } from '../src/protocols/registry.js';
import { Secret } from '../src/secret.js';
import type { ActionRef, Credentials, DialogueFacts, DialogueMemory, GuardRef, ProtocolChart, Transition, Transitions } from './dialogue.js';
import { saslToAuth, toAuth, refuse, unsafe } from './dialogue.js';
import type {
  AuthMethod,
  AuthOutcome,
  BackendTarget,
  ConnectionEffect,
  ConnectionEvent,
  ConnectionInput,
  LogLevel,
  TlsInfo,
} from './types.js';

export type { Credentials };

/**
 * The SASL step a state waits in, published as a state tag so that the runtime knows how to
 * decode the next continuation line (the machine itself never looks inside credentials).
 */
export type SaslStep = 'plain' | 'loginUser' | 'loginPassword' | 'cram-md5' | 'external';
export const SASL_STEPS: readonly SaslStep[] = ['plain', 'loginUser', 'loginPassword', 'cram-md5', 'external'];
export const saslTag = (step: SaslStep): string => `sasl:${step}`;

/** Tag of the states in which the runtime reads and frames client input. */
export const READS_INPUT = 'readsInput';

/** The transport region's states, and the dialogue's command state, as transitions from elsewhere name them. */
const PLAINTEXT = '#connection.preauth.transport.plaintext';
const SECURE = '#connection.preauth.transport.secure';
const UPGRADING = '#connection.preauth.transport.upgrading';
const COMMANDS = '#connection.preauth.dialogue.idle';
const HANDSHAKE = '#connection.preauth.dialogue.handshake';

export interface ConnectionContext {
  settings: ConnectionInput;
  tls: TlsInfo | null;
  /** Parse-level invalid commands so far (nginx's `max_errors` counter). */
  errors: number;
  /** Completed credential sets so far (`Auth-Login-Attempt`). */
  attempt: number;
  /** IMAP tag of the LOGIN/AUTHENTICATE being handled. */
  tag: string | undefined;
  /** POP3 USER name, or the SASL LOGIN user name, until the password arrives. */
  pendingUser: string | null;
  credentials: Credentials | null;
  /** Delay before the failure reply (`Auth-Wait`) or before re-asking (`WAIT`). */
  authWaitMs: number;
  /** The reply to send when the `Auth-Wait` delay ends. */
  pendingFailureReply: string;
  backend: BackendTarget | null;
  closeReason: string;
  /** What the protocol's own dialogue remembers between commands (SMTP: HELO, MAIL, RCPT). */
  memory: DialogueMemory;
}

type Ev<T extends ConnectionEvent['type']> = Extract<ConnectionEvent, { type: T }>;
type Params = { context: ConnectionContext; event: ConnectionEvent };

const EMPTY_PASSWORD = new Secret('');
const MAX_TIMER_MS = 2 ** 31 - 1;

const capabilityView = (context: ConnectionContext, afterUser = false): CapabilityView => ({
  tls: context.tls !== null,
  starttls: context.settings.starttls,
  authMethods: context.settings.authMethods,
  capabilities: context.settings.capabilities,
  afterUser,
});

/** The protocols the chart serves, by name (src/protocols/registry.ts). */
const charts: Readonly<Record<Protocol, ProtocolChart>> = mailProtocols;
const chartOf = (context: ConnectionContext): ProtocolChart => charts[context.settings.protocol];
const dialect = (context: ConnectionContext) => chartOf(context).dialect;
const dialogue = (context: ConnectionContext) => chartOf(context).dialogue;

const lineView = (context: ConnectionContext, afterUser = false): LineView => ({
  ...capabilityView(context, afterUser),
  serverName: context.settings.serverName,
  salt: context.settings.salt,
});

const factsOf = (context: ConnectionContext, event: ConnectionEvent): DialogueFacts => ({
  settings: context.settings,
  memory: context.memory,
  event,
  tls: context.tls !== null,
  credentials: context.credentials,
});

/** The tag a command event carries (IMAP), if any. */
const eventTag = (event: ConnectionEvent): string | undefined => ('tag' in event ? event.tag : undefined);

/** An action that writes one reply, its text computed from the context, the event and the action's params. */
const reply = <P extends Record<string, unknown> | undefined = undefined>(text: (p: Params, params: P) => string) =>
  emit<ConnectionContext, ConnectionEvent, P, ConnectionEvent, ConnectionEffect>((p, params) => ({
    type: 'reply',
    text: text(p, params),
  }));

/** The credentials an event completes, given what the machine already holds. */
function credentialsFrom(context: ConnectionContext, event: ConnectionEvent, method: AuthMethod): Credentials {
  const salt = method === 'apop' || method === 'cram-md5' ? context.settings.salt : undefined;
  switch (event.type) {
    case 'cmd.pass':
      return { method, user: context.pendingUser ?? '', password: event.password };
    case 'cmd.apop':
      return { method, user: event.user, password: event.digest, salt };
    case 'cmd.login':
      return { method, user: event.user, password: event.password };
    case 'cmd.authenticate': {
      const initial = event.initial?.valid ? event.initial : undefined;
      return { method, user: initial?.user ?? '', password: initial?.password ?? EMPTY_PASSWORD };
    }
    case 'sasl.response':
      return {
        method,
        user: event.user ?? context.pendingUser ?? '',
        password: event.password ?? EMPTY_PASSWORD,
        ...(salt === undefined ? {} : { salt }),
      };
    default:
      // `smtp_auth none`: the envelope stands for the credentials (RCPT asks the auth service).
      if (method === 'none') return { method, user: '', password: EMPTY_PASSWORD };
      throw new Error(`no credentials in ${event.type}`);
  }
}

/** What makes an event's credentials unfit for the backend login (unsafe-credentials.ts), or null. */
function credentialsProblem(context: ConnectionContext, event: ConnectionEvent, method: AuthMethod): string | null {
  const { user, password } = credentialsFrom(context, event, method);
  return dialogue(context).unsafeCredentials?.(context.settings, user, password) ?? null;
}

/** POP3/IMAP need a password for the backend: the client's (plain) or the auth service's `Auth-Pass`. */
function backendPassword(credentials: Credentials | null, outcome: AuthOutcome): Secret | null {
  if (outcome.status !== 'ok') return null;
  if (outcome.password !== undefined) return outcome.password;
  if (credentials?.method === 'plain' && credentials.password.length > 0) return credentials.password;
  return null;
}

const outcomeOf = (event: ConnectionEvent): AuthOutcome | null => (event.type === 'auth.result' ? event.outcome : null);

const clientCertOf = (event: ConnectionEvent) => (event.type === 'tls.established' ? event.tls.clientCert : undefined);

/** nginx's log line for a refused certificate: `(20:unable to get local issuer certificate)`. */
function certificateErrorReason(event: ConnectionEvent): string {
  const cert = clientCertOf(event);
  const text = cert?.verify.replace(/^FAILED:/, '') ?? '';
  return `client SSL certificate verify error: (${cert?.errorNumber ?? 0}:${text})`;
}

/**
 * The per-connection statechart. Pure: every effect leaves as an emitted event
 * (see `ConnectionEffect`), every fact from the world arrives as an event, and time only
 * through the named delays.
 */
const connectionSetup = setup({
  types: {
    context: {} as ConnectionContext,
    events: {} as ConnectionEvent,
    input: {} as ConnectionInput,
    emitted: {} as ConnectionEffect,
  },
  delays: {
    clientTimeout: ({ context }) => context.settings.timeoutMs,
    authHttpTimeout: ({ context }) => context.settings.authHttpTimeoutMs,
    authWait: ({ context }) => context.authWaitMs,
    greetingDelay: ({ context }) => context.settings.greetingDelayMs,
  },
  guards: {
    implicitTls: ({ context }) => context.settings.implicitTls,
    /** Keeps each protocol's own commands to connections of that protocol, whatever event arrives. */
    speaks: ({ context }, params: { protocol: Protocol }) => context.settings.protocol === params.protocol,
    /** A guard of the protocol's dialogue, by name. */
    check: ({ context, event }, params: { guard: string }) => dialogue(context).guards![params.guard]!(factsOf(context, event)),
    greetsAtOnce: ({ context }) => !context.settings.implicitTls && context.settings.greetingDelayMs <= 0,
    delaysGreeting: ({ context }) => context.settings.greetingDelayMs > 0,
    /** The protocol says something of its own once STARTTLS's handshake is done (ManageSieve's capabilities). */
    speaksAfterStarttls: ({ context }) => dialect(context).afterStarttls !== undefined,
    /** The proxy itself answers the client once the backend login is done (SMTP AUTH: 235). */
    proxyAnswersLogin: ({ context }) => context.backend !== null && (dialogue(context).loginAnswer?.(context.backend) ?? null) !== null,
    starttlsAllowed: ({ context }) => context.settings.starttls !== 'off' && context.tls === null,
    tlsRequiredForAuth: ({ context }) => context.settings.starttls === 'only' && context.tls === null,
    onTls: ({ context }) => context.tls !== null,
    invalidEndsSession: ({ context, event }) =>
      (event.type === 'cmd.invalid' && event.closeAfter === true) || context.errors + 1 >= context.settings.maxErrors,
    /**
     * `AUTHENTICATE <mechanism>` with no, a valid, or an undecodable initial response; `enabledBy`
     * names the `*_auth` method that must be configured (PLAIN and LOGIN are always accepted).
     */
    authenticateWith: (
      { context, event },
      params: { mechanism: string; initial: 'none' | 'valid' | 'invalid'; enabledBy?: string },
    ) => {
      if (event.type !== 'cmd.authenticate' || event.mechanism !== params.mechanism) return false;
      if (params.enabledBy !== undefined && !context.settings.authMethods.includes(params.enabledBy)) return false;
      if (event.initial === undefined) return params.initial === 'none';
      return params.initial === (event.initial.valid ? 'valid' : 'invalid');
    },
    authAccepted: ({ context, event }) =>
      outcomeOf(event)?.status === 'ok' &&
      (!dialogue(context).needsBackendPassword || backendPassword(context.credentials, outcomeOf(event)!) !== null),
    authAcceptedWithoutPassword: ({ event }) => outcomeOf(event)?.status === 'ok',
    authFailedWithWait: ({ event }) => {
      const outcome = outcomeOf(event);
      return outcome?.status === 'fail' && (outcome.waitSeconds ?? 0) > 0;
    },
    authFailed: ({ event }) => outcomeOf(event)?.status === 'fail',
    authAskedToWait: ({ event }) => outcomeOf(event)?.status === 'wait',
    /**
     * After the handshake, as nginx checks it (ngx_mail_verify_cert): a certificate that failed
     * verification ends the connection unless `optional_no_ca` tolerates the failure (an
     * unknown or untrusted issuer); then, with `on`, so does no certificate at all.
     */
    clientCertRejected: ({ context, event }) => {
      const mode = context.settings.verifyClient ?? 'off';
      const cert = clientCertOf(event);
      if (mode === 'off' || cert === undefined || !cert.verify.startsWith('FAILED:')) return false;
      return !(mode === 'optional_no_ca' && cert.issuerUnknown === true);
    },
    clientCertMissing: ({ context, event }) =>
      context.settings.verifyClient === 'on' && event.type === 'tls.established' && (clientCertOf(event)?.verify ?? 'NONE') === 'NONE',
    unsafeCredentials: ({ context, event }, params: { method: AuthMethod }) => credentialsProblem(context, event, params.method) !== null,
    passErrorMessage: ({ context, event }) =>
      context.settings.proxyPassErrorMessage && event.type === 'backend.failed' && event.passthrough !== undefined,
  },
  actions: {
    greet: reply(({ context }) => dialect(context).greeting(context.settings)),
    startTls: emit({ type: 'startTls' } as const),
    replyOk: reply(({ context, event }) => dialect(context).ok(eventTag(event))),
    replyInvalid: reply(({ context, event }) => dialect(context).invalid(eventTag(event))),
    /** Closing on input too long for the buffer, in any state before login (SASL steps included). */
    replyInputTooLong: reply(({ context, event }) => dialect(context).inputTooLong(eventTag(event))),
    /** SASL failures answer with the AUTHENTICATE command's tag. */
    replySaslInvalid: reply(({ context }) => dialect(context).invalid(context.tag)),
    replySaslUsernameInvalid: reply(({ context }) => dialect(context).saslUsernameInvalid(context.tag)),
    replyRefused: reply(({ context, event }) => dialect(context).refused(event.type === 'cmd.refused' ? event.reply : undefined, eventTag(event))),
    /** A line of the protocol's own (`Dialect.lines`), by name. */
    say: reply<{ line: string; afterUser?: boolean }>(({ context, event }, params) =>
      dialect(context).lines[params.line]!(lineView(context, params.afterUser ?? false), eventTag(event)),
    ),
    /** An update of the protocol's memory, by name. */
    note: assign({ memory: ({ context, event }, params: { update: string }) => dialogue(context).updates![params.update]!(factsOf(context, event)) }),
    /** RFC 3207 and its kin: after STARTTLS the client starts over (the protocol's `starttls` update). */
    noteStarttls: assign({
      memory: ({ context, event }) => dialogue(context).updates?.['starttls']?.(factsOf(context, event)) ?? context.memory,
    }),
    replyQuit: reply(({ context, event }) => dialect(context).quit(eventTag(event))),
    replyStarttlsOk: reply(({ context, event }) => dialect(context).starttlsOk(eventTag(event))),
    replyChallenge: reply<{ step: SaslChallenge }>(({ context }, params) =>
      dialect(context).challenge(params.step, context.settings.salt),
    ),
    replyInternalError: reply(({ context }) => dialect(context).internalError),
    replyPendingFailure: reply(({ context }) => context.pendingFailureReply),
    replyAuthFailure: reply(({ context, event }) => {
      const outcome = outcomeOf(event);
      const text = outcome?.status === 'fail' ? outcome.text : '';
      const code = outcome?.status === 'fail' ? outcome.errorCode : undefined;
      return dialect(context).authFailed(text, context.tag, code);
    }),
    replyBackendError: reply(({ event }) => (event.type === 'backend.failed' ? (event.passthrough ?? '') : '')),
    replyAfterStarttls: reply(({ context }) => dialect(context).afterStarttls?.(lineView(context)) ?? ''),
    replyLoginAnswer: reply(({ context }) => (context.backend === null ? '' : (dialogue(context).loginAnswer?.(context.backend) ?? ''))),
    replyTalkedTooSoon: reply(({ context, event }) => dialect(context).talkedTooSoon ?? dialect(context).invalid(eventTag(event))),
    replyCertificateError: reply(({ context }) => dialect(context).certificateError),
    replyCertificateMissing: reply(({ context }) => dialect(context).certificateMissing),
    /** A refused certificate's session must not be resumed past the check (nginx: SSL_remove_session). */
    forgetTlsSession: emit({ type: 'forgetTlsSession' } as const),
    countError: assign({ errors: ({ context }) => context.errors + 1 }),
    rememberTls: assign({ tls: ({ event }) => (event.type === 'tls.established' ? event.tls : null) }),
    rememberTag: assign({ tag: ({ event }) => eventTag(event) }),
    rememberUser: assign({
      pendingUser: ({ event }) => (event.type === 'cmd.user' || event.type === 'sasl.response' ? (event.user ?? null) : null),
    }),
    /** LOGIN with an initial response: the user name arrived with the command. */
    rememberInitialUser: assign({
      pendingUser: ({ event }) => (event.type === 'cmd.authenticate' && event.initial?.valid ? (event.initial.user ?? '') : null),
    }),
    forgetUser: assign({ pendingUser: null }),
    takeCredentials: assign(({ context, event }, params: { method: AuthMethod }) => ({
      credentials: credentialsFrom(context, event, params.method),
      attempt: context.attempt + 1,
      pendingUser: null,
    })),
    requestAuth: emit(({ context, event }): ConnectionEffect => {
      const credentials = context.credentials ?? { method: 'plain', user: '', password: EMPTY_PASSWORD };
      return {
        type: 'authenticate',
        request: {
          method: credentials.method,
          user: credentials.user,
          password: credentials.password,
          ...(credentials.salt === undefined ? {} : { salt: credentials.salt }),
          protocol: context.settings.protocol,
          attempt: context.attempt,
          clientIp: context.settings.clientIp,
          ...dialogue(context).authRequest?.(factsOf(context, event)),
          ...(context.tls === null ? {} : { tls: context.tls }),
        },
      };
    }),
    /**
     * An APOP/CRAM-MD5 digest is only good for the request it was sent in: a WAIT re-query goes
     * without it, and the backend password must come from `Auth-Pass` (nginx CVE-2026-27651).
     */
    forgetDigest: assign({
      credentials: ({ context }) =>
        context.credentials && (context.credentials.method === 'apop' || context.credentials.method === 'cram-md5')
          ? { ...context.credentials, password: EMPTY_PASSWORD }
          : context.credentials,
    }),
    rememberWait: assign({
      authWaitMs: ({ event }) => {
        const outcome = outcomeOf(event);
        // Timers cannot wait longer than 2^31-1 ms (a longer one would fire at once).
        return outcome && 'waitSeconds' in outcome ? Math.min((outcome.waitSeconds ?? 0) * 1000, MAX_TIMER_MS) : 0;
      },
    }),
    rememberFailureReply: assign({
      pendingFailureReply: ({ context, event }) => {
        const outcome = outcomeOf(event);
        return outcome?.status === 'fail' ? dialect(context).authFailed(outcome.text, context.tag, outcome.errorCode) : '';
      },
    }),
    /**
     * After a failed attempt the client starts over (POP3 must send USER again). SMTP keeps its
     * MAIL FROM, as nginx does (a refused RCPT does not end the transaction: MAIL again is 503,
     * RCPT asks the auth service again); RSET, HELO/EHLO or STARTTLS end it.
     */
    forgetCredentials: assign({ credentials: null, pendingUser: null }),
    chooseBackend: assign({
      backend: ({ context, event }) => {
        const outcome = outcomeOf(event);
        const password = backendPassword(context.credentials, outcome ?? { status: 'error', reason: '' });
        if (outcome?.status !== 'ok') return null;
        return {
          server: outcome.server,
          port: outcome.port,
          user: outcome.user ?? context.credentials?.user ?? '',
          password: password ?? EMPTY_PASSWORD,
          ...(context.tag === undefined ? {} : { tag: context.tag }),
          ...dialogue(context).backendTarget?.(factsOf(context, event)),
        };
      },
      credentials: null,
    }),
    connectBackend: emit(({ context }): ConnectionEffect => ({
      type: 'connectBackend',
      target: context.backend ?? { server: '', port: 0, user: '', password: EMPTY_PASSWORD },
    })),
    forgetBackendPassword: assign({ backend: null }),
    startRelay: emit({ type: 'startRelay' } as const),
    setCloseReason: assign({ closeReason: (_, params: { reason: string }) => params.reason }),
    setCloseReasonFromEvent: assign({
      closeReason: ({ event }) => {
        if (event.type === 'auth.result' && event.outcome.status === 'error') return event.outcome.reason;
        if (event.type === 'backend.failed' || event.type === 'relay.ended' || event.type === 'tls.failed') return event.reason;
        if (event.type === 'tls.established') return certificateErrorReason(event);
        return event.type;
      },
    }),
    log: emit((_, params: { level: LogLevel; message: string }): ConnectionEffect => ({ type: 'log', ...params })),
    logUnsafeCredentials: emit(({ context, event }, params: { method: AuthMethod }): ConnectionEffect => ({
      type: 'log',
      level: 'info',
      message: `client sent ${credentialsProblem(context, event, params.method)!}`,
    })),
    close: emit(({ context }): ConnectionEffect => ({ type: 'close', reason: context.closeReason })),
  },
});

type StateConfig = NonNullable<Parameters<typeof connectionSetup.createMachine>[0]['states']>[string];

/**
 * The first `tls.established` transitions after every handshake: a client certificate that
 * `ssl_verify_client` refuses ends the connection with the protocol's line, in place of the
 * greeting (implicit TLS) or of the next command (STARTTLS).
 */
const refuseClientCertificate = [
  {
    guard: 'clientCertRejected',
    target: '#connection.closed',
    actions: ['replyCertificateError', 'forgetTlsSession', 'setCloseReasonFromEvent'],
  },
  {
    guard: 'clientCertMissing',
    target: '#connection.closed',
    actions: [
      'replyCertificateMissing',
      'forgetTlsSession',
      { type: 'setCloseReason', params: { reason: 'client sent no required SSL certificate' } },
    ],
  },
] as const;

const skeleton = skeletonDialogue();
/** The skeleton's states of the dialogue: no protocol's command state may take one of these names (checkChart). */
export const SKELETON_DIALOGUE_STATES: readonly string[] = Object.keys(skeleton.states);

export const connectionMachine = connectionSetup.createMachine({
  id: 'connection',
  context: ({ input }) => ({
    settings: input,
    tls: null,
    errors: 0,
    attempt: 0,
    tag: undefined,
    pendingUser: null,
    credentials: null,
    authWaitMs: 0,
    pendingFailureReply: '',
    backend: null,
    closeReason: '',
    memory: charts[input.protocol].dialogue.memory,
  }),
  initial: 'preauth',
  on: {
    'client.closed': { target: '.closed', actions: { type: 'setCloseReason', params: { reason: 'client closed connection' } } },
  },
  states: {
    /**
     * Before credentials are complete: nginx's absolute `timeout` runs here, not re-armed by
     * commands. Two regions: the transport the client talks over, and the dialogue on top of it.
     */
    preauth: {
      type: 'parallel',
      after: {
        clientTimeout: {
          target: 'closed',
          actions: [{ type: 'setCloseReason', params: { reason: 'client timed out' } }],
        },
      },
      on: {
        'input.tooLong': {
          target: 'closed',
          actions: ['replyInputTooLong', { type: 'setCloseReason', params: { reason: 'client sent too long command' } }],
        },
        ...protocolTransitions((chart) => chart.dialogue.preauth),
      },
      states: {
        /**
         * `plaintext` until a TLS handshake starts (`listen ... ssl` at once, or STARTTLS),
         * `upgrading` while it runs (input is not read), then `secure`. Declared before the
         * dialogue: for a handshake's result both regions react to, the transport's transition
         * comes first, and a refused certificate (which leaves `preauth`) preempts the dialogue's.
         */
        transport: {
          initial: 'plaintext',
          states: {
            plaintext: {
              tags: [READS_INPUT],
              // `listen ... ssl`: the runtime starts the handshake as soon as it accepts.
              always: { guard: 'implicitTls', target: 'upgrading' },
            },
            upgrading: {
              on: {
                'tls.established': [...refuseClientCertificate, { target: 'secure', actions: 'rememberTls' }],
                'tls.failed': { target: '#connection.closed', actions: 'setCloseReasonFromEvent' },
              },
            },
            secure: { tags: [READS_INPUT] },
          },
        },
        // The protocols' command states beside the skeleton's (which win a name clash checkChart refuses).
        dialogue: { ...skeleton, states: { ...protocolStates(), ...skeleton.states } },
      },
    },
    authenticating: {
      entry: ['requestAuth', 'forgetDigest'],
      after: {
        authHttpTimeout: {
          target: 'closed',
          actions: ['replyInternalError', { type: 'setCloseReason', params: { reason: 'auth http server timed out' } }],
        },
      },
      on: {
        'auth.result': [
          { guard: 'authAccepted', target: 'backend', actions: 'chooseBackend' },
          {
            guard: 'authAcceptedWithoutPassword',
            target: 'closed',
            actions: ['replyInternalError', { type: 'setCloseReason', params: { reason: 'auth http server did not send password' } }],
          },
          { guard: 'authFailedWithWait', target: 'authFailed', actions: ['rememberWait', 'rememberFailureReply', 'forgetCredentials'] },
          {
            guard: 'authFailed',
            target: 'closed',
            actions: ['replyAuthFailure', 'forgetCredentials', { type: 'setCloseReason', params: { reason: 'client login failed' } }],
          },
          { guard: 'authAskedToWait', target: 'authRetry', actions: 'rememberWait' },
          { target: 'closed', actions: ['replyInternalError', 'setCloseReasonFromEvent'] },
        ],
      },
    },
    /** `Auth-Wait` after a failure: silence, then the failure reply, then the client may try again. */
    authFailed: {
      after: {
        authWait: [
          { guard: 'onTls', target: [SECURE, COMMANDS], actions: 'replyPendingFailure' },
          { target: [PLAINTEXT, COMMANDS], actions: 'replyPendingFailure' },
        ],
      },
    },
    /** `Auth-Status: WAIT`: ask the auth service again after `Auth-Wait`, same attempt number. */
    authRetry: {
      after: { authWait: { target: 'authenticating' } },
    },
    /** Connecting to the backend and logging in there; `timeout` guards the whole dialogue. */
    backend: {
      entry: 'connectBackend',
      after: {
        clientTimeout: {
          target: 'closed',
          actions: ['replyInternalError', { type: 'setCloseReason', params: { reason: 'upstream timed out' } }],
        },
      },
      on: {
        'backend.ready': [
          // SMTP AUTH: the proxy itself says 235 once the backend dialogue is done.
          { guard: 'proxyAnswersLogin', target: 'relaying', actions: ['replyLoginAnswer', 'forgetBackendPassword'] },
          { target: 'relaying', actions: 'forgetBackendPassword' },
        ],
        'backend.failed': [
          { guard: 'passErrorMessage', target: 'closed', actions: ['replyBackendError', 'setCloseReasonFromEvent'] },
          { target: 'closed', actions: ['replyInternalError', 'setCloseReasonFromEvent'] },
        ],
      },
    },
    /** The data plane copies bytes; the machine only hears how it ended. */
    relaying: {
      entry: ['startRelay', { type: 'log', params: { level: 'info', message: 'client logged in' } }],
      on: {
        'relay.ended': { target: 'closed', actions: 'setCloseReasonFromEvent' },
        'client.closed': { target: 'closed', actions: { type: 'setCloseReason', params: { reason: 'proxied session done' } } },
      },
    },
    closed: {
      type: 'final',
      entry: 'close',
    },
  },
});

/**
 * Each protocol's own transitions for one event, joined into one list: each protocol's
 * transitions are guarded by `speaks` (their protocol), so a command reaches only the dialogue
 * of the connection's protocol; a protocol without it falls through to the shared handling.
 */
function protocolTransitions(pick: (chart: ProtocolChart) => Transitions | undefined): Record<string, Transition[]> {
  const joined: Record<string, Transition[]> = {};
  for (const chart of Object.values(charts)) {
    const speaks = { type: 'speaks', params: { protocol: chart.name } } as const;
    for (const [event, transitions] of Object.entries(pick(chart) ?? {})) {
      for (const transition of ([] as Transition[]).concat(transitions as Transition | Transition[])) {
        // `and` takes the chart's own guard types; a dialogue's guard is checked by name instead (checkChart).
        const guard: GuardRef = transition.guard === undefined ? speaks : and([speaks, transition.guard as never]);
        (joined[event] ??= []).push({ ...transition, guard });
      }
    }
  }
  return joined;
}

/**
 * The idle state's transitions: for an event both handle, the protocol's own come first (each
 * guarded by `speaks`), so a protocol can refine a shared command (ManageSieve answers
 * AUTHENTICATE before TLS under `starttls only` with its ENCRYPT-NEEDED line) and falls through
 * to the shared handling where its guards do not hold.
 */
function withProtocolsFirst(own: Record<string, Transition[]>, shared: NonNullable<StateConfig['on']>): NonNullable<StateConfig['on']> {
  const joined: Record<string, unknown> = { ...shared };
  for (const [event, transitions] of Object.entries(own)) {
    const after = shared[event as keyof typeof shared];
    joined[event] = after === undefined ? transitions : [...transitions, ...([] as unknown[]).concat(after)];
  }
  return joined as NonNullable<StateConfig['on']>;
}

/** Each protocol's own command states (POP3: after USER); two protocols cannot name one state alike. */
function protocolStates(): Record<string, StateConfig> {
  const states: Record<string, StateConfig> = {};
  for (const chart of Object.values(charts)) {
    for (const [name, state] of Object.entries(chart.dialogue.states ?? {})) {
      if (name in states) throw new Error(`protocol ${chart.name}: command state "${name}" is already another protocol's`);
      states[name] = state as StateConfig;
    }
  }
  return states;
}

/**
 * The dialogue before authentication, built once for every transport: the greeting, then the
 * commands; what the transport changes (STARTTLS allowed, credentials refused before TLS) comes
 * from guards on `context.tls`. Shared here: invalid commands, NOOP, QUIT, STARTTLS and SASL
 * AUTHENTICATE; each protocol's dialogue (src/protocols/<name>/dialogue.ts) adds its own
 * commands and states (grafted where the machine is built).
 */
function skeletonDialogue() {
  const dialogue = {
    initial: 'greeting',
    on: {
      'cmd.invalid': [
        {
          guard: 'invalidEndsSession',
          target: '#connection.closed',
          actions: ['countError', 'replyInvalid', { type: 'setCloseReason', params: { reason: 'client sent too many invalid commands' } }],
        },
        { target: '.idle', actions: ['countError', 'replyInvalid'] },
      ],
      'cmd.noop': { actions: 'replyOk' },
      'cmd.quit': {
        target: '#connection.closed',
        actions: ['replyQuit', { type: 'setCloseReason', params: { reason: 'client quit' } }],
      },
      'cmd.refused': { target: '.idle', actions: 'replyRefused' },
      // A recognised command in the wrong place: answered as invalid, not counted, state reset.
      'cmd.*': { target: '.idle', actions: 'replyInvalid' },
    },
    states: {
      /**
       * Plaintext listeners greet at once; on `listen ... ssl` the greeting follows the handshake
       * (the transport region runs it).
       */
      greeting: {
        always: [
          { guard: 'greetsAtOnce', target: 'idle', actions: 'greet' },
          { guard: not('implicitTls'), target: 'greetingDelay' },
        ],
        on: {
          'tls.established': [
            { guard: 'delaysGreeting', target: 'greetingDelay' },
            { target: 'idle', actions: 'greet' },
          ],
          // Nothing is read before the greeting: a command cannot arrive, and would be ignored.
          'cmd.*': {},
        },
      },
      /**
       * STARTTLS accepted: the dialogue starts over once the transport is secure (RFC 3207 §4.2);
       * ManageSieve then speaks first again (RFC 5804 §2.2). Nothing is read meanwhile.
       */
      handshake: {
        on: {
          'tls.established': [{ guard: 'speaksAfterStarttls', target: 'idle', actions: 'replyAfterStarttls' }, { target: 'idle' }],
          'cmd.*': {},
        },
      },
      /** SMTP `smtp_greeting_delay`: a client that talks before the greeting is refused. */
      greetingDelay: {
        after: { greetingDelay: { target: 'idle', actions: 'greet' } },
        on: {
          'cmd.*': {
            target: '#connection.closed',
            actions: ['replyTalkedTooSoon', { type: 'setCloseReason', params: { reason: 'client was rejected before greeting' } }],
          },
          'input.tooLong': {
            target: '#connection.closed',
            actions: ['replyTalkedTooSoon', { type: 'setCloseReason', params: { reason: 'client was rejected before greeting' } }],
          },
        },
      },
      idle: {
        on: withProtocolsFirst(protocolTransitions((chart) => chart.dialogue.idle), {
          'cmd.starttls': {
            guard: 'starttlsAllowed',
            target: [UPGRADING, HANDSHAKE],
            actions: ['replyStarttlsOk', 'noteStarttls', 'startTls'],
          },
          'cmd.authenticate': [
            { guard: 'tlsRequiredForAuth', actions: 'replyInvalid' },
            { guard: and([{ type: 'authenticateWith', params: { mechanism: 'PLAIN', initial: 'valid' } } as const, unsafe('plain')]), ...refuse('plain') },
            { guard: { type: 'authenticateWith', params: { mechanism: 'PLAIN', initial: 'valid' } }, ...toAuth('plain') },
            {
              guard: { type: 'authenticateWith', params: { mechanism: 'PLAIN', initial: 'none' } },
              target: 'saslPlain',
              actions: ['rememberTag', { type: 'replyChallenge', params: { step: 'plain' } }],
            },
            {
              guard: { type: 'authenticateWith', params: { mechanism: 'LOGIN', initial: 'valid' } },
              target: 'saslLoginPassword',
              actions: ['rememberTag', 'rememberInitialUser', { type: 'replyChallenge', params: { step: 'password' } }],
            },
            {
              guard: { type: 'authenticateWith', params: { mechanism: 'LOGIN', initial: 'none' } },
              target: 'saslLoginUser',
              actions: ['rememberTag', { type: 'replyChallenge', params: { step: 'username' } }],
            },
            {
              guard: { type: 'authenticateWith', params: { mechanism: 'CRAM-MD5', initial: 'none', enabledBy: 'cram-md5' } },
              target: 'saslCramMd5',
              actions: ['rememberTag', { type: 'replyChallenge', params: { step: 'cram-md5' } }],
            },
            {
              guard: and([{ type: 'authenticateWith', params: { mechanism: 'EXTERNAL', initial: 'valid', enabledBy: 'external' } } as const, unsafe('external')]),
              ...refuse('external'),
            },
            {
              guard: { type: 'authenticateWith', params: { mechanism: 'EXTERNAL', initial: 'valid', enabledBy: 'external' } },
              ...toAuth('external'),
            },
            {
              guard: { type: 'authenticateWith', params: { mechanism: 'EXTERNAL', initial: 'none', enabledBy: 'external' } },
              target: 'saslExternal',
              actions: ['rememberTag', { type: 'replyChallenge', params: { step: 'username' } }],
            },
            // Unknown or disabled mechanism, undecodable initial response: refused, not counted.
            { actions: 'replyInvalid' },
          ],
        }),
      },
      saslPlain: saslStep('plain', { 'sasl.response': saslToAuth('plain') }),
      saslLoginUser: saslStep(
        'loginUser',
        {
          'sasl.response': {
            target: 'saslLoginPassword',
            actions: ['rememberUser', { type: 'replyChallenge', params: { step: 'password' } }],
          },
        },
        'replySaslUsernameInvalid',
      ),
      saslLoginPassword: saslStep('loginPassword', { 'sasl.response': saslToAuth('plain') }),
      saslCramMd5: saslStep('cram-md5', { 'sasl.response': saslToAuth('cram-md5') }),
      saslExternal: saslStep('external', { 'sasl.response': saslToAuth('external') }),
    },
  } satisfies StateConfig;
  return dialogue;
}

/** A state waiting for one SASL continuation line; an undecodable one sends the client back to idle. */
function saslStep(
  step: SaslStep,
  on: NonNullable<StateConfig['on']>,
  invalidReply: 'replySaslInvalid' | 'replySaslUsernameInvalid' = 'replySaslInvalid',
): StateConfig {
  return {
    tags: ['sasl', saslTag(step)],
    on: {
      ...on,
      'sasl.invalid': { target: 'idle', actions: [invalidReply, 'forgetUser'] },
    },
  };
}

/**
 * Every name a protocol's dialogue uses exists: the skeleton's guards and actions, the dialect's
 * lines (`say`), the dialogue's own guards (`check`) and memory updates (`note`); and none of its
 * command states takes the name of one of the skeleton's dialogue states (`known.states`:
 * greeting, handshake, idle, the SASL steps...), whose transitions it would silently replace. A
 * misspelt name would otherwise surface only when that transition is taken; this runs when the
 * chart is built, so a broken protocol module stops the start (and the tests) at once.
 */
export function checkChart(
  chart: ProtocolChart,
  known: { guards: readonly string[]; actions: readonly string[]; states: readonly string[] },
): void {
  const problems: string[] = [];
  for (const name of Object.keys(chart.dialogue.states ?? {})) {
    if (known.states.includes(name)) problems.push(`command state "${name}" is one of the skeleton's`);
  }
  const checkGuard = (guard: GuardRef | undefined, where: string): void => {
    if (guard === undefined) return;
    if (typeof guard === 'string') {
      if (!known.guards.includes(guard)) problems.push(`${where}: unknown guard "${guard}"`);
      return;
    }
    if (typeof guard === 'function') {
      // XState's and()/or()/not() keep what they combine in `guards`.
      for (const inner of (guard as { guards?: GuardRef[] }).guards ?? []) checkGuard(inner, where);
      return;
    }
    if (!known.guards.includes(guard.type)) problems.push(`${where}: unknown guard "${guard.type}"`);
    const own = guard.type === 'check' ? String(guard.params?.['guard']) : null;
    if (own !== null && chart.dialogue.guards?.[own] === undefined) problems.push(`${where}: no dialogue guard "${own}"`);
  };
  const checkAction = (action: ActionRef, where: string): void => {
    const type = typeof action === 'string' ? action : action.type;
    if (!known.actions.includes(type)) problems.push(`${where}: unknown action "${type}"`);
    if (typeof action === 'string') return;
    if (type === 'say' && chart.dialect.lines[String(action.params?.['line'])] === undefined) {
      problems.push(`${where}: the dialect has no line "${String(action.params?.['line'])}"`);
    }
    if (type === 'note' && chart.dialogue.updates?.[String(action.params?.['update'])] === undefined) {
      problems.push(`${where}: no dialogue update "${String(action.params?.['update'])}"`);
    }
  };
  const checkTransitions = (transitions: Transitions | undefined, where: string): void => {
    for (const [event, list] of Object.entries(transitions ?? {})) {
      for (const transition of ([] as Transition[]).concat(list as Transition | Transition[])) {
        checkGuard(transition.guard, `${where} ${event}`);
        for (const action of ([] as ActionRef[]).concat((transition.actions ?? []) as ActionRef | ActionRef[])) checkAction(action, `${where} ${event}`);
      }
    }
  };
  checkTransitions(chart.dialogue.preauth, 'preauth');
  checkTransitions(chart.dialogue.idle, 'idle');
  for (const [name, state] of Object.entries(chart.dialogue.states ?? {})) checkTransitions(state.on, name);
  if (problems.length > 0) throw new Error(`protocol ${chart.name}: ${problems.join('; ')}`);
}

const implemented = {
  guards: Object.keys(connectionMachine.implementations.guards),
  actions: Object.keys(connectionMachine.implementations.actions),
  states: SKELETON_DIALOGUE_STATES,
};
for (const chart of Object.values(charts)) checkChart(chart, implemented);
