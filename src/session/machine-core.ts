import { randomInt } from 'node:crypto';
import { createActor, type Actor, type InspectionEvent, type Observer, type SnapshotFrom } from 'xstate';
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
 * how input is read). Nothing else in src/session sees the machine, so how it runs (a live XState
 * actor today, `transition()` on a kept snapshot tomorrow) is this file's business alone.
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
  /**
   * The machine waits long for its next event now (the relay runs): hold only what it needs to
   * take that event, not a live runtime. Takes effect once the current event is handled.
   */
  release(): void;
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
    salt: `<${randomInt(0, 2 ** 31 - 1)}.${Math.floor(Date.now() / 1000)}@${server.serverName}>`,
    clientIp,
    // From `resolver` (SMTP); without one nginx sends the `[UNAVAILABLE]` placeholder.
    clientHost,
    proxyPassErrorMessage: server.proxyPassErrorMessage,
    greetingDelayMs: settings.greetingDelayMs,
    xclient: server.xclient,
    proxySmtpAuth: settings.proxySmtpAuth,
  };
}

type Snapshot = SnapshotFrom<ConnectionMachine>;

/** Asked for every framed command: the tag names are built once, not per call. */
const SASL_TAGS = SASL_STEPS.map((step) => [step, saslTag(step)] as const);

function saslStepOf(snapshot: Snapshot): SaslStep | null {
  for (const [step, tag] of SASL_TAGS) if (snapshot.hasTag(tag)) return step;
  return null;
}

type PersistedSnapshot = ReturnType<Actor<ConnectionMachine>['getPersistedSnapshot']>;

/**
 * A live XState actor per connection; while relaying (`release()`), only its persisted snapshot,
 * restored into a new actor for the relay's end: the journal follows the restored actor as the
 * same machine (src/journal/record.ts). A session an inspector watches keeps its live actor (the
 * inspector follows one actor from start to end).
 */
class ActorCore implements MachineCore {
  #actor: Actor<ConnectionMachine> | null;
  /** The released actor's state, while no actor runs. */
  #released: PersistedSnapshot | null = null;
  #releaseWhenIdle = false;
  /** Events (or the start) being handled now: the actor is not let go mid-transition. */
  #busy = 0;
  readonly #machine: ConnectionMachine;
  /** What the actor was made from (its context holds it anyway); XState asks for it again on restore. */
  readonly #input: ConnectionInput;
  readonly #hooks: MachineHooks;
  readonly #journal: JournalRecorder | undefined;
  readonly #inspected: boolean;
  readonly #traceState: ((state: string) => void) | undefined;
  #lastState = '';
  #over = false;

  constructor(input: ConnectionInput, hooks: MachineHooks, options: MachineCoreOptions) {
    const { inspect, journal } = options;
    this.#hooks = hooks;
    this.#machine = options.machine ?? connectionMachine;
    this.#input = input;
    this.#inspected = inspect !== undefined;
    this.#traceState = options.traceState;
    const actor = createActor(this.#machine, { input, ...(inspect === undefined ? {} : { inspect }) });
    // Subscribed before anything else, so that the journal sees the initial state and every effect first.
    this.#journal = journal === undefined ? undefined : recordJournal(actor, input, journal.sink, journal.now);
    this.#actor = this.#attach(actor);
  }

  get over(): boolean {
    return this.#over;
  }

  start(): void {
    this.#handling(() => this.#live().start());
  }

  send(event: ConnectionEvent): void {
    if (this.#over) return;
    const actor = this.#live();
    if (actor.getSnapshot().status !== 'active') return;
    this.#handling(() => {
      this.#journal?.event(event);
      actor.send(event);
    });
  }

  frameMode(): FrameMode | null {
    if (this.#over || this.#actor === null) return null;
    const snapshot = this.#actor.getSnapshot();
    if (snapshot.status !== 'active' || !snapshot.hasTag(READS_INPUT)) return null;
    return saslStepOf(snapshot) === null ? 'command' : 'sasl';
  }

  saslStep(): SaslStep | null {
    return this.#actor === null ? null : saslStepOf(this.#actor.getSnapshot());
  }

  stop(): void {
    this.#over = true;
    // Restored to be stopped (a fault, rare): whatever observes a stop sees it as from a kept actor.
    this.#live().stop();
  }

  release(): void {
    if (this.#inspected) return;
    this.#releaseWhenIdle = true;
    this.#releaseIfIdle();
  }

  /** The actor's outputs to the hooks; a restored actor's first report (its own state again) is not a change. */
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

  /** The running actor, restored from the released snapshot if need be. */
  #live(): Actor<ConnectionMachine> {
    if (this.#actor !== null) return this.#actor;
    const actor = createActor(this.#machine, { input: this.#input, snapshot: this.#released! });
    this.#released = null;
    this.#journal?.follow(actor);
    this.#actor = this.#attach(actor);
    this.#contained(() => actor.start());
    return actor;
  }

  #handling(run: () => void): void {
    this.#busy++;
    try {
      this.#contained(run);
    } finally {
      this.#busy--;
    }
    this.#releaseIfIdle();
  }

  /**
   * Let the actor go, not stopped (a stop is an end the journal and the trace would record): with
   * no timer of its own armed while relaying, nothing holds it once this core drops it.
   */
  #releaseIfIdle(): void {
    const actor = this.#actor;
    if (!this.#releaseWhenIdle || this.#busy > 0 || actor === null || this.#over) return;
    this.#releaseWhenIdle = false;
    if (actor.getSnapshot().status !== 'active') return;
    this.#released = actor.getPersistedSnapshot();
    this.#actor = null;
  }

  #contained(run: () => void): void {
    try {
      run();
    } catch (error) {
      this.#hooks.failed(error);
    }
  }
}

export const actorCore = (input: ConnectionInput, hooks: MachineHooks, options: MachineCoreOptions): MachineCore => new ActorCore(input, hooks, options);
