/**
 * `npm run bench -- workers`: what `worker_processes 2` buys, for Postern and nginx in one run
 * (issue 16). Five targets, each with its own ports in front of the same Dovecot and auth_http
 * server: nginx `worker_processes 1` and `2` (master + workers), Postern `worker_processes 1` and
 * `2` with each node:cluster scheduling policy (SCHED_NONE: the workers accept from the shared
 * socket, like nginx; SCHED_RR: the master accepts and hands connections out). Started as root
 * (the bench runs as root), Postern always runs a master and its workers, as nginx does.
 *
 * Load comes from the C generator (bench/loadgen.c, several processes, TCP_QUICKACK) so that the
 * client is not what saturates: full IMAP sessions (`imap`: connect, STARTTLS, full TLS 1.3,
 * LOGIN through auth_http to Dovecot, LOGOUT) and full TLS 1.3 handshakes (`full13`, RSA, on
 * the implicit-TLS port). Every window reports the rate; the proxy's CPU per operation (its
 * whole process tree) and each of its processes' CPU; the generator's CPU per operation and %
 * of a core; Dovecot's and the auth service's CPU; the machine's and each CPU's busy %. Rounds
 * alternate the target order. A last, logged pass (`error_log info`, separate processes) counts
 * the sessions each worker of a 2-worker target accepted. `--pairs` adds two controls: two
 * one-worker instances of each proxy side by side, each on its own ports and half the generator
 * processes, i.e. two workers that share no listening socket.
 *
 * Every loop is bounded in count and time; everything is on 127.0.0.1.
 *
 *   npm run bench -- workers [--quick] [--rounds N] [--seconds S] [--session-procs N]
 *                            [--hs-procs N] [--pairs] [--no-build]
 */
import { execFile, spawnSync } from 'node:child_process';
import { existsSync, mkdirSync, readFileSync, writeFileSync } from 'node:fs';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { parseArgs } from 'node:util';
import {
  freePorts,
  generateCert,
  makeTempDir,
  nginxConf,
  NGINX_BIN,
  removeDir,
  spawnDaemon,
  startDovecot,
  waitForListen,
  type Daemon,
} from '../test/e2e/harness/index.js';
import { buildLoadgen, drive, type Driven, type LoadMode } from './lib/loadgen.js';
import { projectedScaling, scalingCeiling } from './lib/scaling.js';
import { machine, median, sleep } from './lib/stats.js';

const HERE = path.dirname(fileURLToPath(import.meta.url));
const ROOT = path.resolve(HERE, '..');
const USER = 'user';
const PASS = 'benchpass';
const LOGIN = { user: USER, pass: PASS };
const log = (s: string) => process.stderr.write(`${s}\n`);

type Policy = 'none' | 'rr' | null;

interface Target {
  name: string;
  proxy: 'nginx' | 'postern';
  workers: number;
  policy: Policy;
  /** The master; CPU is summed over it and its workers. */
  pid: number;
  imap: number;
  imaps: number;
  /** error_log file when started for the distribution pass, else null. */
  errorLog: string | null;
  close(): Promise<void>;
}

const mailBlock = (auth: number, imap: number, imaps: number, cert: { certPath: string; keyPath: string }) => `mail {
    server_name bench.test;
    auth_http 127.0.0.1:${auth}/auth;
    timeout 10m;
    ssl_certificate ${cert.certPath};
    ssl_certificate_key ${cert.keyPath};
    ssl_protocols TLSv1.2 TLSv1.3;
    server { listen 127.0.0.1:${imap}; protocol imap; starttls on; }
    server { listen 127.0.0.1:${imaps} ssl; protocol imap; }
}
`;

/** The workers of a master: its direct children (/proc). */
function childrenOf(pid: number): number[] {
  try {
    return readFileSync(`/proc/${pid}/task/${pid}/children`, 'latin1').trim().split(/\s+/).filter(Boolean).map(Number);
  } catch {
    return [];
  }
}

