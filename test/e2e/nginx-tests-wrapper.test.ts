/**
 * scripts/nginx-tests/postern-nginx, the binary nginx's Perl tests are given to run Postern,
 * started the way Test::Nginx starts nginx (`-p DIR/ -c nginx.conf -e error.log`) on a
 * configuration shaped like theirs: the real nginx serves the `http { }` auth_http endpoint,
 * Postern the `mail { }` block, and a POP3 login goes through both to a scripted backend.
 * Then what Test::Nginx relies on: the pid file names the wrapper, HUP reloads both from the
 * rewritten nginx.conf, QUIT stops both and the wrapper exits 0; a configuration Postern refuses
 * fails the start (exit 1, Postern's reason on stderr, nginx stopped, no pid file); a child that
 * dies takes the other down and the wrapper exits 1.
 */
import { existsSync, readFileSync, writeFileSync } from 'node:fs';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import { fakeBackend, LineClient } from '../integration/fixtures.js';
import { freePorts, makeTempDir, removeDir, requireBinaries, spawnDaemon, type Daemon } from './harness/index.js';

requireBinaries(['nginx']);

const ROOT = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '../..');
const WRAPPER = path.join(ROOT, 'scripts/nginx-tests/postern-nginx');
// Postern from source (no build needed); a loaded machine may take longer than Test::Nginx's 5 s.
const ENV = { ...process.env, POSTERN_WRAPPER_POSTERN: `${process.execPath} --import tsx src/cli/bin.ts`, POSTERN_WRAPPER_START_MS: '30000' };

interface Setup {
  dir: string;
  httpPort: number;
  pop3Port: number;
  backendPort: number;
}

function nginxConf(s: Setup, options: { capability?: string; authStatus?: string; mailExtra?: string } = {}): string {
  const temp = (name: string) => `${name}_temp_path ${s.dir}/${name}_temp;`;
  return `pid ${s.dir}/nginx.pid;
error_log ${s.dir}/error.log debug;
load_module /usr/lib/nginx/modules/ngx_mail_module.so;

daemon off;

events {
}

mail {
    auth_http  http://127.0.0.1:${s.httpPort}/mail/auth;
    server {
        listen     127.0.0.1:${s.pop3Port};
        protocol   pop3;
        pop3_capabilities "TOP" "USER"${options.capability === undefined ? '' : ` "${options.capability}"`};
        ${options.mailExtra ?? ''}
    }
}

http {
    access_log off;
    ${['client_body', 'proxy', 'fastcgi', 'uwsgi', 'scgi'].map(temp).join('\n    ')}

    server {
        listen       127.0.0.1:${s.httpPort};
        location = /mail/auth {
            add_header Auth-Status "${options.authStatus ?? 'OK'}";
            add_header Auth-Server 127.0.0.1;
            add_header Auth-Port ${s.backendPort};
            return 204;
        }
    }
}
`;
}

const sleep = (ms: number) => new Promise((settle) => setTimeout(settle, ms));

