/**
 * `npm run bench -- workers`: what `worker_processes 2` buys, for Postern and nginx in one run.
 * Five targets, each with its own ports in front of the same Dovecot and auth_http server:
 * nginx `worker_processes 1` and `2` (master + workers), Postern `worker_processes 1` (one
 * process) and `2` with each node:cluster scheduling policy (SCHED_NONE: the workers accept from
 * the shared socket, like nginx; SCHED_RR: the master accepts and hands connections out).
 * Figures: IMAP sessions/s (STARTTLS + LOGIN + LOGOUT, 50 concurrent) and full TLS handshakes/s
 * (implicit TLS, RSA, 64 concurrent), with the CPU of the whole process tree per operation.
 * Rounds alternate the target order. Every loop is bounded in count and time; loopback only.
 *
 *   npm run bench -- workers [--quick] [--rounds N] [--no-build]
 */
import { spawnSync } from 'node:child_process';
import { existsSync, mkdirSync, writeFileSync } from 'node:fs';
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
import { Conn } from './lib/conn.js';
import { machine, median, sleep, treeCpuMs } from './lib/stats.js';

const HERE = path.dirname(fileURLToPath(import.meta.url));
const ROOT = path.resolve(HERE, '..');
const USER = 'user';
const PASS = 'benchpass';
const log = (s: string) => process.stderr.write(`${s}\n`);

