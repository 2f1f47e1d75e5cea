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
import {
  PROPERTY_IDS,
  type ConformanceOptions,
  type ConformanceReport,
  type Context,
  type ProgressEvent,
  type PropertyId,
  type PropertyResult,
} from './types.js';

export { formatReport, visible } from './report.js';
export { PROPERTY_IDS } from './types.js';
export type * from './types.js';

/** The error a failing run throws; fast-check keeps the one of the shrunk counterexample. */
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
    seed: o.seed ?? (Math.random() * 0x7fffffff) | 0,
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
    propertyBudgetMs: o.propertyBudgetMs ?? 20_000,
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

async function runProperty(ctx: Context, gen: DialectGen, def: PropertyDef<unknown>, onProgress?: (e: ProgressEvent) => void): Promise<PropertyResult> {
  const base = { id: def.id, number: def.number, title: def.title };
  const skip = def.skip(ctx);
  if (skip !== undefined) return { ...base, status: 'skipped', skipReason: skip, runs: 0, durationMs: 0 };
  onProgress?.({ type: 'property-start', property: def.id, number: def.number, runs: ctx.runs });
  const started = Date.now();
  let executions = 0;
  const property = fc.asyncProperty(def.arbitrary(ctx, gen), async (value) => {
    executions++;
    const v = await def.check(ctx, gen, value);
    onProgress?.({ type: 'run', property: def.id, run: executions, ok: v.problems.length === 0 });
    if (v.problems.length > 0) throw new Violation(v.problems, v.transcript);
  });
  const details = await fc.check(property, {
    numRuns: ctx.runs,
    seed: ctx.seed,
    ...(ctx.path !== undefined ? { path: ctx.path } : {}),
    plugins: [fc.interruptAfterTimeLimit(ctx.propertyBudgetMs)],
  });
  const durationMs = Date.now() - started;
  const result: PropertyResult = { ...base, status: details.failed ? 'failed' : 'passed', runs: details.numRuns, durationMs, ...(details.interrupted ? { interrupted: true } : {}) };
  if (details.failed) {
    const err = details.errorInstance;
    result.failure = {
      message: err instanceof Violation ? err.message : `the run threw: ${err instanceof Error ? (err.stack ?? err.message) : String(err)}`,
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
    durationMs: Date.now() - started,
  };
}
