/**
 * `worker_processes 2`: a master and two workers sharing the listeners (node:cluster), over real
 * sockets: sessions land on both workers, a worker killed with SIGKILL is replaced (and logged as
 * nginx logs it), a reload starts new workers while live sessions go on in the old ones, stop
 * ends them all.
 */
import net from 'node:net';
import type tls from 'node:tls';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { freePorts, removeDir, type CertFiles } from '../e2e/harness/index.js';
import {
  alive,
  certificateFingerprint,
  hammer,
  holdsListener,
  posternCommand,
  relayedPop3,
  resumeOn,
  servingProcess,
  startPostern,
  stillRelays,
  tls12Session,
  tlsTicket,
  until,
  workbench,
  workerPids,
  writeConfig,
  type Workbench,
  type Backends,
  type PosternProcess,
} from './helpers.js';
import type { LineClient } from '../integration/fixtures.js';

describe('worker_processes 2', () => {
  let bench: Workbench;
  let dir: string;
  let backends: Backends;
  let certA: CertFiles;
  let certB: CertFiles;
  let postern: PosternProcess;
  let plainPort: number;
  let tlsPort: number;
  let cachePort: number;
  let conf: string;
  let pidFile: string;

  const config = (extraListen = '', workers = 2) => `worker_processes ${workers};
pid ${pidFile};
mail {
    auth_http 127.0.0.1:${backends.auth.port}/auth;
    ssl_certificate ${path.join(dir, 'live.crt')};
    ssl_certificate_key ${path.join(dir, 'live.key')};
    server { listen 127.0.0.1:${plainPort}; ${extraListen} protocol pop3; }
    server { listen 127.0.0.1:${tlsPort} ssl; protocol pop3; }
    server { listen 127.0.0.1:${cachePort} ssl; protocol pop3; ssl_session_cache shared:WORKERS:1m; ssl_session_tickets off; }
}
`;
  const useCertificate = (cert: CertFiles) => bench.useCertificate(cert);

  /** `count` relayed sessions at once, with the worker serving each. */
  const sessionsByWorker = async (count: number): Promise<Array<{ client: LineClient; pid: number | undefined }>> => {
    const clients = await Promise.all(Array.from({ length: count }, () => relayedPop3(plainPort)));
    const workers = workerPids(postern);
    return clients.map((client) => ({ client, pid: servingProcess(client.socket as net.Socket, plainPort, workers) }));
  };

  beforeAll(async () => {
    bench = await workbench('workers', 3);
    ({ dir, backends, certA, certB, conf, pidFile } = bench);
    [plainPort, tlsPort, cachePort] = bench.ports as [number, number, number];
    writeConfig(conf, config());
    postern = await startPostern(conf, pidFile);
  });

  afterAll(async () => {
    await postern?.daemon.stop(8000);
    for (const pid of postern ? workerPids(postern) : []) if (alive(pid)) process.kill(pid, 'SIGKILL');
    await backends?.close();
    if (dir) await removeDir(dir);
  });

  it('runs a master and two workers; sessions land on both workers', async () => {
    const workers = workerPids(postern);
    expect(workers).toHaveLength(2);
    expect(workers).not.toContain(postern.pid);
    // With SCHED_NONE the kernel picks the accepting worker: a bounded number of batches.
    const seen = new Set<number | undefined>();
    for (let batch = 0; batch < 10 && seen.size < 2; batch++) {
      for (const { client, pid } of await sessionsByWorker(20)) {
        seen.add(pid);
        client.close();
      }
    }
    expect([...seen].sort()).toEqual([...workers].sort());
  });

  it('replaces a worker killed with SIGKILL; the other worker\u2019s sessions go on', async () => {
    const [victim, survivor] = workerPids(postern);
    let sessions: Array<{ client: LineClient; pid: number | undefined }> = [];
    for (let batch = 0; batch < 10 && !sessions.some((s) => s.pid === survivor); batch++) {
      for (const { client } of sessions) client.close();
      sessions = await sessionsByWorker(10);
    }
    const kept = sessions.filter((s) => s.pid === survivor);
    expect(kept.length).toBeGreaterThan(0);
    const mark = postern.logs().length;
    process.kill(victim!, 'SIGKILL');
    await postern.waitForLog(new RegExp(`^worker process ${victim} exited on signal 9$`), mark);
    const replacement = await until('a replacement worker', () => workerPids(postern).find((pid) => pid !== victim && pid !== survivor));
    await postern.waitForLog(new RegExp(`^start worker process ${replacement}$`), mark);
    expect(alive(postern.pid)).toBe(true);
    for (const { client } of kept) expect(await stillRelays(client)).toMatch(/^-ERR unknown command STAT/);
    for (const { client } of sessions.filter((s) => s.pid === victim)) expect(await client.line()).toBeNull();
    // New sessions are served, by the survivor or the replacement.
    const fresh = await relayedPop3(plainPort);
    expect(await stillRelays(fresh)).toMatch(/^-ERR unknown command STAT/);
    fresh.close();
    for (const { client } of sessions) client.close();
  });

  it('resumes a TLS session on any worker: ticket keys and the shared: cache come from the master', async () => {
    const workers = workerPids(postern).filter(alive);
    expect(workers).toHaveLength(2);
    const cases: Array<[number, Buffer, tls.ConnectionOptions]> = [
      [tlsPort, await tlsTicket(tlsPort), {}],
      [cachePort, await tls12Session(cachePort), { maxVersion: 'TLSv1.2' }],
    ];
    for (const [port, session, options] of cases) {
      const seen = new Set<number | undefined>();
      // The kernel picks the worker (and a loaded machine may favour one for a while): a bounded
      // number of tries to see both.
      for (let i = 0; i < 300 && seen.size < 2; i++) {
        const { reused, pid } = await resumeOn(port, session, workers, options);
        expect(reused).toBe(true);
        seen.add(pid);
      }
      expect([...seen].sort()).toEqual([...workers].sort());
    }
  });

  it('reloads every worker: new certificate on new connections, live sessions untouched, no refused connection', async () => {
    const fingerprintA = await certificateFingerprint(tlsPort);
    const live = await Promise.all(Array.from({ length: 6 }, () => relayedPop3(plainPort)));
    const loop = hammer(plainPort);
    useCertificate(certB);
    const mark = postern.logs().length;
    const signalled = await posternCommand(['-s', 'reload', '-c', conf]);
    expect(signalled.code, signalled.stderr).toBe(0);
    await postern.waitForLog(/^reconfigured from/, mark);
    const { failed, ok } = await loop.stop();
    expect(failed).toEqual([]);
    expect(ok).toBeGreaterThan(0);
    // Every new connection, whichever worker takes it, shows the new certificate.
    for (let i = 0; i < 10; i++) expect(await certificateFingerprint(tlsPort)).not.toBe(fingerprintA);
    for (const client of live) {
      expect(await stillRelays(client)).toMatch(/^-ERR unknown command STAT/);
      client.close();
    }
  });

  it('refuses, in every worker, a reload whose new address cannot be bound; the old configuration keeps serving', async () => {
    const [busyPort] = (await freePorts(1)) as [number];
    const squatter = net.createServer();
    await new Promise<void>((resolve) => squatter.listen(busyPort, '127.0.0.1', resolve));
    try {
      const known = workerPids(postern);
      const live = await relayedPop3(plainPort);
      const before = await certificateFingerprint(tlsPort);
      useCertificate(certA);
      writeConfig(conf, config(`listen 127.0.0.1:${busyPort};`));
      const mark = postern.logs().length;
      process.kill(postern.pid, 'SIGHUP');
      const refusal = await postern.waitForLog(/reload refused/, mark);
      expect(refusal).toMatch(new RegExp(`bind\\(\\) to 127\\.0\\.0\\.1:${busyPort} failed`));
      // The workers started for the refused configuration are stopped; let them be gone, so that
      // the next test counts only the workers that serve.
      const started = workerPids(postern).filter((pid) => !known.includes(pid));
      await until('the workers of the refused reload to exit', () => started.every((pid) => !alive(pid)));
      // Still the certificate of before, on every worker.
      for (let i = 0; i < 10; i++) expect(await certificateFingerprint(tlsPort)).toBe(before);
      expect(await stillRelays(live)).toMatch(/^-ERR unknown command STAT/);
      live.close();
    } finally {
      writeConfig(conf, config());
      await new Promise<void>((resolve) => squatter.close(() => resolve()));
    }
  });

  it('reloads as nginx does: a new generation of workers (as many as the new worker_processes), the old ones retired gracefully', async () => {
    for (const workers of [3, 2]) {
      const known = workerPids(postern);
      const before = known.filter(alive);
      // A session on an old worker: it goes on after the reload, then that worker leaves.
      const live = await relayedPop3(plainPort);
      writeConfig(conf, config('', workers));
      const mark = postern.logs().length;
      process.kill(postern.pid, 'SIGHUP');
      await postern.waitForLog(new RegExp(`^reconfigured from .*: ${workers} worker processes`), mark);
      const fresh = workerPids(postern).filter((pid) => !known.includes(pid));
      expect(fresh).toHaveLength(workers);
      for (const pid of fresh) await until(`worker ${pid} to hold the listeners`, () => holdsListener(pid, tlsPort));
      const retired = postern.logs().slice(mark).map((l) => /^worker process (\d+) retired, shutting down gracefully$/.exec(l.msg)?.[1]);
      expect(retired.filter((pid) => pid !== undefined).map(Number).sort()).toEqual([...before].sort());
      expect(await stillRelays(live)).toMatch(/^-ERR unknown command STAT/);
      live.close();
      await until('the old workers to exit', () => before.every((pid) => !alive(pid)));
      for (const pid of before) await postern.waitForLog(new RegExp(`^worker process ${pid} exited with code 0$`), mark);
    }
    expect(workerPids(postern).filter(alive)).toHaveLength(2);
  });

  it('stop ends the master and every worker', async () => {
    const workers = workerPids(postern).filter(alive);
    const signalled = await posternCommand(['-s', 'stop', '-c', conf]);
    expect(signalled.code, signalled.stderr).toBe(0);
    expect(await postern.daemon.exited).toEqual({ code: 0, signal: null });
    await until('every worker to exit', () => workers.every((pid) => !alive(pid)));
  });
});
