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
 *   npm run bench -- --only relay --relay imap-plain,pop3-plain   only these relay paths
 *   npm run bench -- --node-flags="--trace-gc" --only relay
 *                                      V8/Node flags for Postern and bare Node; each process's
 *                                      output is kept in bench/results/node-output/
 *
 * Handshakes and full IMAP sessions are driven by a C load generator (bench/loadgen.c, built with
 * cc and the OpenSSL headers) in several processes; every such row carries the proxy's CPU per
 * operation (utime+stime of its processes, /proc/PID/stat), the generator's own CPU and the
 * machine's busy time, so that a rate taken while the generator or the machine saturates is seen
 * as such. `--hs-procs N` sets the handshake generator's processes (4).
 *
 * The relay (IMAP), session, handshake and memory rows also measure bare Node, the floor any
 * Node server pays: bench/floor-session.mjs proxies the same IMAP sessions (same auth service and
 * Dovecot) with none of Postern's logic, and bench/floor-launch.mjs is a `tls.Server` and a
 * `net.Server` that write a greeting (a Map as its session cache). A row's Postern / bare Node
 * ratio is what Postern adds; bare Node / nginx is what the runtime costs. For Node processes
 * the memory rows also read RSS once V8 has settled (settledRssKb).
 *
 * Every loop is bounded in count and time; everything listens on and talks to 127.0.0.1.
 * Results: bench/results/latest.json.
 */
import { execFileSync, spawnSync } from 'node:child_process';
import { mkdirSync, readdirSync, writeFileSync } from 'node:fs';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { parseArgs } from 'node:util';
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
import { Conn, imapTaggedEnd, openIdleImapSession, pop3End } from './lib/conn.js';
import { cpuMs, machine, median, pool, sleep, treeRssKb } from './lib/stats.js';
import { buildLoadgen, drive, type Driven, type LoadMode } from './lib/loadgen.js';
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
    'hs-procs': { type: 'string' },
    'node-flags': { type: 'string' },
    relay: { type: 'string' },
    out: { type: 'string' },
  },
  strict: true,
});

const QUICK = opt.quick ?? false;
const PHASES = ['relay', 'sessions', 'handshakes', 'memory', 'idle', 'journal', 'observability', 'edge'] as const;
type Phase = (typeof PHASES)[number];
const only = new Set((opt.only ?? PHASES.join(',')).split(',').map((s) => s.trim()));
for (const p of only) if (!PHASES.includes(p as Phase)) throw new Error(`--only: unknown phase ${p} (${PHASES.join(', ')})`);
const want = (p: Phase) => only.has(p);

const P = {
  rounds: Number(opt.rounds ?? (QUICK ? 2 : 5)),
  messageBytes: 10_000_000,
  fetchesPerRun: QUICK ? 4 : 12,
  sessionMs: QUICK ? 1500 : 3000,
  sessionMax: 50_000,
  /** Generator processes for the sessions figure (each runs one session at a time). */
  sessionConcurrency: [1, 32],
  handshakeMs: QUICK ? 1000 : 2000,
  handshakeMax: 100_000,
  /** Generator processes for the handshake figures. */
  handshakeConcurrency: Number(opt['hs-procs'] ?? 4),
  memoryLevels: QUICK ? [2000] : [2000, 10_000],
  idleSessions: 2000,
  memoryOpenConcurrency: 64,
  holdMs: QUICK ? 1000 : 3000,
  /**
   * How long a Node process's RSS may take to settle after its idle connections opened
   * (settledRssKb): past V8's memory-reducer watchdog (100 s after the last full GC).
   */
  settleMaxMs: 110_000,
  /**
   * Warm-up before the sessions and handshake phases: rounds of this long, until a proxy's CPU per
   * session moves less than `warmSteady` from one round to the next (at least `warmMinRounds`, at
   * most `warmMaxMs` in all). Postern's CPU per session settled only after ~20 s of sessions
   * (V8 still optimising its code: 2,370 µs in the first 5 s, ~1,800 from the fifth round on;
   * bare Node's ~1,400 from the first), so a fixed 2 s measured its compiler too.
   */
  warmRoundMs: QUICK ? 1000 : 2500,
  warmMinRounds: QUICK ? 2 : 3,
  warmMaxMs: QUICK ? 6000 : 40_000,
  warmSteady: 0.05,
  roundsSessions: Number(opt.rounds ?? (QUICK ? 2 : 3)),
  roundsHandshakes: Number(opt.rounds ?? (QUICK ? 2 : 3)),
  roundsEdge: Number(opt.rounds ?? 2),
  nonReaderMs: QUICK ? 5000 : 10_000,
  edgeLogin: { ms: QUICK ? 1500 : 3000, min: 5, max: 5000 },
};
/** Hard cap on the whole run. */
const WATCHDOG_MS = QUICK ? 10 * 60_000 : 25 * 60_000;

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
  name: 'nginx' | 'postern' | 'floor';
  pid: number;
  /** The floor listens on the ports of the figures it serves (0 for the others). */
  ports: Record<Key, number>;
}

/** A helper process's `ready` IPC message (within 20 s, or its output in the error). */
function readyMessage<M extends { type: string }>(daemon: Daemon, what: string): Promise<M> {
  return new Promise<M>((resolve, reject) => {
    const timer = setTimeout(() => reject(new Error(`${what} did not start:\n${daemon.output()}`)), 20_000);
    daemon.child.on('message', (m: M) => {
      if (m.type === 'ready') {
        clearTimeout(timer);
        resolve(m);
      }
    });
  });
}

/** `--node-flags`: given to every Node process measured (Postern and bare Node) alike. */
const NODE_FLAGS = (opt['node-flags'] ?? '').split(/\s+/).filter((f) => f !== '');
/** With `--node-flags`, what each measured Node process printed (a `--trace-gc` log, say), kept at the end. */
const nodeOutputs: Array<{ name: string; daemon: Daemon }> = [];