async function waitForWorkers(pid: number, count: number, alive: () => boolean): Promise<void> {
  for (let i = 0; i < 200 && alive(); i++) {
    if (childrenOf(pid).length >= count) return;
    await sleep(50);
  }
  throw new Error(`pid ${pid}: ${count} worker(s) did not start`);
}

async function startNginxWith(workers: number, block: string, ports: number[], logged: boolean): Promise<Target> {
  const prefix = await makeTempDir('ngw');
  const conf = path.join(prefix, 'nginx.conf');
  const text = nginxConf(prefix, { mailBlock: block, masterProcess: true, logLevel: logged ? 'info' : 'warn', events: '    worker_connections 16384;' }).replace(
    'worker_processes 1;',
    `worker_processes ${workers};`,
  );
  writeFileSync(conf, text);
  const daemon = spawnDaemon(NGINX_BIN, ['-p', `${prefix}/`, '-c', conf, '-e', path.join(prefix, 'startup.log'), '-g', 'daemon off;'], { cwd: prefix });
  for (const port of ports) await waitForListen(port, 10_000, daemon.alive);
  await waitForWorkers(daemon.child.pid!, workers, daemon.alive);
  return {
    name: `nginx w${workers}`,
    proxy: 'nginx',
    workers,
    policy: null,
    pid: daemon.child.pid!,
    imap: ports[0]!,
    imaps: ports[1]!,
    errorLog: logged ? path.join(prefix, 'error.log') : null,
    close: async () => {
      await daemon.stop(5000);
      await removeDir(prefix);
    },
  };
}

async function startPosternWith(workers: number, policy: Policy, block: string, ports: number[], dir: string, logged: boolean, tag = ''): Promise<Target> {
  const base = `postern-w${workers}${policy ? `-${policy}` : ''}${logged ? '-logged' : ''}${tag}`;
  const pidFile = path.join(dir, `${base}.pid`);
  const conf = path.join(dir, `${base}.conf`);
  const errorLog = logged ? path.join(dir, `${base}.log`) : null;
  writeFileSync(
    conf,
    `worker_processes ${workers};\npid ${pidFile};\nerror_log ${errorLog ?? 'stderr'} ${logged ? 'info' : 'warn'};\nevents { worker_connections 16384; }\n${block}`,
  );
  const env = { ...process.env, ...(policy ? { NODE_CLUSTER_SCHED_POLICY: policy } : {}) };
  const daemon: Daemon = spawnDaemon(process.execPath, [path.join(ROOT, 'bin/postern.js'), '-c', conf], { cwd: ROOT, env });
  for (const port of ports) await waitForListen(port, 20_000, daemon.alive);
  for (let i = 0; i < 200 && !existsSync(pidFile); i++) await sleep(50);
  if (!existsSync(pidFile)) throw new Error(`${base} did not start:\n${daemon.output()}`);
  await waitForWorkers(daemon.child.pid!, workers, daemon.alive);
  return {
    name: `postern w${workers}${policy ? ` ${policy}` : ''}`,
    proxy: 'postern',
    workers,
    policy,
    pid: daemon.child.pid!,
    imap: ports[0]!,
    imaps: ports[1]!,
    errorLog,
    close: () => daemon.stop(5000),
  };
}

/**
 * Two one-worker instances side by side, each on its own ports and driven by half the generator
 * processes at once: two workers that share no listening socket (the control for the 2-worker
 * targets: what two processes cost without the shared accept queue).
 */
interface Pair {
  name: string;
  members: [Target, Target];
}

/** A window's figures beyond drive()'s: how the proxy's CPU split between master and workers. */
interface Window extends Driven {
  /** % of a core: the master, and each worker (busiest first). */
  masterPct: number;
  workerPcts: number[];
}

interface Summary {
  rate: number;
  runs: number[];
  /** Proxy µs per op of each round, in order (a falling series: the proxy was still warming up). */
  cpuRuns: number[];
  errors: number;
  firstError: string;
  proxyUsPerOp: number;
  proxyPct: number;
  genUsPerOp: number;
  genPct: number;
  backendUsPerOp: number;
  backendPct: number;
  machinePct: number;
  cpuPct: number[];
  masterPct: number;
  /** Median % of a core of the busiest and the other worker(s). */
  workerPcts: number[];
  /** The busiest worker's share of the workers' CPU (0.5 = even between two). */
  busiestShare: number;
}

