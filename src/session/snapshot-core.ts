import type { ActorScope, ActorSystem, AnyActorRef, EventObject, SnapshotFrom } from 'xstate';
import { connectionMachine, READS_INPUT, type SaslStep } from '../../machines/connection.js';
import type { ConnectionEffect, ConnectionEvent, ConnectionInput } from '../../machines/types.js';
import { JournalWriter } from '../journal/record.js';
import type { FrameMode } from '../protocols/types.js';
import { arm, Deadline, disarm } from './deadlines.js';
import { contained, saslStepOf, type MachineCore, type MachineCoreOptions, type MachineHooks } from './machine-core.js';
import type { ConnectionMachine } from './options.js';
import { shareConfiguration } from './shared-configuration.js';

type Snapshot = SnapshotFrom<ConnectionMachine>;
type System = ActorSystem<{ actors: Record<string, AnyActorRef> }>;
type Scope = ActorScope<Snapshot, ConnectionEvent, System, ConnectionEffect>;

/**
 * The machine's next snapshot is computed by the chart itself (`machine.getInitialSnapshot()`
 * and `machine.transition()`, XState's actor-logic interface): this module is the actor around
 * them, and it is one for the whole process rather than one XState actor per connection. What an
 * actor makes per connection (a system, a mailbox, observers, a scope with five closures, a timer
 * table keyed by strings) costs ~20–40 µs and ~4 KB per connection (docs/performance.md); here a
 * connection holds its snapshot, its queue and its timers.
 *
 * The scope XState's transitions run in is shared: `self` is the connection being advanced, set
 * around each step (transitions are synchronous). What a step defers (the emitted effects, the
 * delayed events of `after` to arm or cancel) runs right after it, in order, as an actor runs
 * them, while `self` still names the connection.
 */
let current: SnapshotCore | null = null;

const scheduler = {
  schedule: (source: AnyActorRef, _target: AnyActorRef, event: EventObject, delay: number, id: string | undefined) =>
    (source as unknown as SnapshotCore).schedule(event as ConnectionEvent, delay, id ?? ''),
  cancel: (source: AnyActorRef, id: string) => (source as unknown as SnapshotCore).cancel(id),
  cancelAll: (source: AnyActorRef) => (source as unknown as SnapshotCore).cancelAll(),
};

/**
 * The members of XState's `ActorSystem` a machine's transition reaches: its scheduler (`after`)
 * and the inspection hook (no inspector watches these connections: an inspected one runs as a
 * live actor, machine-core.ts). Nothing here spawns or looks up actors.
 */
const system: System & { _sendInspectionEvent(): void } = {
  scheduler,
  _sendInspectionEvent: () => undefined,
  get: () => undefined,
  getAll: () => ({}),
  inspect: () => ({ unsubscribe: () => undefined }),
  getSnapshot: () => ({ _scheduledEvents: {} }),
  start: () => undefined,
  _clock: { setTimeout, clearTimeout },
  _logger: () => undefined,
};

const scope: Scope = {
  // Replaced by the connection being advanced; the chart reads nothing from it but its identity.
  self: null as unknown as Scope['self'],
  id: '',
  sessionId: '',
  logger: () => undefined,
  defer: (fn) => current!.defer(fn),
  emit: (effect) => current!.emitted(effect),
  system,
  stopChild: () => undefined,
  // As an actor that runs: builtin actions (emit, delayed raise, cancel) defer their work.
  actionExecutor: (action) => action.exec?.(action.info, action.params),
};

/** A delayed event armed by `after`: its id (to cancel it), the event and its connection. */
class ArmedEvent extends Deadline {
  /** The connection's next armed event, in the order they were armed. */
  nextArmed: ArmedEvent | null = null;

  constructor(
    readonly core: SnapshotCore,
    readonly id: string,
    readonly event: ConnectionEvent,
  ) {
    super();
  }

  expired(): void {
    this.core.fired(this);
  }
}

/** One connection's machine as its snapshot, advanced in the process-wide scope above. */
export class SnapshotCore implements MachineCore {
  #snapshot: Snapshot | undefined;
  /**
   * What the current step deferred; run once the step is done (one step of a core at a time).
   * Made by the step's first deferral and let go after it: an array that grew keeps its backing
   * store (~150 B) when emptied, and an idle connection would hold it.
   */
  #deferred: Array<() => void> | null = null;
  /** Events that arrived while one was being handled (an effect's handler sends one, say): an actor's mailbox. */
  #queue: ConnectionEvent[] | null = null;
  #handling = false;
  /** The delayed events `after` armed, first armed first (at most a few: `timeout`, an auth wait, the SMTP greeting delay). */
  #armed: ArmedEvent | null = null;
  #over = false;
  readonly #machine: ConnectionMachine;
  readonly #input: ConnectionInput;
  readonly #hooks: MachineHooks;
  readonly #journal: JournalWriter | undefined;
  readonly #traceState: ((state: string) => void) | undefined;
  #lastState = '';

  constructor(input: ConnectionInput, hooks: MachineHooks, options: MachineCoreOptions) {
    this.#machine = options.machine ?? connectionMachine;
    this.#input = input;
    this.#hooks = hooks;
    this.#traceState = options.traceState;
    const { journal } = options;
    this.#journal = journal === undefined ? undefined : new JournalWriter(input, journal.sink, journal.now);
  }