interface Target {
  name: string;
  daemon: Daemon;
  /** The master (or only) process; CPU is summed over it and its children. */
  pid: number;
  imap: number;
  imaps: number;
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

async function startNginxWith(workers: number, block: string, ports: number[]): Promise<Target & { close(): Promise<void> }> {
  const prefix = await makeTempDir('ngw');
  const conf = path.join(prefix, 'nginx.conf');
  const text = nginxConf(prefix, { mailBlock: block, masterProcess: true, logLevel: 'warn', events: '    worker_connections 16384;' }).replace(
    'worker_processes 1;',
    `worker_processes ${workers};`,
  );
  writeFileSync(conf, text);
  const daemon = spawnDaemon(NGINX_BIN, ['-p', `${prefix}/`, '-c', conf, '-e', path.join(prefix, 'startup.log'), '-g', 'daemon off;'], { cwd: prefix });
  for (const port of ports) await waitForListen(port, 10_000, daemon.alive);
  await sleep(200); // let the master fork its workers
  return {
    name: `nginx w${workers}`,
    daemon,
    pid: daemon.child.pid!,
    imap: ports[0]!,
    imaps: ports[1]!,
    close: async () => {
      await daemon.stop(5000);
      await removeDir(prefix);
    },
  };
}

async function startPosternWith(workers: number, policy: 'none' | 'rr' | null, block: string, ports: number[], dir: string): Promise<Target> {
  const name = `postern-w${workers}${policy ? `-${policy}` : ''}`;
  const pidFile = path.join(dir, `${name}.pid`);
  const conf = path.join(dir, `${name}.conf`);
  writeFileSync(conf, `worker_processes ${workers};\npid ${pidFile};\nerror_log stderr warn;\nevents { worker_connections 16384; }\n${block}`);
  const env = { ...process.env, ...(policy ? { NODE_CLUSTER_SCHED_POLICY: policy } : {}) };
  const daemon = spawnDaemon(process.execPath, [path.join(ROOT, 'bin/postern.js'), '-c', conf], { cwd: ROOT, env });
  for (const port of ports) await waitForListen(port, 20_000, daemon.alive);
  for (let i = 0; i < 200 && !existsSync(pidFile); i++) await sleep(50);
  if (!existsSync(pidFile)) throw new Error(`${name} did not start:\n${daemon.output()}`);
  return { name: `postern w${workers}${policy ? ` ${policy}` : ''}`, daemon, pid: daemon.child.pid!, imap: ports[0]!, imaps: ports[1]! };
}

interface Measure {
  rate: number;
  errors: number;
  cpuUsPerOp: number;
}

/** Runs `one` from `concurrency` loops for `ms` (at most `max` operations). */
async function measure(t: Target, ms: number, max: number, concurrency: number, one: () => Promise<void>): Promise<Measure> {
  let count = 0;
  let errors = 0;
  const cpu0 = treeCpuMs(t.pid);
  const start = performance.now();
  const deadline = start + ms;
  const loop = async () => {
    while (performance.now() < deadline && count + errors < max) {
      try {
        await one();
        count++;
      } catch {
        if (++errors > 50) throw new Error(`${t.name}: too many failures`);
      }
    }
  };
  await Promise.all(Array.from({ length: concurrency }, loop));
  const elapsed = performance.now() - start;
  return { rate: count / (elapsed / 1000), errors, cpuUsPerOp: ((treeCpuMs(t.pid) - cpu0) * 1000) / Math.max(1, count) };
}

async function imapSession(port: number): Promise<void> {
  const conn = await Conn.open(port);
  try {
    await conn.readLine();
    conn.write('s STARTTLS\r\n');
    await conn.tagged('s');
    await conn.startTls();
    conn.write(`l LOGIN ${USER} ${PASS}\r\n`);
    await conn.tagged('l');
    conn.write('o LOGOUT\r\n');
    await conn.tagged('o');
  } finally {
    conn.destroy();
  }
}

async function handshake(port: number): Promise<void> {
  const conn = await Conn.open(port, { tls: true });
  try {
    await conn.readLine(); // the greeting: the server side of the handshake is complete
  } finally {
    conn.destroy();
  }
}

export async function main(argv: string[]): Promise<void> {
  const { values: opt } = parseArgs({ args: argv, options: { quick: { type: 'boolean' }, rounds: { type: 'string' }, 'no-build': { type: 'boolean' } }, strict: true });
  const quick = opt.quick ?? false;
  const rounds = Number(opt.rounds ?? (quick ? 1 : 3));
  const ms = quick ? 1000 : 2000;
  const watchdog = setTimeout(() => {
    log('bench workers: watchdog: still running after 10 minutes, aborting');
    process.exit(3);
  }, 10 * 60_000);
  watchdog.unref();
  if (!opt['no-build']) {
    log('bench workers: npm run build');
    const b = spawnSync('npm', ['run', 'build', '--silent'], { cwd: ROOT, stdio: ['ignore', 'inherit', 'inherit'] });
    if (b.status !== 0) log('bench workers: warning: the build reported errors; measuring what tsc emitted to dist/');
  }
  const m = machine();
  log(`bench workers: ${m.nproc} CPU (${m.cpu}), Node ${process.version}, ${rounds} round(s) of ${ms} ms per figure`);

  const cleanup: Array<() => Promise<unknown>> = [];
  const results: Record<string, Record<string, Measure & { runs: number[] }>> = { sessions: {}, handshakes: {} };
  try {
    const dir = await makeTempDir('bench-workers');
    cleanup.push(() => removeDir(dir));
    const cert = await generateCert({ dir, type: 'rsa' });
    const dc = await startDovecot({
      users: [{ user: USER, password: PASS }],
      messages: () => [],
      extraConfig: ['service imap-login {\n  service_count = 0\n  process_min_avail = 2\n}', 'protocol imap {\n  mail_max_userip_connections = 1000\n}'].join('\n'),
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

    const targets: Target[] = [];
    const portsFor = async () => freePorts(2);
    for (const workers of [1, 2]) {
      const ports = await portsFor();
      const ng = await startNginxWith(workers, mailBlock(authPort, ports[0]!, ports[1]!, cert), ports);
      cleanup.push(() => ng.close());
      targets.push(ng);
    }
    for (const [workers, policy] of [[1, null], [2, 'none'], [2, 'rr']] as const) {
      const ports = await portsFor();
      const t = await startPosternWith(workers, policy, mailBlock(authPort, ports[0]!, ports[1]!, cert), ports, dir);
      cleanup.push(() => t.daemon.stop(5000));
      targets.push(t);
    }

    const runs: Record<string, Record<string, Measure[]>> = { sessions: {}, handshakes: {} };
    for (let r = 0; r < rounds; r++) {
      const order = r % 2 === 0 ? targets : [...targets].reverse();
      for (const t of order) {
        log(`bench workers: round ${r + 1}/${rounds}: ${t.name}`);
        (runs.sessions![t.name] ??= []).push(await measure(t, ms, 20_000, 50, () => imapSession(t.imap)));
        await sleep(300);
        (runs.handshakes![t.name] ??= []).push(await measure(t, ms, 50_000, 64, () => handshake(t.imaps)));
        await sleep(300);
      }
    }
    for (const [figure, byTarget] of Object.entries(runs)) {
      for (const [name, list] of Object.entries(byTarget)) {
        results[figure]![name] = {
          rate: median(list.map((x) => x.rate)),
          errors: list.reduce((s, x) => s + x.errors, 0),
          cpuUsPerOp: median(list.map((x) => x.cpuUsPerOp)),
          runs: list.map((x) => Math.round(x.rate)),
        };
      }
    }
  } finally {
    for (const c of cleanup.reverse()) await c().catch((e: Error) => log(`bench workers: cleanup: ${e.message}`));
  }

  const out = path.join(HERE, 'results');
  mkdirSync(out, { recursive: true });
  writeFileSync(path.join(out, 'workers.json'), JSON.stringify({ machine: m, node: process.version, quick, rounds, ms, results }, null, 2) + '\n');
  let table = `\n| target | sessions/s | CPU us/session | handshakes/s | CPU us/handshake |\n|:--|--:|--:|--:|--:|\n`;
  for (const name of Object.keys(results.sessions!)) {
    const s = results.sessions![name]!;
    const h = results.handshakes![name]!;
    table += `| ${name} | ${s.rate.toFixed(0)} | ${s.cpuUsPerOp.toFixed(0)} | ${h.rate.toFixed(0)} | ${h.cpuUsPerOp.toFixed(0)} |\n`;
  }
  process.stdout.write(table);
  log('bench workers: results in bench/results/workers.json');
}

if (process.argv[1] !== undefined && path.resolve(process.argv[1]) === fileURLToPath(import.meta.url)) await main(process.argv.slice(2));
