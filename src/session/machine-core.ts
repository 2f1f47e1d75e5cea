import { randomInt } from 'node:crypto';
import type { Actor, InspectionEvent, Observer, SnapshotFrom } from 'xstate';
import { createActor } from '../xstate.js';
import { connectionMachine, READS_INPUT, SASL_STEPS, saslTag, type SaslStep } from '../../machines/connection.js';
import type { ConnectionEffect, ConnectionEvent, ConnectionInput } from '../../machines/types.js';
import type { ServerConfig } from '../config/types.js';
import { recordJournal, type JournalRecorder, type JournalSink } from '../journal/record.js';
import { UNAVAILABLE } from '../net/resolve-client.js';
import { protocolFor } from '../protocols/registry.js';
import type { FrameMode } from '../protocols/types.js';
import type { ConnectionMachine } from './options.js';

/**
 * The one way the session runtime talks to a connection's machine: events in, effects and
 * snapshot changes out, and the few facts the runtime reads from the current state (whether and
 * how input is read). Nothing else in src/session sees the machine: it runs as a snapshot
 * advanced in one process-wide scope (snapshot-core.ts), or as a live XState actor when the
 * Stately inspector watches the connection (below).
 */
export interface MachineCore {
  /** Enters the initial state; its effects (the greeting) are carried out before this returns. */
  start(): void;
  /** One fact from the world, journaled first; dropped once the machine is over. */
  send(event: ConnectionEvent): void;
  /** The machine emitted its `close`, or the session stopped it: no event or effect passes any more. */
  readonly over: boolean;
  /** How to frame the next input: a command, a SASL line, or `null` while the machine does not read. */
  frameMode(): FrameMode | null;
  /** The SASL step the machine waits in (its continuation line is decoded for it), or null. */
  saslStep(): SaslStep | null;
  /** Ends the machine where it is (a fault): no `close` effect follows. */
  stop(): void;
}

/** What the machine's outputs are handed to; none of these may throw into the machine (they are contained here). */
export interface MachineHooks {
  /** One effect, in the order the machine emitted them. */
  effect(effect: ConnectionEffect): void;
  /** A new snapshot: the machine may read input now, or no longer. */
  changed(): void;
  /** The machine, or a hook, failed: the session ends with the internal-error path. */
  failed(error: unknown): void;
}

export interface MachineCoreOptions {
  /** The chart; tests give a faulty variant to prove containment. */
  machine?: ConnectionMachine;
  inspect?: Observer<InspectionEvent>;
  /** The connection's journal, and its clock (milliseconds since the connection started). */
  journal?: { sink: JournalSink; now: () => number };
  /** Told each state the machine enters (the debug log's `mail state` lines). */
  traceState?: (state: string) => void;
}

/** The facts one connection's machine starts from; the salt is where randomness and the clock come in. */
export function connectionInput(server: ServerConfig, implicitTls: boolean, clientIp: string, clientHost = UNAVAILABLE): ConnectionInput {
  const settings = protocolFor(server.protocol).settings(server);
  return {
    protocol: server.protocol,
    starttls: server.starttls,
    verifyClient: server.ssl.verifyClient,
    implicitTls,
    authMethods: settings.authMethods,
    capabilities: settings.capabilities,
    maxErrors: server.maxErrors,
    timeoutMs: server.timeoutMs,
    authHttpTimeoutMs: server.authHttpTimeoutMs,
    serverName: server.serverName,
    salt: usesSalt(settings.authMethods) ? `<${randomInt(0, 2 ** 31 - 1)}.${Math.floor(Date.now() / 1000)}@${server.serverName}>` : '',
    clientIp,
    // From `resolver` (SMTP); without one nginx sends the `[UNAVAILABLE]` placeholder.
    clientHost,
    proxyPassErrorMessage: server.proxyPassErrorMessage,
    greetingDelayMs: settings.greetingDelayMs,
    xclient: server.xclient,
    proxySmtpAuth: settings.proxySmtpAuth,
  };
}

