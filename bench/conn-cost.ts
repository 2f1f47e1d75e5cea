/**
 * What one connection costs Postern before any login, beside bare Node (the floor), without
 * nginx, Dovecot or auth: a quicker, steadier A/B for changes to the per-connection path than
 * the full `npm run bench`.
 *
 *   npx tsx bench/conn-cost.ts [--rounds 3] [--conns 1500] [--idle 2000] [--only cpu|memory]
 *                              [--heap-snapshots] [--cpu-prof] [--no-build]
 *
 * Per target (Postern = dist/ via bench/postern-launch.mjs; floor = bench/floor-launch.mjs),
 * alternating per round, after one untimed warm-up pass:
 *   - CPU µs per connection (/proc schedstat of the server process) for `--conns` connections,
 *     32 at a time: plaintext connect → greeting → close; ECDSA TLS 1.3 full handshake →
 *     greeting → close; the same resuming a ticket;
 *   - heap and RSS per idle connection: `--idle` connections held after the greeting, measured
 *     after a forced GC (`--expose-gc`), each mode in a fresh process (as `npm run bench` does:
 *     RSS never shrinks, so a process that served other load reads low).
 * `--heap-snapshots` then diffs two heap snapshots of a fresh Postern and of a fresh bare Node
 * (before / after `--idle` idle connections, per mode) and prints what one connection holds, by
 * constructor.
 * Loopback only; every wait is bounded.
 */
import { spawnSync } from 'node:child_process';
import { mkdirSync, writeFileSync } from 'node:fs';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { parseArgs } from 'node:util';
import type tls from 'node:tls';
import { freePorts, generateCert, makeTempDir, removeDir, spawnDaemon, type Daemon } from '../test/e2e/harness/index.js';
import { Conn } from './lib/conn.js';
import { cpuMs, median, pool, rssKb, sleep } from './lib/stats.js';
import { summarizeProfile } from './profile-summary.js';
// @ts-expect-error plain JavaScript module without types
import { heapDiff, printHeapDiff } from './heap-diff.mjs';

const HERE = path.dirname(fileURLToPath(import.meta.url));
const ROOT = path.resolve(HERE, '..');

const { values: opt } = parseArgs({
  options: {
    rounds: { type: 'string', default: '3' },
    conns: { type: 'string', default: '1500' },
    idle: { type: 'string', default: '2000' },
    only: { type: 'string' },
    'heap-snapshots': { type: 'boolean', default: false },
    'cpu-prof': { type: 'boolean', default: false },
    'no-build': { type: 'boolean', default: false },
  },
  strict: true,
});
const ROUNDS = Number(opt.rounds);
const CONNS = Number(opt.conns);
const IDLE = Number(opt.idle);
const CONCURRENCY = 32;
const log = (s: string) => process.stderr.write(`${s}\n`);

interface Server {
  name: 'postern' | 'floor';
  pid: number;
  plainPort: number;
  tlsPort: number;
  daemon: Daemon;
  request(type: string, extra?: Record<string, unknown>): Promise<Record<string, number>>;
}

async function launch(name: Server['name'], args: string[], flags: string[]): Promise<Server> {
  const script = path.join(HERE, name === 'postern' ? 'postern-launch.mjs' : 'floor-launch.mjs');
  const daemon = spawnDaemon(process.execPath, ['--expose-gc', ...flags, script, ...args], { stdio: ['ignore', 'pipe', 'pipe', 'ipc'], cwd: ROOT });
  const child = daemon.child;
  let seq = 0;
  const pending = new Map<number, (m: Record<string, number>) => void>();
  const ready = await new Promise<{ pid: number; ports: number[] }>((resolve, reject) => {
    const timer = setTimeout(() => reject(new Error(`${name} did not start:\n${daemon.output()}`)), 20_000);
    child.on('message', (m: Record<string, unknown>) => {
      if (m.type === 'ready') {
        clearTimeout(timer);
        resolve(m as unknown as { pid: number; ports: number[] });
      } else if (typeof m.id === 'number') {
        pending.get(m.id)?.(m as Record<string, number>);
        pending.delete(m.id);
      }
    });
  });
  return {
    name,
    pid: ready.pid,
    plainPort: ready.ports[0]!,
    tlsPort: ready.ports[1]!,
    daemon,
    request: (type, extra = {}) =>
      new Promise((resolve, reject) => {
        const id = ++seq;
        const timer = setTimeout(() => reject(new Error(`${name}: no answer to ${type}`)), 30_000);
        pending.set(id, (m) => {
          clearTimeout(timer);
          resolve(m);
        });
        child.send({ ...extra, type, id });
      }),
  };
}

