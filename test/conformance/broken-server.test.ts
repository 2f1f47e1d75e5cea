/**
 * The suite must catch broken servers: a tiny in-process POP3 server with switchable bugs.
 * Each bug makes the relevant property fail with a printed counterexample (C:/S: lines), the
 * seed and the path, and the path replays the failure.
 */
import net from 'node:net';
import tls from 'node:tls';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { formatReport, runConformance, type ConformanceOptions, type ConformanceReport } from '../../src/conformance/index.js';
import { generateCert, removeDir, type CertFiles } from '../e2e/harness/index.js';
import { expectEveryRun, fileSeed } from './setup.js';

const SEED = fileSeed('test/conformance/broken-server.test.ts');

interface Bugs {
  /** Answer NOOP twice. */
  doubleNoop?: boolean;
  /** Keep what was pipelined behind STLS and answer it after the handshake (CVE-2014-3556). */
  keepAfterStls?: boolean;
  /** Never close after too many errors. */
  ignoreMaxErrors?: boolean;
  /** Answer QUIT but keep the connection open. */
  quitStaysOpen?: boolean;
}

interface Fake {
  port: number;
  close(): Promise<void>;
}

async function fakePop3(bugs: Bugs, cert: CertFiles): Promise<Fake> {
  const sockets = new Set<net.Socket>();
  const context = tls.createSecureContext({ key: cert.keyPem, cert: cert.certPem });
  const server = net.createServer((raw) => {
    sockets.add(raw);
    raw.on('close', () => sockets.delete(raw));
    raw.on('error', () => undefined);
    let sock: net.Socket = raw;
    let buf = '';
    let errors = 0;
    let secure = false;
    let closed = false;
    const send = (s: string) => {
      if (!closed) sock.write(`${s}\r\n`);
    };
    const handle = (line: string): boolean => {
      const [verb = '', ...args] = line.split(' ');
      switch (verb.toUpperCase()) {
        case 'NOOP':
          send('+OK');
          if (bugs.doubleNoop) send('+OK');
          return true;
        case 'CAPA':
          send('+OK Capability list follows');
          send('USER');
          if (!secure) send('STLS');
          send('.');
          return true;
        case 'USER':
          send(args.length > 0 ? '+OK' : '-ERR invalid command');
          return true;
        case 'PASS':
          send('-ERR invalid login');
          return true;
        case 'QUIT':
          send('+OK');
          if (!bugs.quitStaysOpen) {
            closed = true;
            sock.end();
          }
          return false;
        case 'STLS': {
          if (secure) {
            send('-ERR invalid command');
            return true;
          }
          send('+OK');
          const kept = bugs.keepAfterStls ? buf : '';
          buf = '';
          sock.removeListener('data', onData);
          const tlsSock = new tls.TLSSocket(raw, { isServer: true, secureContext: context });
          tlsSock.on('error', () => undefined);
          tlsSock.on('secure', () => {
            sock = tlsSock;
            secure = true;
            tlsSock.on('data', onData);
            if (kept) onData(Buffer.from(kept, 'latin1'));
          });
          return false;
        }
        default:
          send('-ERR invalid command');
          if (++errors >= 5 && !bugs.ignoreMaxErrors) {
            closed = true;
            sock.end();
            return false;
          }
          return true;
      }
    };
    const onData = (d: Buffer) => {
      buf += d.toString('latin1');
      for (;;) {
        const i = buf.indexOf('\n');
        if (i < 0 || closed) return;
        const line = buf.slice(0, i).replace(/\r$/, '');
        buf = buf.slice(i + 1);
        if (!handle(line)) return;
      }
    };
    raw.on('data', onData);
    send('+OK fake POP3 ready');
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const port = (server.address() as net.AddressInfo).port;
  return {
    port,
    close: () =>
      new Promise<void>((resolve) => {
        for (const s of sockets) s.destroy();
        server.close(() => resolve());
      }),
  };
}

/** The client's side of a transcript: every line sent, with how it was cut. */
const sent = (transcript: string[]): string[] => transcript.filter((l) => l.startsWith('C: '));

/** Replays the failure of property 1 in `report` by its seed and path: the same counterexample, once, failing again. */
async function expectReplaysExactly(opts: ConformanceOptions, report: ConformanceReport): Promise<void> {
  const f = report.results[0]!.failure!;
  const replay = await runConformance({ ...opts, properties: ['one-reply-per-command'], seed: f.seed, path: f.path });
  const again = replay.results[0]!;
  expect(again.status, formatReport(replay)).toBe('failed');
  expect(again.runs).toBe(1);
  expect(again.failure!.path).toBe(f.path);
  expect(again.failure!.shrinks).toBe(0);
  expect(sent(again.failure!.transcript), `reported:\n${f.transcript.join('\n')}\nreplayed:\n${again.failure!.transcript.join('\n')}`).toEqual(sent(f.transcript));
  // (An extra reply taken as the next command's leaves the last one without: "no reply to".)
  expect(again.failure!.message).toMatch(/arrived before .* was completely sent|answer no command|incomplete reply to|no reply to/);
}

describe('conformance suite against deliberately broken servers', () => {
  let cert: CertFiles | undefined;
  const fakes: Fake[] = [];
  const target = async (bugs: Bugs): Promise<ConformanceOptions> => {
    const f = await fakePop3(bugs, cert!);
    fakes.push(f);
    return { target: { host: '127.0.0.1', port: f.port }, protocol: 'pop3', tls: 'starttls', starttlsMode: 'on', runs: 15, seed: SEED, timeoutMs: 4000, replyTimeoutMs: 1000, closeTimeoutMs: 300, propertyBudgetMs: 8000 };
  };

  beforeAll(async () => {
    cert = await generateCert();
  });
  afterAll(async () => {
    await Promise.all(fakes.map((f) => f.close()));
    if (cert) await removeDir(cert.dir);
  });

  it('a correct fake passes the properties it can be held to', async () => {
    const report = await runConformance({ ...(await target({})), properties: [1, 2, 3, 5, 6, 7] });
    console.log(formatReport(report));
    expect(report.failed, formatReport(report)).toBe(0);
    expectEveryRun(report, 15);
    expect(formatReport(report).split('\n').at(-1)).toBe('6 passed, 0 failed');
  });

  it('a property stopped by its time budget is incomplete: not passed, not counted as passed', async () => {
    // 1 ms: the budget runs out after the first run (or before it).
    const report = await runConformance({ ...(await target({})), properties: ['one-reply-per-command', 'quit-closes'], propertyBudgetMs: 1 });
    const text = formatReport(report);
    console.log(text);
    for (const r of report.results) {
      expect(r.status).toBe('incomplete');
      expect(r.runs).toBeLessThan(15);
      expect(r.incompleteReason).toBe(`stopped by the time budget of 1 ms after ${r.runs} of 15 runs`);
    }
    expect([report.passed, report.failed, report.incomplete]).toEqual([0, 0, 2]);
    expect(text).toMatch(/^\[1\] one-reply-per-command +INCOMPLETE \(\d+ runs, [\d.]+ s: stopped by the time budget of 1 ms after \d+ of 15 runs\)$/m);
    expect(text.split('\n').at(-1)).toBe('0 passed, 0 failed, 2 incomplete');

    // Stopped after some runs passed (each run of property 3 waits out quiet windows of ~0.2 s, so
    // 15 never fit in 1.5 s, and a loaded machine still completes one): still not a pass.
    const later = await runConformance({ ...(await target({})), properties: ['no-reply-across-tls'], propertyBudgetMs: 1_500 });
    const r = later.results[0]!;
    expect(r.status, formatReport(later)).toBe('incomplete');
    expect(r.runs).toBeGreaterThanOrEqual(1);
    expect(r.runs).toBeLessThan(15);
    expect(formatReport(later).split('\n').at(-1)).toBe('0 passed, 0 failed, 1 incomplete');
  });

  it('answering twice fails property 1 with a counterexample, seed and path that replay', async () => {
    const opts = await target({ doubleNoop: true });
    const report = await runConformance({ ...opts, properties: ['one-reply-per-command'] });
    const text = formatReport(report);
    const r = report.results[0]!;
    expect(r.status).toBe('failed');
    expect(text).toContain('[1] one-reply-per-command');
    expect(text).toMatch(/counterexample/);
    expect(text).toMatch(/C: NOOP/i);
    expect(text).toContain(`seed ${SEED}, path "`);
    expect(text.split('\n').at(-1)).toBe('0 passed, 1 failed');
    // The extra reply is caught wherever it lands: ahead of a command, unasked, or inside the next reply (timing decides which).
    expect(r.failure!.message).toMatch(/arrived before .* was completely sent|answer no command|incomplete reply to/);

    // Replay: the same seed and path run the reported counterexample, once, unshrunk, and it fails
    // again. What the generator controls is the same: the client's lines, in order, each with how
    // it was cut (`C:` lines, chunk notes included). The message and the `S:` lines may differ:
    // where the second `+OK` lands (ahead of a line, inside the next reply, unasked) is timing's.
    // (Until session 10 the replay went on shrinking and reported a smaller counterexample, other
    // lines and cuts, with seeds 108916938 and 1824854825 among others: test/conformance/replay.test.ts.)
    await expectReplaysExactly(opts, report);
  });

  // The seeds of that gap, fixed (the test above draws its seed per run).
  it.each([108916938, 1824854825])('seed %i: the reported counterexample of NOOP answered twice replays exactly', async (seed) => {
    const opts = { ...(await target({ doubleNoop: true })), seed };
    const report = await runConformance({ ...opts, properties: ['one-reply-per-command'] });
    expect(report.results[0]!.status, formatReport(report)).toBe('failed');
    await expectReplaysExactly(opts, report);
  });

  it('answering a command pipelined behind STLS after the handshake fails property 3', async () => {
    const report = await runConformance({ ...(await target({ keepAfterStls: true })), properties: ['no-reply-across-tls'] });
    const text = formatReport(report);
    expect(report.results[0]!.status, text).toBe('failed');
    expect(text).toMatch(/C: STLS/);
    expect(text).toMatch(/\(pipelined behind STARTTLS\)/);
    expect(text).toContain(`seed ${SEED}, path "`);
  });

  it('ignoring max_errors fails property 6; a QUIT that does not close fails property 7', { timeout: 60_000 }, async () => {
    const errors = await runConformance({ ...(await target({ ignoreMaxErrors: true })), properties: ['max-errors-closes'] });
    expect(errors.results[0]!.status).toBe('failed');
    expect(errors.results[0]!.failure!.message).toMatch(/still open|was answered/);
    const quit = await runConformance({ ...(await target({ quitStaysOpen: true })), properties: ['quit-closes'] });
    expect(quit.results[0]!.status).toBe('failed');
    expect(quit.results[0]!.failure!.message).toMatch(/still open/);
  });
});
