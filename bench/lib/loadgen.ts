/**
 * The C load generator (bench/loadgen.c): built once per source change into
 * bench/results/bin/loadgen, run for one measured window against one proxy, with the proxy's CPU
 * (utime+stime of its process tree, /proc/PID/stat), the generator's own CPU and the whole
 * machine's busy time taken over the same window.
 */
import { execFile, spawnSync } from 'node:child_process';
import { existsSync, mkdirSync, readFileSync, statSync } from 'node:fs';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { processTree, cpuTicksMs, sleep } from './stats.js';

const BENCH = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '..');
const SOURCE = path.join(BENCH, 'loadgen.c');
export const LOADGEN = path.join(BENCH, 'results', 'bin', 'loadgen');

export type LoadMode = 'full13' | 'full12' | 'sessid12' | 'ticket12' | 'ticket13' | 'imap';

/** Compiles bench/loadgen.c when the binary is missing or older than the source. */
export function buildLoadgen(): string {
  if (existsSync(LOADGEN) && statSync(LOADGEN).mtimeMs >= statSync(SOURCE).mtimeMs) return LOADGEN;
  mkdirSync(path.dirname(LOADGEN), { recursive: true });
  const r = spawnSync('cc', ['-O2', '-Wall', '-o', LOADGEN, SOURCE, '-lssl', '-lcrypto'], { encoding: 'utf8' });
  if (r.status !== 0) {
    throw new Error(`bench: cannot build bench/loadgen.c (it needs a C compiler and the OpenSSL headers: apt-get install gcc libssl-dev):\n${r.stderr ?? r.error}`);
  }
  return LOADGEN;
}

export interface GenOutput {
  ops: number;
  resumed: number;
  errors: number;
  wallMs: number;
  cpuMs: number;
  protocol: string;
  firstError: string;
}

/** Runs the generator once (bounded: it stops at its deadline; killed 30 s after it). */
export function runLoadgen(mode: LoadMode, port: number, procs: number, seconds: number, maxOps: number, login?: { user: string; pass: string }): Promise<GenOutput> {
  const args = [mode, String(port), String(procs), String(seconds), String(maxOps), ...(login ? [login.user, login.pass] : [])];
  return new Promise((resolve, reject) => {
    execFile(LOADGEN, args, { timeout: (seconds + 30) * 1000, encoding: 'utf8' }, (error, stdout, stderr) => {
      if (error) return reject(new Error(`loadgen ${args.join(' ')}: ${error.message}\n${stderr}`));
      try {
        resolve(JSON.parse(stdout) as GenOutput);
      } catch {
        reject(new Error(`loadgen ${args.join(' ')}: no result (${stdout}${stderr})`));
      }
    });
  });
}

/** utime+stime of a process and its children (/proc/PID/stat), in ms. */
export const treeTicksMs = (pid: number): number =>
  processTree(pid).reduce((sum, p) => {
    try {
      return sum + cpuTicksMs(p);
    } catch {
      return sum;
    }
  }, 0);

/** utime+stime of each process of a tree, in ms, by pid. */
export function treeTicksByPid(pid: number): Map<number, number> {
  const out = new Map<number, number>();
  for (const p of processTree(pid)) {
    try {
      out.set(p, cpuTicksMs(p));
    } catch {
      /* gone */
    }
  }
  return out;
}

interface Ticks {
  busy: number;
  total: number;
}

/** Busy and total jiffies of the whole machine, then of each CPU (/proc/stat `cpu`, `cpu0`...). */
function machineTicks(): Ticks[] {
  return readFileSync('/proc/stat', 'latin1')
    .split('\n')
    .filter((line) => /^cpu\d*\s/.test(line))
    .map((line) => {
      const f = line.trim().split(/\s+/).slice(1).map(Number);
      const total = f.slice(0, 8).reduce((a, b) => a + b, 0);
      const idle = (f[3] ?? 0) + (f[4] ?? 0);
      return { busy: total - idle, total };
    });
}

const busyPct = (a: Ticks | undefined, b: Ticks | undefined): number => (a && b ? ((b.busy - a.busy) / Math.max(1, b.total - a.total)) * 100 : NaN);

/** One measured window: the proxy's and the generator's CPU per operation beside the rate. */
export interface Driven {
  rate: number;
  /** The generator's wall time (ms): the window. */
  wallMs: number;
  ops: number;
  resumed: number;
  errors: number;
  protocol: string;
  firstError: string;
  /** Proxy CPU per operation (µs). */
  proxyUsPerOp: number;
  /** Generator CPU per operation (µs). */
  genUsPerOp: number;
  /** % of one core over the window. */
  proxyPct: number;
  genPct: number;
  /** Whole machine busy, % of all its cores (other work on the machine included). */
  machinePct: number;
  /** Each CPU's busy %, over the same window. */
  cpuPct: number[];
  /** CPU ms of each process of the proxy's tree over the window (the master and its workers). */
  proxyMsByPid: Record<string, number>;
  /** CPU of the trees in `others` (e.g. the backend and the auth service), µs per op and % of a core. */
  othersUsPerOp: number;
  othersPct: number;
}

/** Waited after the generator exits so that the proxy's work on the last closes is counted. */
const SETTLE_MS = 200;

export async function drive(
  proxyPid: number,
  mode: LoadMode,
  port: number,
  procs: number,
  seconds: number,
  maxOps: number,
  login?: { user: string; pass: string },
  others: number[] = [],
): Promise<Driven> {
  const byPid0 = treeTicksByPid(proxyPid);
  const o0 = others.reduce((a, pid) => a + treeTicksMs(pid), 0);
  const m0 = machineTicks();
  const g = await runLoadgen(mode, port, procs, seconds, maxOps, login);
  await sleep(SETTLE_MS);
  const byPid1 = treeTicksByPid(proxyPid);
  const othersMs = others.reduce((a, pid) => a + treeTicksMs(pid), 0) - o0;
  const m1 = machineTicks();
  // A process that left during the window counts 0; one that came counts from its start.
  const proxyMsByPid: Record<string, number> = {};
  for (const [pid, ms] of byPid1) proxyMsByPid[pid] = ms - (byPid0.get(pid) ?? 0);
  const proxyMs = Object.values(proxyMsByPid).reduce((a, b) => a + b, 0);
  const ops = Math.max(1, g.ops);
  return {
    rate: g.ops / (g.wallMs / 1000),
    wallMs: g.wallMs,
    ops: g.ops,
    resumed: g.resumed,
    errors: g.errors,
    protocol: g.protocol,
    firstError: g.firstError,
    proxyUsPerOp: (proxyMs * 1000) / ops,
    genUsPerOp: (g.cpuMs * 1000) / ops,
    proxyPct: (proxyMs / g.wallMs) * 100,
    genPct: (g.cpuMs / g.wallMs) * 100,
    machinePct: busyPct(m0[0], m1[0]),
    cpuPct: m1.slice(1).map((t, i) => busyPct(m0[i + 1], t)),
    proxyMsByPid,
    othersUsPerOp: (othersMs * 1000) / ops,
    othersPct: (othersMs / g.wallMs) * 100,
  };
}
