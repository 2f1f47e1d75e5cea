/**
 * Postern's CPU per TLS handshake (or per full IMAP session) alone, no nginx: a quick A/B for
 * changes on the handshake path, optionally under `node --cpu-prof` with the top frames printed.
 *
 *   npx tsx bench/handshake-cost.ts [--mode sessid12] [--rounds 3] [--seconds 3] [--procs 4]
 *                                   [--cpu-prof] [--perf] [--floor] [--no-build] [--node-flags="--max-semi-space-size=4"]
 *
 * Modes are bench/loadgen.c's (full13, full12, sessid12, ticket12, ticket13, imap). One Postern
 * (dist/, bench/postern-launch.mjs) with an implicit-TLS IMAP server (RSA-2048, tickets on), one
 * with `ssl_session_cache shared:...` and tickets off (sessid12 goes there) and a STARTTLS IMAP
 * server in front of the harness's auth_http server and a one-user Dovecot (imap mode only).
 * After an untimed warm-up, rounds of `--seconds` each print the proxy's and the generator's CPU
 * per operation (utime+stime, /proc). `--floor` measures bench/floor-launch.mjs instead: a bare
 * Node tls.Server with the same certificate that writes a greeting (with a Map as its session
 * cache), what any Node server pays per handshake; with `--mode imap`, bench/floor-session.mjs: the
 * least a Node server does to proxy the same session (same auth service and Dovecot). `--perf`
 * records the server with `perf record -g` during the timed rounds (not the warm-up) and prints
 * where the whole process's CPU went (bench/perf-split.ts): the statechart, Postern's JavaScript,
 * Node's, OpenSSL, the collector, the compiler. Loopback only; every run is bounded in time.
 */
import { spawn, spawnSync } from 'node:child_process';
import { mkdirSync, readdirSync, rmSync, writeFileSync } from 'node:fs';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { parseArgs } from 'node:util';
import { freePorts, generateCert, makeTempDir, removeDir, spawnDaemon, startAuthServer, startDovecot } from '../test/e2e/harness/index.js';
import { buildLoadgen, drive, type LoadMode } from './lib/loadgen.js';
import { PERF_CATEGORIES, splitPerfScript } from './perf-split.js';
import { median, sleep } from './lib/stats.js';
import { summarizeProfile } from './profile-summary.js';

const HERE = path.dirname(fileURLToPath(import.meta.url));
const ROOT = path.resolve(HERE, '..');
const log = (s: string) => process.stderr.write(`${s}\n`);

const { values: opt } = parseArgs({
  options: {
    mode: { type: 'string', default: 'sessid12' },
    rounds: { type: 'string', default: '3' },
    seconds: { type: 'string', default: '3' },
    procs: { type: 'string', default: '4' },
    'cpu-prof': { type: 'boolean', default: false },
    perf: { type: 'boolean', default: false },
    floor: { type: 'boolean', default: false },
    'no-build': { type: 'boolean', default: false },
    'node-flags': { type: 'string' },
  },
  strict: true,
});
const MODE = opt.mode as LoadMode;
const MODES: LoadMode[] = ['full13', 'full12', 'sessid12', 'ticket12', 'ticket13', 'imap'];
if (!MODES.includes(MODE)) throw new Error(`--mode: one of ${MODES.join(', ')}`);
const SECONDS = Math.min(60, Number(opt.seconds));
const PROCS = Math.min(64, Number(opt.procs));

if (!opt['no-build']) spawnSync('npm', ['run', 'build', '--silent'], { cwd: ROOT, stdio: 'inherit' });
buildLoadgen();

