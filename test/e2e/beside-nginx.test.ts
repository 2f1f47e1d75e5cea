/**
 * nginx and Postern started from one nginx.conf (issue 15): nginx serves its `http` block,
 * Postern the `mail` block. The file's `pid` and `error_log` are nginx's: Postern writes
 * postern.pid beside nginx's pid file and logs to stderr, says so at -t, and `nginx -s reload`
 * and `postern -s reload` each reach only their own process.
 *
 * nginx runs in a network namespace of its own (unshare --net): with its mail module loaded it
 * would also bind the mail block's addresses, which Postern serves here (on a real host nginx's
 * mail servers are what Postern replaces). Signals and files are shared: that is what is tested.
 */
import { mkdirSync, readFileSync, writeFileSync } from 'node:fs';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { posternCommand, startPostern, until, type PosternProcess } from '../process/helpers.js';
import { NGINX_BIN, NGINX_MAIL_MODULE } from './harness/nginx.js';
import { freePorts } from './harness/ports.js';
import { makeTempDir, removeDir, run, spawnDaemon, type Daemon } from './harness/proc.js';
import { requireBinaries } from './harness/require.js';

const { unshare } = requireBinaries(['nginx', 'unshare']) as { unshare: string };

let dir: string;
let conf: string;
let nginx: Daemon;
let postern: PosternProcess;
const nginxPid = () => path.join(dir, 'run/nginx.pid');
const posternPid = () => path.join(dir, 'run/postern.pid');
const nginxLog = () => readFileSync(path.join(dir, 'log/error.log'), 'utf8');
const nginxArgs = () => ['-p', `${dir}/`, '-e', path.join(dir, 'log/startup.log'), '-c', conf];
const reloads = (text: string) => text.split('\n').filter((l) => /signal 1 \(SIGHUP\) received.*reconfiguring/.test(l)).length;

beforeAll(async () => {
  dir = await makeTempDir('beside');
  mkdirSync(path.join(dir, 'run'));
  mkdirSync(path.join(dir, 'log'));
  const [httpPort, mailPort] = (await freePorts(2)) as [number, number];
  conf = path.join(dir, 'nginx.conf');
  writeFileSync(
    conf,
    `load_module ${NGINX_MAIL_MODULE};\nworker_processes 1;\npid ${nginxPid()};\nerror_log ${path.join(dir, 'log/error.log')} info;\nevents { }\n` +
      `http {\n    access_log off;\n    server { listen 127.0.0.1:${httpPort}; return 200 "nginx\\n"; }\n}\n` +
      `mail {\n    auth_http 127.0.0.1:9/auth;\n    server { listen 127.0.0.1:${mailPort}; protocol imap; }\n}\n`,
  );
  nginx = spawnDaemon(unshare!, ['--net', '--', NGINX_BIN, ...nginxArgs(), '-g', 'daemon off;']);
  await until(`nginx's pid file\n${nginx.output()}`, () => {
    if (!nginx.alive()) throw new Error(`nginx exited:\n${nginx.output()}`);
    try {
      return readFileSync(nginxPid(), 'utf8').trim() !== '';
    } catch {
      return false;
    }
  });
  postern = await startPostern(conf, posternPid());
}, 60_000);

afterAll(async () => {
  await postern?.daemon.stop();
  await nginx?.stop();
  if (dir) await removeDir(dir);
});

describe('one nginx.conf, nginx for http, Postern for mail', () => {
  it('-t says which pid file and log Postern takes, and that they are not nginx\'s', async () => {
    const r = await posternCommand(['-t', '-c', conf]);
    expect(r.code, r.stderr).toBe(0);
    expect(r.stderr).toContain(`postern: [notice] "pid ${nginxPid()}" in ${conf}:3 is nginx's: this file also serves nginx (http); Postern's pid file is "${posternPid()}" (another with -g 'pid FILE;')\n`);
    expect(r.stderr).toContain(`postern: [notice] "error_log ${path.join(dir, 'log/error.log')}" in ${conf}:4 is nginx's: this file also serves nginx (http); Postern logs to stderr`);
  });

  it('each has its own pid file; Postern writes nothing into nginx\'s error log', () => {
    // setpriv and unshare exec nginx: the process started is nginx's master.
    expect(Number(readFileSync(nginxPid(), 'utf8'))).toBe(nginx.child.pid);
    expect(Number(readFileSync(posternPid(), 'utf8'))).toBe(postern.pid);
    expect(Number(readFileSync(nginxPid(), 'utf8'))).not.toBe(postern.pid);
    expect(nginxLog()).not.toContain('"pid"');
    expect(postern.output()).toContain('listening on 127.0.0.1:');
  });

  it('nginx -s reload reaches nginx only; postern -s reload reaches Postern only', async () => {
    const nginxReload = await run(NGINX_BIN, [...nginxArgs(), '-s', 'reload']);
    expect(nginxReload.code, nginxReload.stderr).toBe(0);
    await until('nginx reconfiguring', () => reloads(nginxLog()) === 1);
    await new Promise((r) => setTimeout(r, 500));
    expect(postern.logs().filter((l) => l.msg.includes('reconfiguring'))).toEqual([]);

    const posternReload = await posternCommand(['-s', 'reload', '-c', conf]);
    expect(posternReload.code, posternReload.stderr).toBe(0);
    await postern.waitForLog(/signal 1 \(SIGHUP\) received, reconfiguring/);
    await postern.waitForLog(/^reconfigured from /);
    await new Promise((r) => setTimeout(r, 500));
    expect(reloads(nginxLog())).toBe(1);
    expect(nginx.alive()).toBe(true);
  });
});
