/**
 * Property tests for the ManageSieve scanner through the real framer: however the input is cut
 * into chunks (arbitrary cuts, one byte at a time) the same commands come out; any bytes go
 * through a quoted string or a literal and come back exactly; the buffer bound holds.
 * fast-check prints the seed and the shrunk counterexample on failure.
 */
import { fc, test } from '@fast-check/vitest';
import { describe, expect } from 'vitest';
import { framerFor } from '../../src/protocols/registry.js';
import type { Framed } from '../../src/protocols/types.js';
import { plain, type Plain } from '../unit/protocols/helpers.js';

const NUM_RUNS = 200;

interface Run {
  items: Plain[];
  remainder: string;
}

/** Pushes `chunks`, draining after each; `modes[i]` says whether item i is read as a SASL line. */
function run(bufferSize: number, chunks: Buffer[], modes: boolean[]): Run {
  const framer = framerFor('sieve', bufferSize);
  const items: Framed[] = [];
  let dead = false;
  for (const chunk of chunks) {
    framer.push(chunk);
    for (;;) {
      const item = framer.next(modes[items.length % modes.length] ? 'sasl' : 'command');
      if (item === undefined) break;
      items.push(item);
      if (item.type === 'tooLong') dead = true;
    }
    if (!dead) expect(framer.buffered).toBeLessThan(bufferSize);
  }
  return { items: items.map(plain), remainder: framer.takeRemainder().toString('latin1') };
}

