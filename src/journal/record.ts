import type { Actor } from 'xstate';
import type { connectionMachine } from '../../machines/connection.js';
import type { ConnectionEffect, ConnectionEvent, ConnectionInput } from '../../machines/types.js';
import { stateKey, type JournalEntry } from './journal.js';

/** Receives a connection's journal entries (a file, memory in tests). */
export interface JournalSink {
  write(entry: JournalEntry): void;
  /** No more entries: flush and release; called once, when the machine is done. */
  close(): void;
}

/** Opens a journal for a new connection. */
export type JournalFactory = () => JournalSink;

export interface JournalRecorder {
  /** Journal an event the runtime is about to send to the machine. */
  event(event: ConnectionEvent): void;
}

/**
 * Writes one connection's journal: its input first, then the events, effects and states its
 * machine runner reports, each with `now()` (milliseconds since the start of the connection: the
 * real clock in the runtime, a SimulatedClock in tests). A state is written only when it differs
 * from the last one; the sink is closed once the machine is no longer active.
 */
export class JournalWriter {
  #lastState = '';
  #closed = false;

  constructor(
    input: ConnectionInput,
    private readonly sink: JournalSink,
    private readonly now: () => number,
  ) {
    sink.write({ kind: 'input', input });
  }

  /** An event the runtime is about to send to the machine. */
  event(event: ConnectionEvent): void {
    if (!this.#closed) this.sink.write({ kind: 'event', t: this.now(), event });
  }

  effect(effect: ConnectionEffect): void {
    if (!this.#closed) this.sink.write({ kind: 'effect', t: this.now(), effect });
  }

  /** The machine's snapshot after an event (or its start). */
  state(snapshot: { value: unknown; status: string }): void {
    if (this.#closed) return;
    const state = stateKey(snapshot.value);
    if (state !== this.#lastState) {
      this.#lastState = state;
      this.sink.write({ kind: 'state', t: this.now(), state });
    }
    if (snapshot.status !== 'active') this.close();
  }

  /** Done: the machine failed or was stopped where it was (the file is completed and closed). */
  close(): void {
    if (this.#closed) return;
    this.#closed = true;
    this.sink.close();
  }
}

/**
 * Journal one connection's actor: every state it enters and every effect it emits (subscribed
 * here, so register this before `actor.start()` to see the initial state), and the events the
 * caller reports through `event()`.
 */
export function recordJournal(
  actor: Actor<typeof connectionMachine>,
  input: ConnectionInput,
  sink: JournalSink,
  now: () => number,
): JournalRecorder {
  const writer = new JournalWriter(input, sink, now);
  const close = (): void => writer.close();
  actor.on('*', (effect: ConnectionEffect) => writer.effect(effect));
  actor.subscribe({ next: (snapshot) => writer.state(snapshot), error: close, complete: close });
  return { event: (event) => writer.event(event) };
}

/** A sink that keeps entries in memory (tests, `replayJournal` round trips). */
export function memoryJournal(): JournalSink & { entries: JournalEntry[]; closed: boolean } {
  const sink = {
    entries: [] as JournalEntry[],
    closed: false,
    write: (entry: JournalEntry) => {
      sink.entries.push(entry);
    },
    close: () => {
      sink.closed = true;
    },
  };
  return sink;
}
