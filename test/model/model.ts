/**
 * Model-based testing of the connection machine: paths derived from the statechart with
 * `xstate/graph`, whose events are the ones Postern's own framer makes of real client lines
 * (or the runtime makes of TLS, auth service, backend and relay outcomes), so that each path
 * can be driven through a real socket (see model.test.ts).
 */
import { createActor, type AnyStateMachine, type AnyStateNode, type AnyTransitionDefinition, type InspectionEvent, type SnapshotFrom } from 'xstate';
import { __unsafe_getAllOwnEventDescriptors } from 'xstate';
import { getAdjacencyMap, getShortestPaths, type StatePath } from 'xstate/graph';
import { connectionMachine, READS_INPUT, SASL_STEPS, saslTag, type SaslStep } from '../../machines/connection.js';
import type { AuthOutcome, ConnectionEvent, ConnectionInput } from '../../machines/types.js';
import { machineEdges } from '../../src/diagram/export.js';
import { encodeJournalLine } from '../../src/journal/codec.js';
import { stateKey } from '../../src/journal/journal.js';
import { framerFor } from '../../src/protocols/registry.js';
import { Secret } from '../../src/secret.js';
import { toMachineEvent } from '../../src/session/to-event.js';

export type Snapshot = SnapshotFrom<typeof connectionMachine>;
export type Path = StatePath<Snapshot, ConnectionEvent>;

export interface ModelConfig {
  name: string;
  protocol: 'pop3' | 'imap' | 'smtp' | 'sieve';
  starttls: 'off' | 'on' | 'only';
  implicitTls: boolean;
  /** pop3_auth / imap_auth / smtp_auth / postern_sieve_auth. */
  authMethods: readonly string[];
  /** SMTP `smtp_greeting_delay`, in ms (0: none). */
  greetingDelayMs: number;
}

export const AUTH_METHODS = {
  pop3: ['plain', 'apop', 'cram-md5', 'external'],
  imap: ['plain', 'login', 'cram-md5', 'external'],
  /** `none` lets MAIL/RCPT reach the auth service. */
  smtp: ['plain', 'login', 'cram-md5', 'external', 'none'],
  /** ManageSieve (`protocol sieve;`, a Postern extension): `postern_sieve_auth`. */
  sieve: ['plain', 'login', 'cram-md5', 'external'],
} as const;
/** SMTP without `none`: MAIL is answered 530 (auth required). */
const SMTP_AUTH_WITHOUT_NONE = ['plain', 'login', 'cram-md5', 'external'] as const;
/** `smtp_greeting_delay` of the delayed SMTP configurations, in ms (below the fast proxy's `timeout`). */
export const GREETING_DELAY_MS = 150;

export const MODEL_CONFIGS: readonly ModelConfig[] = [
  ...(['pop3', 'imap', 'smtp', 'sieve'] as const).flatMap((protocol) => [
    ...(['off', 'on', 'only'] as const).map((starttls) => ({
      name: `${protocol} starttls ${starttls}`,
      protocol,
      starttls,
      implicitTls: false,
      authMethods: AUTH_METHODS[protocol],
      greetingDelayMs: 0,
    })),
    { name: `${protocol} implicit TLS`, protocol, starttls: 'off' as const, implicitTls: true, authMethods: AUTH_METHODS[protocol], greetingDelayMs: 0 },
  ]),
  {
    name: 'smtp starttls on, greeting delay, no smtp_auth none',
    protocol: 'smtp',
    starttls: 'on',
    implicitTls: false,
    authMethods: SMTP_AUTH_WITHOUT_NONE,
    greetingDelayMs: GREETING_DELAY_MS,
  },
  { name: 'smtp implicit TLS, greeting delay', protocol: 'smtp', starttls: 'off', implicitTls: true, authMethods: AUTH_METHODS.smtp, greetingDelayMs: GREETING_DELAY_MS },
];
export const MAX_ERRORS = 2;
/** Auth-Wait the scripted auth service asks for, in seconds. */
export const AUTH_WAIT = 0.05;

const CAPABILITIES: Record<ModelConfig['protocol'], string[]> = {
  pop3: ['TOP', 'USER', 'UIDL'],
  imap: ['IMAP4', 'IMAP4rev1', 'UIDPLUS'],
  smtp: ['PIPELINING', 'SIZE 10240000'],
  sieve: ['fileinto', 'vacation'],
};

