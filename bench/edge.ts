/**
 * The bench's `edge` phase (issue 10): what one hostile client costs a proxy, and everyone else.
 *
 * * Non-reader: one client pipelines `a CAPABILITY\r\n` (IMAP) or `CAPA\r\n` (POP3) as fast as
 *   the socket takes it and never reads a reply. Figures: the proxy's RSS growth (peak during
 *   the flood minus before, summed over its process tree, sampled every 100 ms) and the bytes
 *   the client managed to hand to its kernel.
 * * NOOP flood: a separate process (bench/noop-flood.mjs) pipelines `a NOOP\r\n` and reads the
 *   replies while this process runs sequential plaintext IMAP logins on another connection.
 *   Figures: LOGIN latency with and without the flood, the flooder's command rate, and the CPU
 *   of the proxy and of the flooder (a rate taken while the flooder saturates its core measures
 *   the flooder).
 *
 * Every loop is bounded in count and time; loopback only.
 */
import net from 'node:net';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { spawnDaemon } from '../test/e2e/harness/index.js';
import { Conn } from './lib/conn.js';
import { cpuMs, median, percentile, sleep, treeCpuMs, treeRssKb } from './lib/stats.js';

const HERE = path.dirname(fileURLToPath(import.meta.url));

export interface EdgeTarget {
  name: string;
  /** The proxy's process (its children, if any, are counted with it). */
  pid: number;
  ports: { imap: number; pop3: number };
}

// ---------------------------------------------------------------------------------------------
// The non-reader

type NonReaderProtocol = 'imap' | 'pop3';
const NON_READER_COMMAND: Record<NonReaderProtocol, string> = { imap: 'a CAPABILITY\r\n', pop3: 'CAPA\r\n' };
/** Stop a flood early once the proxy has grown this much: the figure is already a miss. */
export const NON_READER_RSS_CAP_KB = 2 * 1024 * 1024;
/** Keep sampling this long after the last write, the connection still open. */
const NON_READER_TAIL_MS = 500;

interface NonReaderRun {
  beforeKb: number;
  peakKb: number;
  growthKb: number;
  /** Bytes the client's kernel accepted (writes completed). */
  bytesSent: number;
  /** How long the client wrote: the run's length, or less when the proxy closed the connection. */
  floodMs: number;
  /** The proxy closed the connection during the flood. */
  closedByProxy: boolean;
  /** The flood was cut short at NON_READER_RSS_CAP_KB of growth. */
  stoppedAtCap: boolean;
}

/** Resolves on the first complete line received, then stops reading the socket for good. */
function greetingThenDeaf(sock: net.Socket, timeoutMs: number): Promise<void> {
  return new Promise((resolve, reject) => {
    let got = '';
    const timer = setTimeout(() => done(new Error('no greeting')), timeoutMs);
    const onData = (chunk: Buffer) => {
      got += chunk.toString('latin1');
      if (got.includes('\n')) done();
    };
    const done = (error?: Error) => {
      clearTimeout(timer);
      sock.off('data', onData);
      sock.pause();
      if (error) reject(error);
      else resolve();
    };
    sock.on('data', onData);
    sock.once('error', done);
  });
}

/** Resolves on 'drain', on 'close', or after `ms`. */
function drainOrTimeout(sock: net.Socket, ms: number): Promise<void> {
  return new Promise((resolve) => {
    const done = () => {
      clearTimeout(timer);
      sock.off('drain', done);
      sock.off('close', done);
      resolve();
    };
    const timer = setTimeout(done, Math.max(0, ms));
    sock.once('drain', done);
    sock.once('close', done);
  });
}

async function nonReader(t: EdgeTarget, protocol: NonReaderProtocol, runMs: number): Promise<NonReaderRun> {
  const chunk = Buffer.from(NON_READER_COMMAND[protocol].repeat(4096), 'latin1');
  const beforeKb = treeRssKb(t.pid);
  let peakKb = beforeKb;
  const sample = () => (peakKb = Math.max(peakKb, treeRssKb(t.pid)));
  const sampler = setInterval(sample, 100);
  const sock = net.connect({ host: '127.0.0.1', port: t.ports[protocol], noDelay: true });
  let closedByProxy = false;
  sock.on('error', () => undefined); // EPIPE/ECONNRESET once the proxy closes: seen as 'close'
  sock.once('close', () => (closedByProxy = true));
  try {
    await greetingThenDeaf(sock, 10_000);
    let bytesSent = 0;
    const sent = (error?: Error | null) => {
      if (!error) bytesSent += chunk.length;
    };
    const start = performance.now();
    const deadline = start + runMs;
    let stoppedAtCap = false;
    while (performance.now() < deadline && !closedByProxy) {
      if (peakKb - beforeKb > NON_READER_RSS_CAP_KB) {
        stoppedAtCap = true;
        break;
      }
      if (sock.write(chunk, sent)) await new Promise<void>((r) => setImmediate(r));
      else await drainOrTimeout(sock, deadline - performance.now());
    }
    const floodMs = performance.now() - start;
    await sleep(NON_READER_TAIL_MS);
    sample();
    return { beforeKb, peakKb, growthKb: peakKb - beforeKb, bytesSent, floodMs, closedByProxy, stoppedAtCap };
  } finally {
    clearInterval(sampler);
    sock.destroy();
  }
}

