/**
 * nginx's command-line habits beside the reference nginx 1.22.1: `-t` fails where nginx -t fails
 * (mail inside http, an auth_http host that does not resolve, an error_log that cannot be
 * opened, a `listen` host that does not resolve or resolves to an address listened on already,
 * `-g` errors "in command line"), `-T` prints what nginx -T prints, `-p` and `-e`, and a wildcard
 * `listen` beside an address (or a host name) on the same port serves both as nginx does (one
 * socket, dispatched by the local address).
 */
import { mkdirSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import net from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { loadConfiguration } from '../../../src/cli/config-file.js';
import { parseConfigText } from '../../../src/config/index.js';
import { resolveListenHosts } from '../../../src/config/listen-hosts.js';
import { silentLogger } from '../../../src/log.js';
import { startProxy } from '../../../src/server.js';
import { startNginx } from '../../e2e/harness/nginx.js';
import { freePorts } from '../../e2e/harness/ports.js';
import { run } from '../../e2e/harness/proc.js';
import { requireBinaries } from '../../e2e/harness/require.js';
import { cli } from './run-cli.js';

const { nginx: NGINX, 'nginx-mail': MODULE } = requireBinaries(['nginx']) as { nginx: string; 'nginx-mail': string };

const dir = mkdtempSync(join(tmpdir(), 'postern-cli-'));
afterAll(() => rmSync(dir, { recursive: true, force: true }));

let counter = 0;
/** A whole nginx.conf both can read: nginx's module, pid and error log on the first line. */
function write(text: string, header = `load_module ${MODULE}; pid ${dir}/nginx.pid; error_log ${dir}/error.log; events { } `): string {
  const file = join(dir, `case-${counter++}.conf`);
  writeFileSync(file, header + text);
  return file;
}

/** The `[emerg]` line, the last line and the exit status of `PROGRAM -t ARGS`. */
async function nginxTest(args: string[]): Promise<{ code: number | null; emerg: string | undefined; last: string | undefined }> {
  const r = await run(NGINX, ['-t', '-p', `${dir}/`, '-e', `${dir}/startup.log`, ...args]);
  const lines = r.stderr.trimEnd().split('\n').map((l) => l.replace(/^nginx: /, ''));
  return { code: r.code, emerg: lines.find((l) => l.startsWith('[emerg] ')), last: lines.at(-1) };
}
async function posternTest(args: string[]): Promise<{ code: number | null; emerg: string | undefined; last: string | undefined }> {
  const r = await cli(['-t', ...args]);
  const lines = r.stderr.trimEnd().split('\n').map((l) => l.replace(/^postern: /, ''));
  return { code: r.code, emerg: lines.find((l) => l.startsWith('[emerg] ')), last: lines.at(-1) };
}

const MAIL = (authHttp = '127.0.0.1:9/auth') => `mail {\n  auth_http ${authHttp};\n  server { listen 127.0.0.1:18143; protocol imap; }\n}\n`;

describe('-t fails where nginx -t fails, with its words', () => {
  it.each([
    ['mail { } inside http { }', () => write(`http {\n  ${MAIL()}}\n`)],
    ['an auth_http host that does not resolve', () => write(MAIL('mail-auth.invalid:8080/auth'))],
    ['a listen host that does not resolve', () => write(`mail {\n  auth_http 127.0.0.1:9/auth;\n  server { listen mail-listen.invalid:18143; protocol imap; }\n}\n`)],
    [
      'a listen host name that resolves to an address listened on already',
      () => write(`mail {\n  auth_http 127.0.0.1:9/auth;\n  server { listen 127.0.0.1:18143; protocol imap; }\n  server { listen localhost:18143; protocol pop3; }\n}\n`),
    ],
    ['an error_log in a directory that does not exist', () => write(MAIL(), `load_module ${MODULE}; pid ${dir}/nginx.pid; error_log ${dir}/no-such-dir/error.log; events { } `)],
  ])('%s', async (_name, make) => {
    const file = make();
    const theirs = await nginxTest(['-c', file]);
    const ours = await posternTest(['-c', file]);
    expect(theirs.code).toBe(1);
    expect(ours).toEqual(theirs);
  });

  it('a listen host that resolves passes', async () => {
    const file = write(`mail {\n  auth_http 127.0.0.1:9/auth;\n  server { listen localhost:18143; protocol imap; }\n}\n`);
    expect((await posternTest(['-c', file])).code).toBe(0);
    expect((await nginxTest(['-c', file])).code).toBe(0);
  });

  it('an auth_http host that resolves passes', async () => {
    const file = write(MAIL('localhost:9/auth'));
    expect((await posternTest(['-c', file])).code).toBe(0);
    expect((await nginxTest(['-c', file])).code).toBe(0);
  });

  it('-g: directives before the file, errors "in command line"', async () => {
    const file = write(MAIL());
    const theirs = await nginxTest(['-c', file, '-g', 'frobnicate on;']);
    const ours = await posternTest(['-c', file, '-g', 'frobnicate on;']);
    expect(ours.emerg).toBe('[emerg] unknown directive "frobnicate" in command line');
    expect(ours).toEqual(theirs);
    const workers = await posternTest(['-c', file, '-g', 'worker_processes 3;']);
    expect(workers.code).toBe(0);
    expect(loadConfiguration({ config: file, globals: 'worker_processes 3;', prefix: undefined, errorLog: undefined, stateDir: undefined }).workerProcesses).toBe(3);
  });
});

describe('-T prints every file read, as nginx -T does', () => {
  it('the main file and its includes, each after "# configuration file NAME:"', async () => {
    const include = join(dir, 'servers.conf');
    writeFileSync(include, 'server { listen 127.0.0.1:18110; protocol pop3; }\n');
    const file = write(`mail {\n  auth_http 127.0.0.1:9/auth;\n  include ${include};\n  server { listen 127.0.0.1:18143; protocol imap; }\n}\n`);
    const theirs = await run(NGINX, ['-T', '-q', '-p', `${dir}/`, '-e', `${dir}/startup.log`, '-c', file]);
    const ours = await cli(['-T', '-q', '-c', file]);
    expect(theirs.code).toBe(0);
    expect(ours.code, ours.stderr).toBe(0);
    expect(ours.stdout).toContain(`# configuration file ${include}:\n`);
    expect(ours.stdout).toBe(theirs.stdout);
  });

  it('nothing on stdout when the test fails', async () => {
    const file = write('mail { frobnicate; }\n');
    const ours = await cli(['-T', '-c', file]);
    expect(ours.code).toBe(1);
    expect(ours.stdout).toBe('');
  });
});

describe('-p PREFIX and -e FILE', () => {
  it('-p: -c, pid and error_log relative to the prefix; include and certificates relative to the file', () => {
    const prefix = join(dir, 'prefix');
    mkdirSync(join(prefix, 'conf'), { recursive: true });
    writeFileSync(join(prefix, 'conf/mail.conf'), `pid logs/postern.pid;\nerror_log logs/error.log;\n${MAIL()}`);
    const config = loadConfiguration({ config: 'conf/mail.conf', prefix, globals: undefined, errorLog: undefined, stateDir: undefined });
    expect(config.file).toBe(join(prefix, 'conf/mail.conf'));
    expect(config.pidFile).toBe(join(prefix, 'logs/postern.pid'));
    expect(config.errorLogs?.[0]?.target).toBe(join(prefix, 'logs/error.log'));
  });

  it('-e: the error log when the configuration has no main error_log, not over one it has', () => {
    const without = write(MAIL(), 'events { } ');
    const withLog = write(MAIL(), `error_log ${dir}/own.log; events { } `);
    const options = { globals: undefined, prefix: dir, errorLog: 'logs/e.log', stateDir: undefined };
    expect(loadConfiguration({ ...options, config: without }).errorLogs).toEqual([{ target: join(dir, 'logs/e.log'), level: 'info' }]);
    expect(loadConfiguration({ ...options, config: withLog }).errorLogs?.map((log) => log.target)).toEqual([`${dir}/own.log`]);
  });

  it('-g, -p and -e without -c are refused (the embedded default has no file to apply them to)', async () => {
    const r = await cli(['-g', 'pid x;']);
    expect(r.code).toBe(2);
    expect(r.stderr).toMatch(/^postern: -g, -p and -e apply to a configuration file/);
  });
});

/** The first line a server sends on a connection to HOST:PORT. */
function greeting(host: string, port: number): Promise<string> {
  return new Promise((resolve, reject) => {
    const socket = net.connect({ host, port });
    let data = '';
    socket.setTimeout(5000, () => socket.destroy(new Error(`no greeting from ${host}:${port}`)));
    socket.on('data', (chunk) => {
      data += chunk.toString('latin1');
      if (data.includes('\n')) {
        socket.destroy();
        resolve(data.split('\r\n')[0]!);
      }
    });
    socket.on('error', reject);
  });
}

/**
 * Postern (its configuration from `load`) and nginx each serve `mailBlock(port)`: one socket on
 * the wildcard, and a connection to 127.0.0.1 gets the IMAP server, one to 127.0.0.2 the POP3 one.
 */
async function expectServedThroughWildcard(mailBlock: (port: number) => string, load: (port: number) => ReturnType<typeof parseConfigText> | Promise<ReturnType<typeof parseConfigText>>): Promise<void> {
  const [ours, theirs] = (await freePorts(2)) as [number, number];
  const proxy = await startProxy(await load(ours), { logger: silentLogger() });
  const nginx = await startNginx({ mailBlock: mailBlock(theirs) });
  try {
    expect(proxy.listeners.map((l) => `${l.listen.text} ${l.port}`)).toEqual([`127.0.0.1:${ours} ${ours}`, `${ours} ${ours}`]);
    const seen = [];
    for (const [host, port] of [['127.0.0.1', ours], ['127.0.0.2', ours], ['127.0.0.1', theirs], ['127.0.0.2', theirs]] as const) seen.push(await greeting(host, port));
    expect(seen).toEqual(['* OK IMAP4 ready', '+OK POP3 ready', '* OK IMAP4 ready', '+OK POP3 ready']);
  } finally {
    await proxy.close();
    await nginx.close();
  }
}

describe('listen 127.0.0.1:PORT beside listen PORT', () => {
  const block = (port: number) => `mail {\n  auth_http 127.0.0.1:9/auth;\n  server { listen 127.0.0.1:${port}; protocol imap; }\n  server { listen ${port}; protocol pop3; }\n}\n`;

  it('one socket on the wildcard; a connection is served by the server of its local address, as nginx serves it', async () => {
    await expectServedThroughWildcard(block, (ours) => parseConfigText(block(ours), join(dir, 'wildcard.conf')));
  });

  it('listen localhost:PORT is resolved (/etc/hosts: 127.0.0.1) and served through the wildcard in the same way', async () => {
    const named = (port: number) => `mail {\n  auth_http 127.0.0.1:9/auth;\n  server { listen localhost:${port}; protocol imap; }\n  server { listen ${port}; protocol pop3; }\n}\n`;
    await expectServedThroughWildcard(named, (ours) => resolveListenHosts(parseConfigText(named(ours), join(dir, 'named.conf'))));
  });

  it('with bind, the address needs a socket of its own, which Linux refuses beside the wildcard: both fail to start', async () => {
    const [port] = (await freePorts(1)) as [number];
    const text = `mail {\n  auth_http 127.0.0.1:9/auth;\n  server { listen 127.0.0.1:${port} bind; protocol imap; }\n  server { listen ${port}; protocol pop3; }\n}\n`;
    await expect(startProxy(parseConfigText(text, join(dir, 'bind.conf')), { logger: silentLogger() })).rejects.toThrow(`bind() to 0.0.0.0:${port} failed (98: Address already in use)`);
    const file = write(text);
    const theirs = await run(NGINX, ['-p', `${dir}/`, '-e', `${dir}/startup.log`, '-c', file, '-g', 'daemon off; master_process off;'], { timeoutMs: 15_000 });
    expect(theirs.code).toBe(1);
    expect(theirs.stderr).toContain(`bind() to 0.0.0.0:${port} failed (98: Address already in use)`);
  });
});
