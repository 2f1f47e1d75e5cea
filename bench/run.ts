/**
 * `npm run bench`: Postern beside the real nginx 1.22.1 mail proxy, same `mail { }` block, same
 * Dovecot backend and auth_http server, in one run. Runs alternate between the proxies so that
 * machine noise hits both alike; the table shows medians and the ratio Postern / nginx.
 *
 *   npm run bench                      full run (~5-6 minutes)
 *   npm run bench -- --quick           ~1 minute, fewer rounds and connections
 *   npm run bench -- --only relay,memory
 *   npm run bench -- --only edge       one hostile client: the non-reader and the NOOP flood (bench/edge.ts)
 *   npm run bench -- --rounds 7 --pin  (pin the proxies to CPU 1, everything else to CPU 0)
 *   npm run bench -- --cpu-prof --only relay   Postern under --cpu-prof, top frames printed
 *   npm run bench -- --no-build        use dist/ as it is
 *
 * Every loop is bounded in count and time; everything listens on and talks to 127.0.0.1.
 * Results: bench/results/latest.json (and a copy named by date).
 */
import { execFileSync, spawnSync } from 'node:child_process';
import { mkdirSync, readdirSync, writeFileSync } from 'node:fs';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { parseArgs } from 'node:util';
import tlsMod from 'node:tls';
import type tls from 'node:tls';
import {
  freePorts,
  generateCert,
  makeTempDir,
  removeDir,
  spawnDaemon,
  startDovecot,
  startNginx,
  type Daemon,
  type DovecotHandle,
  type NginxHandle,
  type SeedMessage,
} from '../test/e2e/harness/index.js';
import { Conn, imapTaggedEnd, pop3End } from './lib/conn.js';
import { cpuMs, machine, median, percentile, pool, rssKb, sleep } from './lib/stats.js';
import { summarizeProfile } from './profile-summary.js';
import { measureJournalOverhead } from './journal-overhead.js';
import { measureObservabilityOverhead } from './observability-overhead.js';
import { edgePhase, NON_READER_RSS_CAP_KB } from './edge.js';

const HERE = path.dirname(fileURLToPath(import.meta.url));
const ROOT = path.resolve(HERE, '..');
const RESULTS = path.join(HERE, 'results');

// ---------------------------------------------------------------------------------------------
// Options

if (process.argv[2] === 'workers') await import('./workers.js').then((w) => w.main(process.argv.slice(3))).then(() => process.exit(0));

const { values: opt } = parseArgs({
  options: {
    quick: { type: 'boolean', default: false },
    only: { type: 'string' },
    rounds: { type: 'string' },
    pin: { type: 'boolean', default: false },
    'cpu-prof': { type: 'boolean', default: false },
    'no-build': { type: 'boolean', default: false },
    out: { type: 'string' },
  },
  strict: true,
});

const QUICK = opt.quick ?? false;
const PHASES = ['relay', 'sessions', 'handshakes', 'memory', 'journal', 'observability', 'edge'] as const;
type Phase = (typeof PHASES)[number];
const only = new Set((opt.only ?? PHASES.join(',')).split(',').map((s) => s.trim()));
for (const p of only) if (!PHASES.includes(p as Phase)) throw new Error(`--only: unknown phase ${p} (${PHASES.join(', ')})`);
const want = (p: Phase) => only.has(p);

const P = {
  rounds: Number(opt.rounds ?? (QUICK ? 2 : 5)),
  messageBytes: 10_000_000,
  fetchesPerRun: QUICK ? 2 : 3,
  sessionMs: QUICK ? 1200 : 2500,
  sessionMax: 20_000,
  handshakeMs: QUICK ? 800 : 1500,
  handshakeMax: 50_000,
  handshakeConcurrency: 64,
  memoryLevels: QUICK ? [500, 2000] : [2000, 10_000],
  memoryOpenConcurrency: 64,
  holdMs: QUICK ? 1000 : 3000,
  warmMs: QUICK ? 1000 : 2000,
  roundsSessions: Number(opt.rounds ?? (QUICK ? 2 : 3)),
  roundsHandshakes: Number(opt.rounds ?? (QUICK ? 2 : 3)),
  roundsEdge: Number(opt.rounds ?? 2),
  nonReaderMs: QUICK ? 5000 : 10_000,
  edgeLogin: { ms: QUICK ? 1500 : 3000, min: 5, max: 5000 },
};
/** Hard cap on the whole run. */
const WATCHDOG_MS = QUICK ? 5 * 60_000 : 15 * 60_000;

const log = (s: string) => process.stderr.write(`${s}\n`);

// ---------------------------------------------------------------------------------------------
// Fixtures

const BULK_USER = 'bulk';
const USER = 'user';
const PASS = 'benchpass';

/** ~10 MB message of 76-character lines (deterministic). */
function bigMessage(bytes: number): SeedMessage {
  const head =
    'From: Bench <bench@example.com>\nTo: bulk@example.com\nSubject: 10 MB\n' +
    'Date: Mon, 01 Jan 2024 10:00:00 +0000\nMessage-ID: <big@example.com>\nMIME-Version: 1.0\n' +
    'Content-Type: text/plain; charset=us-ascii\n\n';
  const alphabet = 'ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/ABCDEFGHIJKLMNOPQRST';
  const lines: string[] = [];
  // Dovecot serves LF files with CRLF: 78 bytes per line on the wire.
  const n = Math.ceil((bytes - head.length) / 78);
  for (let i = 0; i < n; i++) lines.push(`${String(i).padStart(8, '0')}${alphabet.slice(8, 76)}`);
  return { raw: head + lines.join('\n') + '\n' };
}

type Key = 'imap' | 'imaps' | 'imapsEc' | 'imapsCache' | 'pop3' | 'pop3s';
const KEYS: Key[] = ['imap', 'imaps', 'imapsEc', 'imapsCache', 'pop3', 'pop3s'];

