/**
 * How the executor writes a script (src/conformance/execute.ts): bursts cut into writes.
 *
 * A server that finds a line longer than its buffer answers and closes with the rest of the
 * line unread, so its kernel resets the connection; a client write after that can meet the
 * reset, and Node then destroys the socket with the answer unread (nginx, property 1, "the
 * server closed the connection without answering": SMTP seed 165560987 in CI, POP3 and IMAP
 * seeds under load). So once an over-long line has started, the executor writes at most the
 * burst's first OVERLONG_CUT_WINDOW bytes (fewer than nginx's 128-byte POP3 buffer) before one
 * last write with everything else. Checked here on every delivery the generators draw
 * (properties 1, 2 and 5, every protocol), and on the writes `execute` really makes.
 */
import net from 'node:net';
import fc from 'fast-check';
import { afterAll, afterEach, beforeAll, describe, expect, it, vi } from 'vitest';
import { deliveryPlan, execute, OVERLONG_CUT_WINDOW, writeBoundaries, type PlannedBurst } from '../../src/conformance/execute.js';
import { assemble, command, dialectGen, flatten, line, type Delivered } from '../../src/conformance/generators/index.js';
import { resolveContext, type Command, type Context, type Protocol, type Script } from '../../src/conformance/index.js';
import { replyAccounting } from '../../src/conformance/properties/checks.js';
import { genericScript, splitPairScript } from '../../src/conformance/properties/scripts.js';
import { Wire } from '../../src/conformance/wire.js';

const USERS = [
  { user: 'alice', password: 'secret' },
  { user: 'test@example.com', password: 'pa ss%word' },
];
const PROTOCOLS: Protocol[] = ['pop3', 'imap', 'smtp', 'sieve'];
/** The smallest command buffer of nginx 1.22.1's mail module: POP3's, fixed. */
const SMALLEST_NGINX_BUFFER = 128;

const ctxOf = (protocol: Protocol, port = 1, pipelineBudget?: number): Context =>
  resolveContext({ target: { host: '127.0.0.1', port }, protocol, tls: 'none', users: USERS, seed: 1, ...(pipelineBudget === undefined ? {} : { pipelineBudget }) });

interface Overlong {
  /** Where the over-long line starts and ends inside its burst. */
  start: number;
  end: number;
  /** Offsets at which a write begins after the line has started. */
  later: number[];
}

/** Every over-long line of a plan: where it is and which writes begin after it started. */
function overlongLines(script: Script, plan: PlannedBurst[]): Overlong[] {
  const flat = flatten(script.commands);
  return plan.flatMap((b) => {
    const out: Overlong[] = [];
    let offset = 0;
    b.lengths.forEach((len, k) => {
      if (script.commands[flat[b.first + k]!.command]!.kind === 'overlong') out.push({ start: offset, end: offset + len, later: b.boundaries.filter((p) => p > offset) });
      offset += len;
    });
    return out;
  });
}

/** The cut offsets of a burst as the executor made them before the over-long rule (and still makes them without an over-long line). */
function plainBoundaries(b: PlannedBurst, splits: number[][]): number[] {
  const out = new Set<number>();
  let offset = 0;
  b.lengths.forEach((len, k) => {
    for (const c of splits[b.first + k] ?? []) out.add(offset + Math.floor((c * len) / 10000));
    offset += len;
  });
  return [...out].filter((p) => p > 0 && p < offset).sort((x, y) => x - y);
}

