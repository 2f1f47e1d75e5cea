/**
 * Script arbitraries, one family per property. Every command travels with its own delivery
 * (pipelined or not, cut points), so shrinking a script shrinks its delivery with it.
 */
import fc from 'fast-check';
import { altSplitsArb, assemble, delivered, endArb, piped, splitsFor, type Delivered, type DialectGen } from '../generators/index.js';
import type { Command, Context, Script } from '../types.js';

const starttlsWorks = (ctx: Context): boolean => ctx.tls === 'starttls' && ctx.starttlsMode !== 'off';
const noCuts = (c: Command): Delivered => [c, { pipe: false, cuts: [] }];

/**
 * Any ordering of anything the client may send (properties 1, 2, 5). Over-long lines are in
 * property 5's scripts too: the executor writes nothing after the first OVERLONG_CUT_WINDOW
 * bytes of a burst with one but a last write (execute.ts). Before that rule, nginx's answer to
 * one could be lost to the reset of its close (the rest of the line unread) when the client
 * wrote again, depending on timing, hence on the splitting, and property 5 left them out (nginx
 * failed it that way once: seed 1208446159, POP3).
 */
export function genericScript(ctx: Context, gen: DialectGen): fc.Arbitrary<Script> {
  const cmd = fc.oneof(
    { weight: 5, arbitrary: gen.safe },
    { weight: 2, arbitrary: gen.bad },
    { weight: 3, arbitrary: gen.malformed },
    { weight: 2, arbitrary: gen.authAttempt(ctx.users) },
    ...(ctx.users.length > 0 ? [{ weight: 2, arbitrary: gen.goodLogin(ctx.users) }] : []),
    { weight: 1, arbitrary: fc.constant(gen.starttls()) },
    { weight: 1, arbitrary: gen.overlong },
    { weight: 1, arbitrary: fc.constant(gen.followup()) },
  );
  return fc
    .record({
      items: fc.array(delivered(cmd), { minLength: 1, maxLength: 8 }),
      quit: fc.option(delivered(fc.constant(gen.quit())), { nil: undefined }),
      end: endArb(gen.partialLine),
      variant: fc.nat(4),
    })
    .map(({ items, quit, end, variant }) => {
      const kept = afterLogin(items);
      return quit ? assemble([...kept, quit], gen.finalize, variant, { kind: 'none' }, true) : assemble(kept, gen.finalize, variant, end);
    });
}

/** Kinds still sent once a good login may have reached the backend: the suite tests the proxy, not the backend's parser. */
const RELAYED_KINDS = new Set<Command['kind']>(['noop', 'capability', 'bad', 'followup']);

function afterLogin(items: Delivered[]): Delivered[] {
  const first = items.findIndex(([c]) => c.credentials === 'good');
  return first < 0 ? items : [...items.slice(0, first + 1), ...items.slice(first + 1).filter(([c]) => RELAYED_KINDS.has(c.kind))];
}

/** Property 5: a generic script and a second splitting of it. */
export function splitPairScript(ctx: Context, gen: DialectGen): fc.Arbitrary<{ script: Script; splits: number[][] }> {
  return fc.record({ script: genericScript(ctx, gen), alt: altSplitsArb }).map(({ script, alt }) => ({ script, splits: splitsFor(script.commands, alt) }));
}

/** Property 3: a prefix, STARTTLS with commands pipelined behind it, a suffix over TLS. */
export function starttlsInjectionScript(_ctx: Context, gen: DialectGen): fc.Arbitrary<Script> {
  return fc
    .record({
      prefix: fc.array(delivered(gen.safe), { maxLength: 3 }),
      injected: gen.injectable,
      suffix: fc.array(delivered(gen.safe), { minLength: 1, maxLength: 3 }),
      quit: fc.boolean(),
      variant: fc.nat(4),
    })
    .map(({ prefix, injected, suffix, quit, variant }) => {
      const starttls = noCuts({ ...gen.starttls(), injected });
      return assemble([...prefix, starttls, ...suffix, ...(quit ? [noCuts(gen.quit())] : [])], gen.finalize, variant, { kind: 'none' }, quit);
    });
}

