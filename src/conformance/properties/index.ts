/**
 * The eight properties. Each has a script arbitrary and a check that plays the script (one
 * connection per execution) and returns the violations found (empty = the run passed).
 */
import type fc from 'fast-check';
import { execute } from '../execute.js';
import type { DialectGen } from '../generators/index.js';
import { firstToken, isContinuation, isNegative, isPositive } from '../grammar.js';
import type { QuirkHit } from '../quirks.js';
import type { Context, Exchange, Execution, PropertyId, Script } from '../types.js';
import { comparableTranscript, disp, grammarProblems, replyAccounting, show } from './checks.js';
import { genericScript, loginScript, splitPairScript, maxErrorsScript, plaintextAuthScript, quitScript, starttlsInjectionScript } from './scripts.js';

export interface Verdict {
  problems: string[];
  /** Problems that are known nginx quirks (they fail the run only with `strict`). */
  quirks?: QuirkHit[];
  /** The transcript(s) to print with a failure. */
  transcript: string[];
}

export interface PropertyDef<T = Script> {
  id: PropertyId;
  number: number;
  title: string;
  /** A reason to skip the property for this target, or undefined. */
  skip(ctx: Context): string | undefined;
  arbitrary(ctx: Context, gen: DialectGen): fc.Arbitrary<T>;
  check(ctx: Context, gen: DialectGen, value: T): Promise<Verdict>;
}

const verdict = (problems: string[], exec: Execution): Verdict => ({ problems, transcript: exec.transcript });
const exchangesOf = (exec: Execution, kind: string, script: Script): Exchange[] => exec.exchanges.filter((e) => script.commands[e.command]?.kind === kind);

const oneReply: PropertyDef = {
  id: 'one-reply-per-command',
  number: 1,
  title: 'every complete command gets exactly one reply, in order',
  skip: () => undefined,
  arbitrary: genericScript,
  async check(ctx, _gen, script) {
    const exec = await execute(ctx, script);
    return verdict(replyAccounting(ctx, script, exec), exec);
  },
};

const grammar: PropertyDef = {
  id: 'reply-grammar',
  number: 2,
  title: 'replies match the protocol grammar',
  skip: () => undefined,
  arbitrary: genericScript,
  async check(ctx, _gen, script) {
    const exec = await execute(ctx, script);
    const { problems, quirks } = grammarProblems(ctx, exec);
    return { problems, quirks, transcript: exec.transcript };
  },
};

const acrossTls: PropertyDef = {
  id: 'no-reply-across-tls',
  number: 3,
  title: 'nothing sent before the TLS handshake is answered after it',
  skip: (ctx) => (ctx.tls !== 'starttls' || ctx.starttlsMode === 'off' ? 'needs tls "starttls" with starttls on or only' : undefined),
  arbitrary: starttlsInjectionScript,
  async check(ctx, _gen, script) {
    const exec = await execute(ctx, script);
    const problems: string[] = [];
    const stIndex = exec.exchanges.findIndex((e) => script.commands[e.command]?.kind === 'starttls');
    const st = exec.exchanges[stIndex];
    const injected = script.commands.find((c) => c.injected)?.injected ?? [];
    if (!st || st.reply.length === 0) return verdict([...replyAccounting(ctx, script, exec), 'STARTTLS got no reply'], exec);
    if (!isPositive(ctx.protocol, st.reply)) return verdict([`STARTTLS was refused: ${st.reply.map((l) => show(l.text)).join(' / ')}`], exec);
    if (exec.notes.some((n) => n.kind === 'tls-failed')) return verdict([], exec); // nothing can be answered after a handshake that never happened
    const early = exec.extra.filter((l) => l.where.includes('STARTTLS reply'));
    if (early.length > 0) problems.push(`the pipelined command was answered in plaintext after STARTTLS was accepted: ${early.map((l) => show(l.text)).join(' / ')}`);
    const late = exec.extra.filter((l) => l.tls);
    if (late.length > 0) problems.push(`after the handshake the server sent lines nobody asked for over TLS (answers to the pipelined plaintext): ${late.map((l) => show(l.text)).join(' / ')}`);
    if (ctx.protocol === 'imap') {
      const tags = new Set(injected.map((l) => firstToken(l.text)));
      for (const ex of exec.exchanges.slice(stIndex + 1)) {
        for (const l of ex.reply) if (tags.has(firstToken(l.text))) problems.push(`the pipelined command ${show(firstToken(l.text))} was answered after the handshake: ${show(l.text)}`);
      }
    }
    problems.push(...replyAccounting(ctx, script, exec, stIndex + 1).filter((p) => !problems.includes(p)));
    return verdict(problems, exec);
  },
};

