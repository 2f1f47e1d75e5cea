import { spawnSync } from 'node:child_process';
import { getSystemErrorMap } from 'node:util';
import type { Logger } from '../log.js';
import { errnoText } from './errno.js';

/** nginx's `(1: Operation not permitted)` for prlimit's own wording of the failure. */
function reasonOf(stderr: string): string {
  const text = stderr.trim().split(': ').at(-1) ?? '';
  for (const [errno, [, message]] of getSystemErrorMap()) {
    if (message.toLowerCase() === text.toLowerCase()) return `(${Math.abs(errno)}: ${text})`;
  }
  return `(${stderr.trim()})`;
}

/**
 * `worker_rlimit_nofile N`: soft and hard RLIMIT_NOFILE of this process, set before it switches
 * user as nginx's workers do. Node.js has no setrlimit(), so util-linux `prlimit` sets it on
 * this process's pid. A failure is nginx's alert and the process goes on with its limit.
 */
export function limitOpenFiles(limit: number | undefined, logger: Logger): void {
  if (limit === undefined) return;
  const run = spawnSync('prlimit', ['--pid', String(process.pid), `--nofile=${limit}:${limit}`], { encoding: 'utf8' });
  if (run.error === undefined && run.status === 0) return;
  const reason = run.error === undefined ? reasonOf(run.stderr) : errnoText(run.error as NodeJS.ErrnoException);
  logger.fatal(`setrlimit(RLIMIT_NOFILE, ${limit}) failed ${reason}`);
}