/**
 * Only APOP and CRAM-MD5 use the salt (the POP3 greeting shows it for either): as nginx
 * (ngx_mail_salt in src/mail/ngx_mail_{pop3,imap,smtp}_handler.c), a connection gets one only
 * where the server enables one of them. Elsewhere it is empty, and an idle connection does not
 * hold a ~190 B string made from a random number for nothing.
 */
function usesSalt(authMethods: readonly string[]): boolean {
  return authMethods.includes('apop') || authMethods.includes('cram-md5');
}

type Snapshot = SnapshotFrom<ConnectionMachine>;

/** Runs one of the machine's outputs to the session; what it throws goes to the session's failure path, not into the machine. */
export function contained(hooks: MachineHooks, run: () => void): void {
  try {
    run();
  } catch (error) {
    hooks.failed(error);
  }
}

/** Asked for every framed command: the tag names are built once, not per call. */
const SASL_TAGS = SASL_STEPS.map((step) => [step, saslTag(step)] as const);

export function saslStepOf(snapshot: Snapshot): SaslStep | null {
  for (const [step, tag] of SASL_TAGS) if (snapshot.hasTag(tag)) return step;
  return null;
}

/**
 * A live XState actor, for a connection the Stately inspector watches: the inspector follows
 * one actor from its start to its end.
 */
class ActorCore implements MachineCore {
  readonly #actor: Actor<ConnectionMachine>;
  readonly #hooks: MachineHooks;
  readonly #journal: JournalRecorder | undefined;
  readonly #traceState: ((state: string) => void) | undefined;
  #lastState = '';
  #over = false;

  constructor(input: ConnectionInput, hooks: MachineHooks, options: MachineCoreOptions) {
    const { inspect, journal } = options;
    this.#hooks = hooks;
    this.#traceState = options.traceState;
    const actor = createActor(options.machine ?? connectionMachine, { input, ...(inspect === undefined ? {} : { inspect }) });
    // Subscribed before anything else, so that the journal sees the initial state and every effect first.
    this.#journal = journal === undefined ? undefined : recordJournal(actor, input, journal.sink, journal.now);
    this.#actor = this.#attach(actor);
  }

  get over(): boolean {
    return this.#over;
  }

  start(): void {
    this.#contained(() => this.#actor.start());
  }

  send(event: ConnectionEvent): void {
    if (this.#over) return;
    const actor = this.#actor;
    if (actor.getSnapshot().status !== 'active') return;
    this.#contained(() => {
      this.#journal?.event(event);
      actor.send(event);
    });
  }

  frameMode(): FrameMode | null {
    if (this.#over) return null;
    const snapshot = this.#actor.getSnapshot();
    if (snapshot.status !== 'active' || !snapshot.hasTag(READS_INPUT)) return null;
    return saslStepOf(snapshot) === null ? 'command' : 'sasl';
  }

  saslStep(): SaslStep | null {
    return saslStepOf(this.#actor.getSnapshot());
  }

  stop(): void {
    this.#over = true;
    this.#actor.stop();
  }

  /** The actor's outputs to the hooks. */
  #attach(actor: Actor<ConnectionMachine>): Actor<ConnectionMachine> {
    const hooks = this.#hooks;
    actor.subscribe({
      next: (snapshot) => {
        if (this.#traceState !== undefined) {
          const state = JSON.stringify(snapshot.value);
          if (state !== this.#lastState) this.#traceState((this.#lastState = state));
        }
        this.#contained(() => hooks.changed());
      },
      // A guard or an action that threw: XState stops the actor and reports it here.
      error: (error) => hooks.failed(error),
    });
    // XState would rethrow a listener's exception from a timer (the process's end): contained here.
    actor.on('*', (effect: ConnectionEffect) => {
      if (this.#over) return;
      if (effect.type === 'close') this.#over = true;
      this.#contained(() => hooks.effect(effect));
    });
    return actor;
  }

  #contained(run: () => void): void {
    contained(this.#hooks, run);
  }
}

export const actorCore = (input: ConnectionInput, hooks: MachineHooks, options: MachineCoreOptions): MachineCore => new ActorCore(input, hooks, options);