const onlyRefusesAuth: PropertyDef = {
  id: 'starttls-only-refuses-auth',
  number: 4,
  title: 'with starttls only, no credentials are accepted before TLS',
  skip: (ctx) => (ctx.tls !== 'starttls' || ctx.starttlsMode !== 'only' ? 'needs tls "starttls" with starttls only' : undefined),
  arbitrary: plaintextAuthScript,
  async check(ctx, _gen, script) {
    const before = ctx.authProbe ? await ctx.authProbe() : 0;
    const exec = await execute(ctx, script);
    const problems: string[] = [];
    for (const ex of exec.exchanges) {
      const kind = script.commands[ex.command]?.kind;
      if ((kind !== 'auth' && kind !== 'login') || ex.reply.length === 0) continue;
      if (isPositive(ctx.protocol, ex.reply)) problems.push(`${disp(ex)} was accepted before TLS: ${ex.reply.map((l) => show(l.text)).join(' / ')}`);
      else if (isContinuation(ctx.protocol, ex.reply) && !(ctx.protocol === 'imap' && /\{\d+\}$/.test(ex.sent))) {
        problems.push(`${disp(ex)} got a continuation before TLS (the server is taking credentials): ${ex.reply.map((l) => show(l.text)).join(' / ')}`);
      }
    }
    if (ctx.authProbe) {
      // Requests are made before the client sees an answer, so they have all arrived by now.
      const after = await ctx.authProbe();
      if (after !== before) problems.push(`the auth service received ${after - before} request(s) from a plaintext session`);
    }
    return verdict(problems, exec);
  },
};

interface SplitValue {
  script: Script;
  splits: number[][];
}

const splitInvariance: PropertyDef<SplitValue> = {
  id: 'split-invariance',
  number: 5,
  title: 'splitting the byte stream differently never changes the transcript',
  skip: () => undefined,
  // The same script with its own splitting and a second, independent one.
  arbitrary: splitPairScript,
  async check(ctx, _gen, { script, splits }) {
    const a = await execute(ctx, script);
    const b = await execute(ctx, script, { splits });
    const ta = comparableTranscript(ctx, script, a);
    const tb = comparableTranscript(ctx, script, b);
    const problems: string[] = [];
    const n = Math.max(ta.length, tb.length);
    for (let i = 0; i < n; i++) {
      if (ta[i] !== tb[i]) {
        problems.push(`the transcripts differ at line ${i + 1}: ${show(ta[i] ?? '(nothing)')} with the first splitting, ${show(tb[i] ?? '(nothing)')} with the second`);
        break;
      }
    }
    return { problems, transcript: ['--- first splitting ---', ...a.transcript, '--- second splitting ---', ...b.transcript] };
  },
};

const maxErrors: PropertyDef = {
  id: 'max-errors-closes',
  number: 6,
  title: 'after max_errors bad commands the connection closes',
  skip: (ctx) => (ctx.maxErrors <= 0 ? 'max_errors is 0' : undefined),
  arbitrary: maxErrorsScript,
  async check(ctx, _gen, script) {
    const exec = await execute(ctx, script);
    const problems: string[] = [];
    const bads = exchangesOf(exec, 'bad', script);
    const last = bads[ctx.maxErrors - 1];
    const lastIdx = last ? exec.exchanges.indexOf(last) : -1;
    const early = exec.exchanges.findIndex((e, i) => (lastIdx < 0 || i <= lastIdx) && e.reply.length === 0);
    if (early >= 0) {
      const count = bads.filter((b) => b.reply.length > 0).length;
      problems.push(`the connection closed or stalled before the ${ctx.maxErrors}th bad command: ${disp(exec.exchanges[early]!)} got no reply after ${count} bad command(s)`);
    } else if (!last) {
      problems.push(`only ${bads.length} bad command(s) could be sent`);
    } else {
      if (!exec.serverClosed) problems.push(`the connection is still open ${ctx.closeTimeoutMs} ms after the reply to bad command ${ctx.maxErrors} (${disp(last)})`);
      for (const ex of exec.exchanges.slice(lastIdx + 1)) {
        if (ex.reply.length > 0) problems.push(`${disp(ex)}, sent after the ${ctx.maxErrors}th bad command, was answered: ${ex.reply.map((l) => show(l.text)).join(' / ')}`);
      }
      const extra = exec.extra.filter((l) => !l.where.includes('disconnect'));
      if (extra.length > 0) problems.push(`lines after the last reply: ${extra.map((l) => show(l.text)).join(' / ')}`);
    }
    return verdict(problems, exec);
  },
};