const elementwiseMedian = (rows: number[][]): number[] => (rows[0] ?? []).map((_, i) => median(rows.map((r) => r[i] ?? NaN)));

function summarize(ws: Window[]): Summary {
  return {
    rate: median(ws.map((w) => w.rate)),
    runs: ws.map((w) => Math.round(w.rate)),
    cpuRuns: ws.map((w) => Math.round(w.proxyUsPerOp)),
    errors: ws.reduce((a, w) => a + w.errors, 0),
    firstError: ws.find((w) => w.firstError)?.firstError ?? '',
    proxyUsPerOp: median(ws.map((w) => w.proxyUsPerOp)),
    proxyPct: median(ws.map((w) => w.proxyPct)),
    genUsPerOp: median(ws.map((w) => w.genUsPerOp)),
    genPct: median(ws.map((w) => w.genPct)),
    backendUsPerOp: median(ws.map((w) => w.othersUsPerOp)),
    backendPct: median(ws.map((w) => w.othersPct)),
    machinePct: median(ws.map((w) => w.machinePct)),
    cpuPct: elementwiseMedian(ws.map((w) => w.cpuPct)),
    masterPct: median(ws.map((w) => w.masterPct)),
    workerPcts: elementwiseMedian(ws.map((w) => w.workerPcts)),
    busiestShare: median(ws.map((w) => (w.workerPcts.length > 1 ? w.workerPcts[0]! / w.workerPcts.reduce((a, b) => a + b, 0) : 1))),
  };
}

/** One window against a pair: both halves at once, the backend's CPU read once (it serves both). */
async function measurePair(p: Pair, mode: LoadMode, procs: number, seconds: number, backend: number[]): Promise<Window> {
  const half = Math.max(1, Math.floor(procs / 2));
  const [a, b] = await Promise.all([measure(p.members[0], mode, half, seconds, backend), measure(p.members[1], mode, procs - half || 1, seconds, [])]);
  const ops = Math.max(1, a.ops + b.ops);
  const per = (x: number, y: number) => (x * a.ops + y * b.ops) / ops;
  return {
    ...a,
    rate: a.rate + b.rate,
    wallMs: Math.max(a.wallMs, b.wallMs),
    ops: a.ops + b.ops,
    resumed: a.resumed + b.resumed,
    errors: a.errors + b.errors,
    firstError: a.firstError || b.firstError,
    proxyUsPerOp: per(a.proxyUsPerOp, b.proxyUsPerOp),
    genUsPerOp: per(a.genUsPerOp, b.genUsPerOp),
    othersUsPerOp: (a.othersUsPerOp * a.ops) / ops,
    proxyPct: a.proxyPct + b.proxyPct,
    genPct: a.genPct + b.genPct,
    proxyMsByPid: { ...a.proxyMsByPid, ...b.proxyMsByPid },
    masterPct: a.masterPct + b.masterPct,
    workerPcts: [...a.workerPcts, ...b.workerPcts].sort((x, y) => y - x),
  };
}

async function measure(t: Target, mode: LoadMode, procs: number, seconds: number, backend: number[]): Promise<Window> {
  const port = mode === 'imap' ? t.imap : t.imaps;
  const d = await drive(t.pid, mode, port, procs, seconds, 100_000, mode === 'imap' ? LOGIN : undefined, backend);
  const pct = (ms: number) => (ms / d.wallMs) * 100;
  const workers = new Set(childrenOf(t.pid));
  const workerPcts = Object.entries(d.proxyMsByPid)
    .filter(([pid]) => workers.has(Number(pid)))
    .map(([, ms]) => pct(ms))
    .sort((a, b) => b - a);
  return { ...d, masterPct: pct(d.proxyMsByPid[String(t.pid)] ?? 0), workerPcts };
}