export function modelInput(config: ModelConfig): ConnectionInput {
  return {
    protocol: config.protocol,
    starttls: config.starttls,
    implicitTls: config.implicitTls,
    authMethods: config.authMethods,
    capabilities: CAPABILITIES[config.protocol],
    maxErrors: MAX_ERRORS,
    timeoutMs: 60_000,
    authHttpTimeoutMs: 60_000,
    serverName: 'mx.test',
    salt: '<1.2@mx.test>',
    clientIp: '127.0.0.1',
    clientHost: '[UNAVAILABLE]',
    proxyPassErrorMessage: true,
    greetingDelayMs: config.greetingDelayMs,
    xclient: true,
    proxySmtpAuth: false,
  };
}

/** What the test client or the fake services do to make the runtime send an event. */
export type Action =
  | { kind: 'line'; text: string }
  /** A literal header (`{n}`) the client leaves unfinished. */
  | { kind: 'literal'; text: string }
  | { kind: 'tlsHandshake' }
  | { kind: 'tlsGarbage' }
  | { kind: 'close' }
  /** The auth service answers (the outcome is decided when the request comes). */
  | { kind: 'auth'; outcome: AuthOutcome }
  | { kind: 'backend'; result: 'ready' | 'refused' | 'rejects' }
  | { kind: 'backendQuit' }
  | { kind: 'wait' };

const b64 = (text: string) => Buffer.from(text, 'latin1').toString('base64');
const USER = 'test@example.com';
const DIGEST = '0123456789abcdef0123456789abcdef';
/** A login that would inject a command into a POP3 backend's USER line. */
const INJECTED = 'crlfuser\r\nDELE 1';

