/**
 * What one idle relayed IMAP session holds in Postern (logged in, INBOX selected, in IDLE, client
 * and backend sockets held): heap (after a forced GC), external memory and RSS per session, and
 * with `--heap-snapshots` the heap by constructor (two snapshots, diffed by bench/heap-diff.mjs).
 * Postern alone (dist/, bench/postern-launch.mjs with --expose-gc), in front of the harness's
 * auth_http server and a one-user Dovecot; no nginx.
 *
 *   npx tsx bench/idle-cost.ts [--sessions 1000] [--tls] [--heap-snapshots] [--no-build]
 *
 * Loopback only; every wait is bounded.
 */
import { spawnSync } from 'node:child_process';
import { mkdirSync, writeFileSync } from 'node:fs';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { parseArgs } from 'node:util';
import { freePorts, generateCert, makeTempDir, removeDir, spawnDaemon, startAuthServer, startDovecot } from '../test/e2e/harness/index.js';
import { type Conn, openIdleImapSession } from './lib/conn.js';
import { pool, rssKb, sleep } from './lib/stats.js';
// @ts-expect-error plain JavaScript module without types
import { heapDiff, printHeapDiff } from './heap-diff.mjs';

const HERE = path.dirname(fileURLToPath(import.meta.url));
const ROOT = path.resolve(HERE, '..');

const { values: opt } = parseArgs({
  options: {
    sessions: { type: 'string', default: '1000' },
    tls: { type: 'boolean', default: false },
    'heap-snapshots': { type: 'boolean', default: false },
    'no-build': { type: 'boolean', default: false },
  },
  strict: true,
});
const N = Math.min(5000, Number(opt.sessions));
if (!opt['no-build']) spawnSync('npm', ['run', 'build', '--silent'], { cwd: ROOT, stdio: 'inherit' });

interface Mem {
  heapUsed: number;
  external: number;
  arrayBuffers: number;
  rss: number;
}

const tmp = await makeTempDir('idle-cost');
const cleanup: Array<() => Promise<unknown>> = [() => removeDir(tmp)];
const conns: Conn[] = [];
try {
  const cert = await generateCert({ type: 'ec', dir: path.join(tmp, 'tls'), name: 'ec', cn: 'bench.test' });
  const dc = await startDovecot({
    users: [{ user: 'user', password: 'benchpass' }],
    extraConfig: 'service imap-login {\n  service_count = 0\n}\nservice imap {\n  service_count = 0\n  client_limit = 50\n  process_limit = 200\n}\nprotocol imap {\n  mail_max_userip_connections = 10000\n}',
  });
  cleanup.push(() => dc.close());
  const auth = await startAuthServer({ users: { user: 'benchpass' }, backends: { imap: dc.imapPort } });
  cleanup.push(() => auth.close());
  const [plain, secure] = await freePorts(2);
  const conf = path.join(tmp, 'postern.conf');
  writeFileSync(
    conf,
    `events { worker_connections 16384; }
mail {
    auth_http 127.0.0.1:${auth.port}/auth;
    timeout 10m;
    ssl_certificate ${cert.certPath};
    ssl_certificate_key ${cert.keyPath};
    server { listen 127.0.0.1:${plain}; protocol imap; starttls on; }
    server { listen 127.0.0.1:${secure} ssl; protocol imap; }
}
`,
  );
  const daemon = spawnDaemon(process.execPath, ['--expose-gc', path.join(HERE, 'postern-launch.mjs'), conf], { stdio: ['ignore', 'pipe', 'pipe', 'ipc'], cwd: ROOT });
  cleanup.push(() => daemon.stop(3000));
  let seq = 0;
  const pending = new Map<number, (m: Record<string, unknown>) => void>();
  const pid = await new Promise<number>((resolve, reject) => {
    const timer = setTimeout(() => reject(new Error(`postern did not start:\n${daemon.output()}`)), 20_000);
    daemon.child.on('message', (m: Record<string, unknown>) => {
      if (m.type === 'ready') {
        clearTimeout(timer);
        resolve(Number(m.pid));
      } else if (typeof m.id === 'number') pending.get(m.id)?.(m);
    });
  });
  const ask = <T>(m: Record<string, unknown>): Promise<T> =>
    new Promise((resolve, reject) => {
      const id = ++seq;
      const timer = setTimeout(() => reject(new Error(`postern: no answer to ${String(m.type)}`)), 60_000);
      pending.set(id, (r) => {
        clearTimeout(timer);
        resolve(r as T);
      });
      daemon.child.send({ ...m, id });
    });
  const open = (): Promise<Conn> => openIdleImapSession(opt.tls ? secure! : plain!, { tls: opt.tls, user: 'user', password: 'benchpass' });
  // A few sessions first, closed: what the first sessions allocate once (code, pools) is not counted.
  for (const c of await pool(20, 10, open)) c.destroy();
  await sleep(1000);
  const snapDir = path.join(HERE, 'results', 'heap');
  mkdirSync(snapDir, { recursive: true });
  const before = await ask<Mem>({ type: 'mem' });
  const rss0 = rssKb(pid);
  const snapBefore = opt['heap-snapshots'] ? (await ask<{ file: string }>({ type: 'heap-snapshot', file: path.join(snapDir, 'idle-before.heapsnapshot') })).file : '';
  conns.push(...(await pool(N, 32, open)));
  await sleep(2000);
  const after = await ask<Mem>({ type: 'mem' });
  const rss1 = rssKb(pid);
  const per = (a: number, b: number) => ((b - a) / N / 1024).toFixed(2);
  process.stdout.write(
    `${N} idle relayed ${opt.tls ? 'TLS' : 'plaintext'} IMAP sessions, per session: RSS ${((rss1 - rss0) / N).toFixed(1)} KB, JS heap ${per(before.heapUsed, after.heapUsed)} KB, external ${per(before.external, after.external)} KB (array buffers ${per(before.arrayBuffers, after.arrayBuffers)} KB)\n`,
  );
  if (opt['heap-snapshots']) {
    const snapAfter = (await ask<{ file: string }>({ type: 'heap-snapshot', file: path.join(snapDir, 'idle-after.heapsnapshot') })).file;
    printHeapDiff(heapDiff(snapBefore, snapAfter, N), 40);
  }
} finally {
  for (const c of conns) c.destroy();
  for (const c of cleanup.reverse()) await c().catch(() => undefined);
}