const tmp = await makeTempDir('hs-cost');
const cleanup: Array<() => Promise<unknown>> = [() => removeDir(tmp)];
try {
  const cert = await generateCert({ type: 'rsa', dir: path.join(tmp, 'tls'), name: 'rsa', cn: 'bench.test' });
  let authPort = 9; // nothing listens there: the handshake modes never log in
  if (MODE === 'imap') {
    const dc = await startDovecot({ users: [{ user: 'user', password: 'benchpass' }], extraConfig: 'service imap-login {\n  service_count = 0\n}\nservice imap {\n  service_count = 0\n  client_limit = 50\n}\nprotocol imap {\n  mail_max_userip_connections = 10000\n}' });
    cleanup.push(() => dc.close());
    const auth = await startAuthServer({ users: { user: 'benchpass' }, backends: { imap: dc.imapPort } });
    cleanup.push(() => auth.close());
    authPort = auth.port;
  }
  const [imaps, cached, imap] = await freePorts(3);
  const conf = path.join(tmp, 'postern.conf');
  writeFileSync(
    conf,
    `events { worker_connections 4096; }
mail {
    server_name bench.test;
    auth_http 127.0.0.1:${authPort}/auth;
    ssl_certificate ${cert.certPath};
    ssl_certificate_key ${cert.keyPath};
    ssl_protocols TLSv1.2 TLSv1.3;
    server { listen 127.0.0.1:${imaps} ssl; protocol imap; }
    server { listen 127.0.0.1:${cached} ssl; protocol imap; ssl_session_cache shared:BENCH:4m; ssl_session_tickets off; }
    server { listen 127.0.0.1:${imap}; protocol imap; starttls on; }
}
`,
  );
  const profDir = path.join(HERE, 'results', 'profiles');
  if (opt['cpu-prof']) mkdirSync(profDir, { recursive: true });
  const flags = opt['cpu-prof'] ? ['--cpu-prof', '--cpu-prof-dir', profDir] : [];
  // perf names JIT-compiled JavaScript frames from the map file this flag writes (/tmp/perf-PID.map).
  if (opt.perf) flags.push('--perf-basic-prof');
  flags.push(...(opt['node-flags'] ?? '').split(' ').filter(Boolean));
  const floor =
    MODE === 'imap'
      ? [path.join(HERE, 'floor-session.mjs'), cert.certPath, cert.keyPath, String(authPort)]
      : [path.join(HERE, 'floor-launch.mjs'), cert.certPath, cert.keyPath, 'session-cache'];
  const launch = opt.floor ? floor : [path.join(HERE, 'postern-launch.mjs'), conf];
  const daemon = spawnDaemon(process.execPath, [...flags, ...launch], { stdio: ['ignore', 'pipe', 'pipe', 'ipc'], cwd: ROOT });
  const { pid, ports } = await new Promise<{ pid: number; ports: number[] }>((resolve, reject) => {
    const timer = setTimeout(() => reject(new Error(`server did not start:\n${daemon.output()}`)), 20_000);
    daemon.child.on('message', (m: { type: string; pid: number; ports: number[] }) => {
      if (m.type === 'ready') {
        clearTimeout(timer);
        resolve(m);
      }
    });
  });
  const port = opt.floor ? (MODE === 'imap' ? ports[0]! : ports[1]!) : MODE === 'imap' ? imap! : MODE === 'sessid12' ? cached! : imaps!;
  const login = { user: 'user', pass: 'benchpass' };
  await drive(pid, MODE, port, PROCS, 2, 100_000, login); // warm-up
  const perfData = path.join(tmp, 'perf.data');
  const recording = opt.perf ? spawn('perf', ['record', '-q', '-g', '-F', '999', '-p', String(pid), '-o', perfData], { stdio: 'ignore' }) : null;
  if (recording) await sleep(500); // perf attached before the first round
  const proxy: number[] = [];
  const gen: number[] = [];
  for (let r = 0; r < Number(opt.rounds); r++) {
    const d = await drive(pid, MODE, port, PROCS, SECONDS, 100_000, login);
    proxy.push(d.proxyUsPerOp);
    gen.push(d.genUsPerOp);
    log(`${MODE} round ${r + 1}: ${d.rate.toFixed(0)}/s, proxy ${d.proxyUsPerOp.toFixed(0)} µs/op (${d.proxyPct.toFixed(0)}% of a core), generator ${d.genUsPerOp.toFixed(0)} µs/op (${d.genPct.toFixed(0)}%), machine ${d.machinePct.toFixed(0)}% busy, resumed ${d.ops ? ((100 * d.resumed) / d.ops).toFixed(0) : 0}%, errors ${d.errors}${d.firstError ? ` (${d.firstError})` : ''}`);
    await sleep(200);
  }
  if (recording) {
    const stopped = new Promise((resolve) => recording.once('exit', resolve));
    recording.kill('SIGINT');
    await stopped;
    const script = spawnSync('perf', ['script', '-i', perfData, '-F', 'comm,tid,ip,sym,dso'], { encoding: 'latin1', maxBuffer: 1 << 30 });
    rmSync(`/tmp/perf-${pid}.map`, { force: true });
    const split = splitPerfScript(script.stdout);
    process.stdout.write(`perf, the timed rounds (${split.samples} samples), by the JavaScript frame nearest each sample's leaf:\n`);
    for (const c of PERF_CATEGORIES) process.stdout.write(`  ${(100 * split.shares[c]).toFixed(1).padStart(5)}%  ${c}\n`);
  }
  process.stdout.write(`${MODE}${opt.floor ? ' (bare Node floor)' : ''}: proxy CPU per op, median ${median(proxy).toFixed(0)} µs (rounds ${proxy.map((x) => x.toFixed(0)).join(', ')}); generator ${median(gen).toFixed(0)} µs\n`);
  daemon.child.send({ type: 'shutdown' });
  await Promise.race([daemon.exited, sleep(5000).then(() => daemon.stop(2000))]);
  if (opt['cpu-prof']) {
    const newest = readdirSync(profDir).filter((f) => f.endsWith('.cpuprofile')).sort().at(-1);
    if (newest) {
      process.stdout.write(`profile ${path.relative(ROOT, path.join(profDir, newest))}, top frames by self time:\n`);
      for (const fr of summarizeProfile(path.join(profDir, newest), 30)) process.stdout.write(`  ${fr.selfPct.toFixed(1).padStart(5)}%  ${fr.name}  ${fr.where}\n`);
    }
  }
} finally {
  for (const c of cleanup.reverse()) await c().catch(() => undefined);
}