async function until<T>(what: string, check: () => T | undefined | false | Promise<T | undefined | false>, timeoutMs = 15_000): Promise<T> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    const value = await check();
    if (value !== undefined && value !== false) return value;
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}`);
    await sleep(25);
  }
}

const alive = (pid: number): boolean => {
  try {
    process.kill(pid, 0);
    return true;
  } catch {
    return false;
  }
};

const pidIn = (file: string): number => Number(readFileSync(file, 'utf8').trim());

/** `USER`/`PASS` through Postern: the auth request goes to nginx's http block, the login to the backend. */
async function login(port: number): Promise<string[]> {
  const client = await LineClient.connect(port);
  try {
    const greeting = await client.line();
    client.send('USER test@example.com\r\n');
    const user = await client.line();
    client.send('PASS secret\r\n');
    const pass = await client.line(10_000);
    return [greeting ?? '', user ?? '', pass ?? ''];
  } finally {
    client.close();
  }
}

async function capabilities(port: number): Promise<string[]> {
  const client = await LineClient.connect(port);
  try {
    await client.line();
    client.send('CAPA\r\n');
    const lines: string[] = [];
    for (;;) {
      const line = await client.line();
      if (line === null || line === '.') return lines;
      lines.push(line);
    }
  } finally {
    client.close();
  }
}

describe('the nginx-tests wrapper', () => {
  let backend: Awaited<ReturnType<typeof fakeBackend>>;
  let setup: Setup;
  let wrapper: Daemon | undefined;

  beforeAll(async () => {
    backend = await fakeBackend('pop3');
  });
  afterEach(async () => {
    await wrapper?.stop(10_000);
    wrapper = undefined;
    await removeDir(setup.dir);
  });
  afterAll(async () => {
    await backend.close();
  });

  async function start(conf: (s: Setup) => string): Promise<Daemon> {
    const [httpPort, pop3Port] = await freePorts(2);
    setup = { dir: await makeTempDir('ntw'), httpPort: httpPort!, pop3Port: pop3Port!, backendPort: backend.port };
    writeFileSync(path.join(setup.dir, 'nginx.conf'), conf(setup));
    wrapper = spawnDaemon(WRAPPER, ['-p', `${setup.dir}/`, '-c', 'nginx.conf', '-e', 'error.log'], { cwd: setup.dir, env: ENV });
    return wrapper;
  }

  it('serves http with nginx and mail with Postern, reloads both on HUP, stops both on QUIT', async () => {
    const w = await start((s) => nginxConf(s));
    const pidFile = path.join(setup.dir, 'nginx.pid');
    await until('the pid file', () => existsSync(pidFile) || !w.alive());
    expect(w.alive(), w.output()).toBe(true);
    expect(pidIn(pidFile)).toBe(w.child.pid);
    const nginxPid = pidIn(path.join(setup.dir, 'wrapped-nginx.pid'));
    const posternPid = pidIn(path.join(setup.dir, 'wrapped-postern.pid'));

    expect(await login(setup.pop3Port)).toEqual(['+OK POP3 ready', '+OK', '+OK pass ok']);
    // The mail block is Postern's (its worker's line: only Postern serves mail), the http block
    // nginx's: both write nginx's lines into one error_log. (Postern's log is written asynchronously.)
    const log = await until('Postern\'s log line', () => {
      const text = readFileSync(path.join(setup.dir, 'error.log'), 'utf8');
      return new RegExp(`^\\d{4}/\\d\\d/\\d\\d [\\d:]+ \\[info\\] \\d+#\\d+: \\*\\d+ client logged in, client: 127\\.0\\.0\\.1, server: 127\\.0\\.0\\.1:${setup.pop3Port}, login: "`, 'm').test(text) && text;
    });
    expect(log).toMatch(new RegExp(`^\\d{4}/\\d\\d/\\d\\d [\\d:]+ \\[\\w+\\] ${nginxPid}#\\d+: `, 'm'));
    expect(readFileSync(path.join(setup.dir, 'wrapped-nginx.conf'), 'utf8')).not.toContain(`${setup.pop3Port}`);

    // Test::Nginx rewrites nginx.conf and sends HUP: the mail part (a capability) and the http
    // part (the auth answer) both change.
    writeFileSync(path.join(setup.dir, 'nginx.conf'), nginxConf(setup, { capability: 'X-RELOADED', authStatus: 'reloaded, go away' }));
    process.kill(w.child.pid!, 'SIGHUP');
    await until('the reloaded capability', async () => (await capabilities(setup.pop3Port)).includes('X-RELOADED'));
    await until('the reloaded auth answer', async () => (await login(setup.pop3Port))[2] === '-ERR reloaded, go away');

    process.kill(w.child.pid!, 'SIGQUIT');
    expect(await w.exited).toEqual({ code: 0, signal: null });
    expect(existsSync(pidFile)).toBe(false);
    expect(alive(nginxPid)).toBe(false);
    expect(alive(posternPid)).toBe(false);
  }, 60_000);

  it('a mail block Postern refuses fails the start as nginx would: exit 1, the reason, nothing left running', async () => {
    const w = await start((s) => nginxConf(s, { mailExtra: 'no_such_directive on;' }));
    // nginx starts (it writes its pid file) while Postern reads the configuration and refuses it.
    const nginxPid = await until('nginx\'s pid file', () => existsSync(path.join(setup.dir, 'wrapped-nginx.pid')) && pidIn(path.join(setup.dir, 'wrapped-nginx.pid')));
    expect(await w.exited).toEqual({ code: 1, signal: null });
    expect(alive(nginxPid)).toBe(false);
    expect(w.output()).toMatch(/^postern: \[emerg\] unknown directive "no_such_directive" in .*wrapped-postern\.conf:\d+$/m);
    expect(existsSync(path.join(setup.dir, 'nginx.pid'))).toBe(false);
    // nginx had started and was stopped: its pid file is gone with it.
    expect(existsSync(path.join(setup.dir, 'wrapped-nginx.pid'))).toBe(false);
  });

  it('a child that dies on its own takes the other down, and the wrapper exits 1', async () => {
    const w = await start((s) => nginxConf(s));
    const pidFile = path.join(setup.dir, 'nginx.pid');
    await until('the pid file', () => existsSync(pidFile) || !w.alive());
    const nginxPid = pidIn(path.join(setup.dir, 'wrapped-nginx.pid'));
    process.kill(pidIn(path.join(setup.dir, 'wrapped-postern.pid')), 'SIGKILL');
    expect(await w.exited).toEqual({ code: 1, signal: null });
    expect(w.output()).toMatch(/postern exited on its own/);
    expect(alive(nginxPid)).toBe(false);
    expect(existsSync(pidFile)).toBe(false);
  });
});
