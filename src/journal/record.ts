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
  /**
   * Journal on from an actor restored from the first one's snapshot (the runtime lets a relayed
   * session's actor go and restores it for the relay's end): one journal, as if one actor ran.
   */
  follow(actor: Actor<typeof connectionMachine>): void;
}

/**
 * Journal one connection's actor: its input now, then every state it enters and every effect it
 * emits (subscribed here, so register this before `actor.start()` to see the initial state), and
 * the events the caller reports through `event()`. `now()` is milliseconds since the start of
 * the connection: the real clock in the runtime, a SimulatedClock in tests. The sink is closed
 * when the machine reaches its final state, fails, or is stopped.
 */
export function recordJournal(
  actor: Actor<typeof connectionMachine>,
  input: ConnectionInput,
  sink: JournalSink,
  now: () => number,
): JournalRecorder {
  sink.write({ kind: 'input', input });
  let lastState = '';
  let closed = false;
  const close = (): void => {
    if (closed) return;
    closed = true;
    sink.close();
  };
  const follow = (followed: Actor<typeof connectionMachine>): void => {
    followed.on('*', (effect: ConnectionEffect) => {
      if (!closed) sink.write({ kind: 'effect', t: now(), effect });
    });
    // A restored actor reports its state again as it starts: not a new state, not journaled again.
    followed.subscribe({
      next: (snapshot) => {
        if (closed) return;
        const state = stateKey(snapshot.value);
        if (state !== lastState) {
          lastState = state;
          sink.write({ kind: 'state', t: now(), state });
        }
        if (snapshot.status !== 'active') close();
      },
      error: close,
      // Stopped where it was (a fault in the session): done as well, the file is completed and closed.
      complete: close,
    });
  };
  follow(actor);
  return {
    event: (event) => {
      if (!closed) sink.write({ kind: 'event', t: now(), event });
    },
    follow,
  };
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
