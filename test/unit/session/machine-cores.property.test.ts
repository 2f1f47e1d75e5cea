/**
 * The two ways a connection's machine runs (src/session): a snapshot advanced in one shared
 * scope (every connection) and a live XState actor (a connection the Stately inspector watches).
 * Whatever the input, the events, the time between them (timers: `timeout`, Auth-Wait, the SMTP
 * greeting delay) and an event an effect's handler sends back at once (the mailbox), both give
 * the same effects, the same journal, the same facts to the runtime, and a journal that replays.
 */
import { fc, test } from '@fast-check/vitest';
import { afterEach, beforeEach, describe, expect, it, vi } from 'vitest';
import { setup } from 'xstate';
import type { ConnectionEffect, ConnectionEvent, ConnectionInput } from '../../../machines/types.js';
import { memoryJournal } from '../../../src/journal/record.js';
import { replayJournal } from '../../../src/journal/replay.js';
import { actorCore, type MachineCore, type MachineCoreOptions, type MachineHooks } from '../../../src/session/machine-core.js';
import type { ConnectionMachine } from '../../../src/session/options.js';
import { snapshotCore } from '../../../src/session/snapshot-core.js';
import { eventArb, gapArb, inputArb } from '../../journal/arbitraries.js';
import { settings } from '../../machines/helpers.js';

type CoreFactory = (input: ConnectionInput, hooks: MachineHooks, options: MachineCoreOptions) => MachineCore;

interface Run {
  effects: ConnectionEffect[];
  /** What the runtime reads after every step: over, frame mode, SASL step. */
  facts: string[];
  journal: ReturnType<typeof memoryJournal>;
  failures: unknown[];
  traced: string[];
}

/**
 * One connection through one core. `echo`: an event the effect handler sends back the first time
 * the machine emits an effect of that kind, from inside the handler (as the runtime does when a
 * write fails at once).
 */
function drive(make: CoreFactory, input: ConnectionInput, steps: Array<[number, ConnectionEvent]>, tail: number, echo?: [ConnectionEffect['type'], ConnectionEvent]): Run {
  const startedAt = Date.now();
  const run: Run = { effects: [], facts: [], journal: memoryJournal(), failures: [], traced: [] };
  let echoed = false;
  const core: MachineCore = make(
    input,
    {
      effect: (effect) => {
        run.effects.push(effect);
        if (echo !== undefined && !echoed && effect.type === echo[0]) {
          echoed = true;
          core.send(echo[1]);
        }
      },
      changed: () => undefined,
      failed: (error) => run.failures.push(error),
    },
    { journal: { sink: run.journal, now: () => Date.now() - startedAt }, traceState: (state) => run.traced.push(state) },
  );
  const fact = () => run.facts.push(`${core.over} ${core.frameMode()} ${core.saslStep()}`);
  core.start();
  fact();
  for (const [gap, event] of steps) {
    vi.advanceTimersByTime(gap);
    core.send(event);
    fact();
  }
  vi.advanceTimersByTime(tail);
  fact();
  core.stop();
  fact();
  return run;
}

describe('machine cores', () => {
  beforeEach(() => {
    vi.useFakeTimers();
  });
  afterEach(() => {
    vi.useRealTimers();
  });

  test.prop(
    {
      input: inputArb,
      steps: fc.array(fc.tuple(gapArb, eventArb), { maxLength: 30 }),
      tail: gapArb,
      echo: fc.option(fc.tuple(fc.constantFrom<ConnectionEffect['type']>('reply', 'startTls', 'authenticate', 'connectBackend', 'startRelay'), eventArb), { nil: undefined }),
    },
    { numRuns: 150 },
  )('a snapshot in the shared scope and a live actor give the same effects, journal and facts', ({ input, steps, tail, echo }) => {
    const snapshot = drive(snapshotCore, input, steps, tail, echo);
    vi.clearAllTimers();
    const actor = drive(actorCore, input, steps, tail, echo);
    expect(snapshot.effects).toEqual(actor.effects);
    expect(snapshot.journal.entries).toEqual(actor.journal.entries);
    expect(snapshot.facts).toEqual(actor.facts);
    expect(snapshot.traced).toEqual(actor.traced);
    expect([snapshot.journal.closed, snapshot.failures]).toEqual([true, []]);
    expect(replayJournal(snapshot.journal.entries).divergence).toBe(-1);
  });

  it('two connections interleaved keep their own timers and effects (the scope is shared)', () => {
    const pop3 = settings('pop3', { timeoutMs: 1000 });
    const effects: Array<[string, ConnectionEffect['type']]> = [];
    const hooks = (name: string): MachineHooks => ({ effect: (e) => effects.push([name, e.type]), changed: () => undefined, failed: (e) => { throw e; } });
    const a = snapshotCore(pop3, hooks('a'), {});
    const b = snapshotCore(settings('pop3', { timeoutMs: 3000 }), hooks('b'), {});
    a.start();
    b.start();
    vi.advanceTimersByTime(1500);
    expect([a.over, b.over]).toEqual([true, false]);
    b.send({ type: 'cmd.quit' });
    expect(effects).toEqual([
      ['a', 'reply'],
      ['b', 'reply'],
      ['a', 'close'],
      ['b', 'reply'],
      ['b', 'close'],
    ]);
    expect(vi.getTimerCount()).toBe(0);
  });

  it('a guard that throws ends that connection only: failed() once, no timer left, the journal closed', () => {
    const faulty = setup({ guards: { boom: () => { throw new Error('guard failed'); } } }).createMachine({
      initial: 'waiting',
      states: { waiting: { after: { 5000: 'late' }, on: { 'cmd.noop': { guard: 'boom', target: 'late' } } }, late: {} },
    }) as unknown as ConnectionMachine;
    const failures: unknown[] = [];
    const journal = memoryJournal();
    const core = snapshotCore(settings('pop3'), { effect: () => undefined, changed: () => undefined, failed: (e) => failures.push(e) }, { machine: faulty, journal: { sink: journal, now: () => 0 } });
    const healthy = snapshotCore(settings('pop3'), { effect: () => undefined, changed: () => undefined, failed: (e) => failures.push(e) }, {});
    core.start();
    healthy.start();
    core.send({ type: 'cmd.noop' });
    expect(failures.map(String)).toEqual([expect.stringContaining('guard failed')]);
    expect([core.over, journal.closed, healthy.over, healthy.frameMode()]).toEqual([true, true, false, 'command']);
    healthy.send({ type: 'cmd.quit' });
    expect(vi.getTimerCount()).toBe(0);
  });
});