describe('deliveries of generated scripts', () => {
  it(`the window is below the smallest buffer a server may have (nginx's POP3 ${SMALLEST_NGINX_BUFFER} bytes)`, () => {
    expect(OVERLONG_CUT_WINDOW).toBeLessThan(SMALLEST_NGINX_BUFFER);
    expect(OVERLONG_CUT_WINDOW).toBeGreaterThan(0);
  });

  for (const protocol of PROTOCOLS) {
    it(`${protocol}: no write begins after the first ${OVERLONG_CUT_WINDOW} bytes of a burst once an over-long line started in it; over-long lines are still cut; other bursts are cut as before`, () => {
      const ctx = ctxOf(protocol);
      const gen = dialectGen(protocol);
      // Properties 1 and 2 (their own splitting), property 5 (its own and its second splitting).
      const deliveries: Array<{ script: Script; splits: number[][] }> = [
        ...fc.sample(genericScript(ctx, gen), { numRuns: 1500, seed: 42 }).map((script) => ({ script, splits: script.splits })),
        ...fc.sample(splitPairScript(ctx, gen), { numRuns: 1500, seed: 43 }).flatMap(({ script, splits }) => [
          { script, splits: script.splits },
          { script, splits },
        ]),
      ];
      let overlong = 0;
      let cutOverlong = 0;
      let cutBursts = 0;
      const violations: string[] = [];
      for (const { script, splits } of deliveries) {
        const plan = deliveryPlan(script, ctx.pipelineBudget, splits);
        for (const o of overlongLines(script, plan)) {
          overlong++;
          // A write that begins past the window, after the over-long line started, may meet the
          // server's reset (one that begins at the line's very start carries none of it).
          const late = o.later.filter((p) => p > Math.max(o.start, OVERLONG_CUT_WINDOW));
          if (late.length > 0) violations.push(`an over-long line at bytes ${o.start}-${o.end} of its burst, writes beginning at ${late.join(', ')}`);
          if (o.later.some((p) => p < o.end)) cutOverlong++;
        }
        const flat = flatten(script.commands);
        for (const b of plan) {
          if (b.lengths.some((_, k) => script.commands[flat[b.first + k]!.command]!.kind === 'overlong')) continue;
          if (b.boundaries.length > 0) cutBursts++;
          if (b.boundaries.join() !== plainBoundaries(b, splits).join()) violations.push(`a burst without an over-long line cut at ${b.boundaries.join(', ')}, not ${plainBoundaries(b, splits).join(', ')}`);
        }
      }
      expect(violations).toEqual([]);
      // Over-long lines are drawn, and many of them still reach the server in several writes.
      expect(overlong).toBeGreaterThan(200);
      expect(cutOverlong / overlong).toBeGreaterThan(0.25);
      expect(cutBursts).toBeGreaterThan(1000);
    });
  }

  it('an over-long line cut where the server may be full is cut inside the window instead; what is pipelined behind it goes in the last write', () => {
    const at = (fraction: number) => fraction * 100;
    // POP3: 300 bytes cut at 90% and 95% (270 and 285 bytes: past nginx's 128) -> 90 and 95.
    expect(writeBoundaries([{ length: 300, cuts: [at(90), at(95)], overlong: true, whole: false }])).toEqual([90, 95]);
    // IMAP: a 5,000-byte line cut at 4,500 bytes -> 90; a short line pipelined behind it, cut too: not cut.
    expect(
      writeBoundaries([
        { length: 5000, cuts: [at(90)], overlong: true, whole: false },
        { length: 10, cuts: [at(50)], overlong: false, whole: false },
      ]),
    ).toEqual([90]);
    // Behind 60 bytes of short lines: the line may be cut within the burst's first 100 bytes only.
    expect(
      writeBoundaries([
        { length: 60, cuts: [at(50)], overlong: false, whole: false },
        { length: 300, cuts: [at(50)], overlong: true, whole: false },
      ]),
    ).toEqual([30, 80]);
    // Behind 150 bytes of short lines: cut before it, never inside it.
    expect(
      writeBoundaries([
        { length: 150, cuts: [at(50)], overlong: false, whole: false },
        { length: 300, cuts: [0, at(50)], overlong: true, whole: false },
      ]),
    ).toEqual([75, 150]);
    // Without an over-long line nothing changes.
    expect(
      writeBoundaries([
        { length: 200, cuts: [at(90)], overlong: false, whole: false },
        { length: 10, cuts: [at(50)], overlong: false, whole: false },
      ]),
    ).toEqual([180, 205]);
  });
});

/**
 * A POP3 server that reads as nginx 1.22.1 does: a 128-byte buffer; a line that does not fit is
 * answered `-ERR` and the connection closed; NOOP `+OK`, anything else `-ERR`.
 */