/** The one mail block. `{{sessionCache}}` holds directives Postern may not support yet. */
const TEMPLATE = `mail {
    server_name bench.test;
    auth_http {{auth}}/auth;
    timeout 10m;

    ssl_certificate {{rsaCert}};
    ssl_certificate_key {{rsaKey}};
    ssl_protocols TLSv1.2 TLSv1.3;

    server {
        listen 127.0.0.1:{{imap}};
        protocol imap;
        starttls on;
    }
    server {
        listen 127.0.0.1:{{imaps}} ssl;
        protocol imap;
    }
    server {
        listen 127.0.0.1:{{imapsEc}} ssl;
        protocol imap;
        ssl_certificate {{ecCert}};
        ssl_certificate_key {{ecKey}};
    }
    server {
        listen 127.0.0.1:{{imapsCache}} ssl;
        protocol imap;
{{sessionCache}}
    }
    server {
        listen 127.0.0.1:{{pop3}};
        protocol pop3;
        starttls on;
    }
    server {
        listen 127.0.0.1:{{pop3s}} ssl;
        protocol pop3;
    }
}
`;
const SESSION_CACHE = '        ssl_session_cache shared:BENCH:4m;\n        ssl_session_tickets off;';

function fill(vars: Record<string, string | number>): string {
  return TEMPLATE.replace(/\{\{(\w+)\}\}/g, (_m, k: string) => {
    if (!(k in vars)) throw new Error(`mail block: no value for ${k}`);
    return String(vars[k]);
  });
}

// ---------------------------------------------------------------------------------------------
// Processes

interface Target {
  name: 'nginx' | 'postern';
  pid: number;
  ports: Record<Key, number>;
}

interface PosternProc {
  daemon: Daemon;
  pid: number;
  request<T>(msg: Record<string, unknown>, type: string): Promise<T>;
  send(msg: Record<string, unknown>): void;
  shutdown(): Promise<void>;
}

async function startPostern(confPath: string, nodeFlags: string[]): Promise<PosternProc> {
  const daemon = spawnDaemon(process.execPath, [...nodeFlags, path.join(HERE, 'postern-launch.mjs'), confPath], {
    stdio: ['ignore', 'pipe', 'pipe', 'ipc'],
    cwd: ROOT,
  });
  const child = daemon.child;
  let seq = 0;
  const pending = new Map<number, (m: Record<string, unknown>) => void>();
  const ready = new Promise<{ pid: number }>((resolve, reject) => {
    const timer = setTimeout(() => reject(new Error(`postern did not start:\n${daemon.output()}`)), 20_000);
    child.on('message', (m: Record<string, unknown>) => {
      if (m.type === 'ready') {
        clearTimeout(timer);
        resolve({ pid: Number(m.pid) });
      } else if (typeof m.id === 'number') {
        pending.get(m.id)?.(m);
        pending.delete(m.id);
      }
    });
    void daemon.exited.then(() => reject(new Error(`postern exited:\n${daemon.output()}`)));
  });
  const { pid } = await ready;
  return {
    daemon,
    pid,
    send: (m) => child.send(m),
    request<T>(m: Record<string, unknown>, _type: string) {
      const id = ++seq;
      return new Promise<T>((resolve, reject) => {
        const timer = setTimeout(() => reject(new Error(`postern: no answer to ${String(m.type)}`)), 10_000);
        pending.set(id, (r) => {
          clearTimeout(timer);
          resolve(r as T);
        });
        child.send({ ...m, id });
      });
    },
    async shutdown() {
      if (!daemon.alive()) return;
      child.send({ type: 'shutdown' });
      const t = new Promise<'t'>((r) => setTimeout(() => r('t'), 8000).unref());
      if ((await Promise.race([daemon.exited.then(() => 'e' as const), t])) === 't') await daemon.stop(2000);
    },
  };
}

async function startAuthChild(backends: Record<string, number>): Promise<{ daemon: Daemon; port: number }> {
  const users = { [BULK_USER]: PASS, [USER]: PASS };
  const daemon = spawnDaemon(process.execPath, ['--import', 'tsx', path.join(HERE, 'auth-child.ts'), JSON.stringify({ users, backends })], {
    stdio: ['ignore', 'pipe', 'pipe', 'ipc'],
    cwd: ROOT,
  });
  const port = await new Promise<number>((resolve, reject) => {
    const timer = setTimeout(() => reject(new Error(`auth server did not start:\n${daemon.output()}`)), 20_000);
    daemon.child.on('message', (m: { type: string; port: number }) => {
      if (m.type === 'ready') {
        clearTimeout(timer);
        resolve(m.port);
      }
    });
  });
  return { daemon, port };
}

function pin(pid: number, cpu: number): void {
  execFileSync('taskset', ['-a', '-p', '-c', String(cpu), String(pid)], { stdio: 'ignore' });
}

// ---------------------------------------------------------------------------------------------
// 1. Relay throughput

type RelayVariant = 'imap-plain' | 'imap-starttls' | 'imap-tls' | 'pop3-plain' | 'pop3-tls';
const RELAY_VARIANTS: RelayVariant[] = ['imap-plain', 'imap-starttls', 'imap-tls', 'pop3-plain', 'pop3-tls'];

interface RelayRun {
  mbps: number[];
  bytes: number;
  cpuMsPerMb: number | null;
}

function relayPort(v: RelayVariant, t: Target | 'direct', dc: DovecotHandle): number {
  if (t === 'direct') {
    switch (v) {
      case 'imap-plain':
      case 'imap-starttls':
        return dc.imapPort;
      case 'imap-tls':
        return dc.imapsPort!;
      case 'pop3-plain':
        return dc.pop3Port;
      case 'pop3-tls':
        return dc.pop3sPort!;
    }
  }
  return { 'imap-plain': t.ports.imap, 'imap-starttls': t.ports.imap, 'imap-tls': t.ports.imaps, 'pop3-plain': t.ports.pop3, 'pop3-tls': t.ports.pop3s }[v];
}

