/**
 * The journal codec keeps of a secret exactly the facts the machine acts on: empty or not, and
 * whether it holds CR, LF or NUL (POP3 refuses such a password before the auth service is
 * asked). A journal of such a refusal must replay as it happened.
 */
import { describe, expect, it } from 'vitest';
import { createActor, SimulatedClock } from 'xstate';
import { connectionMachine } from '../../machines/connection.js';
import type { ConnectionEvent } from '../../machines/types.js';
import { decodeJournalLine, encodeJournalLine } from '../../src/journal/codec.js';
import type { JournalEntry } from '../../src/journal/journal.js';
import { memoryJournal, recordJournal } from '../../src/journal/record.js';
import { replayJournal } from '../../src/journal/replay.js';
import { Secret } from '../../src/secret.js';
import { settings } from '../machines/helpers.js';

const PASSWORD = 'Zq7-unmistakable';

describe('journal codec: secrets', () => {
  it.each([
    ['', 'empty', false],
    [PASSWORD, 'redacted', false],
    [`${PASSWORD}\r\nDELE 1`, 'crlf-nul', true],
    [`${PASSWORD}\n`, 'crlf-nul', true],
    [`${PASSWORD}\0`, 'crlf-nul', true],
  ] as const)('%j is written as %s and read back with the same facts', (value, written, crLfOrNul) => {
    const line = encodeJournalLine({ password: new Secret(value) });
    expect(line).toBe(`{"password":{"$secret":"${written}"}}`);
    const { password } = decodeJournalLine(line) as { password: Secret };
    expect(password.length === 0).toBe(value === '');
    expect(password.hasCrLfOrNul).toBe(crLfOrNul);
  });

  it('a POP3 password refused for its CR LF, then a good login: the journal replays exactly', () => {
    const input = settings('pop3');
    const clock = new SimulatedClock();
    const actor = createActor(connectionMachine, { input, clock });
    const sink = memoryJournal();
    const recorder = recordJournal(actor, input, sink, () => clock.now());
    actor.start();
    const events: ConnectionEvent[] = [
      { type: 'cmd.user', user: 'alice' },
      { type: 'cmd.pass', password: new Secret(`${PASSWORD}\r\nDELE 1`) },
      { type: 'cmd.user', user: 'alice' },
      { type: 'cmd.pass', password: new Secret(PASSWORD) },
    ];
    for (const event of events) {
      recorder.event(event);
      actor.send(event);
    }
    actor.stop();

    const lines = sink.entries.map(encodeJournalLine);
    expect(lines.join('\n')).not.toContain(PASSWORD);
    expect(lines.filter((line) => line.includes('"type":"authenticate"'))).toHaveLength(1);
    const result = replayJournal(lines.map((line) => decodeJournalLine(line) as JournalEntry));
    expect(result.divergence, `recorded ${result.expected}, replayed ${result.actual}`).toBe(-1);
  });
});