async function startPop3(): Promise<{ port: number; close(): Promise<void> }> {
  const sockets = new Set<net.Socket>();
  const server = net.createServer((s) => {
    sockets.add(s);
    s.on('close', () => sockets.delete(s));
    s.on('error', () => undefined);
    s.write('+OK ready\r\n');
    let buf = '';
    s.on('data', (d) => {
      buf += d.toString('latin1');
      for (;;) {
        const i = buf.indexOf('\n');
        if (i < 0 || i >= SMALLEST_NGINX_BUFFER) break;
        const l = buf.slice(0, i).replace(/\r$/, '');
        buf = buf.slice(i + 1);
        s.write(/^noop$/i.test(l) ? '+OK\r\n' : '-ERR invalid command\r\n');
      }
      if (buf.length >= SMALLEST_NGINX_BUFFER) {
        s.end('-ERR invalid command\r\n');
        s.removeAllListeners('data');
      }
    });
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  return {
    port: (server.address() as net.AddressInfo).port,
    async close() {
      for (const s of sockets) s.destroy();
      await new Promise<void>((resolve) => server.close(() => resolve()));
    },
  };
}

describe('the writes execute makes', () => {
  let srv: Awaited<ReturnType<typeof startPop3>>;
  beforeAll(async () => {
    srv = await startPop3();
  });
  afterAll(async () => {
    await srv.close();
  });
  afterEach(() => {
    vi.restoreAllMocks();
  });

  const pop3 = dialectGen('pop3');
  const long = (bytes: number): Command => {
    const text = `NOOP ${'x'.repeat(bytes - 7)}`;
    return command('overlong', [line(text, { label: `NOOP xxxxxxxx... (${text.length} bytes)` })]);
  };
  const noop = command('noop', [line('NOOP')]);

  /** `cuts`: the over-long line's writes before its last one end there (offsets in the line). */
  const cases: Array<{ name: string; items: Delivered[]; budget?: number; cuts: number[]; note: string }> = [
    // The delivery that raced: the first write alone filled the buffer.
    { name: '300 bytes drawn with a cut at 261 bytes', items: [[long(300), { pipe: false, cuts: [8700] }]], cuts: [87], note: '[2 chunk(s): 87 + 213 bytes; over-long: cut only within the first 100 bytes]' },
    { name: '402 bytes drawn with cuts at 40 and 381 bytes', items: [[long(402), { pipe: false, cuts: [9500, 1000] }]], cuts: [10, 95], note: '[3 chunk(s): 10 + 85 + 307 bytes; over-long: cut only within the first 100 bytes]' },
    {
      name: '140 bytes cut at its last byte, a NOOP pipelined behind it and cut too (a pipelining budget it fits)',
      items: [
        [long(140), { pipe: true, cuts: [9999] }],
        [noop, { pipe: false, cuts: [5000] }],
      ],
      budget: 1000,
      cuts: [99],
      note: '[2 chunk(s): 99 + 41 bytes; over-long: cut only within the first 100 bytes]',
    },
  ];

  for (const c of cases) {
    it(`${c.name}: at most ${OVERLONG_CUT_WINDOW} bytes before one last write, and the answer is read`, async () => {
      const writes: number[] = [];
      const original = Wire.prototype.write;
      vi.spyOn(Wire.prototype, 'write').mockImplementation(function (this: Wire, bytes: Buffer) {
        writes.push(bytes.length);
        return original.call(this, bytes);
      });
      const ctx = ctxOf('pop3', srv.port, c.budget);
      const script = assemble(c.items, pop3.finalize, 0, { kind: 'none' }, true);
      const exec = await execute(ctx, script);
      const lineBytes = script.commands[0]!.lines[0]!.text.length + 2;
      // The writes before the one that completes the over-long line end inside the window; that
      // one carries the rest of the burst and is the last.
      const ends = writes.map((_, n) => writes.slice(0, n + 1).reduce((a, b) => a + b, 0));
      expect(ends.filter((e) => e < lineBytes)).toEqual(c.cuts);
      expect(Math.max(0, ...ends.filter((e) => e < lineBytes))).toBeLessThanOrEqual(OVERLONG_CUT_WINDOW);
      expect(writes.length).toBe(c.cuts.length + 1);
      expect(exec.transcript).toContain(`C: ${script.commands[0]!.lines[0]!.label!}    ${c.note}`);
      expect(replyAccounting(ctx, script, exec)).toEqual([]);
      expect(exec.exchanges[0]!.reply.map((l) => l.text)).toEqual(['-ERR invalid command']);
      expect(exec.serverClosed).toBe(true);
    });
  }
});
