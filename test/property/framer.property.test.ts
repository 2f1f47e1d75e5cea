/**
 * Property tests for the command framer: byte-split invariance, robustness on arbitrary bytes,
 * the buffer bound, and round trips of credentials through every IMAP/POP3 argument form.
 * fast-check prints the seed and the shrunk counterexample on failure; replay with
 * `{ seed, path }` in the options.
 */
import { fc, test } from '@fast-check/vitest';
import { describe, expect } from 'vitest';
import type { Protocol } from '../../src/config/types.js';
import { framerFor } from '../../src/protocols/registry.js';
import type { Framed } from '../../src/protocols/types.js';
import { plain, type Plain } from '../unit/protocols/helpers.js';

const NUM_RUNS = 150;

// ---------------------------------------------------------------- running the framer

interface Run {
  items: Plain[];
  remainder: string;
}

/** Pushes `chunks`, draining after every push; checks the buffer bound on the way. */
function run(protocol: Protocol, bufferSize: number, chunks: Buffer[], modes: boolean[]): Run {
  const framer = framerFor(protocol, bufferSize);
  const items: Framed[] = [];
  let dead = false;
  for (const chunk of chunks) {
    const before = framer.buffered;
    framer.push(chunk);
    expect(framer.buffered).toBe(before + chunk.length);
    for (;;) {
      const mode = modes[items.length % modes.length] ? 'sasl' : 'command';
      const item = framer.next(mode);
      if (item === undefined) break;
      items.push(item);
      if (item.type === 'tooLong') dead = true;
    }
    // Every complete command was framed; what is left is one incomplete command, shorter than
    // the buffer — otherwise tooLong has fired.
    if (!dead) expect(framer.buffered).toBeLessThan(bufferSize);
  }
  const buffered = framer.buffered;
  const remainder = framer.takeRemainder();
  expect(remainder.length).toBe(buffered);
  expect(framer.buffered).toBe(0);
  return { items: items.map(plain), remainder: remainder.toString('latin1') };
}

function splitAt(input: Buffer, cuts: number[]): Buffer[] {
  if (input.length === 0) return [input];
  const points = [...new Set(cuts.map((c) => c % (input.length + 1)))].sort((a, b) => a - b);
  const chunks: Buffer[] = [];
  let last = 0;
  for (const p of points) {
    chunks.push(input.subarray(last, p));
    last = p;
  }
  chunks.push(input.subarray(last));
  return chunks;
}

function bytewise(input: Buffer): Buffer[] {
  return Array.from({ length: input.length }, (_, i) => input.subarray(i, i + 1));
}

function checkSplitInvariance(protocol: Protocol, bufferSize: number, input: Buffer, cuts: number[], modes: boolean[]): void {
  const whole = run(protocol, bufferSize, [input], modes);
  const split = run(protocol, bufferSize, splitAt(input, cuts), modes);
  const bytes = run(protocol, bufferSize, bytewise(input), modes);
  expect(split).toEqual(whole);
  expect(bytes).toEqual(whole);
  expect(input.toString('latin1').endsWith(whole.remainder)).toBe(true);
}

// ---------------------------------------------------------------- generators

const latin1 = (s: string): Buffer => Buffer.from(s, 'latin1');
const fromBytes = (u: Uint8Array): string => Buffer.from(u).toString('latin1');

const eol = fc.oneof(
  { weight: 6, arbitrary: fc.constant('\r\n') },
  { weight: 3, arbitrary: fc.constant('\n') },
  { weight: 1, arbitrary: fc.constantFrom('\r', '\rX\n', '\r\r\n', '', ' \r\n', '  \n') },
);

const garbage = fc.uint8Array({ maxLength: 40 }).map(fromBytes);

/** Bytes weighted towards the ones the grammars care about. */
const interestingChar = fc.oneof(
  { weight: 5, arbitrary: fc.constantFrom(...'abcXYZ019-._@') },
  { weight: 3, arbitrary: fc.constantFrom(' ', '"', '\\', '{', '}', '+', '*', '=', '\0', '\xff', '\r', '\n', '\t') },
);
const word = fc.string({ unit: interestingChar, minLength: 0, maxLength: 12 });
const cleanWord = fc.string({ unit: fc.constantFrom(...'abcXYZ019-._@=+/'), minLength: 1, maxLength: 12 });

const randomCase = (verb: string): fc.Arbitrary<string> =>
  fc.array(fc.boolean(), { minLength: verb.length, maxLength: verb.length }).map((flags) =>
    [...verb].map((c, i) => (flags[i] ? c.toLowerCase() : c.toUpperCase())).join(''),
  );

