/**
 * Process helpers shared by the daemon starters and the external-client runners.
 *
 * Leak protection, in three layers:
 *  1. `close()` of every starter sends SIGTERM, waits, then SIGKILLs.
 *  2. A process-wide registry SIGKILLs whatever is still alive on `process.on('exit')`.
 *  3. Daemons are started through `setpriv --pdeathsig KILL` (util-linux, always present on
 *     Debian), so the kernel kills them when the test worker dies, even on SIGKILL.
 */
import { spawn, type ChildProcess, type SpawnOptions } from 'node:child_process';
import { existsSync } from 'node:fs';
import { chmod, mkdtemp, readdir, readFile, rm, writeFile } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';

const live = new Set<ChildProcess>();
let exitHookInstalled = false;

function installExitHook(): void {
  if (exitHookInstalled) return;
  exitHookInstalled = true;
  process.on('exit', () => {
    for (const child of live) {
      try {
        child.kill('SIGKILL');
      } catch {
        /* already gone */
      }
    }
  });
}

const SETPRIV = '/usr/bin/setpriv';

export interface Daemon {
  child: ChildProcess;
  /** stdout+stderr collected so far (latin1). */
  output(): string;
  alive(): boolean;
  /** Resolves with the exit code / signal once the process has exited. */
  exited: Promise<{ code: number | null; signal: NodeJS.Signals | null }>;
  /** SIGTERM, wait up to `graceMs`, then SIGKILL. Idempotent. */
  stop(graceMs?: number): Promise<void>;
}

/** Spawns a long-running daemon that dies with this process. */
export function spawnDaemon(cmd: string, args: string[], opts: SpawnOptions = {}): Daemon {
  installExitHook();
  const useSetpriv = existsSync(SETPRIV);
  const file = useSetpriv ? SETPRIV : cmd;
  const argv = useSetpriv ? ['--pdeathsig', 'KILL', '--', cmd, ...args] : args;
  const child = spawn(file, argv, { stdio: ['ignore', 'pipe', 'pipe'], ...opts });
  live.add(child);
  let out = '';
  child.stdout?.on('data', (d: Buffer) => {
    out += d.toString('latin1');
  });
  child.stderr?.on('data', (d: Buffer) => {
    out += d.toString('latin1');
  });
  let running = true;
  const exited = new Promise<{ code: number | null; signal: NodeJS.Signals | null }>((resolve) => {
    child.once('exit', (code, signal) => {
      running = false;
      live.delete(child);
      resolve({ code, signal });
    });
    child.once('error', (err) => {
      running = false;
      live.delete(child);
      out += `\nspawn error: ${err.message}\n`;
      resolve({ code: null, signal: null });
    });
  });
  let stopping: Promise<void> | undefined;
  return {
    child,
    output: () => out,
    alive: () => running,
    exited,
    stop(graceMs = 5000) {
      stopping ??= (async () => {
        if (!running) return;
        child.kill('SIGTERM');
        const timer = new Promise<'timeout'>((r) => setTimeout(() => r('timeout'), graceMs).unref());
        if ((await Promise.race([exited.then(() => 'exited' as const), timer])) === 'timeout') {
          child.kill('SIGKILL');
          await exited;
        }
      })();
      return stopping;
    },
  };
}

export interface RunResult {
  stdout: string;
  stderr: string;
  /** Exit code; null when killed (see `signal`). */
  code: number | null;
  signal: NodeJS.Signals | null;
  timedOut: boolean;
}

export interface RunOptions {
  input?: string | Buffer;
  /** Lines written to stdin one after another, `lineDelayMs` apart (instead of `input`). */
  inputLines?: string[];
  lineDelayMs?: number;
  /** Close stdin after the input (default true). */
  endInput?: boolean;
  timeoutMs?: number;
  env?: NodeJS.ProcessEnv;
  cwd?: string;
}