async function relayRun(v: RelayVariant, t: Target | 'direct', dc: DovecotHandle, fetches: number): Promise<RelayRun> {
  const imap = v.startsWith('imap');
  const conn = await Conn.open(relayPort(v, t, dc), { tls: v.endsWith('-tls') });
  try {
    await conn.readLine();
    if (v === 'imap-starttls') {
      conn.write('s STARTTLS\r\n');
      await conn.tagged('s');
      await conn.startTls();
    }
    if (imap) {
      conn.write(`l LOGIN ${BULK_USER} ${PASS}\r\n`);
      await conn.tagged('l');
      conn.write('x EXAMINE INBOX\r\n');
      await conn.tagged('x');
    } else {
      conn.write(`USER ${BULK_USER}\r\n`);
      await conn.ok();
      conn.write(`PASS ${PASS}\r\n`);
      await conn.ok();
    }
    const fetch = (i: number) =>
      imap ? conn.bulkRead(`f${i} FETCH 1 BODY.PEEK[]\r\n`, imapTaggedEnd(`f${i}`)) : conn.bulkRead('RETR 1\r\n', pop3End);
    await fetch(0); // warm-up: page cache, Dovecot's index, the proxy's JIT
    const pid = t === 'direct' ? undefined : t.pid;
    const cpu0 = pid ? cpuMs(pid) : 0;
    const mbps: number[] = [];
    let bytes = 0;
    for (let i = 1; i <= fetches; i++) {
      const t0 = performance.now();
      const n = await fetch(i);
      const dt = performance.now() - t0;
      if (n < P.messageBytes * 0.9) throw new Error(`${v}: short fetch (${n} bytes)`);
      bytes += n;
      mbps.push(n / 1e6 / (dt / 1000));
    }
    const cpu1 = pid ? cpuMs(pid) : 0;
    conn.write(imap ? 'z LOGOUT\r\n' : 'QUIT\r\n');
    await conn.quit('');
    return { mbps, bytes, cpuMsPerMb: pid ? (cpu1 - cpu0) / (bytes / 1e6) : null };
  } finally {
    conn.destroy();
  }
}

// ---------------------------------------------------------------------------------------------
// 2. Sessions per second

interface SessionResult {
  rate: number;
  count: number;
  errors: number;
  greet: number[];
  login: number[];
  cpuUsPerSession: number;
}

async function oneSession(port: number, greet: number[], login: number[]): Promise<void> {
  const t0 = performance.now();
  const conn = await Conn.open(port);
  try {
    await conn.readLine();
    greet.push(performance.now() - t0);
    conn.write('s STARTTLS\r\n');
    await conn.tagged('s');
    await conn.startTls();
    const t1 = performance.now();
    conn.write(`l LOGIN ${USER} ${PASS}\r\n`);
    await conn.tagged('l');
    login.push(performance.now() - t1);
    conn.write('o LOGOUT\r\n');
    await conn.tagged('o');
  } finally {
    conn.destroy();
  }
}

async function sessions(t: Target, concurrency: number, durationMs = P.sessionMs): Promise<SessionResult> {
  const greet: number[] = [];
  const login: number[] = [];
  let count = 0;
  let errors = 0;
  const cpu0 = cpuMs(t.pid);
  const start = performance.now();
  const deadline = start + durationMs;
  const worker = async () => {
    while (performance.now() < deadline && count + errors < P.sessionMax) {
      try {
        await oneSession(t.ports.imap, greet, login);
        count++;
      } catch {
        errors++;
        if (errors > 50) throw new Error(`${t.name}: too many failed sessions`);
      }
    }
  };
  await Promise.all(Array.from({ length: concurrency }, worker));
  const elapsed = performance.now() - start;
  const cpu = cpuMs(t.pid) - cpu0;
  return { rate: count / (elapsed / 1000), count, errors, greet, login, cpuUsPerSession: (cpu * 1000) / Math.max(1, count) };
}

// ---------------------------------------------------------------------------------------------
// 3. TLS handshakes per second

type HsVariant = 'rsa-full' | 'rsa-resumed' | 'ecdsa-full' | 'ecdsa-resumed' | 'rsa-tls12-full' | 'rsa-tls12-sessionid';
const HS_VARIANTS: HsVariant[] = ['rsa-full', 'rsa-resumed', 'ecdsa-full', 'ecdsa-resumed', 'rsa-tls12-full', 'rsa-tls12-sessionid'];

const TLS12_CONTEXT = tlsMod.createSecureContext({ maxVersion: 'TLSv1.2' });

interface HsResult {
  rate: number;
  count: number;
  resumed: number;
  errors: number;
  cpuUsPerHandshake: number;
  protocol: string;
}

async function handshakes(t: Target, v: HsVariant): Promise<HsResult> {
  const port = v.startsWith('ecdsa') ? t.ports.imapsEc : v === 'rsa-tls12-sessionid' ? t.ports.imapsCache : t.ports.imaps;
  const resume = v.endsWith('resumed') || v.endsWith('sessionid');
  // One context per variant (a TLS 1.2 cap lives in the context).
  const base: tls.ConnectionOptions = v.includes('tls12') ? { secureContext: TLS12_CONTEXT, maxVersion: 'TLSv1.2' } : {};
  let count = 0;
  let resumed = 0;
  let errors = 0;
  let protocol = '';
  /** One handshake; `prime`: wait (bounded) for a ticket to resume from later. */
  const one = async (session: Buffer | undefined, onSession: (s: Buffer) => void, prime = false): Promise<boolean> => {
    const conn = await Conn.open(port, { tls: true, tlsOptions: { ...base, ...(session ? { session } : {}) } });
    const sock = conn.sock as tls.TLSSocket;
    let got = false;
    sock.on('session', (s: Buffer) => {
      got = true;
      onSession(s);
    });
    try {
      await conn.readLine(); // the greeting: the server side of the handshake is complete
      protocol = sock.getProtocol() ?? '';
      if (protocol !== 'TLSv1.3') {
        // TLS 1.2: the session (ID or ticket) is known once the handshake is done.
        const s = sock.getSession();
        if (s) onSession(s);
      } else if (prime) {
        // TLS 1.3 tickets come as 'session' events, possibly after the greeting was read.
        for (let i = 0; i < 100 && !got; i++) await sleep(10);
      }
      return sock.isSessionReused();
    } finally {
      conn.destroy();
    }
  };
  const cpu0 = cpuMs(t.pid);
  const start = performance.now();
  const deadline = start + P.handshakeMs;
  const worker = async () => {
    let session: Buffer | undefined;
    const keep = (s: Buffer) => (session = s);
    if (resume) await one(undefined, keep, true); // priming connection, not counted (nor timed: it is one in thousands)
    while (performance.now() < deadline && count + errors < P.handshakeMax) {
      try {
        if (await one(resume ? session : undefined, keep)) resumed++;
        count++;
      } catch {
        errors++;
        if (errors > 50) throw new Error(`${t.name} ${v}: too many failed handshakes`);
      }
    }
  };
  await Promise.all(Array.from({ length: P.handshakeConcurrency }, worker));
  const elapsed = performance.now() - start;
  const cpu = cpuMs(t.pid) - cpu0;
  return { rate: count / (elapsed / 1000), count, resumed, errors, cpuUsPerHandshake: (cpu * 1000) / Math.max(1, count), protocol };
}

