/**
 * A stand-in for the nginx binary that nginx's Perl tests (Test::Nginx, TEST_NGINX_BINARY) start
 * as `BINARY -p PREFIX/ -c nginx.conf -e error.log [-g GLOBALS]` and stop with signals. It runs
 * the real nginx for everything but `mail { }` (the tests' `http { }` auth_http endpoint) and
 * Postern for the `mail { }` block, and behaves towards the test as one nginx would:
 *
 * - it writes its own pid to the configuration's `pid` file once both are serving (each child
 *   has its own pid file beside it: PREFIX/wrapped-nginx.pid and PREFIX/wrapped-postern.pid),
 *   and removes it when it exits;
 * - HUP (reload) splits the configuration again, then is passed on; QUIT, TERM, INT, USR1,
 *   WINCH and USR2 are passed on; it exits when both have exited: 0 if both exited 0;
 * - a child that fails to start, or exits on its own, stops the other and the wrapper exits 1;
 * - both write to the test's stdout and stderr, as one nginx would (`error_log stderr` lines,
 *   start-up errors);
 * - `-v`, `-V` and `-h` are the real nginx's (Test::Nginx reads the version and the modules
 *   from `-V`, so a test skips on Postern exactly what it skips on nginx 1.22.1).
 *
 * Both write the `error_log` files the configuration names (appending, as nginx does).
 *
 * Environment: POSTERN_WRAPPER_NGINX (default /usr/sbin/nginx), POSTERN_WRAPPER_POSTERN (the
 * command that starts Postern, split at spaces and run in the checkout, default
 * `node bin/postern.js`: `npm run build` first), POSTERN_WRAPPER_START_MS (default 4500).
 */