const POP3_LINES = [
  'CAPA', 'NOOP', 'QUIT', 'STLS', `USER ${USER}`, 'PASS secret', `APOP ${USER} ${DIGEST}`, 'AUTH',
  `AUTH PLAIN ${b64(`\0${USER}\0secret`)}`, 'AUTH PLAIN', 'AUTH PLAIN =', `AUTH LOGIN ${b64(USER)}`, 'AUTH LOGIN',
  'AUTH CRAM-MD5', `AUTH EXTERNAL ${b64(USER)}`, 'AUTH EXTERNAL', 'AUTH XOAUTH2', 'USER', 'BOGUS', `NOOP ${'x'.repeat(200)}`,
  // Credentials that would rewrite the backend's USER/PASS lines: refused before the auth service.
  'PASS se\0cret', `APOP test\0user ${DIGEST}`, `AUTH PLAIN ${b64(`\0${INJECTED}\0secret`)}`, `AUTH EXTERNAL ${b64(INJECTED)}`,
];
const IMAP_LINES = [
  'a1 CAPABILITY', 'a2 NOOP', 'a3 LOGOUT', 'a4 STARTTLS', `a5 LOGIN ${USER} secret`,
  `a6 AUTHENTICATE PLAIN ${b64(`\0${USER}\0secret`)}`, 'a7 AUTHENTICATE PLAIN', 'a8 AUTHENTICATE PLAIN =',
  `a9 AUTHENTICATE LOGIN ${b64(USER)}`, 'b1 AUTHENTICATE LOGIN', 'b2 AUTHENTICATE CRAM-MD5', `b3 AUTHENTICATE EXTERNAL ${b64(USER)}`,
  'b4 AUTHENTICATE EXTERNAL', 'b5 AUTHENTICATE XOAUTH2', 'b6 LOGIN onlyuser', 'b7 BOGUS', 'b8 BOGUS {5+}', `b9 NOOP ${'x'.repeat(5000)}`,
];
const SMTP_LINES = [
  'EHLO client.test', 'HELO client.test', 'EHLO', 'MAIL FROM:<a@example.com>', 'MAIL', 'RCPT TO:<b@example.com>', 'RCPT', 'RSET',
  'NOOP', 'QUIT', 'STARTTLS', 'AUTH', `AUTH PLAIN ${b64(`\0${USER}\0secret`)}`, 'AUTH PLAIN', 'AUTH PLAIN =', `AUTH LOGIN ${b64(USER)}`,
  'AUTH LOGIN', 'AUTH CRAM-MD5', `AUTH EXTERNAL ${b64(USER)}`, 'AUTH EXTERNAL', 'AUTH XOAUTH2', 'VRFY someone', 'BOGUS',
  `NOOP ${'x'.repeat(5000)}`,
];
/** ManageSieve (RFC 5804): verbs with quoted or literal strings; SASL responses are strings too. */
const SIEVE_LINES = [
  'CAPABILITY', 'NOOP', 'NOOP "t1"', 'LOGOUT', 'STARTTLS', `AUTHENTICATE "PLAIN" "${b64(`\0${USER}\0secret`)}"`,
  `AUTHENTICATE "PLAIN" {${b64(`\0${USER}\0secret`).length}+}\r\n${b64(`\0${USER}\0secret`)}`, 'AUTHENTICATE "PLAIN"', 'AUTHENTICATE "PLAIN" "="',
  `AUTHENTICATE "LOGIN" "${b64(USER)}"`, 'AUTHENTICATE "LOGIN"', 'AUTHENTICATE "CRAM-MD5"', `AUTHENTICATE "EXTERNAL" "${b64(USER)}"`,
  'AUTHENTICATE "EXTERNAL"', 'AUTHENTICATE "XOAUTH2"', 'AUTHENTICATE', 'CAPABILITY "x"', 'BOGUS', 'BOGUS {5+}', `NOOP "${'x'.repeat(5000)}"`,
  // A user name with NUL would move the PLAIN boundary at the backend: refused before the auth service.
  `AUTHENTICATE "LOGIN" "${b64('a\0b')}"`,
];
const LINES = { pop3: POP3_LINES, imap: IMAP_LINES, smtp: SMTP_LINES, sieve: SIEVE_LINES };
const SASL_LINES: Record<SaslStep, string[]> = {
  plain: [b64(`\0${USER}\0secret`), '*', b64(`\0${INJECTED}\0secret`)],
  loginUser: [b64(USER), '*'],
  loginPassword: [b64('secret'), '*', b64('se\r\ncret')],
  // CRAM-MD5's user name ends at the first space.
  'cram-md5': [b64(`${USER} ${DIGEST}`), '*', b64(`crlfuser\r\nQUIT ${DIGEST}`)],
  external: [b64(USER), '*', b64(INJECTED)],
};

/** A SASL response line as the protocol carries it: ManageSieve quotes it (RFC 5804 §2.1). */
export const saslLine = (protocol: ModelConfig['protocol'], text: string): string => (protocol === 'sieve' ? `"${text}"` : text);

/** The event Postern's framer and `toMachineEvent` make of one client line. */
function eventOfLine(protocol: ModelConfig['protocol'], text: string, step: SaslStep | null): ConnectionEvent {
  const framer = framerFor(protocol, protocol === 'pop3' ? 128 : 4096);
  framer.push(Buffer.from(`${text}\r\n`, 'latin1'));
  const item = framer.next(step === null ? 'command' : 'sasl');
  if (item === undefined) throw new Error(`no item for ${JSON.stringify(text)}`);
  return toMachineEvent(item, step);
}

const TLS = { protocol: 'TLSv1.3', cipher: 'TLS_AES_256_GCM_SHA384' };

/** Auth service answers, as events; `server` names the backend behaviour the driver sets up. */
const AUTH_RESULTS: AuthOutcome[] = [
  { status: 'ok', server: 'ready', port: 0, user: USER, password: new Secret('secret') },
  { status: 'ok', server: 'nopass', port: 0, user: USER },
  { status: 'fail', text: 'Invalid login or password', waitSeconds: AUTH_WAIT },
  { status: 'fail', text: 'Invalid login or password' },
  { status: 'wait', waitSeconds: AUTH_WAIT },
  { status: 'error', reason: 'auth http server 127.0.0.1 sent invalid response' },
];

/**
 * The events the runtime can produce in a state, each with the action that makes it. Keyed by
 * the event's JSON (secrets print as a marker), which the driver looks the action up by.
 */