function splitAt(input: Buffer, cuts: number[]): Buffer[] {
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

const bytewise = (input: Buffer): Buffer[] => Array.from({ length: input.length }, (_, i) => input.subarray(i, i + 1));
const latin1 = (s: string): Buffer => Buffer.from(s, 'latin1');
const fromBytes = (u: Uint8Array): string => Buffer.from(u).toString('latin1');

// ---------------------------------------------------------------- generators

const eol = fc.oneof(
  { weight: 6, arbitrary: fc.constant('\r\n') },
  { weight: 2, arbitrary: fc.constant('\n') },
  { weight: 1, arbitrary: fc.constantFrom('\r', '\rX\n', '\r\r\n', '', ' \r\n') },
);
const interestingChar = fc.oneof(
  { weight: 5, arbitrary: fc.constantFrom(...'abcXYZ019=+/*') },
  { weight: 3, arbitrary: fc.constantFrom(' ', '"', '\\', '{', '}', '+', '\0', '\xff', '\r', '\n') },
);
const quoted = fc.string({ unit: interestingChar, maxLength: 12 }).map((s) => `"${s.replace(/[\\"]/g, (c) => `\\${c}`)}"`);
/** A literal: header (sometimes lying about the length), CRLF or LF, data. */
const literal = fc
  .tuple(fc.uint8Array({ maxLength: 30 }), fc.boolean(), fc.constantFrom('\r\n', '\n', ' \r\n'), fc.integer({ min: -2, max: 2 }), fc.boolean())
  .map(([data, plus, headerEol, skew, honest]) => {
    const n = honest ? data.length : Math.max(0, data.length + skew);
    return `{${n}${plus ? '+' : ''}}${headerEol}${fromBytes(data)}`;
  });
const atom = fc.string({ unit: fc.constantFrom(...'abcPLAIN=+/'), minLength: 1, maxLength: 8 });
const arg = fc.oneof({ weight: 4, arbitrary: quoted }, { weight: 3, arbitrary: literal }, { weight: 1, arbitrary: atom });
const randomCase = (verb: string): fc.Arbitrary<string> =>
  fc.array(fc.boolean(), { minLength: verb.length, maxLength: verb.length }).map((flags) =>
    [...verb].map((c, i) => (flags[i] ? c.toLowerCase() : c.toUpperCase())).join(''),
  );
const verb = fc.constantFrom('CAPABILITY', 'NOOP', 'LOGOUT', 'STARTTLS', 'AUTHENTICATE', 'PUTSCRIPT', 'LISTSCRIPTS', 'FOO').chain(randomCase);

const commandLine = fc
  .tuple(verb, fc.array(fc.tuple(fc.constantFrom(' ', '  '), arg), { maxLength: 3 }), eol)
  .map(([v, args, end]) => v + args.map(([sp, a]) => sp + a).join('') + end);
const saslLine = fc.tuple(fc.oneof(quoted, literal, atom), eol).map(([a, end]) => a + end);
const fragment = fc.oneof(
  { weight: 6, arbitrary: commandLine },
  { weight: 2, arbitrary: saslLine },
  { weight: 1, arbitrary: fc.uint8Array({ maxLength: 40 }).map(fromBytes) },
  { weight: 1, arbitrary: fc.tuple(fc.integer({ min: 50, max: 300 }), eol).map(([n, end]) => `NOOP "${'z'.repeat(n)}"${end}`) },
);
const script = fc.array(fragment, { maxLength: 12 }).map((parts) => latin1(parts.join('')));
const cuts = fc.array(fc.nat(), { maxLength: 12 });
const modes = fc.array(fc.boolean(), { minLength: 1, maxLength: 6 });

// ---------------------------------------------------------------- properties

describe('ManageSieve framing', () => {
  test.prop([script, cuts, modes, fc.constantFrom(24, 64, 200, 4096)], { numRuns: NUM_RUNS })(
    'arbitrary splits and byte-at-a-time give the same commands and the same remainder',
    (input, c, m, bufferSize) => {
      const whole = run(bufferSize, [input], m);
      expect(run(bufferSize, splitAt(input, c), m)).toEqual(whole);
      expect(run(bufferSize, bytewise(input), m)).toEqual(whole);
      expect(input.toString('latin1').endsWith(whole.remainder)).toBe(true);
    },
  );

  test.prop([fc.uint8Array({ maxLength: 600 }).map((u) => Buffer.from(u)), cuts, modes, fc.integer({ min: 1, max: 300 })], {
    numRuns: NUM_RUNS,
  })('arbitrary bytes: never throws, split-invariant, bounded by the buffer', (input, c, m, bufferSize) => {
    const whole = run(bufferSize, [input], m);
    expect(run(bufferSize, splitAt(input, c), m)).toEqual(whole);
  });

  /** Any bytes as a quoted string (when it can hold them) or a literal, `{N}` or `{N+}`. */
  const encode = (value: string, form: number): string =>
    form === 0 && !/[\r\n\0]/.test(value)
      ? `"${value.replace(/[\\"]/g, (ch) => `\\${ch}`)}"`
      : `{${value.length}${form === 1 ? '' : '+'}}\r\n${value}`;
  const anyBytes = (min: number, max: number): fc.Arbitrary<string> => fc.uint8Array({ minLength: min, maxLength: max }).map(fromBytes);
  const mechanism = fc.string({ unit: fc.constantFrom(...'ABCXYZabc0-_'), minLength: 1, maxLength: 12 }).filter((m) => m.toUpperCase() !== 'CRAM-MD5');

  test.prop([mechanism, anyBytes(0, 80), fc.nat(2), fc.nat(2), fc.constantFrom('\r\n', '\n'), cuts], { numRuns: NUM_RUNS })(
    'AUTHENTICATE: mechanism and initial response come back exactly, in every string form',
    (mech, initial, mechForm, initialForm, end, c) => {
      const input = latin1(`AUTHENTICATE ${encode(mech, mechForm)} ${encode(initial, initialForm)}${end}`);
      expect(run(4096, splitAt(input, c), [false]).items).toEqual([
        { type: 'command', command: { kind: 'authenticate', mechanism: mech.toUpperCase(), initialResponse: `secret:${initial}` } },
      ]);
    },
  );

  test.prop([anyBytes(0, 80), fc.nat(2), cuts], { numRuns: NUM_RUNS })('a SASL line: any bytes come back exactly', (response, form, c) => {
    const input = latin1(`${encode(response, form)}\r\n`);
    expect(run(4096, splitAt(input, c), [true]).items).toEqual([
      { type: 'command', command: { kind: 'saslResponse', response: `secret:${response}` } },
    ]);
  });
});