function keepNodeOutputs(): void {
  if (NODE_FLAGS.length === 0) return;
  const dir = path.join(RESULTS, 'node-output');
  mkdirSync(dir, { recursive: true });
  nodeOutputs.forEach(({ name, daemon }, i) => writeFileSync(path.join(dir, `${i + 1}-${name}.log`), daemon.output()));
  log(`bench: the output of ${nodeOutputs.length} Node processes (${NODE_FLAGS.join(' ')}) is in ${path.relative(ROOT, dir)}`);
}

/** Starts a bare Node floor (bench/floor-*.mjs); its `ready` message names its ports in order. */
async function startFloor(script: string, args: string[], keys: Key[][]): Promise<{ daemon: Daemon; target: Target }> {
  const daemon = spawnDaemon(process.execPath, [...NODE_FLAGS, path.join(HERE, script), ...args], { stdio: ['ignore', 'pipe', 'pipe', 'ipc'], cwd: ROOT });
  nodeOutputs.push({ name: script.replace(/\.mjs$/, ''), daemon });
  const ready = await readyMessage<{ type: string; pid: number; ports: number[] }>(daemon, script);
  const ports = Object.fromEntries(KEYS.map((k) => [k, 0])) as Record<Key, number>;
  keys.forEach((forPort, i) => {
    for (const k of forPort) ports[k] = ready.ports[i]!;
  });
  return { daemon, target: { name: 'floor', pid: ready.pid, ports } };
}

interface PosternProc {
  daemon: Daemon;
  pid: number;
  request<T>(msg: Record<string, unknown>, type: string): Promise<T>;
  send(msg: Record<string, unknown>): void;
  shutdown(): Promise<void>;
}

async function startPostern(confPath: string, nodeFlags: string[]): Promise<PosternProc> {
  const daemon = spawnDaemon(process.execPath, [...NODE_FLAGS, ...nodeFlags, path.join(HERE, 'postern-launch.mjs'), confPath], {
    stdio: ['ignore', 'pipe', 'pipe', 'ipc'],
    cwd: ROOT,
  });
  nodeOutputs.push({ name: 'postern', daemon });
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
  const { port } = await readyMessage<{ type: string; port: number }>(daemon, 'auth server');
  return { daemon, port };
}

function pin(pid: number, cpu: number): void {
  execFileSync('taskset', ['-a', '-p', '-c', String(cpu), String(pid)], { stdio: 'ignore' });
}

// ---------------------------------------------------------------------------------------------
// 1. Relay throughput

/** The relay paths: a message fetched (IMAP FETCH, POP3 RETR), or, for `imap-append` and `imap-append-tls`, uploaded (APPEND, plaintext and implicit TLS). */
type RelayVariant = 'imap-plain' | 'imap-starttls' | 'imap-tls' | 'pop3-plain' | 'pop3-starttls' | 'pop3-tls' | 'imap-append' | 'imap-append-tls';
const ALL_RELAY_VARIANTS: RelayVariant[] = ['imap-plain', 'imap-starttls', 'imap-tls', 'pop3-plain', 'pop3-starttls', 'pop3-tls', 'imap-append', 'imap-append-tls'];
const isUpload = (v: RelayVariant) => v === 'imap-append' || v === 'imap-append-tls';
/** `--relay imap-plain,pop3-plain`: only these paths in the relay phase (a profile of one path, say). */
const RELAY_VARIANTS = opt.relay === undefined ? ALL_RELAY_VARIANTS : ALL_RELAY_VARIANTS.filter((v) => opt.relay!.split(',').includes(v));
if (RELAY_VARIANTS.length === 0) throw new Error(`--relay: none of ${ALL_RELAY_VARIANTS.join(', ')}`);

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
      case 'imap-append':
        return dc.imapPort;
      case 'imap-tls':
      case 'imap-append-tls':
        return dc.imapsPort!;
      case 'pop3-plain':
      case 'pop3-starttls':
        return dc.pop3Port;
      case 'pop3-tls':
        return dc.pop3sPort!;
    }
  }
  return { 'imap-plain': t.ports.imap, 'imap-append': t.ports.imap, 'imap-starttls': t.ports.imap, 'imap-tls': t.ports.imaps, 'imap-append-tls': t.ports.imaps, 'pop3-plain': t.ports.pop3, 'pop3-starttls': t.ports.pop3, 'pop3-tls': t.ports.pop3s }[v];
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
    } else if (v === 'pop3-starttls') {
      conn.write('STLS\r\n');
      await conn.ok();
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
    if (isUpload(v)) {
      conn.write('c CREATE Uploads\r\n');
      await conn.tagged('c').catch(() => undefined); // NO once it exists: either will do
    }
    /** One timed transfer: a fetch, or an upload. */
    const transfer = (i: number) =>
      isUpload(v)
        ? append(conn, `a${i}`)
        : imap
          ? conn.bulkRead(`f${i} FETCH 1 BODY.PEEK[]\r\n`, imapTaggedEnd(`f${i}`))
          : conn.bulkRead('RETR 1\r\n', pop3End);
    await transfer(0); // warm-up: page cache, Dovecot's index, the proxy's JIT
    const pid = t === 'direct' ? undefined : t.pid;
    const cpu0 = pid ? cpuMs(pid) : 0;
    const mbps: number[] = [];
    let bytes = 0;
    for (let i = 1; i <= fetches; i++) {
      const t0 = performance.now();
      const n = await transfer(i);
      const dt = performance.now() - t0;
      if (n < P.messageBytes * 0.9) throw new Error(`${v}: short transfer (${n} bytes)`);
      bytes += n;
      mbps.push(n / 1e6 / (dt / 1000));
    }
    const cpu1 = pid ? cpuMs(pid) : 0;
    if (isUpload(v)) {
      // The uploads go: the next run appends to an empty mailbox again.
      conn.write('u SELECT Uploads\r\nd STORE 1:* +FLAGS.SILENT (\\Deleted)\r\ne EXPUNGE\r\n');
      await conn.tagged('e', 30_000);
    }
    conn.write(imap ? 'z LOGOUT\r\n' : 'QUIT\r\n');
    await conn.quit('');
    return { mbps, bytes, cpuMsPerMb: pid ? (cpu1 - cpu0) / (bytes / 1e6) : null };
  } finally {
    conn.destroy();
  }
}

