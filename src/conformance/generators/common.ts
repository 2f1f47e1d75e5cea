/**
 * Building blocks shared by the protocol generators: line/command constructors, credential
 * helpers, and the arbitraries for burst grouping, byte splitting and script endings.
 */
import fc from 'fast-check';
import type { ClientLine, Command, CommandKind, Credentials, DynamicLine, Script, ScriptEnd } from '../types.js';

export interface LineOptions {
  eol?: '\r\n' | '\n';
  /** The client waits for this line's reply before sending anything else. */
  wait?: boolean;
  /** A reply is expected (default true). */
  awaits?: boolean;
  label?: string;
  dynamic?: DynamicLine;
}

export function line(text: string, o: LineOptions = {}): ClientLine {
  return {
    text,
    eol: o.eol ?? '\r\n',
    awaitsReply: o.awaits ?? true,
    mustWait: o.wait ?? false,
    ...(o.label === undefined ? {} : { label: o.label }),
    ...(o.dynamic === undefined ? {} : { dynamic: o.dynamic }),
  };
}

export function command(kind: CommandKind, lines: ClientLine[], extra: Partial<Command> = {}): Command {
  return { kind, lines, ...extra };
}

export const b64 = (s: string): string => Buffer.from(s, 'latin1').toString('base64');

/** A CRAM-MD5 response line computed from the challenge at run time. */
export function cramLine(user: string, password: string): ClientLine {
  return line(b64(`${user} ${'0'.repeat(32)}`), { wait: true, dynamic: { kind: 'cram-md5', user, password }, label: `<CRAM-MD5 response of ${user}>` });
}

/** Words no mail protocol knows as a verb. */
export const UNKNOWN_VERBS = ['XYZZY', 'FROB', 'ZORK', 'PLUGH', 'QWRT', 'XQWZ', 'BLORB', 'GRUE', 'FNORD', 'WXYV'] as const;

export const unknownVerb = fc.constantFrom(...UNKNOWN_VERBS).chain((w) => fc.mixedCase(fc.constant(w)));

/** A short argument (letters/digits) for junk commands. */
export const junkArg = fc.stringMatching(/^[a-z0-9]{1,6}$/);

/** Line ends as clients send them: mostly CRLF, sometimes a bare LF (which nginx accepts). */
export const eol = fc.constantFrom<'\r\n' | '\n'>('\r\n', '\r\n', '\r\n', '\n');

/** An unknown verb, with or without an argument (POP3 and SMTP: no tag). */
export const untaggedUnknown: fc.Arbitrary<Command> = fc
  .tuple(unknownVerb, fc.option(junkArg, { nil: undefined }))
  .map(([v, a]) => command('bad', [line(a === undefined ? v : `${v} ${a}`)]));

/** Credentials that must fail: a known user with a wrong password, or an unknown user. */
export function badCredentials(users: Credentials[]): fc.Arbitrary<Credentials> {
  const unknown = fc.record({ user: fc.stringMatching(/^nobody[a-z]{0,3}$/), password: fc.stringMatching(/^[a-z0-9]{1,8}$/) });
  if (users.length === 0) return unknown;
  const wrong = fc
    .tuple(fc.constantFrom(...users), fc.stringMatching(/^[a-z0-9]{1,8}$/))
    .map(([u, p]) => ({ user: u.user, password: p === u.password ? `${p}x` : p }));
  return fc.oneof(wrong, unknown);
}

export function goodCredentials(users: Credentials[]): fc.Arbitrary<Credentials> {
  return fc.constantFrom(...users);
}

/** Invalid base64 / SASL cancel lines. */
export const invalidBase64 = fc.constantFrom('!!!', '*', '=', 'a', '@@@@', 'dGVzd A==', '%%');

/**
 * A SASL mechanism (as the command names it) and a first response line that ends its exchange
 * in an error. "=" is base64 for nothing: PLAIN and CRAM-MD5 refuse it, but LOGIN takes it as an
 * empty user name and asks for the password (nginx and Postern alike), so it is not drawn for LOGIN.
 */
export const malformedSaslStart = (mechanisms: string[]): fc.Arbitrary<[string, string]> =>
  fc.tuple(fc.constantFrom(...mechanisms), invalidBase64).filter(([mechanism, response]) => !(response === '=' && /LOGIN/.test(mechanism)));

/** 32 hex digits that are not the right digest (with overwhelming likelihood). */
export const wrongDigest = fc.stringMatching(/^[0-9a-f]{32}$/);

/** How a command's lines travel: pipelined with what follows, and cut where (fractions x 10000). */
export interface Delivery {
  pipe: boolean;
  cuts: number[];
}

/** Cut points: mostly none, sometimes one or two. */
export const cutsArb: fc.Arbitrary<number[]> = fc.oneof(
  { weight: 3, arbitrary: fc.constant<number[]>([]) },
  { weight: 2, arbitrary: fc.array(fc.nat(9999), { minLength: 1, maxLength: 2 }) },
);

export const deliveryArb: fc.Arbitrary<Delivery> = fc.record({
  pipe: fc.integer({ min: 0, max: 99 }).map((n) => n < 35),
  cuts: cutsArb,
});

/** A command together with how it is delivered. */
export type Delivered = [Command, Delivery];

export const delivered = (arb: fc.Arbitrary<Command>): fc.Arbitrary<Delivered> => fc.tuple(arb, deliveryArb);

/** A second splitting for the same commands (property 5): cut points per command, wrapping. */
export const altSplitsArb: fc.Arbitrary<number[][]> = fc.array(cutsArb, { minLength: 8, maxLength: 8 });

/** Per-line cut points for a script's commands from per-command ones (wrapping). */
export function splitsFor(commands: Command[], perCommand: number[][]): number[][] {
  return commands.flatMap((c, i) => c.lines.map(() => perCommand[i % perCommand.length] ?? []));
}

export function endArb(partial: fc.Arbitrary<string>): fc.Arbitrary<ScriptEnd> {
  return fc.oneof(
    { weight: 1, arbitrary: fc.constant<ScriptEnd>({ kind: 'none' }) },
    { weight: 1, arbitrary: fc.record({ kind: fc.constant('disconnect' as const), partial, abort: fc.boolean() }) },
  );
}

/** Builds a script from delivered commands (IMAP tags assigned by `finalize`). */
export function assemble(items: Delivered[], finalize: (c: Command[], variant: number) => Command[], variant: number, end: ScriptEnd, awaitClose = false): Script {
  const commands = finalize(
    items.map(([c]) => c),
    variant,
  );
  return {
    commands,
    pipeline: items.flatMap(([c, d]) => c.lines.map(() => d.pipe)),
    splits: items.flatMap(([c, d]) => c.lines.map(() => d.cuts)),
    end,
    ...(awaitClose ? { awaitClose } : {}),
  };
}

/** The same delivery with pipelining forced on. */
export const piped = ([c, d]: Delivered): Delivered => [c, { ...d, pipe: true }];

/** All lines of a script in order with their command index. */
export function flatten(commands: Command[]): Array<{ command: number; line: ClientLine }> {
  return commands.flatMap((c, command) => c.lines.map((l) => ({ command, line: l })));
}