// ---------------------------------------------------------------------------------------------
// 4. Memory with idle connections

interface MemResult {
  rssKb: Record<string, number>;
  kbPerConn: Record<string, number>;
  eldHeldP99Ms?: number;
  eldHeldMaxMs?: number;
  eldOpeningP99Ms?: number;
  openRate: number;
}

async function memory(t: Target, mode: 'plain' | 'tls', postern: PosternProc | undefined): Promise<MemResult> {
  const port = mode === 'plain' ? t.ports.imap : t.ports.imapsEc;
  const conns: Conn[] = [];
  const rss: Record<string, number> = {};
  const per: Record<string, number> = {};
  const res: MemResult = { rssKb: rss, kbPerConn: per, openRate: 0 };
  await sleep(1500); // let the previous phase's connections be reaped
  rss['0'] = rssKb(t.pid);
  const openStart = performance.now();
  try {
    if (postern) postern.send({ type: 'eld-start' });
    for (const level of P.memoryLevels) {
      const need = level - conns.length;
      const opened = await pool(need, P.memoryOpenConcurrency, async () => {
        const c = await Conn.open(port, { tls: mode === 'tls', timeoutMs: 30_000 });
        await c.readLine(30_000);
        return c;
      });
      conns.push(...opened);
      if (level === P.memoryLevels[P.memoryLevels.length - 1]) {
        res.openRate = conns.length / ((performance.now() - openStart) / 1000);
        if (postern) {
          const e = await postern.request<{ p99: number }>({ type: 'eld-stop' }, 'eld');
          res.eldOpeningP99Ms = e.p99;
          postern.send({ type: 'eld-start' });
        }
      }
      await sleep(P.holdMs);
      rss[String(level)] = rssKb(t.pid);
      per[String(level)] = (rss[String(level)]! - rss['0']!) / level;
    }
    if (postern) {
      const e = await postern.request<{ p99: number; max: number }>({ type: 'eld-stop' }, 'eld');
      res.eldHeldP99Ms = e.p99;
      res.eldHeldMaxMs = e.max;
    }
    // Every held connection must still be alive (not timed out by the proxy).
    const alive = conns.filter((c) => !c.sock.destroyed).length;
    if (alive !== conns.length) log(`  warning: ${conns.length - alive} of ${conns.length} idle connections were closed`);
  } finally {
    for (const c of conns) c.destroy();
  }
  return res;
}

// ---------------------------------------------------------------------------------------------
// Main