import { spawn, spawnSync, type ChildProcess } from 'node:child_process';
import { existsSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { dirname, isAbsolute, join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import { setTimeout as sleep } from 'node:timers/promises';
import { mainErrorLog, splitConfig, splitGlobals } from './config-split.js';

// Node answers SIGUSR1 by opening its inspector unless the signal is handled.
process.on('SIGUSR1', () => undefined);

const checkout = resolve(dirname(fileURLToPath(import.meta.url)), '../..');
const NGINX = process.env.POSTERN_WRAPPER_NGINX ?? '/usr/sbin/nginx';
const POSTERN = process.env.POSTERN_WRAPPER_POSTERN?.split(' ') ?? [process.execPath, 'bin/postern.js'];
/** Test::Nginx waits 5 s for the pid file; both children must be up before (tests may allow more). */
const START_TIMEOUT_MS = Number(process.env.POSTERN_WRAPPER_START_MS ?? 4500);
const FORWARDED = ['SIGQUIT', 'SIGTERM', 'SIGINT', 'SIGUSR1', 'SIGWINCH', 'SIGUSR2'] as const;

const say = (line: string) => process.stderr.write(`postern-nginx: ${line}\n`);

interface Options {
  prefix: string;
  config: string;
  errorLog: string | undefined;
  globals: string | undefined;
}

function parseOptions(argv: string[]): Options | { passThrough: true } | { error: string } {
  let prefix: string | undefined;
  let config: string | undefined;
  let errorLog: string | undefined;
  let globals: string | undefined;
  for (let i = 0; i < argv.length; i++) {
    const arg = argv[i]!;
    const value = (): string | undefined => argv[++i];
    if (arg === '-v' || arg === '-V' || arg === '-h' || arg === '-?') return { passThrough: true };
    if (arg === '-p') prefix = value();
    else if (arg === '-c') config = value();
    else if (arg === '-e') errorLog = value();
    else if (arg === '-g') globals = value();
    else return { error: `option "${arg}" is not supported by this wrapper (it only runs and signals, as Test::Nginx does)` };
  }
  if (prefix === undefined || config === undefined) return { error: 'needs -p PREFIX and -c FILE' };
  return { prefix: resolve(prefix), config: isAbsolute(config) ? config : join(resolve(prefix), config), errorLog, globals };
}

interface Layout {
  nginxConf: string;
  posternConf: string;
  nginxPid: string;
  posternPid: string;
  /** The pid file the test reads: this process's. */
  pid: string;
  nginxGlobals: string | undefined;
  /** Postern's `-g`: its pid file and the configuration's main error log (see mainErrorLog). */
  posternCommandLine: string;
  hasMail: boolean;
}

/** Writes the two configurations beside the original, so that relative paths mean the same. */
function writeConfigs(options: Options): Layout {
  const dir = dirname(options.config);
  const nginxPid = join(options.prefix, 'wrapped-nginx.pid');
  const posternPid = join(options.prefix, 'wrapped-postern.pid');
  const split = splitConfig(readFileSync(options.config, 'utf8'), { nginxPid, posternPid });
  let pid = split.pid;
  let nginxGlobals = options.globals;
  let posternGlobals = '';
  if (options.globals !== undefined) {
    const forNginx = splitGlobals(options.globals, nginxPid);
    pid ??= forNginx.pid;
    nginxGlobals = forNginx.globals;
    posternGlobals = `${splitGlobals(options.globals, posternPid).globals}\n`;
  }
  if (pid === undefined) throw new Error('the configuration names no "pid" file (Test::Nginx always sets one)');
  const nginxConf = join(dir, 'wrapped-nginx.conf');
  const posternConf = join(dir, 'wrapped-postern.conf');
  writeFileSync(nginxConf, split.nginx);
  writeFileSync(posternConf, posternGlobals + split.postern);
  const errorLog = mainErrorLog(posternGlobals + split.postern);
  const posternCommandLine = `pid "${posternPid.replace(/["\\]/g, '\\$&')}";${errorLog === undefined ? '' : ` error_log ${errorLog};`}`;
  return { nginxConf, posternConf, nginxPid, posternPid, pid: isAbsolute(pid) ? pid : join(options.prefix, pid), nginxGlobals, posternCommandLine, hasMail: split.hasMail };
}

interface Child {
  name: string;
  process: ChildProcess;
  exited: Promise<number>;
  code: number | undefined;
}

/** util-linux: the kernel sends the children SIGTERM if the wrapper dies (SIGKILLed, say). */
const SETPRIV = '/usr/bin/setpriv';

function start(name: string, command: string, args: string[], cwd?: string): Child {
  const [file, argv] = existsSync(SETPRIV) ? [SETPRIV, ['--pdeathsig', 'TERM', '--', command, ...args]] : [command, args];
  const child = spawn(file, argv, { stdio: ['ignore', 'inherit', 'inherit'], cwd });
  const entry: Child = { name, process: child, code: undefined, exited: Promise.resolve(0) };
  entry.exited = new Promise((settle) => {
    child.once('error', (error) => {
      say(`${name}: ${error.message}`);
      entry.code = 1;
      settle(1);
    });
    child.once('exit', (code, signal) => {
      entry.code = code ?? (signal === null ? 1 : 128);
      settle(entry.code);
    });
  });
  return entry;
}

async function waitForFile(path: string, children: Child[]): Promise<boolean> {
  const deadline = Date.now() + START_TIMEOUT_MS;
  while (Date.now() < deadline) {
    if (existsSync(path)) return true;
    if (children.some((c) => c.code !== undefined)) return false;
    await sleep(20);
  }
  return false;
}

async function run(options: Options): Promise<number> {
  let layout: Layout;
  try {
    layout = writeConfigs(options);
  } catch (error) {
    say(`[emerg] ${(error as Error).message}`);
    return 1;
  }
  const nginxArgs = ['-p', `${options.prefix}/`, '-c', layout.nginxConf];
  if (options.errorLog !== undefined) nginxArgs.push('-e', options.errorLog);
  if (layout.nginxGlobals !== undefined) nginxArgs.push('-g', layout.nginxGlobals);
  const children = [start('nginx', NGINX, nginxArgs)];
  if (layout.hasMail) children.push(start('postern', POSTERN[0]!, [...POSTERN.slice(1), '-c', layout.posternConf, '-g', layout.posternCommandLine], checkout));

  const stopAll = async (signal: NodeJS.Signals) => {
    for (const child of children) if (child.code === undefined) child.process.kill(signal);
    await Promise.all(children.map((c) => c.exited));
  };

  const pidFiles = [layout.nginxPid, ...(layout.hasMail ? [layout.posternPid] : [])];
  for (const file of pidFiles) {
    if (!(await waitForFile(file, children))) {
      const failed = children.find((c) => c.code !== undefined);
      say(failed === undefined ? `[emerg] no ${file} after ${START_TIMEOUT_MS} ms` : `[emerg] ${failed.name} exited with code ${failed.code} while starting`);
      await stopAll('SIGTERM');
      return 1;
    }
  }

  let stopping = false;
  for (const signal of FORWARDED) {
    process.on(signal, () => {
      if (signal === 'SIGQUIT' || signal === 'SIGTERM' || signal === 'SIGINT') stopping = true;
      for (const child of children) if (child.code === undefined) child.process.kill(signal);
    });
  }
  process.on('SIGHUP', () => {
    try {
      writeConfigs(options);
    } catch (error) {
      say(`[emerg] ${(error as Error).message}: not reloaded`);
      return;
    }
    for (const child of children) if (child.code === undefined) child.process.kill('SIGHUP');
  });
  writeFileSync(layout.pid, `${process.pid}\n`);

  // Stopped by a signal, both exit; one that exits on its own takes the other down with it.
  const first = await Promise.race(children.map((c) => c.exited.then(() => c)));
  if (!stopping) {
    say(`[alert] ${first.name} exited on its own with code ${first.code}`);
    await stopAll('SIGTERM');
  }
  await Promise.all(children.map((c) => c.exited));
  rmSync(layout.pid, { force: true });
  return !stopping ? 1 : children.every((c) => c.code === 0) ? 0 : 1;
}

async function main(argv: string[]): Promise<number> {
  const options = parseOptions(argv);
  if ('passThrough' in options) return spawnSync(NGINX, argv, { stdio: 'inherit' }).status ?? 1;
  if ('error' in options) {
    say(options.error);
    return 1;
  }
  return run(options);
}

process.exit(await main(process.argv.slice(2)));