/** Runs a command to completion (killed after `timeoutMs`, default 20 s). */
export function run(cmd: string, args: string[], opts: RunOptions = {}): Promise<RunResult> {
  installExitHook();
  return new Promise((resolve) => {
    const child = spawn(cmd, args, {
      stdio: ['pipe', 'pipe', 'pipe'],
      env: opts.env ?? process.env,
      cwd: opts.cwd,
    });
    live.add(child);
    const stdout: Buffer[] = [];
    const stderr: Buffer[] = [];
    let timedOut = false;
    const timer = setTimeout(() => {
      timedOut = true;
      child.kill('SIGKILL');
    }, opts.timeoutMs ?? 20_000);
    child.stdout.on('data', (d: Buffer) => stdout.push(d));
    child.stderr.on('data', (d: Buffer) => stderr.push(d));
    child.stdin.on('error', () => {
      /* EPIPE when the program exits early */
    });
    let spawnError = '';
    child.once('error', (err) => {
      spawnError = `spawn error: ${err.message}\n`;
    });
    child.once('close', (code, signal) => {
      clearTimeout(timer);
      live.delete(child);
      resolve({
        stdout: Buffer.concat(stdout).toString('latin1'),
        stderr: spawnError + Buffer.concat(stderr).toString('latin1'),
        code,
        signal,
        timedOut,
      });
    });
    void (async () => {
      if (opts.inputLines) {
        for (const line of opts.inputLines) {
          if (child.exitCode !== null || child.signalCode !== null) break;
          child.stdin.write(Buffer.from(line, 'latin1'));
          await new Promise((r) => setTimeout(r, opts.lineDelayMs ?? 200));
        }
      } else if (opts.input !== undefined) {
        child.stdin.write(typeof opts.input === 'string' ? Buffer.from(opts.input, 'latin1') : opts.input);
      }
      if (opts.endInput !== false) child.stdin.end();
    })();
  });
}

/**
 * A fresh temp directory with a short path (unix socket paths are limited to 108 bytes),
 * world-traversable so that daemons' unprivileged children can reach files below it.
 */
export async function makeTempDir(tag: string): Promise<string> {
  await sweepStaleTempDirs();
  const dir = await mkdtemp(path.join(os.tmpdir(), `${TMP_PREFIX}${tag}-`));
  await chmod(dir, 0o755);
  await writeFile(path.join(dir, OWNER_FILE), `${process.pid}\n`);
  return dir;
}

const TMP_PREFIX = 'pt-';
const OWNER_FILE = '.owner-pid';
let swept: Promise<void> | undefined;

/**
 * Once per process: removes temp dirs left behind by test processes that were killed
 * (their daemons died with them through pdeathsig; only the files remain). A dir is
 * removed only if its `.owner-pid` names a process that no longer exists.
 */
function sweepStaleTempDirs(): Promise<void> {
  swept ??= (async () => {
    if (process.env.POSTERN_KEEP_TMP) return;
    let names: string[];
    try {
      names = await readdir(os.tmpdir());
    } catch {
      return;
    }
    for (const name of names) {
      if (!name.startsWith(TMP_PREFIX)) continue;
      const dir = path.join(os.tmpdir(), name);
      try {
        const pid = Number((await readFile(path.join(dir, OWNER_FILE), 'utf8')).trim());
        if (!Number.isInteger(pid) || pid <= 0 || pidAlive(pid)) continue;
        await rm(dir, { recursive: true, force: true });
      } catch {
        /* not ours, or raced with another sweeper */
      }
    }
  })();
  return swept;
}

function pidAlive(pid: number): boolean {
  try {
    process.kill(pid, 0);
    return true;
  } catch (err) {
    return (err as NodeJS.ErrnoException).code === 'EPERM';
  }
}

export async function removeDir(dir: string): Promise<void> {
  if (process.env.POSTERN_KEEP_TMP) return;
  await rm(dir, { recursive: true, force: true, maxRetries: 3 });
}