/** What `imap-append` uploads: a message of `P.messageBytes` in 80-byte lines. */
let upload: string | undefined;

/** One APPEND of `upload` (a synchronising literal); its size. */
async function append(conn: Conn, tag: string): Promise<number> {
  upload ??= 'Subject: upload\r\n\r\n' + `${'u'.repeat(78)}\r\n`.repeat(Math.floor(P.messageBytes / 80));
  conn.write(`${tag} APPEND Uploads {${upload.length}}\r\n`);
  const reply = await conn.readLine();
  if (!reply.startsWith('+')) throw new Error(`imap-append: ${reply}`);
  conn.write(upload + '\r\n');
  await conn.tagged(tag, 60_000);
  return upload.length;
}

// ---------------------------------------------------------------------------------------------
// 2. Full IMAP sessions and 3. TLS handshakes, driven by the C load generator (bench/loadgen.c)

/** A measured figure of either proxy: medians over rounds of each window's figures. */
interface DrivenSummary {
  rate: number;
  runs: number[];
  proxyUsPerOp: number;
  genUsPerOp: number;
  proxyPct: number;
  genPct: number;
  machinePct: number;
  resumedFraction: number;
  ops: number;
  errors: number;
  protocol: string;
  firstError: string;
}

function summarize(runs: Driven[]): DrivenSummary {
  const ops = runs.reduce((a, r) => a + r.ops, 0);
  return {
    rate: median(runs.map((r) => r.rate)),
    runs: runs.map((r) => Math.round(r.rate)),
    proxyUsPerOp: median(runs.map((r) => r.proxyUsPerOp)),
    genUsPerOp: median(runs.map((r) => r.genUsPerOp)),
    proxyPct: median(runs.map((r) => r.proxyPct)),
    genPct: median(runs.map((r) => r.genPct)),
    machinePct: median(runs.map((r) => r.machinePct)),
    resumedFraction: ops ? runs.reduce((a, r) => a + r.resumed, 0) / ops : 0,
    ops,
    errors: runs.reduce((a, r) => a + r.errors, 0),
    protocol: runs.at(-1)?.protocol ?? '',
    firstError: runs.find((r) => r.firstError)?.firstError ?? '',
  };
}

/** Handshake figures: the generator's mode and the server it talks to. */
type HsVariant = 'full-tls13-rsa' | 'full-tls13-ecdsa' | 'full-tls12-rsa' | 'sessionid-tls12' | 'ticket-tls12' | 'ticket-tls13';
/**
 * `floor`: bare Node is measured too. Not for ECDSA (the floor has the RSA certificate) nor for
 * TLS 1.3 tickets (the floor writes its greeting before Node sends the tickets, so the generator
 * never gets one).
 */
const HANDSHAKES: Record<HsVariant, { mode: LoadMode; port: Key; label: string; floor: boolean }> = {
  'full-tls13-rsa': { mode: 'full13', port: 'imaps', label: 'full TLS 1.3, RSA-2048', floor: true },
  'full-tls13-ecdsa': { mode: 'full13', port: 'imapsEc', label: 'full TLS 1.3, ECDSA P-256', floor: false },
  'full-tls12-rsa': { mode: 'full12', port: 'imaps', label: 'full TLS 1.2, RSA-2048', floor: true },
  'sessionid-tls12': { mode: 'sessid12', port: 'imapsCache', label: 'resumed TLS 1.2, session ID (shared cache)', floor: true },
  'ticket-tls12': { mode: 'ticket12', port: 'imaps', label: 'resumed TLS 1.2, ticket', floor: true },
  'ticket-tls13': { mode: 'ticket13', port: 'imaps', label: 'resumed TLS 1.3, ticket', floor: false },
};
const HS_VARIANTS = Object.keys(HANDSHAKES) as HsVariant[];

// ---------------------------------------------------------------------------------------------
// 4. Memory with idle connections

interface MemResult {
  rssKb: Record<string, number>;
  kbPerConn: Record<string, number>;
  /** Node processes, at the first level: once V8 has given back its young generation (settledRssKb). */
  settled?: Settled;
  eldHeldP99Ms?: number;
  eldHeldMaxMs?: number;
  eldOpeningP99Ms?: number;
  openRate: number;
}

interface Settled {
  rssKb: number;
  /** Per connection (or relayed session) above the process's RSS before they opened. */
  kbPer: number;
  /** Seconds after the first reading until the lowest one. */
  afterS: number;
  /** Whether the RSS dropped 5% below the reading 3 s after opening within P.settleMaxMs. */
  dropped: boolean;
}

/**
 * A Node process's RSS once V8 has given back the young generation it grew while the
 * connections opened: V8's memory reducer does it only after the process has been idle for a
 * while (here 4-95 s after the last connection opened), so a reading taken a few seconds after
 * opening measures that transient as much as the connections. nginx has no such transient. Polls
 * every 2 s, up to P.settleMaxMs: once the RSS has dropped 5% below `heldKb`, three polls that
 * find nothing lower end the wait. Returns the lowest reading. When V8 runs its reducer is its
 * own decision (an allocation rate it deems low, a timer, a watchdog), so the wait varies.
 */
async function settledRssKb(pid: number, heldKb: number, baseKb: number, count: number): Promise<Settled> {
  const t0 = performance.now();
  let lowest = heldKb;
  let lowestAt = 0;
  let quiet = 0;
  while (performance.now() - t0 < P.settleMaxMs) {
    await sleep(2000);
    const kb = treeRssKb(pid);
    if (kb < lowest) {
      lowest = kb;
      lowestAt = performance.now() - t0;
      quiet = 0;
    } else if (lowest < heldKb * 0.95 && ++quiet >= 3) {
      break;
    }
  }
  return { rssKb: lowest, kbPer: (lowest - baseKb) / count, afterS: lowestAt / 1000, dropped: lowest < heldKb * 0.95 };
}