const quitCloses: PropertyDef = {
  id: 'quit-closes',
  number: 7,
  title: 'QUIT/LOGOUT is always answered and then the connection is closed',
  skip: () => undefined,
  arbitrary: quitScript,
  async check(ctx, _gen, script) {
    const exec = await execute(ctx, script);
    const problems: string[] = [];
    const quit = exchangesOf(exec, 'quit', script)[0];
    if (!quit) {
      problems.push(`QUIT/LOGOUT could not be sent: ${exec.serverClosed ? 'the server closed the connection before' : 'the session stalled before'}`);
      problems.push(...replyAccounting(ctx, script, exec));
    } else if (quit.reply.length === 0 || !quit.complete) {
      problems.push(`${disp(quit)} got ${quit.reply.length === 0 ? 'no reply' : 'an incomplete reply'}`);
    } else {
      if (!isPositive(ctx.protocol, quit.reply)) problems.push(`${disp(quit)} was not answered positively: ${quit.reply.map((l) => show(l.text)).join(' / ')}`);
      if (!exec.serverClosed) problems.push(`the connection is still open ${ctx.closeTimeoutMs} ms after the reply to ${disp(quit)}`);
      const i = exec.exchanges.indexOf(quit);
      for (const ex of exec.exchanges.slice(i + 1)) {
        if (ex.reply.length > 0) problems.push(`${disp(ex)}, pipelined behind ${disp(quit)}, was answered: ${ex.reply.map((l) => show(l.text)).join(' / ')}`);
      }
      if (exec.extra.length > 0) problems.push(`lines after the reply to ${disp(quit)}: ${exec.extra.map((l) => show(l.text)).join(' / ')}`);
    }
    return verdict(problems, exec);
  },
};

const loginReaches: PropertyDef = {
  id: 'login-reaches-backend',
  number: 8,
  title: 'a login with good credentials reaches the backend',
  skip: (ctx) => (ctx.users.length === 0 ? 'needs `users` (a good login)' : undefined),
  arbitrary: loginScript,
  async check(ctx, gen, script) {
    const exec = await execute(ctx, script);
    const problems: string[] = [];
    const login = exchangesOf(exec, 'login', script);
    const final = login[login.length - 1];
    const intermediate = login.slice(0, -1);
    for (const ex of intermediate) {
      if (ex.reply.length > 0 && isNegative(ctx.protocol, ex.reply)) problems.push(`${disp(ex)} was refused: ${ex.reply.map((l) => show(l.text)).join(' / ')}`);
    }
    if (!final || final.reply.length === 0) {
      problems.push(`the login got no reply${exec.serverClosed ? ' (connection closed)' : ''}`);
    } else if (!isPositive(ctx.protocol, final.reply)) {
      problems.push(`the good login was refused: ${final.reply.map((l) => show(l.text)).join(' / ')}`);
    } else {
      if (ctx.backendLoginReply && !ctx.backendLoginReply.test(final.reply.map((l) => l.text).join('\n'))) {
        problems.push(`the login reply ${final.reply.map((l) => show(l.text)).join(' / ')} is not the backend's (${ctx.backendLoginReply})`);
      }
      const follow = exchangesOf(exec, 'followup', script)[0];
      if (!follow || follow.reply.length === 0) problems.push('the command after the login got no reply');
      else if (!gen.followupOk(follow.reply)) problems.push(`${disp(follow)} was not answered by an authenticated backend: ${follow.reply.map((l) => show(l.text)).join(' / ')}`);
    }
    return verdict(problems, exec);
  },
};

export const PROPERTIES: Array<PropertyDef<unknown>> = [
  oneReply,
  grammar,
  acrossTls,
  onlyRefusesAuth,
  splitInvariance,
  maxErrors,
  quitCloses,
  loginReaches,
] as Array<PropertyDef<unknown>>;