/** Property 4: credentials in every form before TLS, mixed with harmless commands. */
export function plaintextAuthScript(ctx: Context, gen: DialectGen): fc.Arbitrary<Script> {
  const cmd = fc.oneof(
    { weight: 3, arbitrary: gen.authAttempt(ctx.users) },
    ...(ctx.users.length > 0 ? [{ weight: 3, arbitrary: gen.goodLogin(ctx.users) }] : []),
    { weight: 1, arbitrary: gen.safe },
  );
  return fc
    .record({ items: fc.array(delivered(cmd), { minLength: 1, maxLength: 6 }), variant: fc.nat(4) })
    .map(({ items, variant }) => assemble([...items, noCuts(gen.quit())], gen.finalize, variant, { kind: 'none' }, true));
}

/** Property 6: `max_errors` unknown commands between harmless ones, then more commands. */
export function maxErrorsScript(ctx: Context, gen: DialectGen): fc.Arbitrary<Script> {
  const n = ctx.maxErrors;
  return fc
    .record({
      gaps: fc.array(fc.array(delivered(gen.safe), { maxLength: 2 }), { minLength: n, maxLength: n }),
      bads: fc.array(delivered(gen.bad), { minLength: n, maxLength: n }),
      tail: fc.array(delivered(gen.safe), { minLength: 1, maxLength: 2 }),
      variant: fc.nat(4),
    })
    .map(({ gaps, bads, tail, variant }) => assemble([...gaps.flatMap((g, k) => [...g, bads[k]!]), ...tail], gen.finalize, variant, { kind: 'none' }, true));
}

/** Property 7: a session in any state, then QUIT/LOGOUT (sometimes with commands behind it). */
export function quitScript(ctx: Context, gen: DialectGen): fc.Arbitrary<Script> {
  const maxBad = Math.max(0, ctx.maxErrors - 2);
  return fc
    .record({
      prefix: fc.array(delivered(fc.oneof({ weight: 4, arbitrary: gen.safe }, { weight: 1, arbitrary: gen.bad })), { maxLength: 4 }),
      tls: fc.boolean(),
      login: ctx.users.length > 0 ? fc.option(delivered(gen.goodLogin(ctx.users)), { nil: undefined }) : fc.constant(undefined),
      quit: delivered(fc.constant(gen.quit())),
      behind: fc.array(delivered(gen.safe), { maxLength: 2 }),
      variant: fc.nat(4),
    })
    .map(({ prefix, tls, login, quit, behind, variant }) => {
      let bad = 0;
      const pre = prefix.filter(([c]) => c.kind !== 'bad' || ++bad <= maxBad);
      const useLogin = login !== undefined && (ctx.starttlsMode !== 'only' || starttlsWorks(ctx));
      const useTls = starttlsWorks(ctx) && (tls || (useLogin && ctx.starttlsMode === 'only'));
      // Behind a QUIT that the backend answers, pipelined bytes race with the backend's close
      // (see docs/conformance.md), so only the proxy's own QUIT gets company.
      const after = useLogin ? [] : behind;
      const items = [...pre, ...(useTls ? [noCuts(gen.starttls())] : []), ...(useLogin ? [login!] : []), after.length > 0 ? piped(quit) : quit, ...after];
      return assemble(items, gen.finalize, variant, { kind: 'none' }, true);
    });
}

/** Property 8: a good login in any form (after STARTTLS where required), then a backend-only command. */
export function loginScript(ctx: Context, gen: DialectGen): fc.Arbitrary<Script> {
  return fc
    .record({
      prefix: fc.array(delivered(gen.safe), { maxLength: 3 }),
      tls: fc.boolean(),
      login: delivered(gen.goodLogin(ctx.users)),
      followup: delivered(fc.constant(gen.followup())),
      variant: fc.nat(4),
    })
    .map(({ prefix, tls, login, followup, variant }) => {
      const useTls = starttlsWorks(ctx) && (tls || ctx.starttlsMode === 'only');
      const helo: Delivered[] = ctx.protocol === 'smtp' ? [noCuts({ kind: 'capability', lines: [{ text: 'EHLO conformance.example', eol: '\r\n', awaitsReply: true, mustWait: false }] })] : [];
      const items = [...prefix, ...(useTls ? [noCuts(gen.starttls())] : []), ...helo, login, followup, noCuts(gen.quit())];
      return assemble(items, gen.finalize, variant, { kind: 'none' }, true);
    });
}