export function offers(snapshot: Snapshot, config: ModelConfig): Array<{ event: ConnectionEvent; action: Action }> {
  const out: Array<{ event: ConnectionEvent; action: Action }> = [];
  const value = stateKey(snapshot.value);
  const leaves = value.split(',');
  const handshaking = leaves.includes('preauth.transport.upgrading');
  const delayingGreeting = leaves.includes('preauth.dialogue.greetingDelay');
  const step = SASL_STEPS.find((s) => snapshot.hasTag(saslTag(s))) ?? null;
  if (snapshot.status !== 'active') return out;
  if (snapshot.hasTag(READS_INPUT)) {
    const lines = step !== null ? SASL_LINES[step].map((line) => saslLine(config.protocol, line)) : LINES[config.protocol];
    for (const text of lines) out.push({ event: eventOfLine(config.protocol, text, step), action: { kind: 'line', text } });
    if (config.protocol === 'imap' && step === null) out.push({ event: { type: 'input.literal' }, action: { kind: 'literal', text: 'c1 LOGIN {16}' } });
    out.push({ event: { type: 'client.closed' }, action: { kind: 'close' } });
  }
  if (handshaking) {
    out.push({ event: { type: 'tls.established', tls: TLS }, action: { kind: 'tlsHandshake' } });
    out.push({ event: { type: 'tls.failed', reason: 'SSL handshake failed' }, action: { kind: 'tlsGarbage' } });
  }
  if (value === 'authenticating') {
    for (const outcome of AUTH_RESULTS) out.push({ event: { type: 'auth.result', outcome }, action: { kind: 'auth', outcome } });
  }
  if (value === 'backend') {
    out.push({ event: { type: 'backend.ready' }, action: { kind: 'backend', result: 'ready' } });
    out.push({ event: { type: 'backend.failed', reason: 'connect() failed' }, action: { kind: 'backend', result: 'refused' } });
    out.push({ event: { type: 'backend.failed', reason: 'login refused', passthrough: '-ERR no' }, action: { kind: 'backend', result: 'rejects' } });
  }
  if (value === 'relaying') out.push({ event: { type: 'relay.ended', reason: 'upstream closed connection' }, action: { kind: 'backendQuit' } });
  // Timer edges: the delays of the active states.
  for (const type of __unsafe_getAllOwnEventDescriptors(snapshot)) {
    // While the greeting is delayed only its own timer can fire (it is shorter than `timeout`).
    if (delayingGreeting && !type.startsWith('xstate.after.greetingDelay.')) continue;
    if (type.startsWith('xstate.after.')) out.push({ event: { type } as unknown as ConnectionEvent, action: { kind: 'wait' } });
  }
  return out;
}

/**
 * Abstract state: the state value, TLS or not, the protocol, and the context facts guards read
 * (errors, credentials; SMTP: MAIL given, and whether the backend replays an envelope).
 */
export function serializeState(snapshot: Snapshot): string {
  const { context } = snapshot;
  const credentials = context.credentials === null ? '-' : `${context.credentials.method}${context.credentials.password.length > 0 ? '+pw' : ''}`;
  const state = [stateKey(snapshot.value), context.tls !== null, context.settings.protocol, context.errors, credentials];
  if (context.settings.protocol === 'smtp') state.push(context.memory['mail'] !== null, context.backend?.smtp?.envelope !== undefined);
  return JSON.stringify(state);
}

/** Events as the journal keeps them: secrets differ only in the facts the machine acts on. */
export const eventKey = (event: ConnectionEvent): string => encodeJournalLine(event);
/** Which action made an event depends on the state (the same SASL event comes from different lines per step). */
export const actionKey = (snapshot: Snapshot, event: ConnectionEvent): string => `${stateKey(snapshot.value)}|${eventKey(event)}`;
export const isTimer = (event: { type: string }): boolean => event.type.startsWith('xstate.after.');
/** The greeting delay's timer fires whatever the proxy's `timeout`, so it does not need the fast proxy. */
export const isGreetingDelay = (event: { type: string }): boolean => event.type.startsWith('xstate.after.greetingDelay.');

export interface ModelGraph {
  config: ModelConfig;
  input: ConnectionInput;
  /** Shortest path to every abstract state. */
  shortest: Map<string, Path>;
  /** Every edge of the abstract graph: from a state, on an event. */
  edges: Array<{ from: string; event: ConnectionEvent }>;
  actions: Map<string, Action>;
}

