/** Medians, percentiles and /proc readings for the benchmark. */
import { readdirSync, readFileSync } from 'node:fs';

export function median(xs: readonly number[]): number {
  if (xs.length === 0) return NaN;
  const s = [...xs].sort((a, b) => a - b);
  const m = s.length >> 1;
  return s.length % 2 ? s[m]! : (s[m - 1]! + s[m]!) / 2;
}

/** Nearest-rank percentile (p in 0..100). */
export function percentile(xs: readonly number[], p: number): number {
  if (xs.length === 0) return NaN;
  const s = [...xs].sort((a, b) => a - b);
  const rank = Math.min(s.length, Math.max(1, Math.ceil((p / 100) * s.length)));
  return s[rank - 1]!;
}

const CLK_TCK = 100; // getconf CLK_TCK on Linux x86-64

/**
 * CPU time of a process (all its live threads), in milliseconds: the sum of
 * /proc/PID/task/TID/schedstat (nanoseconds on CPU); falls back to utime+stime (10 ms ticks).
 */
export function cpuMs(pid: number): number {
  try {
    let ns = 0;
    for (const tid of readdirSync(`/proc/${pid}/task`)) {
      try {
        ns += Number(readFileSync(`/proc/${pid}/task/${tid}/schedstat`, 'latin1').split(' ')[0]);
      } catch {
        /* thread gone */
      }
    }
    if (ns > 0) return ns / 1e6;
  } catch {
    /* no schedstat */
  }
  return cpuTicksMs(pid);
}

/** utime+stime from /proc/PID/stat, in milliseconds (10 ms resolution). */
export function cpuTicksMs(pid: number): number {
  const stat = readFileSync(`/proc/${pid}/stat`, 'latin1');
  // Fields after the parenthesised command name; utime and stime are fields 14 and 15.
  const rest = stat.slice(stat.lastIndexOf(')') + 2).split(' ');
  const utime = Number(rest[11]);
  const stime = Number(rest[12]);
  return ((utime + stime) * 1000) / CLK_TCK;
}

/** Resident set size in KiB (VmRSS). */
export function rssKb(pid: number): number {
  const status = readFileSync(`/proc/${pid}/status`, 'latin1');
  const m = /^VmRSS:\s+(\d+) kB/m.exec(status);
  if (!m) throw new Error(`no VmRSS for pid ${pid}`);
  return Number(m[1]);
}

/** A process and its children (a master's workers), from /proc. */
export function processTree(pid: number): number[] {
  const out = [pid];
  try {
    for (const child of readFileSync(`/proc/${pid}/task/${pid}/children`, 'latin1').trim().split(/\s+/)) if (child) out.push(...processTree(Number(child)));
  } catch {
    /* gone */
  }
  return out;
}

/** CPU milliseconds of a process and its children. */
export const treeCpuMs = (pid: number): number => processTree(pid).reduce((sum, p) => sum + cpuMs(p), 0);

/** VmRSS of a process and its children, in KiB (a child gone meanwhile counts 0). */
export const treeRssKb = (pid: number): number =>
  processTree(pid).reduce((sum, p) => {
    try {
      return sum + rssKb(p);
    } catch {
      return sum;
    }
  }, 0);

export function machine(): { nproc: number; cpu: string; memTotalMb: number; kernel: string } {
  const cpuinfo = readFileSync('/proc/cpuinfo', 'latin1');
  const cpu = /^model name\s*:\s*(.*)$/m.exec(cpuinfo)?.[1]?.trim() ?? 'unknown';
  const nproc = (cpuinfo.match(/^processor\s*:/gm) ?? []).length;
  const mem = /^MemTotal:\s+(\d+)/m.exec(readFileSync('/proc/meminfo', 'latin1'));
  const kernel = readFileSync('/proc/sys/kernel/osrelease', 'latin1').trim();
  return { nproc, cpu, memTotalMb: mem ? Math.round(Number(mem[1]) / 1024) : 0, kernel };
}

export const sleep = (ms: number) => new Promise<void>((r) => setTimeout(r, ms));

/** Runs `fn` with at most `limit` in flight over `count` items. */
export async function pool<T>(count: number, limit: number, fn: (i: number) => Promise<T>): Promise<T[]> {
  const out: T[] = new Array(count);
  let next = 0;
  const worker = async () => {
    while (next < count) {
      const i = next++;
      out[i] = await fn(i);
    }
  };
  await Promise.all(Array.from({ length: Math.min(limit, count) }, worker));
  return out;
}