async function main(): Promise<void> {
  const started = Date.now();
  const watchdog = setTimeout(() => {
    log(`bench: watchdog: still running after ${WATCHDOG_MS / 60_000} minutes, aborting`);
    process.exit(3);
  }, WATCHDOG_MS);
  watchdog.unref();

  const m = machine();
  if (opt.pin && m.nproc >= 2) pin(process.pid, 0);
  if (!opt['no-build']) {
    log('bench: npm run build');
    const b = spawnSync('npm', ['run', 'build', '--silent'], { cwd: ROOT, stdio: ['ignore', 'inherit', 'inherit'] });
    if (b.status !== 0) log('bench: warning: the build reported errors; measuring what tsc emitted to dist/');
  }
  const { parseConfigText } = (await import(path.join(ROOT, 'dist/src/config/index.js'))) as {
    parseConfigText: (t: string, f: string) => unknown;
  };
  const versions = {
    node: process.version,
    nginx: spawnSync('/usr/sbin/nginx', ['-v'], { encoding: 'utf8' }).stderr.trim().replace('nginx version: ', ''),
    openssl: spawnSync('openssl', ['version'], { encoding: 'utf8' }).stdout.trim(),
    nodeOpenssl: process.versions.openssl,
    dovecot: spawnSync('/usr/sbin/dovecot', ['--version'], { encoding: 'utf8' }).stdout.trim(),
  };
  log(`bench: ${m.nproc} CPU (${m.cpu}), Node ${versions.node}, nginx ${versions.nginx}, ${QUICK ? 'quick' : 'full'} run`);

  const cleanup: Array<() => Promise<unknown>> = [];
  const notes: string[] = [];
  const results: Record<string, unknown> = {
    machine: m,
    versions,
    options: { quick: QUICK, rounds: P.rounds, pinned: !!opt.pin, only: [...only], params: P, cpuProf: !!opt['cpu-prof'] },
    startedAt: new Date(started).toISOString(),
    notes,
  };

  try {
    const tmp = await makeTempDir('bench');
    cleanup.push(() => removeDir(tmp));
    const [rsa, ec] = await Promise.all([
      generateCert({ type: 'rsa', dir: path.join(tmp, 'tls'), name: 'rsa', cn: 'bench.test' }),
      generateCert({ type: 'ec', dir: path.join(tmp, 'tls'), name: 'ec', cn: 'bench.test' }),
    ]);

    log('bench: starting Dovecot');
    const dc = await startDovecot({
      users: [
        { user: BULK_USER, password: PASS },
        { user: USER, password: PASS },
      ],
      messages: (u) => (u === BULK_USER ? [bigMessage(P.messageBytes)] : []),
      ssl: true,
      cert: rsa,
      // High-performance login processes and room for 50+ concurrent sessions of one user.
      extraConfig: [
        'service imap-login {\n  service_count = 0\n  process_min_avail = 2\n}',
        'service pop3-login {\n  service_count = 0\n  process_min_avail = 1\n}',
        'protocol imap {\n  mail_max_userip_connections = 1000\n}',
        'protocol pop3 {\n  mail_max_userip_connections = 1000\n}',
      ].join('\n'),
    });
    cleanup.push(() => dc.close());

    const auth = await startAuthChild({ imap: dc.imapPort, pop3: dc.pop3Port });
    cleanup.push(() => auth.daemon.stop(3000));

    const ports = await freePorts(KEYS.length * 2);
    const portsOf = (i: number) => Object.fromEntries(KEYS.map((k, j) => [k, ports[i * KEYS.length + j]!])) as Record<Key, number>;
    const nPorts = portsOf(0);
    const pPorts = portsOf(1);
    const common = { auth: `127.0.0.1:${auth.port}`, rsaCert: rsa.certPath, rsaKey: rsa.keyPath, ecCert: ec.certPath, ecKey: ec.keyPath };
    const nginxBlock = fill({ ...common, ...nPorts, sessionCache: SESSION_CACHE });
    let posternBlock = fill({ ...common, ...pPorts, sessionCache: SESSION_CACHE });
    try {
      parseConfigText(posternBlock, path.join(tmp, 'postern.conf'));
    } catch (error) {
      const msg = (error as Error).message;
      notes.push(`Postern rejects the session-cache server's directives (${msg}); its copy of the block omits ssl_session_cache/ssl_session_tickets.`);
      posternBlock = fill({ ...common, ...pPorts, sessionCache: '' });
    }
    const confPath = path.join(tmp, 'postern.conf');
    // The memory phase holds thousands of idle connections: the same pool as nginx's events { }.
    writeFileSync(confPath, `events { worker_connections 16384; }\n${posternBlock}`);
    writeFileSync(path.join(tmp, 'nginx-mail.conf'), nginxBlock);

    log('bench: starting nginx and Postern');
    const profDir = path.join(RESULTS, 'profiles');
    const nodeFlags = opt['cpu-prof'] ? ['--cpu-prof', '--cpu-prof-dir', profDir] : [];
    if (opt['cpu-prof']) mkdirSync(profDir, { recursive: true });
    const profStart = Date.now();
    let ng!: NginxHandle;
    let postern!: PosternProc;
    const N: Target = { name: 'nginx', pid: 0, ports: nPorts };
    const Pn: Target = { name: 'postern', pid: 0, ports: pPorts };
    /** (Re)starts both proxies: the memory phase measures each from a fresh process. */
    const startProxies = async () => {
      ng = await startNginx({
        mailBlock: nginxBlock,
        events: '    worker_connections 16384;',
        // Session lines are logged at info; both proxies run without per-session logging.
        logLevel: 'warn',
      });
      postern = await startPostern(confPath, nodeFlags);
      N.pid = ng.pid!;
      Pn.pid = postern.pid;
      if (opt.pin && m.nproc >= 2) {
        pin(ng.pid!, 1);
        pin(postern.pid, 1);
      }
    };
    const stopProxies = async () => {
      await Promise.allSettled([ng?.close(), postern?.shutdown()]);
    };
    await startProxies();
    cleanup.push(stopProxies);
    const targets = [N, Pn];
    const order = (r: number) => (r % 2 === 0 ? targets : [...targets].reverse());

    // ---- 1. relay + 5. CPU per MB
    if (want('relay')) {
      const relay: Record<string, Record<string, { mbps: number[]; cpuMsPerMb: number[] }>> = {};
      for (const v of RELAY_VARIANTS) relay[v] = { nginx: { mbps: [], cpuMsPerMb: [] }, postern: { mbps: [], cpuMsPerMb: [] }, direct: { mbps: [], cpuMsPerMb: [] } };
      for (let r = 0; r < P.rounds; r++) {
        log(`bench: relay round ${r + 1}/${P.rounds}`);
        for (const v of RELAY_VARIANTS) {
          const seq: Array<Target | 'direct'> = r % 3 === 0 ? [N, Pn, 'direct'] : r % 3 === 1 ? [Pn, 'direct', N] : ['direct', N, Pn];
          for (const t of seq) {
            const name = t === 'direct' ? 'direct' : t.name;
            const run = await relayRun(v, t, dc, P.fetchesPerRun);
            relay[v]![name]!.mbps.push(median(run.mbps));
            if (run.cpuMsPerMb !== null) relay[v]![name]!.cpuMsPerMb.push(run.cpuMsPerMb);
          }
        }
      }
      results.relay = Object.fromEntries(
        Object.entries(relay).map(([v, byT]) => [
          v,
          Object.fromEntries(
            Object.entries(byT).map(([t, x]) => [t, { mbps: median(x.mbps), cpuMsPerMb: x.cpuMsPerMb.length ? median(x.cpuMsPerMb) : null, runs: x.mbps }]),
          ),
        ]),
      );
    }

    /**
     * Untimed sessions (8 at a time) against each proxy before the sessions and handshake
     * phases: a proxy in service is warm, and without this Postern's first rounds measure V8
     * compiling its code (TurboFan frames were a large share of a cold quick run's CPU).
     */
    let warm = false;
    const warmUp = async () => {
      if (warm) return;
      warm = true;
      log(`bench: warm-up, ${P.warmMs} ms of sessions per proxy (not measured)`);
      for (const t of targets) await sessions(t, 8, P.warmMs);
      await sleep(300);
    };

    // ---- 2. sessions
    if (want('sessions')) {
      await warmUp();
      const out: Record<string, Record<string, unknown>> = {};
      for (const c of [1, 50]) {
        const acc: Record<string, { rates: number[]; greet: number[]; login: number[]; cpu: number[]; errors: number; count: number }> = {
          nginx: { rates: [], greet: [], login: [], cpu: [], errors: 0, count: 0 },
          postern: { rates: [], greet: [], login: [], cpu: [], errors: 0, count: 0 },
        };
        for (let r = 0; r < P.roundsSessions; r++) {
          log(`bench: sessions c=${c} round ${r + 1}/${P.roundsSessions}`);
          for (const t of order(r)) {
            const s = await sessions(t, c);
            const a = acc[t.name]!;
            a.rates.push(s.rate);
            a.greet.push(...s.greet);
            a.login.push(...s.login);
            a.cpu.push(s.cpuUsPerSession);
            a.errors += s.errors;
            a.count += s.count;
            await sleep(300);
          }
        }
        out[`c${c}`] = Object.fromEntries(
          Object.entries(acc).map(([t, a]) => [
            t,
            {
              rate: median(a.rates),
              runs: a.rates,
              sessions: a.count,
              errors: a.errors,
              greetP50Ms: percentile(a.greet, 50),
              greetP99Ms: percentile(a.greet, 99),
              loginP50Ms: percentile(a.login, 50),
              loginP99Ms: percentile(a.login, 99),
              cpuUsPerSession: median(a.cpu),
            },
          ]),
        );
      }
      results.sessions = out;
    }

    // ---- 3. handshakes
    if (want('handshakes')) {
      await warmUp();
      const out: Record<string, Record<string, unknown>> = {};
      for (const v of HS_VARIANTS) {
        const acc: Record<string, { rates: number[]; cpu: number[]; count: number; resumed: number; errors: number; protocol: string }> = {
          nginx: { rates: [], cpu: [], count: 0, resumed: 0, errors: 0, protocol: '' },
          postern: { rates: [], cpu: [], count: 0, resumed: 0, errors: 0, protocol: '' },
        };
        for (let r = 0; r < P.roundsHandshakes; r++) {
          for (const t of order(r)) {
            const h = await handshakes(t, v);
            const a = acc[t.name]!;
            a.rates.push(h.rate);
            a.cpu.push(h.cpuUsPerHandshake);
            a.count += h.count;
            a.resumed += h.resumed;
            a.errors += h.errors;
            a.protocol = h.protocol;
            await sleep(200);
          }
        }
        log(`bench: handshakes ${v}: nginx ${median(acc.nginx!.rates).toFixed(0)}/s, postern ${median(acc.postern!.rates).toFixed(0)}/s`);
        out[v] = Object.fromEntries(
          Object.entries(acc).map(([t, a]) => [
            t,
            { rate: median(a.rates), runs: a.rates, cpuUsPerHandshake: median(a.cpu), resumedFraction: a.count ? a.resumed / a.count : 0, errors: a.errors, protocol: a.protocol },
          ]),
        );
      }
      results.handshakes = out;
    }

    // ---- 4. memory
    if (want('memory')) {
      const out: Record<string, Record<string, MemResult>> = { plain: {}, tls: {} };
      for (const mode of ['plain', 'tls'] as const) {
        if (!opt['cpu-prof']) {
          await stopProxies();
          await startProxies();
        }
        for (const t of targets) {
          log(`bench: memory ${mode} ${t.name}: ${P.memoryLevels.join(', ')} idle connections`);
          out[mode]![t.name] = await memory(t, mode, t.name === 'postern' ? postern : undefined);
        }
      }
      results.memory = out;
    }

    // ---- 5. journal: Postern alone (nginx has none), in this process, against a fake backend
    if (want('journal')) {
      log('bench: journal overhead on full POP3 login sessions (postern_journal off vs on)');
      results.journal = await measureJournalOverhead(QUICK ? 100 : 300, QUICK ? 3 : 5);
    }

    // ---- 5b. observability: error_log info + access log + metrics vs the defaults (issue 14)
    if (want('observability')) {
      log('bench: observability overhead on full POP3 login sessions (defaults vs error_log info + postern_access_log + metrics)');
      results.observability = await measureObservabilityOverhead(QUICK ? 100 : 300, QUICK ? 3 : 5);
    }

    // ---- 6. edge: one hostile client (issue 10)
    if (want('edge')) {
      await warmUp();
      log(`bench: edge, ${P.roundsEdge} rounds: non-reader ${P.nonReaderMs / 1000} s per run, logins ${P.edgeLogin.ms / 1000} s without and with a NOOP flood`);
      results.edge = await edgePhase(targets, { rounds: P.roundsEdge, nonReaderMs: P.nonReaderMs, login: P.edgeLogin, user: USER, pass: PASS }, log);
    }

    if (opt['cpu-prof']) {
      await postern.shutdown();
      const files = readdirSync(profDir)
        .filter((f) => f.endsWith('.cpuprofile'))
        .map((f) => path.join(profDir, f));
      const newest = files.sort().at(-1);
      if (newest && Date.now() >= profStart) {
        results.profile = { file: path.relative(ROOT, newest), top: summarizeProfile(newest, 25) };
      }
    }
  } finally {
    for (const c of cleanup.reverse()) await c().catch((e: Error) => log(`bench: cleanup: ${e.message}`));
  }

  results.durationS = Math.round((Date.now() - started) / 1000);
  results.targets = evaluateTargets(results);
  mkdirSync(RESULTS, { recursive: true });
  const text = JSON.stringify(results, null, 2) + '\n';
  writeFileSync(opt.out ?? path.join(RESULTS, 'latest.json'), text);
  process.stdout.write(renderTable(results));
  log(`bench: done in ${results.durationS as number} s; results in ${path.relative(ROOT, opt.out ?? path.join(RESULTS, 'latest.json'))}`);
}

