import { createActor, SimulatedClock } from '../xstate.js';
import { connectionMachine } from '../../machines/connection.js';
import type { ConnectionEffect } from '../../machines/types.js';
import { encodeJournalLine } from './codec.js';
import { stateKey, type JournalEntry } from './journal.js';

export interface ReplayResult {
  /** The effects and states the fresh machine produced, as journal entries (without times). */
  produced: Array<Extract<JournalEntry, { kind: 'effect' | 'state' }>>;
  /** Index of the first produced entry that differs from the recording, or -1. */
  divergence: number;
  expected: string | undefined;
  actual: string | undefined;
}

const comparable = (entry: JournalEntry): string | null => {
  if (entry.kind === 'effect') return encodeJournalLine({ kind: 'effect', effect: entry.effect });
  if (entry.kind === 'state') return encodeJournalLine({ kind: 'state', state: entry.state });
  return null;
};

/**
 * Feed a journal's events into a fresh machine on a simulated clock and compare what it emits
 * and which states it enters with what was recorded (times are not compared: a recording's
 * timers fire a little after they are due, the simulated ones exactly on time).
 */
export function replayJournal(entries: readonly JournalEntry[]): ReplayResult {
  const input = entries.find((e): e is Extract<JournalEntry, { kind: 'input' }> => e.kind === 'input');
  if (!input) throw new Error('journal has no input line');
  const clock = new SimulatedClock();
  const produced: ReplayResult['produced'] = [];
  const actor = createActor(connectionMachine, { input: input.input, clock });
  let last = '';
  actor.on('*', (effect: ConnectionEffect) => produced.push({ kind: 'effect', t: clock.now(), effect }));
  actor.subscribe((snapshot) => {
    const key = stateKey(snapshot.value);
    if (key !== last) {
      last = key;
      produced.push({ kind: 'state', t: clock.now(), state: key });
    }
  });
  actor.start();
  // The clock follows every recorded time, not only the events': a timer armed by a timer (the
  // `timeout` re-armed after an Auth-Wait failure, say) then starts when it started in the
  // recording, and fires no later than it did there.
  for (const entry of entries) {
    if (entry.kind === 'input') continue;
    if (entry.t > clock.now()) clock.set(entry.t);
    if (entry.kind === 'event') actor.send(entry.event);
  }

  const recorded = entries.map(comparable).filter((line): line is string => line !== null);
  const replayed = produced.map(comparable).filter((line): line is string => line !== null);
  let divergence = -1;
  for (let i = 0; i < Math.max(recorded.length, replayed.length); i++) {
    if (recorded[i] !== replayed[i]) {
      divergence = i;
      break;
    }
  }
  actor.stop();
  return { produced, divergence, expected: recorded[divergence], actual: replayed[divergence] };
}
