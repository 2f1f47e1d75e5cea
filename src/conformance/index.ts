/**
 * Property-based conformance suite for mail proxies (POP3 / IMAP / SMTP), black box: it
 * drives the target over real sockets with fast-check-generated scripts and checks eight
 * named properties (see docs/conformance.md).
 *
 *   const report = await runConformance({ target: { host: '127.0.0.1', port: 1143 }, protocol: 'imap', tls: 'starttls', starttlsMode: 'only' });
 *   console.log(formatReport(report));
 *   // replay a failure: runConformance({ ...same, properties: ['reply-grammar'], seed, path })
 */
import fc from 'fast-check';
import { dialectGen, type DialectGen } from './generators/index.js';
import { PROPERTIES, type PropertyDef } from './properties/index.js';
import { KNOWN_QUIRKS, problemClasses, type QuirkHit } from './quirks.js';
import {
  PROPERTY_IDS,
  type ConformanceOptions,
  type ConformanceReport,
  type Context,
  type ProgressEvent,
  type PropertyId,
  type PropertyResult,
  type QuirkTally,
} from './types.js';

export { formatReport, summaryLine, visible } from './report.js';
export { KNOWN_QUIRKS, problemClass, problemClasses, type KnownQuirk } from './quirks.js';
export { isConformanceProtocol, PROPERTY_IDS } from './types.js';

/** The environment variable that fixes the seed where none is given (CI reproduction). */
export const SEED_ENV = 'POSTERN_CONFORMANCE_SEED';

/**
 * The seed to use when none is given: `POSTERN_CONFORMANCE_SEED` if set (an integer), else a
 * random one. Print it: it replays the run.
 */
export function conformanceSeed(env: NodeJS.ProcessEnv = process.env): number {
  const text = env[SEED_ENV];
  if (text === undefined || text === '') return (Math.random() * 0x7fffffff) | 0;
  if (!/^-?\d+$/.test(text.trim())) throw new Error(`${SEED_ENV}="${text}" is not an integer`);
  return Number(text.trim());
}
export type * from './types.js';

/** The error a failing run throws; fast-check keeps the one of the last value that failed, the value of `counterexamplePath`. */
export class Violation extends Error {
  constructor(
    readonly problems: string[],
    readonly transcript: string[],
  ) {
    super(problems.join('\n'));
    this.name = 'Violation';
  }
}

export function resolveContext(o: ConformanceOptions): Context {
  const timeoutMs = o.timeoutMs ?? 10_000;
  return {
    target: o.target,
    protocol: o.protocol,
    tls: o.tls,
    starttlsMode: o.starttlsMode ?? (o.tls === 'starttls' ? 'on' : 'off'),
    users: o.users ?? [],
    runs: o.runs ?? 25,
    seed: o.seed ?? conformanceSeed(),
    path: o.path,
    timeoutMs,
    replyTimeoutMs: o.replyTimeoutMs ?? Math.min(5000, timeoutMs),
    closeTimeoutMs: o.closeTimeoutMs ?? 2000,
    quietMs: 60,
    chunkGapMs: 2,
    maxErrors: o.maxErrors ?? 5,
    pipelineBudget: o.pipelineBudget ?? (o.protocol === 'pop3' ? 120 : 1000),
    authProbe: o.authProbe,
    backendLoginReply: o.backendLoginReply,
    normalize: o.normalize,
    propertyBudgetMs: o.propertyBudgetMs ?? 60_000,
    strict: o.strict ?? false,
  };
}

/** Property ids from ids or numbers (1-8); throws on unknown ones. */
export function selectProperties(list: Array<PropertyId | number> | undefined): Set<PropertyId> {
  if (!list || list.length === 0) return new Set(PROPERTY_IDS);
  return new Set(
    list.map((p) => {
      const id = typeof p === 'number' ? PROPERTY_IDS[p - 1] : PROPERTY_IDS.find((x) => x === p);
      if (!id) throw new Error(`unknown conformance property ${JSON.stringify(p)} (known: ${PROPERTY_IDS.join(', ')} or 1-8)`);
      return id;
    }),
  );
}

/** How `checkValues` drives fast-check. */
export interface CheckOptions {
  /** Values to try in a search. */
  runs: number;
  seed: number;
  /** Replay: run the one value that `seed` and this path name, once, and shrink nothing. */
  path?: string;
  /** Time budget for the search and shrinking (fast-check's `interruptAfterTimeLimit`). */
  budgetMs: number;
}

/** What `checkValues` found: fast-check's details and how many values `run` was given. */
export interface CheckOutcome<T> {
  details: fc.RunDetails<[T]>;
  /** Calls of `run` (a replay: at most 1). */
  executions: number;
}

/**
 * fast-check driving, apart from any server: `run` is called with values of `arbitrary` and
 * fails a value by throwing. A search tries `runs` values from `seed` and shrinks the first
 * failure; `details.counterexamplePath` is the path of the last value that failed, the one whose
 * error `details.errorInstance` is.
 *
 * A replay (`path`) runs exactly that value, once: `endOnFailure`, so fast-check does not shrink
 * it further (a search stopped by its time budget, or whose smaller candidates passed by timing,
 * reports a value that still has failing shrinks: shrinking on would run and report another,
 * smaller counterexample), and nothing after it (if it passes, fast-check would go on with the
 * values that follow it on the path's level: its shrink siblings, or the next runs).
 */