type Mode = 'plain' | 'tls-full' | 'tls-resumed';

/** CPU µs per connect → greeting → close, CONNS connections, CONCURRENCY at a time. */
async function churn(s: Server, mode: Mode): Promise<number> {
  const port = mode === 'plain' ? s.plainPort : s.tlsPort;
  const sessions: Array<Buffer | undefined> = new Array(CONCURRENCY);
  const one = async (lane: number): Promise<void> => {
    const session = mode === 'tls-resumed' ? sessions[lane] : undefined;
    const tlsOptions: tls.ConnectionOptions = session ? { session } : {};
    const c = await Conn.open(port, { tls: mode !== 'plain', tlsOptions });
    if (mode === 'tls-resumed') c.sock.on('session', (b: Buffer) => (sessions[lane] = b));
    try {
      await c.readLine();
      // TLS 1.3 tickets follow the handshake: wait (bounded) for the first one of each lane.
      for (let i = 0; i < 50 && mode === 'tls-resumed' && sessions[lane] === undefined; i++) await sleep(5);
    } finally {
      c.destroy();
    }
  };
  // Prime: one connection per lane, not counted.
  await Promise.all(Array.from({ length: CONCURRENCY }, (_, lane) => one(lane)));
  await sleep(200);
  const cpu0 = cpuMs(s.pid);
  let next = 0;
  await Promise.all(
    Array.from({ length: CONCURRENCY }, async (_, lane) => {
      while (next++ < CONNS) await one(lane);
    }),
  );
  await sleep(300); // the server's close handling
  return ((cpuMs(s.pid) - cpu0) * 1000) / CONNS;
}

/** Heap and RSS bytes per idle connection held after the greeting. */
async function idle(s: Server, mode: 'plain' | 'tls'): Promise<{ heap: number; external: number; rss: number }> {
  await sleep(500);
  const before = await s.request('mem');
  const rss0 = rssKb(s.pid);
  const conns = await pool(IDLE, 64, async () => {
    const c = await Conn.open(mode === 'plain' ? s.plainPort : s.tlsPort, { tls: mode === 'tls', timeoutMs: 30_000 });
    await c.readLine(30_000);
    return c;
  });
  await sleep(500);
  const after = await s.request('mem');
  const rss1 = rssKb(s.pid);
  for (const c of conns) c.destroy();
  return {
    heap: (after.heapUsed! - before.heapUsed!) / IDLE,
    external: (after.external! - before.external!) / IDLE,
    rss: ((rss1 - rss0) * 1024) / IDLE,
  };
}

/** Heap snapshots of `s` before and after IDLE idle connections; prints the per-connection diff. */
async function snapshots(s: Server, mode: 'plain' | 'tls', dir: string): Promise<void> {
  const before = path.join(dir, `${s.name}-${mode}-before.heapsnapshot`);
  const after = path.join(dir, `${s.name}-${mode}-after.heapsnapshot`);
  await s.request('gc');
  await s.request('heap-snapshot', { file: before });
  const conns = await pool(IDLE, 64, async () => {
    const c = await Conn.open(mode === 'plain' ? s.plainPort : s.tlsPort, { tls: mode === 'tls', timeoutMs: 30_000 });
    await c.readLine(30_000);
    return c;
  });
  await sleep(500);
  await s.request('gc');
  await s.request('heap-snapshot', { file: after });
  for (const c of conns) c.destroy();
  process.stdout.write(`\n${s.name === 'postern' ? 'Postern' : 'bare Node'}, ${mode}, ${IDLE} idle connections: `);
  printHeapDiff(heapDiff(before, after, IDLE), 30);
}

