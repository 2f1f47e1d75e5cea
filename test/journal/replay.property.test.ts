import { fc, test } from '@fast-check/vitest';
import { expect } from 'vitest';
import { createActor, SimulatedClock } from 'xstate';
import { connectionMachine } from '../../machines/connection.js';
import { decodeJournalLine, encodeJournalLine } from '../../src/journal/codec.js';
import type { JournalEntry } from '../../src/journal/journal.js';
import { memoryJournal, recordJournal } from '../../src/journal/record.js';
import { replayJournal } from '../../src/journal/replay.js';
import { eventArb, gapArb, inputArb, LEAK } from './arbitraries.js';

test.prop({ input: inputArb, steps: fc.array(fc.tuple(gapArb, eventArb), { maxLength: 40 }), tail: gapArb }, { numRuns: 100 })(
  'replay(journal) reproduces the recorded states and effects exactly',
  ({ input, steps, tail }) => {
    // Record: a live actor on a simulated clock, journaled through the runtime's sink interface.
    const clock = new SimulatedClock();
    const actor = createActor(connectionMachine, { input, clock });
    const sink = memoryJournal();
    const recorder = recordJournal(actor, input, sink, () => clock.now());
    actor.start();
    for (const [gap, event] of steps) {
      if (gap > 0) clock.increment(gap);
      if (actor.getSnapshot().status !== 'active') break;
      recorder.event(event);
      actor.send(event);
    }
    if (tail > 0) clock.increment(tail);
    actor.stop();

    // Through the codec, as a file would hold it: no secret survives.
    const lines = sink.entries.map(encodeJournalLine);
    for (const line of lines) expect(line).not.toContain(LEAK);
    const journal = lines.map((line) => decodeJournalLine(line) as JournalEntry);

    const result = replayJournal(journal);
    expect(result.divergence, `recorded ${result.expected}, replayed ${result.actual}`).toBe(-1);
    const recorded = journal.filter((e) => e.kind === 'state' || e.kind === 'effect').map((e) => encodeJournalLine({ ...e, t: 0 }));
    const replayed = result.produced.map((e) => encodeJournalLine({ ...e, t: 0 }));
    expect(replayed).toEqual(recorded);
  },
);