export async function checkValues<T>(arbitrary: fc.Arbitrary<T>, run: (value: T) => Promise<void>, o: CheckOptions): Promise<CheckOutcome<T>> {
  const replay = o.path !== undefined;
  let executions = 0;
  let running: Promise<void> | undefined;
  const property = fc.asyncProperty(arbitrary, async (value) => {
    if (replay && executions > 0) return;
    executions++;
    running = run(value);
    await running;
  });
  const details: fc.RunDetails<[T]> = await fc.check<[T]>(property, {
    numRuns: replay ? 1 : o.runs,
    seed: o.seed,
    ...(replay ? { path: o.path, endOnFailure: true } : {}),
    plugins: [fc.interruptAfterTimeLimit(o.budgetMs)],
  });
  // The time budget stops fast-check, not the run in progress: let it end (its outcome is
  // ignored), so that it does not overlap what the caller does next (the next property, a replay).
  await running?.catch(() => undefined);
  return { details, executions };
}

async function runProperty(ctx: Context, gen: DialectGen, def: PropertyDef<unknown>, onProgress?: (e: ProgressEvent) => void): Promise<PropertyResult> {
  const base = { id: def.id, number: def.number, title: def.title };
  const skip = def.skip(ctx);
  if (skip !== undefined) return { ...base, status: 'skipped', skipReason: skip, runs: 0, durationMs: 0 };
  onProgress?.({ type: 'property-start', property: def.id, number: def.number, runs: ctx.runs });
  const started = Date.now();
  let executions = 0;
  // Known quirks seen during the search (not while shrinking a failure: those runs repeat it).
  const tally = new Map<string, QuirkTally>();
  let shrinking = false;
  const count = (hits: QuirkHit[]) => {
    const seen = new Set<string>();
    for (const hit of hits) {
      const quirk = KNOWN_QUIRKS.find((q) => q.id === hit.id)!;
      const t = tally.get(hit.id) ?? { id: hit.id, title: quirk.title, reference: quirk.reference, runs: 0, occurrences: 0, example: hit.problem };
      t.occurrences++;
      if (!seen.has(hit.id)) t.runs++;
      seen.add(hit.id);
      tally.set(hit.id, t);
    }
  };
  const replay = ctx.path !== undefined;
  const { details } = await checkValues(
    def.arbitrary(ctx, gen),
    async (value) => {
      executions++;
      const v = await def.check(ctx, gen, value);
      const quirks = v.quirks ?? [];
      const problems = ctx.strict ? [...v.problems, ...quirks.map((q) => `${q.problem} [known nginx quirk ${q.id}]`)] : v.problems;
      if (!shrinking && !ctx.strict) count(quirks);
      onProgress?.({ type: 'run', property: def.id, run: executions, ok: problems.length === 0 });
      if (problems.length > 0) {
        shrinking = true;
        throw new Violation(problems, v.transcript);
      }
    },
    { runs: ctx.runs, seed: ctx.seed, path: ctx.path, budgetMs: ctx.propertyBudgetMs },
  );
  const durationMs = Date.now() - started;
  // fast-check also reports `failed` without a counterexample: interrupted before any run passed.
  const found = details.failed && details.counterexamplePath !== null;
  // A replay counts the one run it made (fast-check also counts the values it stepped over after a pass).
  const runs = replay ? executions : details.numRuns;
  const result: PropertyResult = { ...base, status: found ? 'failed' : 'passed', runs, durationMs, ...(details.interrupted ? { interrupted: true } : {}) };
  // A replay (`path`) runs its one counterexample; otherwise a pass takes every run asked for.
  if (!found && (details.failed || details.interrupted || (!replay && details.numRuns < ctx.runs))) {
    result.status = 'incomplete';
    result.incompleteReason = details.interrupted
      ? `stopped by the time budget of ${ctx.propertyBudgetMs} ms after ${runs} of ${replay ? 1 : ctx.runs} runs`
      : `only ${details.numRuns} of ${ctx.runs} runs were made`;
  }
  if (tally.size > 0) result.quirks = [...tally.values()].sort((a, b) => a.id.localeCompare(b.id));
  if (found) {
    const err = details.errorInstance;
    const message = err instanceof Violation ? err.message : `the run threw: ${err instanceof Error ? (err.stack ?? err.message) : String(err)}`;
    result.failure = {
      message,
      classes: err instanceof Violation ? problemClasses(err.problems) : ['the run threw'],
      transcript: err instanceof Violation ? err.transcript : [],
      seed: details.seed,
      path: details.counterexamplePath ?? '',
      shrinks: details.numShrinks,
    };
  }
  onProgress?.({ type: 'property-end', property: def.id, result });
  return result;
}

/** Runs the selected properties one after the other against the target. */
export async function runConformance(options: ConformanceOptions): Promise<ConformanceReport> {
  const ctx = resolveContext(options);
  const gen = dialectGen(ctx.protocol);
  const wanted = selectProperties(options.properties);
  const started = Date.now();
  const results: PropertyResult[] = [];
  for (const def of PROPERTIES) {
    if (wanted.has(def.id)) results.push(await runProperty(ctx, gen, def, options.onProgress));
  }
  return {
    target: { host: ctx.target.host, port: ctx.target.port },
    protocol: ctx.protocol,
    tls: ctx.tls,
    starttlsMode: ctx.starttlsMode,
    seed: ctx.seed,
    runsPerProperty: ctx.runs,
    results,
    passed: results.filter((r) => r.status === 'passed').length,
    failed: results.filter((r) => r.status === 'failed').length,
    skipped: results.filter((r) => r.status === 'skipped').length,
    incomplete: results.filter((r) => r.status === 'incomplete').length,
    quirksTolerated: !ctx.strict,
    durationMs: Date.now() - started,
  };
}