async function main(): Promise<void> {
  if (!opt['no-build']) spawnSync('npm', ['run', 'build', '--silent'], { cwd: ROOT, stdio: 'inherit' });
  const tmp = await makeTempDir('conn-cost');
  const servers: Server[] = [];
  try {
    const ec = await generateCert({ dir: tmp, type: 'ec', name: 'ec' });
    let confs = 0;
    /** A Postern configuration on two new ports (a fresh process cannot share the long-lived one's). */
    const writeConf = async (): Promise<string> => {
      const [p1, p2] = await freePorts(2);
      const file = path.join(tmp, `postern-${++confs}.conf`);
      writeFileSync(
        file,
        `events { worker_connections 16384; }
mail {
    server_name bench.test;
    auth_http 127.0.0.1:9/auth;
    timeout 10m;
    ssl_certificate ${ec.certPath};
    ssl_certificate_key ${ec.keyPath};
    ssl_protocols TLSv1.2 TLSv1.3;
    server {
        listen 127.0.0.1:${p1};
        protocol imap;
    }
    server {
        listen 127.0.0.1:${p2} ssl;
        protocol imap;
    }
}
`,
      );
      return file;
    };
    const conf = await writeConf();
    const profDir = path.join(HERE, 'results', 'profiles');
    if (opt['cpu-prof']) mkdirSync(profDir, { recursive: true });
    const postern = await launch('postern', [conf], opt['cpu-prof'] ? ['--cpu-prof', '--cpu-prof-dir', profDir] : []);
    const floor = await launch('floor', [ec.certPath, ec.keyPath], []);
    servers.push(postern, floor);

    const rows = new Map<string, Map<string, number[]>>();
    const put = (row: string, who: string, v: number) => {
      const r = rows.get(row) ?? new Map<string, number[]>();
      rows.set(row, r);
      r.set(who, [...(r.get(who) ?? []), v]);
    };
    if (opt.only !== 'memory') {
      // Untimed: the first round otherwise measures V8 compiling Postern's code (2x the later ones).
      for (const s of [postern, floor]) for (const mode of ['plain', 'tls-full', 'tls-resumed'] as const) await churn(s, mode);
      log('conn-cost: warm-up done');
    }
    for (let round = 0; round < ROUNDS; round++) {
      const order = round % 2 === 0 ? [postern, floor] : [floor, postern];
      for (const mode of opt.only === 'memory' ? [] : (['plain', 'tls-full', 'tls-resumed'] as const)) {
        for (const s of order) put(`CPU us per conn, ${mode}`, s.name, await churn(s, mode));
      }
      for (const mode of opt.only === 'cpu' ? [] : (['plain', 'tls'] as const)) {
        for (const name of order.map((s) => s.name)) {
          const s = await launch(name, name === 'postern' ? [await writeConf()] : [ec.certPath, ec.keyPath], []);
          const m = await idle(s, mode).finally(() => s.daemon.stop(2000));
          put(`heap B per idle ${mode} conn`, s.name, m.heap);
          put(`external B per idle ${mode} conn`, s.name, m.external);
          put(`RSS B per idle ${mode} conn`, s.name, m.rss);
        }
      }
      log(`conn-cost: round ${round + 1}/${ROUNDS} done`);
    }
    const fmt = (xs: number[] | undefined) => (xs === undefined ? '' : `${Math.round(median(xs))} (${xs.map((x) => Math.round(x)).join(', ')})`);
    process.stdout.write(`\n| Figure (median, rounds) | Postern | floor (bare Node) |\n|---|---:|---:|\n`);
    for (const [row, r] of rows) process.stdout.write(`| ${row} | ${fmt(r.get('postern'))} | ${fmt(r.get('floor'))} |\n`);
    if (opt['heap-snapshots']) {
      // Warm a fresh process first (so that lazily built module state is not counted per connection).
      for (const [mode, name] of [['plain', 'postern'], ['plain', 'floor'], ['tls', 'postern'], ['tls', 'floor']] as const) {
        const s = name === 'postern' ? await launch('postern', [await writeConf()], []) : await launch('floor', [ec.certPath, ec.keyPath], []);
        await pool(64, 16, async () => {
          const c = await Conn.open(mode === 'plain' ? s.plainPort : s.tlsPort, { tls: mode === 'tls' });
          await c.readLine();
          c.destroy();
        });
        await sleep(300);
        await snapshots(s, mode, tmp).finally(() => s.daemon.stop(2000));
      }
    }
    for (const s of servers) s.daemon.child.send({ type: 'shutdown' });
    await Promise.all(servers.map((s) => Promise.race([s.daemon.exited, sleep(5000)])));
    if (opt['cpu-prof']) {
      const { readdirSync, statSync } = await import('node:fs');
      const newest = readdirSync(profDir)
        .filter((f) => f.endsWith('.cpuprofile'))
        .map((f) => path.join(profDir, f))
        .sort((a, b) => statSync(b).mtimeMs - statSync(a).mtimeMs)[0];
      if (newest) {
        process.stdout.write(`\nPostern profile ${path.relative(ROOT, newest)}, top self time:\n`);
        for (const f of summarizeProfile(newest, 30)) process.stdout.write(`${f.selfPct.toFixed(1).padStart(6)}%  ${f.name}  ${f.where}\n`);
      }
    }
  } finally {
    for (const s of servers) if (s.daemon.alive()) await s.daemon.stop(2000);
    await removeDir(tmp);
  }
}

await main();
process.exit(0);