// ---------------------------------------------------------------------------------------------
// Report

type Any = Record<string, any>; // eslint-disable-line @typescript-eslint/no-explicit-any

interface TargetCheck {
  name: string;
  goal: string;
  value: string;
  met: boolean | null;
}

export function evaluateTargets(r: Any): TargetCheck[] {
  const out: TargetCheck[] = [];
  const ratio = (a: number, b: number) => a / b;
  if (r.relay) {
    for (const [v, x] of Object.entries<Any>(r.relay)) {
      const q = ratio(x.postern.mbps, x.nginx.mbps);
      out.push({ name: `relay ${v}`, goal: '>= 1.0x nginx', value: `${q.toFixed(2)}x`, met: q >= 1.0 });
    }
  }
  if (r.handshakes) {
    for (const [v, x] of Object.entries<Any>(r.handshakes)) {
      const q = ratio(x.postern.rate, x.nginx.rate);
      const resumed = /resumed|sessionid/.test(v);
      const goal = resumed ? 1.0 : 0.9;
      const note = resumed ? ` (resumed: nginx ${(x.nginx.resumedFraction * 100).toFixed(0)}%, Postern ${(x.postern.resumedFraction * 100).toFixed(0)}%)` : '';
      out.push({ name: `handshakes ${v}`, goal: `>= ${goal.toFixed(1)}x nginx`, value: `${q.toFixed(2)}x${note}`, met: q >= goal });
    }
  }
  if (r.sessions) {
    for (const [c, x] of Object.entries<Any>(r.sessions)) {
      const q = ratio(x.postern.rate, x.nginx.rate);
      out.push({ name: `sessions/s ${c}`, goal: '>= 0.9x nginx', value: `${q.toFixed(2)}x`, met: q >= 0.9 });
    }
  }
  if (r.memory) {
    const top = String(Math.max(...(r.options.params.memoryLevels as number[])));
    for (const [mode, limit] of [['tls', 1.5], ['plain', 2]] as const) {
      const x = r.memory[mode];
      if (!x) continue;
      const q = ratio(x.postern.kbPerConn[top], x.nginx.kbPerConn[top]);
      out.push({ name: `memory per idle ${mode} conn (${top})`, goal: `<= ${limit}x nginx`, value: `${q.toFixed(2)}x`, met: q <= limit });
    }
    const eld = r.memory.tls?.postern?.eldHeldP99Ms ?? NaN;
    const eldPlain = r.memory.plain?.postern?.eldHeldP99Ms ?? NaN;
    const worst = Math.max(eld, eldPlain);
    out.push({ name: `event-loop delay p99, ${top} idle`, goal: '< 20 ms', value: `${worst.toFixed(1)} ms`, met: worst < 20 });
  }
  if (r.edge) {
    for (const [protocol, x] of Object.entries<Any>(r.edge.nonReader)) {
      const mb = x.postern.growthKb / 1024;
      out.push({ name: `non-reader ${protocol}: RSS growth`, goal: '<= 64 MB', value: `${mb.toFixed(1)} MB (nginx ${(x.nginx.growthKb / 1024).toFixed(1)} MB)`, met: mb <= 64 });
    }
    const x = r.edge.noopFlood;
    out.push({
      name: 'LOGIN p50 during a NOOP flood',
      goal: '<= 10x without',
      value: `${x.postern.p50Ratio.toFixed(2)}x: ${x.postern.flood.p50Ms.toFixed(1)} vs ${x.postern.quiet.p50Ms.toFixed(1)} ms (nginx ${x.nginx.p50Ratio.toFixed(2)}x)`,
      met: x.postern.p50Ratio <= 10,
    });
  }
  return out;
}

