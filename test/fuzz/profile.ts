/**
 * The fuzzing profiles (docs/testing.md, "Fuzzing").
 *
 *   bounded (default, part of `npm test`): a few thousand generated inputs per protocol, ~10 s a file
 *   long (`npm run fuzz`, POSTERN_FUZZ_PROFILE=long): at least 100,000 generated inputs per protocol
 *
 * POSTERN_FUZZ_SEED=<int> replays a run (each file prints the seed it used; random otherwise);
 * POSTERN_FUZZ_PATH=<path> (with the seed, and one test selected with `-t`) replays fast-check's
 * counterexample path straight away; POSTERN_FUZZ_SHRINK=0 reports the first failure unshrunk;
 * POSTERN_FUZZ_SCALE=<factor> runs more (or fewer) cases.
 */
import { randomInt } from 'node:crypto';
import type { Parameters as FcParameters } from 'fast-check';

export type ProfileName = 'bounded' | 'long';

/** The protocols the fuzzer drives (ManageSieve not yet: it has no generators or fake backend here). */
export type FuzzedProtocol = 'pop3' | 'imap' | 'smtp' | 'sieve';

export const PROFILE: ProfileName = process.env.POSTERN_FUZZ_PROFILE === 'long' ? 'long' : 'bounded';

function envSeed(): number | undefined {
  const text = process.env.POSTERN_FUZZ_SEED;
  if (text === undefined || text === '') return undefined;
  const seed = Number(text);
  if (!Number.isSafeInteger(seed)) throw new Error(`POSTERN_FUZZ_SEED must be an integer, got ${JSON.stringify(text)}`);
  return seed | 0;
}

/** One seed per test file (per vitest worker): every property of the file runs from it. */
export const SEED: number = envSeed() ?? randomInt(0, 2 ** 31 - 1);

/** What each property of a protocol runs: fast-check runs (cases); every case holds many inputs. */
export interface ProtocolBudget {
  /** Client input: connections of generated command sequences, SASL exchanges, literals, splits. */
  commands: number;
  /** auth_http answers from a fake auth service to the real AuthHttpClient. */
  authHttp: number;
  /** Backend greetings and replies during the backend login. */
  backend: number;
  /** The long profile fails when a protocol got fewer generated inputs than this. */
  minInputs: number;
}

const BUDGETS: Record<ProfileName, { protocol: ProtocolBudget; configTexts: number; minConfigTexts: number }> = {
  bounded: { protocol: { commands: 150, authHttp: 50, backend: 50, minInputs: 0 }, configTexts: 6_000, minConfigTexts: 0 },
  long: { protocol: { commands: 6_500, authHttp: 2_000, backend: 2_000, minInputs: 100_000 }, configTexts: 100_000, minConfigTexts: 100_000 },
};

/** POSTERN_FUZZ_SCALE=<factor> multiplies every property's runs (the long profile's minimum then scales too). */
const SCALE = ((): number => {
  const text = process.env.POSTERN_FUZZ_SCALE;
  if (text === undefined || text === '') return 1;
  const scale = Number(text);
  if (!(scale > 0)) throw new Error(`POSTERN_FUZZ_SCALE must be a positive number, got ${JSON.stringify(text)}`);
  return scale;
})();

const scaled = (runs: number): number => Math.max(1, Math.round(runs * SCALE));

export const BUDGET = ((): (typeof BUDGETS)[ProfileName] => {
  const { protocol, configTexts, minConfigTexts } = BUDGETS[PROFILE];
  return {
    protocol: {
      commands: scaled(protocol.commands),
      authHttp: scaled(protocol.authHttp),
      backend: scaled(protocol.backend),
      minInputs: Math.floor(protocol.minInputs * Math.min(SCALE, 1)),
    },
    configTexts: scaled(configTexts),
    minConfigTexts: Math.floor(minConfigTexts * Math.min(SCALE, 1)),
  };
})();

/** vitest's limit for one property (the long profile runs for minutes). */
export const TEST_TIMEOUT_MS = PROFILE === 'long' ? 3 * 60 * 60 * 1000 : 180_000;

/** fast-check parameters for one property: the file's seed, the replay path if given. */
export function runParameters(numRuns: number): FcParameters<unknown> {
  const path = process.env.POSTERN_FUZZ_PATH;
  return {
    seed: SEED,
    numRuns,
    ...(path ? { path } : {}),
    endOnFailure: process.env.POSTERN_FUZZ_SHRINK === '0',
  };
}

export function describeSeed(file: string): string {
  return `[fuzz] ${file}: profile ${PROFILE}, seed ${SEED} (replay: POSTERN_FUZZ_SEED=${SEED}${PROFILE === 'long' ? ' POSTERN_FUZZ_PROFILE=long' : ''})`;
}