const spaces = fc.constantFrom(' ', ' ', '  ', '   ');

function wordLine(verbs: string[], maxArgs: number): fc.Arbitrary<string> {
  return fc
    .tuple(
      fc.constantFrom(...verbs).chain(randomCase),
      fc.array(fc.tuple(spaces, fc.oneof(cleanWord, word)), { maxLength: maxArgs }),
      eol,
    )
    .map(([verb, args, end]) => verb + args.map(([s, a]) => s + a).join('') + end);
}

const longLine = fc.tuple(fc.integer({ min: 100, max: 300 }), eol).map(([n, end]) => `USER ${'x'.repeat(n)}${end}`);

const pop3Fragment = fc.oneof(
  { weight: 6, arbitrary: wordLine(['USER', 'PASS', 'APOP', 'QUIT', 'CAPA', 'AUTH', 'NOOP', 'STLS', 'STAT', 'RETR', 'US', 'USERS'], 5) },
  { weight: 2, arbitrary: garbage },
  { weight: 1, arbitrary: longLine },
  { weight: 1, arbitrary: fc.tuple(cleanWord, eol).map(([w, e]) => w + e) },
);

const smtpFragment = fc.oneof(
  { weight: 6, arbitrary: wordLine(['HELO', 'EHLO', 'AUTH', 'QUIT', 'NOOP', 'MAIL', 'RSET', 'RCPT', 'VRFY', 'EXPN', 'HELP', 'STARTTLS', 'DATA'], 13) },
  { weight: 2, arbitrary: garbage },
  { weight: 1, arbitrary: longLine },
);

/** An IMAP literal argument: header, CRLF/LF, data (sometimes with a wrong length). */
const imapLiteral = fc
  .tuple(fc.uint8Array({ maxLength: 30 }), fc.boolean(), fc.constantFrom('\r\n', '\n', '\r\n', ' \r\n'), fc.integer({ min: -2, max: 2 }), fc.boolean())
  .map(([data, sync, headerEol, skew, honest]) => {
    const n = honest ? data.length : Math.max(0, data.length + skew);
    return `{${n}${sync ? '' : '+'}}${headerEol}${fromBytes(data)}`;
  });

const quoted = fc
  .string({ unit: interestingChar, maxLength: 10 })
  .map((s) => `"${s.replace(/[\\"]/g, (c) => `\\${c}`)}"`);

const imapArg = fc.oneof(
  { weight: 3, arbitrary: cleanWord },
  { weight: 2, arbitrary: word },
  { weight: 2, arbitrary: quoted },
  { weight: 2, arbitrary: imapLiteral },
);

const tagArb = fc.oneof(
  { weight: 8, arbitrary: fc.string({ unit: fc.constantFrom(...'aZ09-._'), minLength: 1, maxLength: 6 }) },
  { weight: 1, arbitrary: fc.constantFrom('', '*', 'a+b', 'x'.repeat(33), 'y'.repeat(32)) },
);

const imapLine = fc
  .tuple(
    tagArb,
    spaces,
    fc.constantFrom('LOGIN', 'LOGOUT', 'CAPABILITY', 'NOOP', 'STARTTLS', 'AUTHENTICATE', 'SELECT', 'FOOBAR').chain(randomCase),
    fc.array(fc.tuple(spaces, imapArg), { maxLength: 5 }),
    eol,
  )
  .map(([tag, sp, verb, args, end]) => `${tag}${sp}${verb}${args.map(([s, a]) => s + a).join('')}${end}`);

const imapFragment = fc.oneof(
  { weight: 6, arbitrary: imapLine },
  { weight: 1, arbitrary: imapLiteral },
  { weight: 2, arbitrary: garbage },
  { weight: 1, arbitrary: fc.tuple(tagArb, fc.integer({ min: 50, max: 300 }), eol).map(([t, n, e]) => `${t} NOOP ${'z'.repeat(n)}${e}`) },
);

const script = (fragment: fc.Arbitrary<string>): fc.Arbitrary<Buffer> =>
  fc.array(fragment, { maxLength: 12 }).map((parts) => latin1(parts.join('')));

const cuts = fc.array(fc.nat(), { maxLength: 12 });
const modes = fc.array(fc.boolean(), { minLength: 1, maxLength: 6 });

// ---------------------------------------------------------------- properties

