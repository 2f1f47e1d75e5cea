/**
 * A replay (`seed` + `path`, `postern conformance --seed S --path P`) runs exactly the
 * counterexample a search reported, without a server: the property is a fake check on the
 * generic scripts (the ones property 1 plays), and what is compared is what the generator
 * controls, the lines and how they are delivered (bursts and write boundaries, `deliveryPlan`).
 *
 * Until session 10 a replay was `fc.check` with the path and nothing else, so fast-check went on
 * shrinking from the path's value: when the search had stopped shrinking early (its time budget
 * ran out, or smaller candidates passed because the failure depends on timing), the replay
 * reported another, smaller counterexample (docs/conformance.md, seeds 108916938 and 1824854825
 * against a server that answers NOOP twice).
 */
import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { deliveryPlan } from '../../src/conformance/execute.js';
import { pop3 } from '../../src/conformance/generators/pop3.js';
import { checkValues, resolveContext, type Script } from '../../src/conformance/index.js';
import { genericScript } from '../../src/conformance/properties/scripts.js';

const ctx = resolveContext({ target: { host: '127.0.0.1', port: 1 }, protocol: 'pop3', tls: 'starttls', starttlsMode: 'on', seed: 1 });
const scripts = genericScript(ctx, pop3);

/** What the generator controls: every line's bytes, the bursts and writes they go out in, the ending. */
const played = (s: Script): string =>
  JSON.stringify({ lines: s.commands.flatMap((c) => c.lines.map((l) => l.text + l.eol)), plan: deliveryPlan(s, ctx.pipelineBudget), end: s.end, awaitClose: s.awaitClose ?? false });

const hasNoop = (s: Script): boolean => s.commands.some((c) => c.kind === 'noop');

/** A failing run, as a server answering NOOP twice fails them; the error names the value it failed. */
const failOnNoop = async (s: Script): Promise<void> => {
  if (hasNoop(s)) throw new Error(played(s));
};

/** The seeds of the known gap, and a few more. */
const SEEDS = [108916938, 1824854825, 1, 2, 3, 42];

/** Replays `seed` + `path` through `checkValues`, recording every value it runs. */
async function replayPath(seed: number, path: string) {
  const seen: string[] = [];
  const replay = await checkValues(
    scripts,
    async (s) => {
      seen.push(played(s));
      await failOnNoop(s);
    },
    { runs: 25, seed, path, budgetMs: 60_000 },
  );
  return { seen, replay };
}

describe('replaying seed + path runs exactly the reported counterexample', () => {
  it.each(SEEDS)('seed %i: a search whose shrinking stopped early, then its replay', async (seed) => {
    // The search: NOOP fails, but only twice more once shrinking started (later candidates pass, as
    // they do when a failure depends on timing, or as if the time budget had stopped shrinking).
    let failures = 0;
    const search = await checkValues(
      scripts,
      async (s) => {
        if (hasNoop(s) && failures++ <= 2) throw new Error(played(s));
      },
      { runs: 25, seed, budgetMs: 60_000 },
    );
    expect(search.details.failed).toBe(true);
    const path = search.details.counterexamplePath!;
    const reported = search.details.counterexample![0];
    // The error reported (the transcript of a real run) is the run of the value at the path.
    expect((search.details.errorInstance as Error).message).toBe(played(reported));

    // The bug this guards against: fast-check's own replay (path, shrinking on) reports a smaller
    // value for these seeds, so the test below would see it.
    const plain = await fc.check(fc.asyncProperty(scripts, failOnNoop), { seed, path });
    expect(plain.failed).toBe(true);
    expect(played(plain.counterexample![0])).not.toBe(played(reported));

    // The replay: that very value, once, unshrunk, reported with the same seed and path.
    const { seen, replay } = await replayPath(seed, path);
    expect(seen).toEqual([played(reported)]);
    expect(replay.executions).toBe(1);
    expect(replay.details.failed).toBe(true);
    expect(replay.details.counterexamplePath).toBe(path);
    expect(replay.details.numShrinks).toBe(0);
    expect((replay.details.errorInstance as Error).message).toBe(played(reported));
  });

  it.each(SEEDS)('seed %i: a search stopped by its time budget while shrinking, then its replay', async (seed) => {
    // Each run takes 5 ms and the budget is 100 ms: the search finds a NOOP and is interrupted
    // somewhere in its shrinking (where depends on timing; the check holds wherever).
    const search = await checkValues(
      scripts,
      async (s) => {
        await new Promise((r) => setTimeout(r, 5));
        await failOnNoop(s);
      },
      { runs: 25, seed, budgetMs: 100 },
    );
    expect(search.details.failed).toBe(true);
    const path = search.details.counterexamplePath!;
    const reported = search.details.counterexample![0];
    expect((search.details.errorInstance as Error).message).toBe(played(reported));
    const { seen, replay } = await replayPath(seed, path);
    expect(seen).toEqual([played(reported)]);
    expect(replay.details.counterexamplePath).toBe(path);
  });

  it('a replayed value that passes this time is the only one run: nothing after it on the path is tried', async () => {
    for (const seed of SEEDS) {
      const search = await checkValues(scripts, failOnNoop, { runs: 25, seed, budgetMs: 60_000 });
      const path = search.details.counterexamplePath!;
      expect(path).toContain(':'); // shrunk: the replay walks into the shrink tree
      const seen: Script[] = [];
      const replay = await checkValues(
        scripts,
        async (s) => {
          seen.push(s);
        },
        { runs: 25, seed, path, budgetMs: 60_000 },
      );
      expect(seen.map(played)).toEqual([played(search.details.counterexample![0])]);
      expect(replay.executions).toBe(1);
      expect(replay.details.failed).toBe(false);
    }
  });
});