// ---------------------------------------------------------------------------------------------
// Logins, with and without a NOOP flood

interface LoginOptions {
  user: string;
  pass: string;
  /** Logins run back to back for this long... */
  ms: number;
  /** ...and at least this many (so that a slow proxy still gives a median), at most `max`. */
  min: number;
  max: number;
}

interface LoginRun {
  /** From writing LOGIN to the tagged OK. */
  loginMs: number[];
  /** From connect() to the greeting. */
  greetMs: number[];
  errors: number;
}

async function oneLogin(port: number, o: LoginOptions, run: LoginRun): Promise<void> {
  const t0 = performance.now();
  const conn = await Conn.open(port);
  try {
    await conn.readLine();
    const t1 = performance.now();
    conn.write(`l LOGIN ${o.user} ${o.pass}\r\n`);
    await conn.tagged('l');
    run.loginMs.push(performance.now() - t1);
    run.greetMs.push(t1 - t0);
    conn.write('o LOGOUT\r\n');
    await conn.tagged('o');
  } finally {
    conn.destroy();
  }
}

async function logins(t: EdgeTarget, o: LoginOptions): Promise<LoginRun> {
  const run: LoginRun = { loginMs: [], greetMs: [], errors: 0 };
  const deadline = performance.now() + o.ms;
  for (let n = 0; n < o.max && (n < o.min || performance.now() < deadline); n++) {
    try {
      await oneLogin(t.ports.imap, o, run);
    } catch {
      run.errors++;
    }
  }
  return run;
}

interface FloodRun extends LoginRun {
  /** NOOP replies the flooder read per second while the logins ran. */
  commandsPerS: number;
  /** NOOP replies the flooder read in all. */
  replies: number;
  /** Bytes of NOOPs the flooder's kernel accepted. */
  bytesSent: number;
  /** CPU of the proxy and of the flooder while the logins ran, in % of one core. */
  proxyCpuPct: number;
  flooderCpuPct: number;
  /** The proxy closed the flooder's connection. */
  flooderClosed: boolean;
}

interface FlooderCount {
  replies: number;
}
interface FlooderResult extends FlooderCount {
  bytesSent: number;
  closedEarly: boolean;
}

/** Logins (as `logins`) while bench/noop-flood.mjs floods another connection of the same server. */
async function loginsUnderFlood(t: EdgeTarget, o: LoginOptions): Promise<FloodRun> {
  // The flooder stops by itself after this long, should this process never tell it to.
  const flooderMaxMs = o.ms + 120_000;
  const flooder = spawnDaemon(process.execPath, [path.join(HERE, 'noop-flood.mjs'), String(t.ports.imap), String(flooderMaxMs)], {
    stdio: ['ignore', 'pipe', 'pipe', 'ipc'],
  });
  const child = flooder.child;
  const next = <T>(type: string, timeoutMs = 10_000) =>
    new Promise<T>((resolve, reject) => {
      const onMessage = (m: { type: string }) => {
        if (m.type !== type) return;
        clearTimeout(timer);
        child.off('message', onMessage);
        resolve(m as T);
      };
      const timer = setTimeout(() => {
        child.off('message', onMessage);
        reject(new Error(`noop-flood: no '${type}' message:\n${flooder.output()}`));
      }, timeoutMs);
      child.on('message', onMessage);
    });
  try {
    /** Replies read by the flooder so far, and the CPU of both processes, now. */
    const mark = async () => {
      const count = next<FlooderCount>('count');
      child.send({ type: 'count' });
      const { replies } = await count;
      return { replies, proxy: treeCpuMs(t.pid), flooder: cpuMs(child.pid!), at: performance.now() };
    };
    await next('ready');
    await sleep(300); // the flood reaches its steady state
    const m0 = await mark();
    const run = await logins(t, o);
    const m1 = await mark();
    const wallMs = m1.at - m0.at;
    const result = next<FlooderResult>('result');
    child.send({ type: 'stop' });
    const r = await result;
    return {
      ...run,
      commandsPerS: ((m1.replies - m0.replies) / wallMs) * 1000,
      replies: r.replies,
      bytesSent: r.bytesSent,
      proxyCpuPct: ((m1.proxy - m0.proxy) / wallMs) * 100,
      flooderCpuPct: ((m1.flooder - m0.flooder) / wallMs) * 100,
      flooderClosed: r.closedEarly,
    };
  } finally {
    await flooder.stop(2000);
  }
}