const f = (x: number | null | undefined, d = 0) => (x === null || x === undefined || Number.isNaN(x) ? '-' : x.toFixed(d));

export function renderTable(r: Any): string {
  const rows: string[][] = [];
  const add = (figure: string, n: string, p: string, ratio: string, extra = '') => rows.push([figure, n, p, ratio, extra]);
  const q = (p: number, n: number) => (n > 0 && Number.isFinite(p / n) ? `${(p / n).toFixed(2)}x` : '-');
  if (r.relay) {
    for (const [v, x] of Object.entries<Any>(r.relay)) add(`relay ${v} (MB/s)`, f(x.nginx.mbps), f(x.postern.mbps), q(x.postern.mbps, x.nginx.mbps), `direct ${f(x.direct.mbps)}`);
    for (const [v, x] of Object.entries<Any>(r.relay)) add(`CPU ms per MB, ${v}`, f(x.nginx.cpuMsPerMb, 2), f(x.postern.cpuMsPerMb, 2), q(x.postern.cpuMsPerMb, x.nginx.cpuMsPerMb));
  }
  if (r.sessions) {
    for (const [c, x] of Object.entries<Any>(r.sessions)) {
      const conc = c.slice(1);
      add(`sessions/s, ${conc} concurrent`, f(x.nginx.rate), f(x.postern.rate), q(x.postern.rate, x.nginx.rate), `errors ${x.nginx.errors}/${x.postern.errors}`);
      add(`  connect->greeting p50/p99 ms`, `${f(x.nginx.greetP50Ms, 2)} / ${f(x.nginx.greetP99Ms, 2)}`, `${f(x.postern.greetP50Ms, 2)} / ${f(x.postern.greetP99Ms, 2)}`, q(x.postern.greetP99Ms, x.nginx.greetP99Ms), 'ratio of p99');
      add(`  login->OK p50/p99 ms`, `${f(x.nginx.loginP50Ms, 2)} / ${f(x.nginx.loginP99Ms, 2)}`, `${f(x.postern.loginP50Ms, 2)} / ${f(x.postern.loginP99Ms, 2)}`, q(x.postern.loginP99Ms, x.nginx.loginP99Ms), 'ratio of p99');
      add(`  proxy CPU us per session`, f(x.nginx.cpuUsPerSession), f(x.postern.cpuUsPerSession), q(x.postern.cpuUsPerSession, x.nginx.cpuUsPerSession));
    }
  }
  if (r.handshakes) {
    for (const [v, x] of Object.entries<Any>(r.handshakes)) {
      add(
        `handshakes/s ${v}`,
        f(x.nginx.rate),
        f(x.postern.rate),
        q(x.postern.rate, x.nginx.rate),
        /resumed|sessionid/.test(v) ? `resumed ${f(x.nginx.resumedFraction * 100)}% / ${f(x.postern.resumedFraction * 100)}%, ${x.nginx.protocol}` : x.nginx.protocol,
      );
    }
    for (const [v, x] of Object.entries<Any>(r.handshakes)) add(`  proxy CPU us per handshake, ${v}`, f(x.nginx.cpuUsPerHandshake), f(x.postern.cpuUsPerHandshake), q(x.postern.cpuUsPerHandshake, x.nginx.cpuUsPerHandshake));
  }
  if (r.memory) {
    const levels = r.options.params.memoryLevels as number[];
    for (const mode of ['plain', 'tls']) {
      const x = r.memory[mode];
      if (!x) continue;
      add(`RSS MB, 0 idle ${mode}`, f(x.nginx.rssKb['0'] / 1024, 1), f(x.postern.rssKb['0'] / 1024, 1), q(x.postern.rssKb['0'], x.nginx.rssKb['0']));
      for (const l of levels) {
        add(`RSS MB, ${l} idle ${mode}`, f(x.nginx.rssKb[l] / 1024, 1), f(x.postern.rssKb[l] / 1024, 1), q(x.postern.rssKb[l], x.nginx.rssKb[l]));
        add(`  KB per idle ${mode} conn (${l})`, f(x.nginx.kbPerConn[l], 1), f(x.postern.kbPerConn[l], 1), q(x.postern.kbPerConn[l], x.nginx.kbPerConn[l]));
      }
      add(
        `  Postern event-loop delay p99 ms (${mode})`,
        '',
        `${f(x.postern.eldHeldP99Ms, 1)}`,
        '',
        `held; max ${f(x.postern.eldHeldMaxMs, 1)}; while opening p99 ${f(x.postern.eldOpeningP99Ms, 1)}; open rate ${f(x.nginx.openRate)}/${f(x.postern.openRate)} per s`,
      );
    }
  }
  if (r.edge) {
    const mb = (kb: number) => f(kb / 1024, 1);
    const closedAfter = (ms: number | null) => (ms === null ? 'never' : `${f(ms)} ms`);
    for (const [protocol, x] of Object.entries<Any>(r.edge.nonReader)) {
      const cmd = protocol === 'imap' ? 'CAPABILITY' : 'CAPA';
      add(`non-reader ${cmd}: RSS growth MB`, mb(x.nginx.growthKb), mb(x.postern.growthKb), q(x.postern.growthKb, x.nginx.growthKb), `worst of ${x.postern.runs.length} runs${x.nginx.stoppedAtCap || x.postern.stoppedAtCap ? `; a flood was cut short at +${NON_READER_RSS_CAP_KB / 1024 ** 2} GB` : ''}`);
      add(`  MB the non-reader sent`, f(x.nginx.bytesSent / 1e6, 2), f(x.postern.bytesSent / 1e6, 2), q(x.postern.bytesSent, x.nginx.bytesSent), `closed by the proxy after: ${closedAfter(x.nginx.closedAfterMs)} / ${closedAfter(x.postern.closedAfterMs)}`);
    }
    const x = r.edge.noopFlood;
    const pp = (s: Any) => `${f(s.p50Ms, 1)} / ${f(s.p95Ms, 1)}`;
    add('LOGIN p50/p95 ms, no flood', pp(x.nginx.quiet), pp(x.postern.quiet), q(x.postern.quiet.p50Ms, x.nginx.quiet.p50Ms), `ratio of p50; logins ${x.nginx.quiet.logins}/${x.postern.quiet.logins}`);
    add('LOGIN p50/p95 ms, NOOP flood', pp(x.nginx.flood), pp(x.postern.flood), q(x.postern.flood.p50Ms, x.nginx.flood.p50Ms), `ratio of p50; logins ${x.nginx.flood.logins}/${x.postern.flood.logins}, errors ${x.nginx.flood.errors}/${x.postern.flood.errors}`);
    add('  LOGIN p50 flood / no flood', `${f(x.nginx.p50Ratio, 2)}x`, `${f(x.postern.p50Ratio, 2)}x`, '', `p95: ${f(x.nginx.p95Ratio, 2)}x / ${f(x.postern.p95Ratio, 2)}x`);
    add(
      '  NOOPs/s answered while the logins ran',
      f(x.nginx.commandsPerS),
      f(x.postern.commandsPerS),
      q(x.postern.commandsPerS, x.nginx.commandsPerS),
      `answered in all, most in a run: ${x.nginx.repliesMax} / ${x.postern.repliesMax}${x.nginx.flooderClosed || x.postern.flooderClosed ? `; flooder closed by the proxy: ${x.nginx.flooderClosed} / ${x.postern.flooderClosed}` : ''}`,
    );
    add('  CPU % of a core: proxy / flooder', `${f(x.nginx.proxyCpuPct)} / ${f(x.nginx.flooderCpuPct)}`, `${f(x.postern.proxyCpuPct)} / ${f(x.postern.flooderCpuPct)}`, '', 'while the logins ran');
  }
  if (r.journal) {
    const j = r.journal;
    add('journal off/on, us per POP3 session (wall)', '', `${f(j.without.wall)} / ${f(j.with.wall)}`, q(j.with.wall, j.without.wall), `+${f(j.with.wall - j.without.wall)} us; ratio is on/off`);
    add('journal off/on, us per POP3 session (CPU)', '', `${f(j.without.cpu)} / ${f(j.with.cpu)}`, q(j.with.cpu, j.without.cpu), `+${f(j.with.cpu - j.without.cpu)} us; client+proxy+backend in one process`);
  }
  if (r.observability) {
    const o = r.observability;
    const perSecond = (us: number) => f(1e6 / us);
    add('observability off/on, sessions/s (one client)', '', `${perSecond(o.defaults.wall)} / ${perSecond(o.observed.wall)}`, q(o.defaults.wall, o.observed.wall), 'error_log info + postern_access_log + metrics; ratio is on/off');
    add('observability off/on, us CPU per POP3 session', '', `${f(o.defaults.cpu)} / ${f(o.observed.cpu)}`, q(o.observed.cpu, o.defaults.cpu), `+${f(o.observed.cpu - o.defaults.cpu)} us; ${o.errorLogLines} error_log and ${o.accessLogLines} access lines written`);
  }
  const head = ['Figure', 'nginx', 'Postern', 'P/N', 'Notes'];
  const all = [head, ...rows];
  const w = head.map((_, i) => Math.max(...all.map((row) => row[i]!.length)));
  const line = (row: string[]) => `| ${row.map((c, i) => (i === 0 || i === 4 ? c.padEnd(w[i]!) : c.padStart(w[i]!))).join(' | ')} |`;
  const m = r.machine;
  const v = r.versions;
  let out = `\nMachine: ${m.nproc} CPU, ${m.cpu}, ${m.memTotalMb} MB RAM, Linux ${m.kernel}\n`;
  out += `Node ${v.node} (OpenSSL ${v.nodeOpenssl}), nginx ${v.nginx} (${v.openssl}), Dovecot ${v.dovecot}\n`;
  out += `${r.options.quick ? 'quick' : 'full'} run, ${r.options.rounds} relay rounds, ${r.options.pinned ? 'proxies pinned to CPU 1' : 'no CPU pinning'}, medians\n\n`;
  out += `${line(head)}\n|${w.map((x, i) => (i === 0 || i === 4 ? ':' : '-') + '-'.repeat(x) + (i === 0 || i === 4 ? '-' : ':')).join('|')}|\n`;
  for (const row of rows) out += `${line(row)}\n`;
  if (r.targets?.length) {
    out += `\nTargets:\n`;
    for (const t of r.targets as TargetCheck[]) out += `  ${t.met ? 'MET   ' : 'MISSED'}  ${t.name}: ${t.value} (goal ${t.goal})\n`;
  }
  for (const n of r.notes ?? []) out += `\nNote: ${n}\n`;
  if (r.profile) {
    out += `\nPostern CPU profile (${r.profile.file}), top frames by self time:\n`;
    for (const fr of r.profile.top) out += `  ${fr.selfPct.toFixed(1).padStart(5)}%  ${fr.name}  ${fr.where}\n`;
  }
  return out;
}

await main();