async function memory(t: Target, mode: 'plain' | 'tls', postern: PosternProc | undefined): Promise<MemResult> {
  const port = mode === 'plain' ? t.ports.imap : t.ports.imapsEc;
  const conns: Conn[] = [];
  const rss: Record<string, number> = {};
  const per: Record<string, number> = {};
  const res: MemResult = { rssKb: rss, kbPerConn: per, openRate: 0 };
  await sleep(1500); // let the previous phase's connections be reaped
  rss['0'] = treeRssKb(t.pid);
  const openStart = performance.now();
  /** Time spent waiting for the RSS to settle, not opening. */
  let settleMs = 0;
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
        res.openRate = conns.length / ((performance.now() - openStart - settleMs) / 1000);
        if (postern) {
          const e = await postern.request<{ p99: number }>({ type: 'eld-stop' }, 'eld');
          res.eldOpeningP99Ms = Math.max(e.p99, res.eldOpeningP99Ms ?? 0);
          postern.send({ type: 'eld-start' });
        }
      }
      await sleep(P.holdMs);
      rss[String(level)] = treeRssKb(t.pid);
      per[String(level)] = (rss[String(level)]! - rss['0']!) / level;
      if (t.name !== 'nginx' && level === P.memoryLevels[0]) {
        // The event-loop delay while opening is measured around this idle wait, not over it.
        const last = level === P.memoryLevels[P.memoryLevels.length - 1];
        if (postern && !last) res.eldOpeningP99Ms = (await postern.request<{ p99: number }>({ type: 'eld-stop' }, 'eld')).p99;
        const t0 = performance.now();
        res.settled = await settledRssKb(t.pid, rss[String(level)]!, rss['0']!, level);
        settleMs += performance.now() - t0;
        if (postern && !last) postern.send({ type: 'eld-start' });
      }
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
// 5. Idle relayed sessions: logged in, INBOX selected, in IDLE; client and backend sockets held

interface IdleResult {
  rssKb0: number;
  rssKb: number;
  kbPerSession: number;
  settled?: Settled;
  sessions: number;
  openS: number;
  closedEarly: number;
}