export function buildGraph(config: ModelConfig): ModelGraph {
  const input = modelInput(config);
  const actions = new Map<string, Action>();
  const events = (snapshot: Snapshot) =>
    offers(snapshot, config).map(({ event, action }) => {
      const key = actionKey(snapshot, event);
      if (!actions.has(key)) actions.set(key, action);
      return event;
    });
  const options = { input, events, serializeState, serializeEvent: eventKey };
  const shortest = new Map<string, Path>();
  for (const path of getShortestPaths(connectionMachine, options)) shortest.set(serializeState(path.state), path as Path);
  const adjacency = getAdjacencyMap(connectionMachine as AnyStateMachine, options as never) as unknown as Record<string, { transitions: Record<string, { event: ConnectionEvent }> }>;
  const edges = Object.entries(adjacency).flatMap(([from, node]) => Object.values(node.transitions).map(({ event }) => ({ from, event })));
  return { config, input, shortest, edges, actions };
}

/** A path extended by one event, with the states the machine goes through (computed, not guessed). */
export function extend(graph: ModelGraph, path: Path, event: ConnectionEvent): Path {
  const events = [...path.steps.slice(1).map((s) => s.event), event];
  const actor = createActor(connectionMachine, { input: graph.input });
  actor.start();
  const steps: Path['steps'] = [{ event: { type: 'xstate.init' } as unknown as ConnectionEvent, state: actor.getSnapshot() }];
  for (const e of events) {
    actor.send(e);
    steps.push({ event: e, state: actor.getSnapshot() });
  }
  actor.stop();
  return { state: steps[steps.length - 1]!.state, steps, weight: steps.length - 1 };
}

/** Every transition definition of the machine, named as the diagram names it (same order). */
export function allTransitions(machine: AnyStateMachine = connectionMachine): Map<AnyTransitionDefinition, string> {
  const definitions: AnyTransitionDefinition[] = [];
  const visit = (node: AnyStateNode) => {
    definitions.push(...[...node.transitions.values()].flat(), ...(node.always ?? []));
    for (const child of Object.values(node.states as Record<string, AnyStateNode>)) visit(child);
  };
  visit(machine.root);
  const edges = machineEdges(machine);
  if (edges.length !== definitions.length) throw new Error('machineEdges and the transition walk disagree');
  return new Map(
    definitions.map((t, i) => {
      const e = edges[i]!;
      return [t, `${e.from} --${e.event}${e.guard ? ` [${e.guard}]` : ''}--> ${e.to ?? '(self)'} (#${i})`];
    }),
  );
}

/** Every state node id. */
export function allStateIds(machine: AnyStateMachine = connectionMachine): string[] {
  const out: string[] = [];
  const visit = (node: AnyStateNode) => {
    out.push(node.id);
    for (const child of Object.values(node.states as Record<string, AnyStateNode>)) visit(child);
  };
  visit(machine.root);
  return out;
}

/** The transitions a path takes and the state nodes it visits, replayed on a live actor. */
export function coverageOf(input: ConnectionInput, events: readonly ConnectionEvent[]): { transitions: Set<AnyTransitionDefinition>; states: Set<string> } {
  const transitions = new Set<AnyTransitionDefinition>();
  const states = new Set<string>();
  const actor = createActor(connectionMachine, {
    input,
    inspect: (event: InspectionEvent) => {
      if (event.type === '@xstate.microstep') for (const t of (event as unknown as { _transitions: AnyTransitionDefinition[] })._transitions) transitions.add(t);
    },
  });
  const record = () => {
    for (const node of (actor.getSnapshot() as unknown as { _nodes: AnyStateNode[] })._nodes) states.add(node.id);
  };
  actor.subscribe(record);
  actor.start();
  record();
  for (const event of events) actor.send(event);
  actor.stop();
  return { transitions, states };
}

/** The deduplicated state sequence of a path, as the journal writes it. */
export function pathStates(path: Path): string[] {
  const out: string[] = [];
  for (const step of path.steps) {
    const key = stateKey(step.state.value);
    if (out[out.length - 1] !== key) out.push(key);
  }
  return out;
}