/** Sessions each worker logged so far (`*N client ... connected to`), by worker pid. */
function sessionsByPid(file: string): Map<string, number> {
  const counts = new Map<string, number>();
  for (const m of readFileSync(file, 'latin1').matchAll(/\[info\] (\d+)#\d+: \*\d+ client \S+ connected to /g)) counts.set(m[1]!, (counts.get(m[1]!) ?? 0) + 1);
  return counts;
}

/** What the diagnostic pass counts in the proxy's processes (perf tracepoints), per session. */
const SYSCALL_EVENTS = [
  { key: 'accepts', args: ['-e', 'syscalls:sys_exit_accept4'] },
  { key: 'failedAccepts', args: ['-e', 'syscalls:sys_exit_accept4', '--filter', 'ret < 0'] },
  { key: 'epollWakeups', args: ['-e', 'syscalls:sys_exit_epoll_wait'] },
  { key: 'epollPwakeups', args: ['-e', 'syscalls:sys_exit_epoll_pwait'] },
  { key: 'contextSwitches', args: ['-e', 'context-switches'] },
] as const;
type SyscallCounts = Record<(typeof SYSCALL_EVENTS)[number]['key'], number>;

/** Counts SYSCALL_EVENTS in `pids` for `seconds` (`perf stat`, bounded by its own `sleep`); null without perf. */
function countSyscalls(pids: number[], seconds: number): Promise<SyscallCounts | null> {
  const args = ['stat', '-x,', ...SYSCALL_EVENTS.flatMap((e) => e.args), '-p', pids.join(','), '--', 'sleep', String(seconds)];
  return new Promise((resolve) => {
    execFile('perf', args, { timeout: (seconds + 10) * 1000, encoding: 'utf8' }, (error, _stdout, stderr) => {
      // One CSV line per event, in the order asked: `count,,event,...` (`<not counted>` is 0).
      const lines = stderr.split('\n').filter((l) => /^[^,]*,[^,]*,(syscalls:|context-switches)/.test(l));
      if (error || lines.length !== SYSCALL_EVENTS.length) {
        log(`bench workers: perf stat gave no counts (${error?.message ?? stderr.trim().slice(0, 200)}); accept/wake-up counts left out`);
        return resolve(null);
      }
      resolve(Object.fromEntries(SYSCALL_EVENTS.map((e, i) => [e.key, Number(lines[i]!.split(',')[0]) || 0])) as SyscallCounts);
    });
  });
}

export async function main(argv: string[]): Promise<void> {
  const { values: opt } = parseArgs({
    args: argv,
    options: {
      quick: { type: 'boolean' },
      rounds: { type: 'string' },
      seconds: { type: 'string' },
      'session-procs': { type: 'string' },
      'hs-procs': { type: 'string' },
      pairs: { type: 'boolean' },
      'no-build': { type: 'boolean' },
    },
    strict: true,
  });
  const quick = opt.quick ?? false;
  const rounds = Number(opt.rounds ?? (quick ? 1 : 3));
  const seconds = Number(opt.seconds ?? (quick ? 1.5 : 3));
  const sessionProcs = Number(opt['session-procs'] ?? 32);
  const hsProcs = Number(opt['hs-procs'] ?? 8);
  for (const [k, v, max] of [['rounds', rounds, 20], ['seconds', seconds, 30], ['session-procs', sessionProcs, 256], ['hs-procs', hsProcs, 256]] as const) {
    if (!Number.isFinite(v) || v <= 0 || v > max) throw new Error(`--${k}: between 1 and ${max}`);
  }
  const watchdog = setTimeout(() => {
    log('bench workers: watchdog: still running after 15 minutes, aborting');
    process.exit(3);
  }, 15 * 60_000);
  watchdog.unref();
  if (!opt['no-build']) {
    log('bench workers: npm run build');
    const b = spawnSync('npm', ['run', 'build', '--silent'], { cwd: ROOT, stdio: ['ignore', 'inherit', 'inherit'] });
    if (b.status !== 0) log('bench workers: warning: the build reported errors; measuring what tsc emitted to dist/');
  }
  buildLoadgen();
  const m = machine();
  const load0 = readFileSync('/proc/loadavg', 'latin1').trim();
  log(`bench workers: ${m.nproc} CPU (${m.cpu}), Node ${process.version}, ${rounds} round(s) of ${seconds} s windows; sessions ${sessionProcs}, handshakes ${hsProcs} generator processes; load average ${load0}`);

  const cleanup: Array<() => Promise<unknown>> = [];
  const running = new Set<Target>();
  const results: Record<string, Record<string, Summary>> = { sessions: {}, handshakes: {} };
  const diagnostics: Record<string, { sessions: number; perWorker: number[]; workerPcts: number[]; masterPct: number; syscalls: SyscallCounts | null; perSession: Record<string, number> | null }> = {};
  try {
    const dir = await makeTempDir('bench-workers');
    cleanup.push(() => removeDir(dir));
    const cert = await generateCert({ dir, type: 'rsa' });
    const dc = await startDovecot({
      users: [{ user: USER, password: PASS }],
      messages: () => [],
      // As bench/run.ts: no fork per login, so that Dovecot stays off the critical path.
      extraConfig: [
        'service imap-login {\n  service_count = 0\n  process_min_avail = 2\n}',
        'service imap {\n  service_count = 0\n  client_limit = 50\n  process_limit = 200\n}',
        'protocol imap {\n  mail_max_userip_connections = 10000\n}',
      ].join('\n'),
    });
    cleanup.push(() => dc.close());
    const auth = spawnDaemon(process.execPath, ['--import', 'tsx', path.join(HERE, 'auth-child.ts'), JSON.stringify({ users: { [USER]: PASS }, backends: { imap: dc.imapPort } })], {
      stdio: ['ignore', 'pipe', 'pipe', 'ipc'],
      cwd: ROOT,
    });
    cleanup.push(() => auth.stop(3000));
    const authPort = await new Promise<number>((resolve, reject) => {
      const timer = setTimeout(() => reject(new Error(`auth server did not start:\n${auth.output()}`)), 20_000);
      auth.child.on('message', (msg: { type: string; port: number }) => {
        if (msg.type !== 'ready') return;
        clearTimeout(timer);
        resolve(msg.port);
      });
    });
    // Dovecot's master (its tree: login and imap processes) and the auth service: the backend's CPU.
    const dovecotPid = Number(readFileSync(path.join(dc.dir, 'run', 'master.pid'), 'latin1').trim());
    const backend = [dovecotPid, auth.child.pid!];

    const plan = [
      { proxy: 'nginx', workers: 1, policy: null },
      { proxy: 'nginx', workers: 2, policy: null },
      { proxy: 'postern', workers: 1, policy: null },
      { proxy: 'postern', workers: 2, policy: 'none' },
      { proxy: 'postern', workers: 2, policy: 'rr' },
    ] as const;
    const start = async (p: (typeof plan)[number], logged: boolean): Promise<Target> => {
      const ports = await freePorts(2);
      const block = mailBlock(authPort, ports[0]!, ports[1]!, cert);
      const t = p.proxy === 'nginx' ? await startNginxWith(p.workers, block, ports, logged) : await startPosternWith(p.workers, p.policy, block, ports, dir, logged);
      running.add(t);
      return t;
    };
    const stop = async (t: Target) => {
      running.delete(t);
      await t.close();
    };
    const targets: Target[] = [];
    for (const p of plan) targets.push(await start(p, false));
    const measured: Array<Target | Pair> = [...targets];
    if (opt.pairs) {
      for (const proxy of ['nginx', 'postern'] as const) {
        const one = async (tag: string): Promise<Target> => {
          const ports = await freePorts(2);
          const block = mailBlock(authPort, ports[0]!, ports[1]!, cert);
          const t = proxy === 'nginx' ? await startNginxWith(1, block, ports, false) : await startPosternWith(1, null, block, ports, dir, false, tag);
          running.add(t);
          targets.push(t);
          return t;
        };
        measured.push({ name: `${proxy} 2x w1`, members: [await one('-a'), await one('-b')] });
      }
    }
    const window = (t: Target | Pair, mode: LoadMode, procs: number) =>
      'members' in t ? measurePair(t, mode, procs, seconds, backend) : measure(t, mode, procs, seconds, backend);

    // Untimed load first: a proxy in service is warm (V8 has compiled Postern's paths).
    log('bench workers: warm-up (not measured)');
    for (const t of targets) {
      // As long per worker for every target: a 2-worker target's workers share its warm-up load.
      await measure(t, 'imap', 8, (quick ? 1 : 2) * t.workers, backend);
      await measure(t, 'full13', 4, 1, backend);
    }

    const runs: Record<string, Record<string, Window[]>> = { sessions: {}, handshakes: {} };
    for (let r = 0; r < rounds; r++) {
      const order = r % 2 === 0 ? measured : [...measured].reverse();
      for (const t of order) {
        const s = await window(t, 'imap', sessionProcs);
        await sleep(300);
        const h = await window(t, 'full13', hsProcs);
        await sleep(300);
        (runs.sessions![t.name] ??= []).push(s);
        (runs.handshakes![t.name] ??= []).push(h);
        const w = (x: Window) => `${x.rate.toFixed(0)}/s ${x.proxyUsPerOp.toFixed(0)} µs, proxy ${x.proxyPct.toFixed(0)}% [${x.workerPcts.map((p) => p.toFixed(0)).join('+')}] gen ${x.genPct.toFixed(0)}% machine ${x.machinePct.toFixed(0)}%`;
        log(`bench workers: round ${r + 1}/${rounds} ${t.name}: sessions ${w(s)}; handshakes ${w(h)}`);
      }
    }
    for (const [figure, byTarget] of Object.entries(runs)) for (const [name, list] of Object.entries(byTarget)) results[figure]![name] = summarize(list);

    // Diagnostic pass: every target again, logging each session (error_log info), so that the
    // sessions each worker accepted can be counted, and with perf counting the accept(2) calls
    // and event-loop wake-ups of its processes. Logging and counting cost CPU: not in the figures.
    for (const t of targets) await stop(t);
    // Pairs are left out: their split is the generator's, not the kernel's.
    for (const p of plan) {
      const t = await start(p, true);
      await measure(t, 'imap', 8, 1, backend); // warm-up
      await sleep(300);
      const before = sessionsByPid(t.errorLog!);
      const counting = countSyscalls([t.pid, ...childrenOf(t.pid)], seconds + 1);
      await sleep(300); // perf attached
      const w = await measure(t, 'imap', sessionProcs, seconds, backend);
      const counts = await counting;
      await sleep(300);
      const perWorker = [...sessionsByPid(t.errorLog!)].map(([pid, n]) => n - (before.get(pid) ?? 0)).sort((a, b) => b - a);
      const perSession = counts && Object.fromEntries(Object.entries(counts).map(([k, n]) => [k, n / Math.max(1, w.ops)]));
      diagnostics[t.name] = { sessions: w.ops, perWorker, workerPcts: w.workerPcts, masterPct: w.masterPct, syscalls: counts, perSession };
      log(`bench workers: ${t.name}, logged: ${w.ops} sessions, per worker ${perWorker.join(' / ')}; per session ${perSession ? Object.entries(perSession).map(([k, v]) => `${k} ${v.toFixed(2)}`).join(', ') : '-'}`);
      await stop(t);
    }
  } finally {
    // The proxies first, then what they stand on.
    await Promise.allSettled([...running].map((t) => t.close()));
    for (const c of cleanup.reverse()) await c().catch((e: Error) => log(`bench workers: cleanup: ${e.message}`));
  }

  const load1 = readFileSync('/proc/loadavg', 'latin1').trim();
  const scaling: Record<string, Record<string, { rate: number; cpuPerOp: number; projected: number; ceiling: number }>> = { sessions: {}, handshakes: {} };
  for (const figure of ['sessions', 'handshakes'] as const) {
    const r = results[figure]!;
    const pairs = [
      ['nginx w2', 'nginx w1'],
      ['nginx 2x w1', 'nginx w1'],
      ['postern w2 none', 'postern w1'],
      ['postern w2 rr', 'postern w1'],
      ['postern 2x w1', 'postern w1'],
    ] as const;
    for (const [two, one] of pairs) {
      const a = r[one];
      const b = r[two];
      if (a && b) scaling[figure]![two] = { rate: b.rate / a.rate, cpuPerOp: b.proxyUsPerOp / a.proxyUsPerOp, projected: projectedScaling(a, b), ceiling: scalingCeiling(a, b, m.nproc) };
    }
  }
  const out = path.join(HERE, 'results');
  mkdirSync(out, { recursive: true });
  writeFileSync(
    path.join(out, 'workers.json'),
    JSON.stringify({ machine: m, node: process.version, loadavg: { before: load0, after: load1 }, quick, rounds, seconds, sessionProcs, hsProcs, results, scaling, diagnostics }, null, 2) + '\n',
  );

  const f = (x: number, d = 0) => (Number.isFinite(x) ? x.toFixed(d) : '-');
  let table = `\nMachine: ${m.nproc} CPU, ${m.cpu}, ${m.memTotalMb} MB RAM, Linux ${m.kernel}; Node ${process.version}; load average before ${load0}, after ${load1}\n`;
  table += `${rounds} round(s), ${seconds} s windows, medians; full IMAP sessions from ${sessionProcs} generator processes, full TLS 1.3 RSA handshakes from ${hsProcs}\n`;
  table += `CPU % is of one core; "workers" lists each worker's % (busiest first); backend = Dovecot + auth_http service\n`;
  for (const figure of ['sessions', 'handshakes'] as const) {
    table += `\n| ${figure} | rate/s (runs) | proxy µs/op | proxy % (master; workers) | generator µs/op, % | backend µs/op, % | machine % (per CPU) | errors |\n|:--|--:|--:|:--|--:|--:|:--|--:|\n`;
    for (const [name, s] of Object.entries(results[figure]!)) {
      table += `| ${name} | ${f(s.rate)} (${s.runs.join(', ')}) | ${f(s.proxyUsPerOp)} | ${f(s.proxyPct)} (${f(s.masterPct)}; ${s.workerPcts.map((p) => f(p)).join(' + ')}) | ${f(s.genUsPerOp)}, ${f(s.genPct)} | ${f(s.backendUsPerOp)}, ${f(s.backendPct)} | ${f(s.machinePct)} (${s.cpuPct.map((p) => f(p)).join(', ')}) | ${s.errors} |\n`;
    }
    table += '\n';
    for (const [name, x] of Object.entries(scaling[figure]!)) {
      table += `${figure} ${name} / w1: rate ${x.rate.toFixed(2)}x, proxy CPU per op ${x.cpuPerOp.toFixed(2)}x; with a core per worker ${x.projected.toFixed(2)}x; ceiling on these ${m.nproc} cores alone ${x.ceiling.toFixed(2)}x\n`;
    }
  }
  table += `\n| diagnostic pass (error_log info) | sessions | per worker | workers' CPU % | accept4 per session (failed) | epoll wake-ups per session | context switches per session |\n|:--|--:|:--|:--|--:|--:|--:|\n`;
  for (const [name, d] of Object.entries(diagnostics)) {
    const ps = d.perSession;
    table += `| ${name} | ${d.sessions} | ${d.perWorker.join(' / ')} | ${d.workerPcts.map((p) => f(p)).join(' + ')} | ${ps ? `${f(ps.accepts!, 2)} (${f(ps.failedAccepts!, 2)})` : '-'} | ${ps ? f(ps.epollWakeups! + ps.epollPwakeups!, 1) : '-'} | ${ps ? f(ps.contextSwitches!, 1) : '-'} |\n`;
  }
  process.stdout.write(`${table}\n`);
  for (const figure of Object.values(results)) for (const [name, s] of Object.entries(figure)) if (s.errors) log(`bench workers: ${name}: ${s.errors} failed, first: ${s.firstError}`);
  log('bench workers: results in bench/results/workers.json');
}

if (process.argv[1] !== undefined && path.resolve(process.argv[1]) === fileURLToPath(import.meta.url)) await main(process.argv.slice(2));
