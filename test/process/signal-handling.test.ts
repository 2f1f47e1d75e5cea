/**
 * nginx's signals on a running Postern, both ways it runs (one process as nobody; a root master
 * with a worker as nobody): USR1 reopens the logs (a rotated error_log is recreated and written),
 * HUP reloads, WINCH and USR2 are answered with a log line; after each, nothing new listens
 * (above all no Node.js inspector on 9229) and the processes are alive. QUIT stops gracefully,
 * closing a relayed session at worker_shutdown_timeout.
 */
import { existsSync, readFileSync, renameSync } from 'node:fs';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { removeDir, run } from '../e2e/harness/index.js';
import {
  alive,
  handToNobody,
  listeningBy,
  posternCommand,
  relayedPop3,
  startPostern,
  stillRelays,
  until,
  workbench,
  writeConfig,
  parseErrorLog,
  type LogLine,
  type PosternProcess,
  type Workbench,
} from './helpers.js';

/** The error_log lines of a log file (none if it does not exist). */
const linesOf = (file: string): LogLine[] => (existsSync(file) ? parseErrorLog(readFileSync(file, 'utf8')) : []);

/** Whatever listens on port 9229, Node.js's inspector port. */
const inspectorListeners = async (): Promise<string> => (await run('ss', ['-ltnpH', 'sport = :9229'])).stdout.trim();

describe.each([
  { mode: 'one process started as nobody', asNobody: true },
  { mode: 'a root master and its worker', asNobody: false },
])('signals to $mode', ({ asNobody }) => {
  let bench: Workbench;
  let postern: PosternProcess;
  let errorLog: string;
  let port: number;
  let sslPort: number;

  /** Every line of the error log and of its rotated copy. */
  const logs = (): LogLine[] => [...linesOf(`${errorLog}.1`), ...linesOf(errorLog)];
  const waitForLine = (re: RegExp, after: number, pid?: number) =>
    until(`a log line matching ${re}`, () => logs().slice(after).find((l) => re.test(l.msg) && (pid === undefined || l.pid === pid)));

  beforeAll(async () => {
    bench = await workbench('signal-handling', 2);
    [port, sslPort] = bench.ports as [number, number];
    errorLog = path.join(bench.dir, 'logs', 'error.log');
    writeConfig(
      bench.conf,
      `pid ${bench.pidFile};
error_log ${errorLog} info;
worker_shutdown_timeout 1s;
mail {
    auth_http 127.0.0.1:${bench.backends.auth.port}/auth;
    ssl_certificate ${bench.live.certificate};
    ssl_certificate_key ${bench.live.key};
    server { listen 127.0.0.1:${port}; protocol pop3; }
    server { listen 127.0.0.1:${sslPort} ssl; protocol pop3; }
}
`,
    );
    if (asNobody) handToNobody(bench.dir);
    postern = await startPostern(bench.conf, bench.pidFile, { asNobody });
    // Workers are known from the master's log, which is the error_log file here.
    await until('the start-up lines in the error log', () => (asNobody || logs().some((l) => /^start worker process/.test(l.msg)) ? true : undefined));
  });

  afterAll(async () => {
    await postern?.daemon.stop(8000);
    await bench?.backends.close();
    if (bench) await removeDir(bench.dir);
  });

  /** Worker pids from the master's `start worker process N` lines in the error log. */
  const workersFromLog = () => logs().flatMap((l) => /^start worker process (\d+)$/.exec(l.msg)?.[1] ?? []).map(Number).filter(alive);

  it('USR1, HUP, WINCH and USR2: answered, nothing new listens, no inspector, every process alive', async () => {
    const expected = [`127.0.0.1:${port}`, `127.0.0.1:${sslPort}`];
    const answers: Array<[NodeJS.Signals, RegExp]> = [
      ['SIGUSR1', /^signal 10 \(SIGUSR1\) received, reopening logs$/],
      ['SIGHUP', /^reconfigured from /],
      ['SIGWINCH', /^signal 28 \(SIGWINCH\) received, ignoring: Postern has no binary upgrade/],
      ['SIGUSR2', /^signal 12 \(SIGUSR2\) received, ignoring: Postern has no binary upgrade/],
    ];
    for (const [signal, answer] of answers) {
      const mark = logs().length;
      process.kill(postern.pid, signal);
      await waitForLine(answer, mark, postern.pid);
      // Each distinct address once: the master and the workers share the same sockets.
      const held = async () => [...new Set(await listeningBy([postern.pid, ...workersFromLog()]))].sort();
      await until(`only the configured listeners after ${signal}`, async () => (JSON.stringify(await held()) === JSON.stringify(expected) ? true : undefined)).catch(
        async (error: Error) => {
          throw new Error(`${error.message}; listening: ${(await held()).join(' ')}`);
        },
      );
      expect(await inspectorListeners()).toBe('');
      expect(postern.daemon.alive()).toBe(true);
      expect(postern.output()).not.toMatch(/Debugger listening/);
      const client = await relayedPop3(port);
      expect(await stillRelays(client)).toMatch(/^-ERR unknown command STAT/);
      client.close();
    }
  });

  it('a worker sent USR1 directly opens no inspector: it reopens its logs, or ignores it under --disable-sigusr1', async () => {
    const targets = asNobody ? [postern.pid] : workersFromLog();
    expect(targets.length).toBeGreaterThan(0);
    for (const pid of targets) {
      const mark = logs().length;
      process.kill(pid, 'SIGUSR1');
      // Node.js 22.14+: the master starts workers with --disable-sigusr1, which ignores the signal.
      if (readFileSync(`/proc/${pid}/cmdline`, 'utf8').split('\0').includes('--disable-sigusr1')) {
        const reopen = await posternCommand(['-s', 'reopen', '-c', bench.conf]);
        expect(reopen.code, reopen.stderr).toBe(0);
      }
      await waitForLine(/reopening logs$/, mark, pid);
      expect(alive(pid)).toBe(true);
    }
    expect(await inspectorListeners()).toBe('');
  });

  it('USR1 (postern -s reopen) after logrotate renamed error_log: the file is made again and written by every process', async () => {
    renameSync(errorLog, `${errorLog}.1`);
    const signalled = await posternCommand(['-s', 'reopen', '-c', bench.conf]);
    expect(signalled.code, signalled.stderr).toBe(0);
    await until('error_log to be made again', () => existsSync(errorLog));
    // A session's end is logged (at info) by the process that served it.
    const client = await relayedPop3(port);
    client.close();
    const servers = asNobody ? [postern.pid] : workersFromLog();
    await until('a line from a serving process in the new file', () => linesOf(errorLog).some((l) => servers.includes(l.pid)));
    process.kill(postern.pid, 'SIGHUP');
    await until('the master\u2019s next line in the new file', () => linesOf(errorLog).some((l) => l.pid === postern.pid && /reconfiguring$/.test(l.msg)));
  });

  it('QUIT with worker_shutdown_timeout: stops accepting, closes a relayed session at the timeout, exits 0', async () => {
    const client = await relayedPop3(port);
    const mark = logs().length;
    process.kill(postern.pid, 'SIGQUIT');
    await waitForLine(/shutting down gracefully$/, mark);
    // Idle, the session would last proxy_timeout (24h): only the shutdown timeout ends it.
    expect(await client.line(30_000)).toBeNull();
    expect(await postern.daemon.exited).toEqual({ code: 0, signal: null });
    expect(await inspectorListeners()).toBe('');
  });
});