const loginSummary = (run: { loginMs: number[]; errors: number }) => ({
  p50Ms: percentile(run.loginMs, 50),
  p95Ms: percentile(run.loginMs, 95),
  logins: run.loginMs.length,
  errors: run.errors,
});

// ---------------------------------------------------------------------------------------------
// The phase

export interface EdgeParams {
  rounds: number;
  nonReaderMs: number;
  login: Omit<LoginOptions, 'user' | 'pass'>;
  user: string;
  pass: string;
}

/** Both floods against every target, rounds alternating the order of the targets. */
export async function edgePhase(targets: EdgeTarget[], p: EdgeParams, log: (s: string) => void) {
  const order = (r: number) => (r % 2 === 0 ? targets : [...targets].reverse());
  const nonReaders: Record<NonReaderProtocol, Record<string, NonReaderRun[]>> = { imap: {}, pop3: {} };
  const quiet: Record<string, LoginRun[]> = {};
  const flood: Record<string, FloodRun[]> = {};
  for (const t of targets) {
    nonReaders.imap[t.name] = [];
    nonReaders.pop3[t.name] = [];
    quiet[t.name] = [];
    flood[t.name] = [];
  }
  const login = { ...p.login, user: p.user, pass: p.pass };
  for (let r = 0; r < p.rounds; r++) {
    for (const protocol of ['imap', 'pop3'] as const) {
      for (const t of order(r)) {
        const run = await nonReader(t, protocol, p.nonReaderMs);
        nonReaders[protocol][t.name]!.push(run);
        log(`bench: edge round ${r + 1}/${p.rounds}, ${protocol} non-reader, ${t.name}: RSS +${(run.growthKb / 1024).toFixed(1)} MB, client sent ${(run.bytesSent / 1e6).toFixed(1)} MB`);
        await sleep(1000); // the proxy drops the connection's state
      }
    }
    for (const t of order(r)) {
      const q = await logins(t, login);
      const f = await loginsUnderFlood(t, login);
      quiet[t.name]!.push(q);
      flood[t.name]!.push(f);
      log(
        `bench: edge round ${r + 1}/${p.rounds}, NOOP flood, ${t.name}: LOGIN p50 ${percentile(q.loginMs, 50).toFixed(1)} -> ${percentile(f.loginMs, 50).toFixed(1)} ms, ` +
          `${f.commandsPerS.toFixed(0)} NOOP/s, CPU proxy ${f.proxyCpuPct.toFixed(0)}% flooder ${f.flooderCpuPct.toFixed(0)}%`,
      );
      await sleep(300);
    }
  }
  const pooled = (runs: LoginRun[]) => ({ loginMs: runs.flatMap((x) => x.loginMs), greetMs: runs.flatMap((x) => x.greetMs), errors: runs.reduce((s, x) => s + x.errors, 0) });
  return {
    nonReader: Object.fromEntries(
      Object.entries(nonReaders).map(([protocol, byTarget]) => [
        protocol,
        Object.fromEntries(
          Object.entries(byTarget).map(([name, runs]) => {
            const closed = runs.filter((x) => x.closedByProxy);
            return [
              name,
              {
                growthKb: Math.max(...runs.map((x) => x.growthKb)),
                bytesSent: median(runs.map((x) => x.bytesSent)),
                /** The latest the proxy closed a non-reader, in ms from its first write; null: it never did. */
                closedAfterMs: closed.length ? Math.max(...closed.map((x) => x.floodMs)) : null,
                stoppedAtCap: runs.some((x) => x.stoppedAtCap),
                runs,
              },
            ];
          }),
        ),
      ]),
    ),
    noopFlood: Object.fromEntries(
      targets.map((t) => {
        const withGreet = (run: LoginRun) => ({ ...loginSummary(run), greetP50Ms: percentile(run.greetMs, 50) });
        const q = withGreet(pooled(quiet[t.name]!));
        const f = withGreet(pooled(flood[t.name]!));
        const runs = flood[t.name]!;
        return [
          t.name,
          {
            quiet: q,
            flood: f,
            p50Ratio: f.p50Ms / q.p50Ms,
            p95Ratio: f.p95Ms / q.p95Ms,
            commandsPerS: median(runs.map((x) => x.commandsPerS)),
            repliesMax: Math.max(...runs.map((x) => x.replies)),
            proxyCpuPct: median(runs.map((x) => x.proxyCpuPct)),
            flooderCpuPct: median(runs.map((x) => x.flooderCpuPct)),
            flooderClosed: runs.some((x) => x.flooderClosed),
            runs: runs.map((x) => ({
              p50Ms: percentile(x.loginMs, 50),
              logins: x.loginMs.length,
              errors: x.errors,
              commandsPerS: x.commandsPerS,
              replies: x.replies,
              bytesSent: x.bytesSent,
              proxyCpuPct: x.proxyCpuPct,
              flooderCpuPct: x.flooderCpuPct,
            })),
          },
        ];
      }),
    ),
  };
}
