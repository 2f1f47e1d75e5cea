/**
 * The machine core's `release()` (what the relay handoff calls): while relaying it holds the
 * machine's persisted snapshot, not a live actor, and what comes out of the machine afterwards
 * (effects, the journal, which replays) is exactly what a core that kept its actor produces, for
 * the relay's end and for a fault that stops the machine. A session an inspector watches keeps
 * its actor (the inspector follows one actor from start to end).
 */
import { describe, expect, it, vi } from 'vitest';
import type { ConnectionEffect, ConnectionEvent } from '../../../machines/types.js';
import { memoryJournal } from '../../../src/journal/record.js';
import { replayJournal } from '../../../src/journal/replay.js';
import { actorCore, type MachineCore } from '../../../src/session/machine-core.js';
import { ok, pw, settings } from '../../machines/helpers.js';
import { collected } from './collected.js';

const actors = vi.hoisted(() => [] as Array<WeakRef<object>>);

vi.mock('xstate', async (importOriginal) => {
  const xstate = await importOriginal<typeof import('xstate')>();
  return {
    ...xstate,
    createActor: ((...args: Parameters<typeof xstate.createActor>) => {
      const actor = xstate.createActor(...args);
      actors.push(new WeakRef(actor));
      return actor;
    }) as typeof xstate.createActor,
  };
});

const LOGIN: ConnectionEvent[] = [{ type: 'cmd.user', user: 'alice' }, { type: 'cmd.pass', password: pw() }, ok(), { type: 'backend.ready' }];

/** A POP3 connection logged in and relaying; `release` as the handoff calls it, from the startRelay effect. */
function relaying(options: { release: boolean; inspected?: boolean }) {
  const journal = memoryJournal();
  const effects: ConnectionEffect[] = [];
  const failures: unknown[] = [];
  const core: MachineCore = actorCore(
    settings('pop3'),
    {
      effect: (effect) => {
        effects.push(effect);
        if (effect.type === 'startRelay' && options.release) core.release();
      },
      changed: () => undefined,
      failed: (error) => failures.push(error),
    },
    { journal: { sink: journal, now: () => 0 }, ...(options.inspected ? { inspect: { next: () => undefined } } : {}) },
  );
  core.start();
  for (const event of LOGIN) core.send(event);
  return { core, journal, effects, failures };
}

describe('MachineCore.release (an idle relayed session)', () => {
  it('lets the live actor go; the relay end then journals, emits and replays exactly as a kept actor', async () => {
    actors.length = 0;
    const released = relaying({ release: true });
    expect(actors).toHaveLength(1);
    expect(await collected(actors), 'the actor after release()').toBe(true);
    expect(released.core.frameMode()).toBeNull();
    expect(released.core.over).toBe(false);

    const kept = relaying({ release: false });
    const end: ConnectionEvent = { type: 'relay.ended', reason: 'proxied session done (upstream closed connection)' };
    released.core.send(end);
    kept.core.send(end);
    expect(released.effects.at(-1)).toEqual({ type: 'close', reason: end.reason });
    expect(released.core.over).toBe(true);
    expect(released.effects).toEqual(kept.effects);
    expect(released.journal.entries).toEqual(kept.journal.entries);
    expect(released.journal.closed).toBe(true);
    expect(replayJournal(released.journal.entries).divergence).toBe(-1);
    expect(released.failures).toEqual([]);
  });

  it('a fault while relaying (stop): the same effects and journal as a kept actor, the journal closed', () => {
    const released = relaying({ release: true });
    const kept = relaying({ release: false });
    released.core.stop();
    kept.core.stop();
    expect(released.core.over).toBe(true);
    expect(released.effects).toEqual(kept.effects);
    expect(released.journal.entries).toEqual(kept.journal.entries);
    // A stopped machine is done: its journal is complete (a file sink flushes and closes).
    expect([released.journal.closed, kept.journal.closed]).toEqual([true, true]);
  });

  it('an inspected session keeps its live actor', async () => {
    actors.length = 0;
    const inspected = relaying({ release: true, inspected: true });
    expect(await collected(actors)).toBe(false);
    inspected.core.send({ type: 'client.closed' });
    expect(inspected.effects.at(-1)).toEqual({ type: 'close', reason: 'proxied session done' });
  });
});