/** Opens `n` IMAP sessions (LOGIN, SELECT INBOX, IDLE) and reads the proxy's RSS while they are held. */
async function idleRelayed(t: Target, mode: 'plain' | 'tls', n: number): Promise<IdleResult> {
  const port = mode === 'plain' ? t.ports.imap : t.ports.imapsEc;
  const conns: Conn[] = [];
  const failed: string[] = [];
  await sleep(1500); // let the previous phase's connections be reaped
  const rssKb0 = treeRssKb(t.pid);
  const t0 = performance.now();
  try {
    const opened = await pool(n, P.memoryOpenConcurrency, async () => {
      try {
        return await openIdleImapSession(port, { tls: mode === 'tls', user: USER, password: PASS });
      } catch (error) {
        failed.push((error as Error).message);
        return null;
      }
    });
    for (const c of opened) if (c) conns.push(c);
    if (failed.length) log(`  warning: ${failed.length} of ${n} sessions failed to open, first: ${failed[0]}`);
    const openS = (performance.now() - t0) / 1000;
    await sleep(P.holdMs);
    const rssKb = treeRssKb(t.pid);
    const settled = t.name === 'nginx' ? undefined : await settledRssKb(t.pid, rssKb, rssKb0, conns.length);
    const closedEarly = conns.filter((c) => c.sock.destroyed).length;
    return { rssKb0, rssKb, kbPerSession: (rssKb - rssKb0) / conns.length, sessions: conns.length, openS, closedEarly, ...(settled ? { settled } : {}) };
  } finally {
    for (const c of conns) c.destroy();
  }
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

    buildLoadgen();
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
        // Mail processes that serve many sessions each: no fork per login (Dovecot stays off the
        // critical path of the sessions figure) and room for the idle phase's 2,000 IMAP sessions.
        'service imap {\n  service_count = 0\n  client_limit = 50\n  process_limit = 200\n}',
        'service pop3 {\n  service_count = 0\n  client_limit = 50\n}',
        'protocol imap {\n  mail_max_userip_connections = 10000\n}',
        'protocol pop3 {\n  mail_max_userip_connections = 10000\n}',
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
    // Bare Node, beside the proxies in the relay, session and handshake figures.
    let floorSession: Target | undefined;
    let floorTls: Target | undefined;
    if (want('relay') || want('sessions') || want('handshakes')) {
      const session = await startFloor('floor-session.mjs', [rsa.certPath, rsa.keyPath, String(auth.port)], [['imap'], ['imaps']]);
      const tlsOnly = await startFloor('floor-launch.mjs', [rsa.certPath, rsa.keyPath, 'session-cache'], [[], ['imaps', 'imapsCache']]);
      cleanup.push(() => session.daemon.stop(2000), () => tlsOnly.daemon.stop(2000));
      floorSession = session.target;
      floorTls = tlsOnly.target;
    }

    // ---- 1. relay + 5. CPU per MB
    if (want('relay')) {
      const relay: Record<string, Record<string, { mbps: number[]; cpuMsPerMb: number[] }>> = {};
      // Bare Node relays the IMAP variants (bench/floor-session.mjs speaks IMAP only).
      const floorRelays = (v: RelayVariant) => floorSession !== undefined && v.startsWith('imap');
      for (const v of RELAY_VARIANTS) {
        relay[v] = { nginx: { mbps: [], cpuMsPerMb: [] }, postern: { mbps: [], cpuMsPerMb: [] }, direct: { mbps: [], cpuMsPerMb: [] } };
        if (floorRelays(v)) relay[v].floor = { mbps: [], cpuMsPerMb: [] };
      }
      for (let r = 0; r < P.rounds; r++) {
        log(`bench: relay round ${r + 1}/${P.rounds}`);
        for (const v of RELAY_VARIANTS) {
          const all: Array<Target | 'direct'> = [N, Pn, 'direct', ...(floorRelays(v) ? [floorSession!] : [])];
          const seq = all.map((_, i) => all[(r + i) % all.length]!);
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

    const login = { user: USER, pass: PASS };
    type DrivenFigure = { nginx: DrivenSummary; postern: DrivenSummary; floor?: DrivenSummary };
    /**
     * Rounds of one driven figure, the order of the proxies (and bare Node, when `floor` is
     * given) rotating each round; medians per target.
     */
    const driven = async (what: string, rounds: number, run: (t: Target) => Promise<Driven>, floor?: Target): Promise<DrivenFigure> => {
      const all = floor ? [N, Pn, floor] : targets;
      const acc: Record<string, Driven[]> = Object.fromEntries(all.map((t) => [t.name, []]));
      for (let r = 0; r < rounds; r++) {
        for (let i = 0; i < all.length; i++) {
          const t = all[(r + i) % all.length]!;
          acc[t.name]!.push(await run(t));
          await sleep(300);
        }
      }
      const out: DrivenFigure = { nginx: summarize(acc.nginx!), postern: summarize(acc.postern!), ...(floor ? { floor: summarize(acc.floor!) } : {}) };
      const pct = (x: DrivenSummary) => `proxy ${x.proxyPct.toFixed(0)}% / generator ${x.genPct.toFixed(0)}% of a core`;
      const floorNote = out.floor ? `, bare Node ${out.floor.rate.toFixed(0)}/s (${pct(out.floor)})` : '';
      log(`bench: ${what}: nginx ${out.nginx.rate.toFixed(0)}/s (${pct(out.nginx)}), postern ${out.postern.rate.toFixed(0)}/s (${pct(out.postern)})${floorNote}`);
      for (const [name, x] of Object.entries(out)) if (x.errors) log(`bench:   ${name}: ${x.errors} failed, first: ${x.firstError}`);
      return out;
    };

    /**
     * Untimed sessions (8 at a time) against each proxy before the sessions and handshake
     * phases, until its CPU per session is steady (P.warmSteady), then each handshake kind once:
     * a proxy in service is warm, and without this Postern's first rounds measure V8 compiling
     * its code (TurboFan's frames were 5.7% of its whole-process CPU in the first 12 s of
     * sessions, 3.1% over 40 s: bench/handshake-cost.ts --perf). nginx has no such warm-up to do.
     */
    let warm = false;
    const warmSessions = async (name: string, pid: number, port: number) => {
      const perOp: number[] = [];
      const t0 = performance.now();
      for (;;) {
        const d = await drive(pid, 'imap', port, 8, P.warmRoundMs / 1000, P.sessionMax, login);
        perOp.push(d.proxyUsPerOp);
        const [before, last] = perOp.slice(-2) as [number, number];
        const steady = perOp.length >= P.warmMinRounds && Math.abs(last - before) <= P.warmSteady * before;
        if (steady || performance.now() - t0 + P.warmRoundMs > P.warmMaxMs) break;
      }
      log(`bench: warm-up ${name}: CPU µs per session by round ${perOp.map((x) => x.toFixed(0)).join(', ')}`);
    };
    const warmUp = async () => {
      if (warm) return;
      warm = true;
      log(`bench: warm-up, sessions in ${P.warmRoundMs} ms rounds until steady (at most ${P.warmMaxMs / 1000} s), then each handshake kind (not measured)`);
      for (const t of targets) {
        await warmSessions(t.name, t.pid, t.ports.imap);
        for (const v of HS_VARIANTS) await drive(t.pid, HANDSHAKES[v].mode, t.ports[HANDSHAKES[v].port], 4, P.warmRoundMs / 2000, P.handshakeMax);
      }
      if (floorSession) await warmSessions('bare Node', floorSession.pid, floorSession.ports.imap);
      if (floorTls) for (const v of HS_VARIANTS.filter((v) => HANDSHAKES[v].floor)) await drive(floorTls.pid, HANDSHAKES[v].mode, floorTls.ports[HANDSHAKES[v].port], 4, P.warmRoundMs / 2000, P.handshakeMax);
      await sleep(300);
    };

    // ---- 2. full IMAP sessions: connect, greeting, STARTTLS, full TLS 1.3, LOGIN, LOGOUT
    if (want('sessions')) {
      await warmUp();
      const out: Record<string, DrivenFigure> = {};
      for (const c of P.sessionConcurrency) {
        log(`bench: full IMAP sessions, ${c} concurrent, ${P.roundsSessions} rounds`);
        out[`c${c}`] = await driven(`sessions c=${c}`, P.roundsSessions, (t) => drive(t.pid, 'imap', t.ports.imap, c, P.sessionMs / 1000, P.sessionMax, login), floorSession);
      }
      results.sessions = out;
    }

    // ---- 3. TLS handshakes: connect, handshake, greeting, close
    if (want('handshakes')) {
      await warmUp();
      const out: Record<string, DrivenFigure> = {};
      for (const v of HS_VARIANTS) {
        const h = HANDSHAKES[v];
        const run = (t: Target) => drive(t.pid, h.mode, t.ports[h.port], P.handshakeConcurrency, P.handshakeMs / 1000, P.handshakeMax);
        out[v] = await driven(`handshakes ${v}`, P.roundsHandshakes, run, h.floor ? floorTls : undefined);
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
        // Bare Node, a fresh process: a net.Server and a tls.Server (ECDSA, as the TLS figure's server) that greet and hold.
        const floor = await startFloor('floor-launch.mjs', [ec.certPath, ec.keyPath], [['imap'], ['imapsEc']]);
        try {
          log(`bench: memory ${mode} bare Node: ${P.memoryLevels.join(', ')} idle connections`);
          out[mode]!.floor = await memory(floor.target, mode, undefined);
        } finally {
          await floor.daemon.stop(2000);
        }
      }
      results.memory = out;
    }

    // ---- 4b. idle relayed sessions (logged in, SELECT INBOX, IDLE), each mode from fresh proxies
    if (want('idle')) {
      const out: Record<string, Record<string, IdleResult>> = { plain: {}, tls: {} };
      for (const mode of ['plain', 'tls'] as const) {
        if (!opt['cpu-prof']) {
          await stopProxies();
          await startProxies();
        }
        for (const t of order(mode === 'plain' ? 0 : 1)) {
          log(`bench: ${P.idleSessions} idle relayed IMAP sessions, ${mode}, ${t.name}`);
          out[mode]![t.name] = await idleRelayed(t, mode, P.idleSessions);
        }
        // Bare Node, also a fresh process, with the ECDSA certificate the TLS figure's server has.
        const floor = await startFloor('floor-session.mjs', [ec.certPath, ec.keyPath, String(auth.port)], [['imap'], ['imapsEc']]);
        try {
          log(`bench: ${P.idleSessions} idle relayed IMAP sessions, ${mode}, bare Node`);
          out[mode]!.floor = await idleRelayed(floor.target, mode, P.idleSessions);
        } finally {
          await floor.daemon.stop(2000);
        }
      }
      results.idle = out;
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
    keepNodeOutputs();
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
  /** Where bare Node was measured beside: what the runtime costs and what Postern adds. */
  const floorNote = (x: Any) =>
    x.floor ? `; bare Node ${ratio(x.floor.proxyUsPerOp, x.nginx.proxyUsPerOp).toFixed(2)}x nginx, Postern ${ratio(x.postern.proxyUsPerOp, x.floor.proxyUsPerOp).toFixed(2)}x bare Node` : '';
  if (r.relay) {
    for (const [v, x] of Object.entries<Any>(r.relay)) {
      const q = ratio(x.postern.mbps, x.nginx.mbps);
      out.push({ name: `relay ${v}`, goal: '>= 1.0x nginx', value: `${q.toFixed(2)}x`, met: q >= 1.0 });
    }
  }
  if (r.relay) {
    for (const [v, x] of Object.entries<Any>(r.relay)) {
      const q = ratio(x.postern.cpuMsPerMb, x.nginx.cpuMsPerMb);
      const floor = x.floor
        ? `; bare Node ${ratio(x.floor.cpuMsPerMb, x.nginx.cpuMsPerMb).toFixed(2)}x nginx, Postern ${ratio(x.postern.cpuMsPerMb, x.floor.cpuMsPerMb).toFixed(2)}x bare Node`
        : '';
      out.push({ name: `relay CPU per MB ${v}`, goal: '<= 1.0x nginx', value: `${q.toFixed(2)}x${floor}`, met: q <= 1.0 });
    }
  }
  if (r.handshakes) {
    for (const [v, x] of Object.entries<Any>(r.handshakes)) {
      const q = ratio(x.postern.proxyUsPerOp, x.nginx.proxyUsPerOp);
      const full = v.startsWith('full');
      const goal = full ? 1.25 : 2.0;
      const note = full ? '' : ` (resumed: nginx ${(x.nginx.resumedFraction * 100).toFixed(0)}%, Postern ${(x.postern.resumedFraction * 100).toFixed(0)}%)`;
      out.push({ name: `proxy CPU per handshake ${v}`, goal: `<= ${goal.toFixed(2)}x nginx`, value: `${q.toFixed(2)}x${note}${floorNote(x)}`, met: q <= goal });
    }
  }
  if (r.sessions) {
    for (const [c, x] of Object.entries<Any>(r.sessions)) {
      const q = ratio(x.postern.proxyUsPerOp, x.nginx.proxyUsPerOp);
      out.push({ name: `proxy CPU per full IMAP session ${c}`, goal: '<= 1.3x nginx', value: `${q.toFixed(2)}x${floorNote(x)}`, met: q <= 1.3 });
    }
    const x = r.sessions.c32;
    if (x) {
      const q = ratio(x.postern.rate, x.nginx.rate);
      const head = `generator ${x.nginx.genPct.toFixed(0)}% / ${x.postern.genPct.toFixed(0)}% of a core, proxy ${x.nginx.proxyPct.toFixed(0)}% / ${x.postern.proxyPct.toFixed(0)}%`;
      out.push({ name: 'full IMAP sessions/s, 32 concurrent', goal: '>= 1.0x nginx', value: `${q.toFixed(2)}x (${head})`, met: q >= 1.0 });
    }
  }
  if (r.memory) {
    for (const [mode, limit] of [['tls', 2.0], ['plain', 5]] as const) {
      const x = r.memory[mode];
      if (!x) continue;
      const q = ratio(x.postern.kbPerConn['2000'], x.nginx.kbPerConn['2000']);
      const floor = x.floor
        ? `; bare Node ${ratio(x.floor.kbPerConn['2000'], x.nginx.kbPerConn['2000']).toFixed(2)}x nginx, Postern +${(x.postern.kbPerConn['2000'] - x.floor.kbPerConn['2000']).toFixed(1)} KB above bare Node`
        : '';
      out.push({ name: `RSS per idle ${mode} conn (2000), 3 s after opening`, goal: `<= ${limit}x nginx`, value: `${q.toFixed(2)}x${floor}`, met: q <= limit });
      const ps = x.postern.settled;
      if (ps) {
        const qs = ratio(ps.kbPer, x.nginx.kbPerConn['2000']);
        const fs = x.floor?.settled;
        const above = fs ? `; Postern +${(ps.kbPer - fs.kbPer).toFixed(1)} KB above bare Node settled (${(fs.kbPer / x.nginx.kbPerConn['2000']).toFixed(2)}x nginx)` : '';
        const when = ps.dropped ? `after ${ps.afterS.toFixed(0)} s` : `no drop within ${r.options.params.settleMaxMs / 1000} s`;
        out.push({ name: `RSS per idle ${mode} conn (2000), settled`, goal: `<= ${limit}x nginx`, value: `${qs.toFixed(2)}x ${when}${above}`, met: qs <= limit });
      }
    }
    const base = Math.max(...['plain', 'tls'].filter((m) => r.memory[m]).map((m) => r.memory[m].postern.rssKb['0'] / 1024));
    out.push({ name: 'baseline RSS, no connection', goal: '<= 50 MB', value: `${base.toFixed(1)} MB`, met: base <= 50 });
    const top = String(Math.max(...(r.options.params.memoryLevels as number[])));
    const eld = r.memory.tls?.postern?.eldHeldP99Ms ?? NaN;
    const eldPlain = r.memory.plain?.postern?.eldHeldP99Ms ?? NaN;
    const worst = Math.max(eld, eldPlain);
    out.push({ name: `event-loop delay p99, ${top} idle`, goal: '< 20 ms', value: `${worst.toFixed(1)} ms`, met: worst < 20 });
  }
  if (r.idle) {
    for (const mode of ['plain', 'tls']) {
      const x = r.idle[mode];
      if (!x) continue;
      const q = ratio(x.postern.kbPerSession, x.nginx.kbPerSession);
      const floor = x.floor ? `; bare Node ${ratio(x.floor.kbPerSession, x.nginx.kbPerSession).toFixed(2)}x nginx, Postern ${ratio(x.postern.kbPerSession, x.floor.kbPerSession).toFixed(2)}x bare Node` : '';
      out.push({ name: `RSS per idle relayed ${mode} session (${x.postern.sessions}), 3 s after opening`, goal: mode === 'tls' ? '<= 2.0x nginx' : '(no target)', value: `${q.toFixed(2)}x${floor}`, met: mode === 'tls' ? q <= 2.0 : null });
      const ps = x.postern.settled;
      if (ps) {
        const qs = ratio(ps.kbPer, x.nginx.kbPerSession);
        const fs = x.floor?.settled;
        const vsFloor = fs ? `; bare Node settled ${(fs.kbPer / x.nginx.kbPerSession).toFixed(2)}x nginx, Postern ${(ps.kbPer / fs.kbPer).toFixed(2)}x bare Node` : '';
        const when = ps.dropped ? `after ${ps.afterS.toFixed(0)} s` : `no drop within ${r.options.params.settleMaxMs / 1000} s`;
        out.push({ name: `RSS per idle relayed ${mode} session (${x.postern.sessions}), settled`, goal: mode === 'tls' ? '<= 2.0x nginx' : '(no target)', value: `${qs.toFixed(2)}x ${when}${vsFloor}`, met: mode === 'tls' ? qs <= 2.0 : null });
      }
    }
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
    for (const [v, x] of Object.entries<Any>(r.relay)) {
      add(`relay ${v} (MB/s)`, f(x.nginx.mbps), f(x.postern.mbps), q(x.postern.mbps, x.nginx.mbps), `direct ${f(x.direct.mbps)}${x.floor ? `, bare Node ${f(x.floor.mbps)}` : ''}`);
    }
    for (const [v, x] of Object.entries<Any>(r.relay)) {
      const floor = x.floor
        ? `bare Node ${f(x.floor.cpuMsPerMb, 2)} (${q(x.floor.cpuMsPerMb, x.nginx.cpuMsPerMb)} nginx; Postern ${q(x.postern.cpuMsPerMb, x.floor.cpuMsPerMb)} bare Node)`
        : '';
      add(`CPU ms per MB, ${v}`, f(x.nginx.cpuMsPerMb, 2), f(x.postern.cpuMsPerMb, 2), q(x.postern.cpuMsPerMb, x.nginx.cpuMsPerMb), floor);
    }
  }
  const us = (x: Any) => f(x.proxyUsPerOp);
  const settledWhen = (x: Any) =>
    x.dropped ? `once V8 gave back its young generation: after ${f(x.afterS)} s` : `V8 gave nothing back within ${f(r.options.params.settleMaxMs / 1000)} s`;
  /** Bare Node in the Postern column: its ratio to nginx, and Postern's to it in the notes. */
  const floorRow = (op: string, x: Any) => {
    if (!x.floor) return;
    const resumed = op === 'handshake' && x.floor.resumedFraction > 0 ? `, resumed ${f(x.floor.resumedFraction * 100)}%` : '';
    const note = `bare Node / nginx in the ratio column; Postern / bare Node ${q(x.postern.proxyUsPerOp, x.floor.proxyUsPerOp)}; bare Node at ${f(x.floor.proxyPct)}% of a core, ${f(x.floor.rate)}/s${resumed}`;
    add(`  bare Node CPU us per ${op}`, '', us(x.floor), q(x.floor.proxyUsPerOp, x.nginx.proxyUsPerOp), note);
  };
  const gen = (n: Any, p: Any) => `generator ${f(n.genPct)}% / ${f(p.genPct)}%, proxy ${f(n.proxyPct)}% / ${f(p.proxyPct)}% of a core; machine ${f(n.machinePct)}% / ${f(p.machinePct)}% busy`;
  if (r.sessions) {
    for (const [c, x] of Object.entries<Any>(r.sessions)) {
      const conc = c.slice(1);
      add(`full IMAP sessions/s, ${conc} concurrent`, f(x.nginx.rate), f(x.postern.rate), q(x.postern.rate, x.nginx.rate), `${gen(x.nginx, x.postern)}; errors ${x.nginx.errors}/${x.postern.errors}`);
      add(`  proxy CPU us per session`, us(x.nginx), us(x.postern), q(x.postern.proxyUsPerOp, x.nginx.proxyUsPerOp));
      floorRow('session', x);
      add(`  generator CPU us per session`, f(x.nginx.genUsPerOp), f(x.postern.genUsPerOp), '');
    }
  }
  if (r.handshakes) {
    for (const [v, x] of Object.entries<Any>(r.handshakes)) {
      const resumed = v.startsWith('full') ? '' : `resumed ${f(x.nginx.resumedFraction * 100)}% / ${f(x.postern.resumedFraction * 100)}%; `;
      add(`handshakes/s ${v}`, f(x.nginx.rate), f(x.postern.rate), q(x.postern.rate, x.nginx.rate), `${x.nginx.protocol}; ${resumed}${gen(x.nginx, x.postern)}${x.nginx.errors || x.postern.errors ? `; errors ${x.nginx.errors}/${x.postern.errors}` : ''}`);
      add(`  proxy CPU us per handshake`, us(x.nginx), us(x.postern), q(x.postern.proxyUsPerOp, x.nginx.proxyUsPerOp));
      floorRow('handshake', x);
      add(`  generator CPU us per handshake`, f(x.nginx.genUsPerOp), f(x.postern.genUsPerOp), '');
    }
  }
  if (r.memory) {
    const levels = r.options.params.memoryLevels as number[];
    for (const mode of ['plain', 'tls']) {
      const x = r.memory[mode];
      if (!x) continue;
      add(`RSS MB, 0 idle ${mode}`, f(x.nginx.rssKb['0'] / 1024, 1), f(x.postern.rssKb['0'] / 1024, 1), q(x.postern.rssKb['0'], x.nginx.rssKb['0']), x.floor ? `bare Node (a tls.Server and a net.Server) ${f(x.floor.rssKb['0'] / 1024, 1)} MB` : '');
      for (const l of levels) {
        add(`RSS MB, ${l} idle ${mode}`, f(x.nginx.rssKb[l] / 1024, 1), f(x.postern.rssKb[l] / 1024, 1), q(x.postern.rssKb[l], x.nginx.rssKb[l]));
        add(`  KB per idle ${mode} conn (${l})`, f(x.nginx.kbPerConn[l], 1), f(x.postern.kbPerConn[l], 1), q(x.postern.kbPerConn[l], x.nginx.kbPerConn[l]));
        if (x.floor) {
          const note = `bare Node / nginx in the ratio column; Postern / bare Node ${q(x.postern.kbPerConn[l], x.floor.kbPerConn[l])}`;
          add(`  bare Node KB per idle ${mode} conn (${l})`, '', f(x.floor.kbPerConn[l], 1), q(x.floor.kbPerConn[l], x.nginx.kbPerConn[l]), note);
        }
        if (x.postern.settled && l === levels[0]) {
          const ps = x.postern.settled;
          const fs = x.floor?.settled;
          const floor = fs ? `; bare Node ${f(fs.kbPer, 1)} KB (${q(fs.kbPer, x.nginx.kbPerConn[l])} nginx)${fs.dropped ? ` after ${f(fs.afterS)} s` : ', no drop'}, Postern +${f(ps.kbPer - fs.kbPer, 1)} KB above it` : '';
          add(`  KB per idle ${mode} conn (${l}), settled`, f(x.nginx.kbPerConn[l], 1), f(ps.kbPer, 1), q(ps.kbPer, x.nginx.kbPerConn[l]), `${settledWhen(ps)}${floor}`);
        }
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
  if (r.idle) {
    for (const mode of ['plain', 'tls']) {
      const x = r.idle[mode];
      if (!x) continue;
      const n = x.postern.sessions;
      add(`RSS MB, ${n} idle relayed ${mode} sessions`, f(x.nginx.rssKb / 1024, 1), f(x.postern.rssKb / 1024, 1), q(x.postern.rssKb, x.nginx.rssKb), `before: ${f(x.nginx.rssKb0 / 1024, 1)} / ${f(x.postern.rssKb0 / 1024, 1)} MB`);
      add(`  KB per idle relayed ${mode} session`, f(x.nginx.kbPerSession, 1), f(x.postern.kbPerSession, 1), q(x.postern.kbPerSession, x.nginx.kbPerSession), `LOGIN + SELECT INBOX + IDLE; opened in ${f(x.nginx.openS, 1)} / ${f(x.postern.openS, 1)} s; closed early ${x.nginx.closedEarly}/${x.postern.closedEarly}`);
      if (x.floor) {
        const note = `bare Node / nginx in the ratio column; Postern / bare Node ${q(x.postern.kbPerSession, x.floor.kbPerSession)}; closed early ${x.floor.closedEarly}`;
        add(`  bare Node KB per idle relayed ${mode} session`, '', f(x.floor.kbPerSession, 1), q(x.floor.kbPerSession, x.nginx.kbPerSession), note);
      }
      if (x.postern.settled) {
        const ps = x.postern.settled;
        const fs = x.floor?.settled;
        const floor = fs ? `; bare Node ${f(fs.kbPer, 1)} KB (${q(fs.kbPer, x.nginx.kbPerSession)} nginx)${fs.dropped ? ` after ${f(fs.afterS)} s` : ', no drop'}, Postern / bare Node ${q(ps.kbPer, fs.kbPer)}` : '';
        add(`  KB per idle relayed ${mode} session, settled`, f(x.nginx.kbPerSession, 1), f(ps.kbPer, 1), q(ps.kbPer, x.nginx.kbPerSession), `${settledWhen(ps)}${floor}`);
      }
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
    for (const t of r.targets as TargetCheck[]) out += `  ${t.met === null ? 'INFO  ' : t.met ? 'MET   ' : 'MISSED'}  ${t.name}: ${t.value} (goal ${t.goal})\n`;
  }
  for (const n of r.notes ?? []) out += `\nNote: ${n}\n`;
  if (r.profile) {
    out += `\nPostern CPU profile (${r.profile.file}), top frames by self time:\n`;
    for (const fr of r.profile.top) out += `  ${fr.selfPct.toFixed(1).padStart(5)}%  ${fr.name}  ${fr.where}\n`;
  }
  return out;
}

await main();