describe('byte-split invariance', () => {
  test.prop([script(pop3Fragment), cuts, modes], { numRuns: NUM_RUNS })('POP3 (128-byte buffer)', (input, c, m) => {
    checkSplitInvariance('pop3', 128, input, c, m);
  });

  test.prop([script(imapFragment), cuts, modes, fc.constantFrom(24, 64, 200, 4096)], { numRuns: NUM_RUNS })(
    'IMAP (literals, quoted strings, several buffer sizes)',
    (input, c, m, bufferSize) => {
      checkSplitInvariance('imap', bufferSize, input, c, m);
    },
  );

  test.prop([script(smtpFragment), cuts, modes, fc.constantFrom(32, 128, 4096)], { numRuns: NUM_RUNS })(
    'SMTP',
    (input, c, m, bufferSize) => {
      checkSplitInvariance('smtp', bufferSize, input, c, m);
    },
  );
});

describe('robustness on arbitrary bytes', () => {
  test.prop(
    [
      fc.constantFrom<Protocol>('pop3', 'imap', 'smtp'),
      fc.uint8Array({ maxLength: 600 }).map((u) => Buffer.from(u)),
      cuts,
      modes,
      fc.integer({ min: 1, max: 300 }),
    ],
    { numRuns: 200 },
  )('never throws, respects the buffer bound, is split-invariant', (protocol, input, c, m, bufferSize) => {
    checkSplitInvariance(protocol, bufferSize, input, c, m);
  });

  test.prop([fc.constantFrom<Protocol>('pop3', 'imap', 'smtp'), fc.integer({ min: 1, max: 200 }), fc.integer({ min: 1, max: 64 })], {
    numRuns: 100,
  })('a line without LF is tooLong exactly when bufferSize bytes have arrived', (protocol, bufferSize, chunk) => {
    const framer = framerFor(protocol, bufferSize);
    let pushed = 0;
    let item: Framed | undefined;
    while (item === undefined) {
      const n = Math.min(chunk, bufferSize + 10 - pushed);
      framer.push(Buffer.alloc(n, 0x41));
      pushed += n;
      item = framer.next('command');
      if (item === undefined) expect(pushed).toBeLessThan(bufferSize);
    }
    expect(item.type).toBe('tooLong');
    expect(pushed).toBeGreaterThanOrEqual(bufferSize);
    expect(pushed).toBeLessThan(bufferSize + chunk);
  });
});

// ---------------------------------------------------------------- credential round trips

const anyBytes = (min: number, max: number): fc.Arbitrary<string> =>
  fc.uint8Array({ minLength: min, maxLength: max }).map(fromBytes);

/** Encodes one IMAP argument in a randomly chosen valid form; returns [wire, sync literals]. */
function encodeImapArg(value: string, form: number): [string, number] {
  const atomOk = value.length > 0 && !/[ \r\n]/.test(value) && value[0] !== '"' && value[0] !== '{';
  const quotedOk = !/[\r\n]/.test(value);
  if (form === 0 && atomOk) return [value, 0];
  if (form === 1 && quotedOk) return [`"${value.replace(/[\\"]/g, (c) => `\\${c}`)}"`, 0];
  if (form === 2) return [`{${value.length}}\r\n${value}`, 1];
  return [`{${value.length}+}\r\n${value}`, 0];
}

describe('credential round trips', () => {
  test.prop([anyBytes(1, 60), anyBytes(0, 60), fc.nat(3), fc.nat(3), fc.constantFrom('\r\n', '\n'), cuts], { numRuns: NUM_RUNS })(
    'IMAP LOGIN: any bytes as atom / quoted / literal / literal+ come back exactly',
    (user, password, userForm, passForm, end, c) => {
      const [u, su] = encodeImapArg(user, userForm);
      const [p, sp] = encodeImapArg(password, passForm);
      const input = latin1(`t1 LOGIN ${u} ${p}${end}`);
      const { items } = run('imap', 4096, splitAt(input, c), [false]);
      const expected: Plain[] = Array.from({ length: su + sp }, () => ({ type: 'literalContinuation' }));
      expected.push({ type: 'command', command: { kind: 'login', tag: 't1', user, password: `secret:${password}` } });
      expect(items).toEqual(expected);
    },
  );

  const pop3Arg = fc
    .uint8Array({ minLength: 1, maxLength: 100 })
    .map((u) => fromBytes(u).replace(/[\r\n]/g, 'x'))
    .filter((s) => s[0] !== ' ');

  test.prop([pop3Arg, pop3Arg, cuts], { numRuns: NUM_RUNS })('POP3 USER/PASS: the rest of the line, byte-exact', (user, password, c) => {
    const input = latin1(`USER ${user}\r\nPASS ${password}\n`);
    const { items } = run('pop3', 128, splitAt(input, c), [false]);
    expect(items).toEqual([
      { type: 'command', command: { kind: 'user', user } },
      { type: 'command', command: { kind: 'pass', password: `secret:${password}` } },
    ]);
  });
});