  get over(): boolean {
    return this.#over;
  }

  start(): void {
    this.#step(() => this.#machine.getInitialSnapshot(scope, this.#input));
    this.#drain();
  }

  send(event: ConnectionEvent): void {
    if (this.#over || this.#snapshot?.status !== 'active') return;
    this.#journal?.event(event);
    this.#deliver(event);
  }

  frameMode(): FrameMode | null {
    const snapshot = this.#snapshot;
    if (this.#over || snapshot === undefined || snapshot.status !== 'active' || !snapshot.hasTag(READS_INPUT)) return null;
    return saslStepOf(snapshot) === null ? 'command' : 'sasl';
  }

  saslStep(): SaslStep | null {
    return this.#snapshot === undefined ? null : saslStepOf(this.#snapshot);
  }

  stop(): void {
    this.#over = true;
    this.#queue = null;
    this.cancelAll();
    this.#journal?.close();
  }

  // The shared scope's calls, made while this connection is advanced.

  defer(fn: () => void): void {
    (this.#deferred ??= []).push(fn);
  }

  emitted(effect: ConnectionEffect): void {
    this.#journal?.effect(effect);
    if (this.#over) return;
    if (effect.type === 'close') this.#over = true;
    this.#contained(() => this.#hooks.effect(effect));
  }

  schedule(event: ConnectionEvent, delay: number, id: string): void {
    // Stopped by a fault while this step's deferred work still runs: nothing is armed any more.
    if (this.#over) return;
    const armed = new ArmedEvent(this, id, event);
    if (this.#armed === null) this.#armed = armed;
    else {
      let last = this.#armed;
      while (last.nextArmed !== null) last = last.nextArmed;
      last.nextArmed = armed;
    }
    arm(armed, delay);
  }

  cancel(id: string): void {
    for (let armed = this.#armed; armed !== null; armed = armed.nextArmed) {
      if (armed.id === id) {
        this.#forget(armed);
        disarm(armed);
        return;
      }
    }
  }

  cancelAll(): void {
    for (let armed = this.#armed; armed !== null; armed = armed.nextArmed) disarm(armed);
    this.#armed = null;
  }

  /** An armed event's deadline passed. */
  fired(armed: ArmedEvent): void {
    this.#forget(armed);
    this.#deliver(armed.event);
  }

  #forget(armed: ArmedEvent): void {
    if (this.#armed === armed) {
      this.#armed = armed.nextArmed;
      return;
    }
    for (let before = this.#armed; before !== null; before = before.nextArmed) {
      if (before.nextArmed === armed) {
        before.nextArmed = armed.nextArmed;
        return;
      }
    }
  }

  /** An event into the machine now, or after the one being handled (as an actor's mailbox orders them). */
  #deliver(event: ConnectionEvent): void {
    if (this.#handling) {
      (this.#queue ??= []).push(event);
      return;
    }
    this.#step(() => this.#machine.transition(this.#snapshot!, event, scope));
    this.#drain();
  }

  /** The events that arrived during the step just taken, in order, while the machine runs. */
  #drain(): void {
    while (this.#queue !== null && this.#queue.length > 0 && this.#snapshot?.status === 'active') {
      const next = this.#queue.shift()!;
      this.#step(() => this.#machine.transition(this.#snapshot!, next, scope));
    }
    this.#queue = null;
  }

  /**
   * One step, as an actor takes it: the next snapshot, then what the step deferred (effects,
   * timers), then the snapshot reported. A guard or an action that throws ends the machine here
   * (the session's internal-error path), as XState's actor reports it to its error observer.
   */
  #step(next: () => Snapshot): void {
    if (this.#over) return;
    const outer = current;
    const outerSelf = scope.self;
    current = this;
    scope.self = this as unknown as Scope['self'];
    this.#handling = true;
    let snapshot: Snapshot;
    try {
      snapshot = next();
      shareConfiguration(snapshot);
      this.#snapshot = snapshot;
      const deferred = this.#deferred;
      if (deferred !== null) for (let i = 0; i < deferred.length; i++) deferred[i]!();
    } catch (error) {
      this.#fault(error);
      return;
    } finally {
      this.#deferred = null;
      this.#handling = false;
      current = outer;
      scope.self = outerSelf;
    }
    this.#reported(snapshot);
  }

  #reported(snapshot: Snapshot): void {
    this.#journal?.state(snapshot);
    if (this.#traceState !== undefined) {
      const state = JSON.stringify(snapshot.value);
      if (state !== this.#lastState) this.#traceState((this.#lastState = state));
    }
    if (snapshot.status !== 'active') this.cancelAll();
    this.#contained(() => this.#hooks.changed());
  }

  /** The session's failure path first (it stops this core); stopped here in any case. */
  #fault(error: unknown): void {
    this.#queue = null;
    this.#hooks.failed(error);
    this.stop();
  }

  #contained(run: () => void): void {
    contained(this.#hooks, run);
  }
}

export const snapshotCore = (input: ConnectionInput, hooks: MachineHooks, options: MachineCoreOptions): MachineCore => new SnapshotCore(input, hooks, options);
